"""Billing accounts as operators manage them: contact details, saved payment methods.

Accounts are made by billing on an account's first session (csms.services.billing_wiring);
here they are read, and changed in one conditional write each:
- email and name go to the payment provider's customer first (made now if the account has
  none yet), then are stored: a provider that fails leaves the account as it was;
- the default payment method is set by id (the provider's PaymentMethod the payer saved) or
  forgotten; `payment_method_since` records when, so that a provider's older notification
  told late does not bring back a method forgotten since (csms.services.provider_events);
- a payment method setup is started at the provider (Stripe: a SetupIntent that the driver's
  app confirms), once per client request id: the same request again answers the same setup.

Provider calls carry idempotency keys derived from the account and what the call is for (the
version it changes, or the client's request id), so a retried request changes nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum
from typing import Final

from csms.domain.billing.invoice import BillingAccount
from csms.domain.billing.payments import PaymentSetup
from csms.domain.errors import (
    ConcurrentModificationError,
    ResourceNotFoundError,
    VersionMismatchError,
)
from csms.services.billing_wiring import BillingAccountStore, StoredAccount
from csms.services.payments import PaymentProvider
from csms.services.ports import Clock, Page

ACCOUNT = "billing-account"


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET


@dataclass(frozen=True)
class AccountPatch:
    """A partial update with JSON merge patch semantics: UNSET keeps, None clears."""

    email: str | _Unset | None = UNSET
    name: str | _Unset | None = UNSET
    payment_method: str | _Unset | None = UNSET

    def changes(self) -> dict[str, str | None]:
        """The fields the patch names, with their new values."""
        named = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: value for name, value in named.items() if value is not UNSET}


class BillingAccountService:
    """Reads and changes a tenant's billing accounts (see the module docstring)."""

    def __init__(
        self,
        *,
        store: BillingAccountStore,
        payments: PaymentProvider,
        clock: Clock,
        attempts: int = 3,
    ) -> None:
        self._store = store
        self._payments = payments
        self._clock = clock
        self._attempts = attempts

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> Page[StoredAccount]:
        """The tenant's accounts by id, a page at a time."""
        return self._store.list_accounts(tenant_id, limit, cursor)

    def get(self, tenant_id: str, account_id: str) -> StoredAccount:
        """The account; ResourceNotFoundError when the tenant has none of this id."""
        stored = self._store.get_account(tenant_id, account_id)
        if stored is None:
            raise ResourceNotFoundError(ACCOUNT, account_id)
        return stored

    def update(
        self,
        tenant_id: str,
        account_id: str,
        patch: AccountPatch,
        expected_version: int | None = None,
    ) -> tuple[StoredAccount, StoredAccount]:
        """Apply the patch: (the account before, as stored now).

        The write is conditional on the version read: with `expected_version` another
        version is VersionMismatchError; without, a lost race is read again a few times,
        then ConcurrentModificationError.
        """
        changes = patch.changes()
        for _ in range(self._attempts):
            current = self.get(tenant_id, account_id)
            if expected_version is not None and current.version != expected_version:
                raise VersionMismatchError(ACCOUNT, account_id)
            account = current.account
            wanted = account.model_copy(update=changes)
            if wanted == account:
                return current, current
            if "payment_method" in changes and wanted.payment_method != account.payment_method:
                wanted = wanted.model_copy(update={"payment_method_since": self._clock.now()})
            if (wanted.email, wanted.name) != (account.email, account.name):
                wanted = self._tell_customer(tenant_id, current, wanted)
            if self._store.save_account(tenant_id, wanted, current.version):
                return current, StoredAccount(wanted, current.version + 1)
            if expected_version is not None:
                raise VersionMismatchError(ACCOUNT, account_id)
        raise ConcurrentModificationError(ACCOUNT, account_id)

    def start_payment_method_setup(
        self, tenant_id: str, account_id: str, request_id: str
    ) -> PaymentSetup:
        """Start saving a payment method for the account, once per `request_id`.

        An account without a provider customer gets one first (stored with the account).
        """
        customer = self._customer_of(tenant_id, account_id)
        return self._payments.start_payment_method_setup(
            tenant_id,
            account_id=account_id,
            customer=customer,
            idempotency_key=f"setup:{account_id}:{request_id}",
        )

    def _tell_customer(
        self, tenant_id: str, current: StoredAccount, wanted: BillingAccount
    ) -> BillingAccount:
        if wanted.customer is None:
            customer = self._payments.ensure_customer(
                tenant_id, wanted.id, email=wanted.email, name=wanted.name
            )
            return wanted.model_copy(update={"customer": customer})
        # One key per version changed: a retry of this request repeats the same call.
        self._payments.update_customer(
            tenant_id,
            customer=wanted.customer,
            email=wanted.email,
            name=wanted.name,
            idempotency_key=f"customer-update:{wanted.id}:{current.version}",
        )
        return wanted

    def _customer_of(self, tenant_id: str, account_id: str) -> str:
        for _ in range(self._attempts):
            current = self.get(tenant_id, account_id)
            if current.account.customer is not None:
                return current.account.customer
            # Idempotent at the provider: a retry after a lost write makes no second one.
            customer = self._payments.ensure_customer(
                tenant_id, account_id, email=current.account.email, name=current.account.name
            )
            wanted = current.account.model_copy(update={"customer": customer})
            if self._store.save_account(tenant_id, wanted, current.version):
                return customer
        raise ConcurrentModificationError(ACCOUNT, account_id)
