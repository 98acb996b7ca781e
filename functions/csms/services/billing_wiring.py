"""What billing needs from the rest of the CSMS: ended sessions priced, and who pays.

`StoredSessionPricer` (EndedSessionPricer) prices a stored ended session the way the live
estimate does (csms.services.session_price): the assignments of its station, EVSE, token and
the token's group give the tariff; the version in force at the session's start applies; the
usage is its start, its register readings and its stop. A session to which no tariff applied at
its start is not an error that retrying could fix: it is priced as free under a stand-in tariff
(`NO_TARIFF`), its CDR says so, and an error is logged for the operator to act on (assign a
tariff; a later correction of the session is priced again).

`GroupBillingAccounts` (BillingAccounts) decides the account by the driver group's kind:
- fleet: a monthly statement for the group's account (`group:{group}`);
- residents: a monthly statement per driver, i.e. per id token (`token:{TOKEN}`);
- employees, members, no group or an unknown group: ad hoc per id token. The tariff decides
  whether anything is collected: a free tariff prices the session at zero, and a session that
  costs nothing is written as a CDR only (no receipt, its hold released): free is free;
- no token at all: ad hoc to the `anonymous` account.
Accounts are stored (one item per account id) with the payment provider's customer, made on
the account's first session (the provider's call is idempotent), and the saved payment method
once there is one.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from csms.domain.billing.cdr import SessionFacts, auth_method
from csms.domain.billing.invoice import BillingAccount, BillingMode
from csms.domain.billing.pricing import price
from csms.domain.billing.tariff import Tariff
from csms.domain.billing.usage import SessionUsage
from csms.domain.errors import (
    ConcurrentModificationError,
    SessionNotFoundError,
    SessionNotPriceableError,
)
from csms.domain.sessions import Session, SessionState
from csms.domain.tenancy import DriverGroup, GroupKind
from csms.domain.tokens import token_key
from csms.services.billing import EndedSession
from csms.services.payments import PaymentProvider
from csms.services.ports import Page
from csms.services.session_price import SessionSource, stored_usage
from csms.services.tariffs import GroupLookup, SiteLookup, TariffService

logger = logging.getLogger(__name__)

NO_TARIFF = "no-tariff"
ANONYMOUS = "anonymous"
ACCOUNT = "billing-account"
_CHUNK_PAGE = 100
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]+$")
_NO_TARIFF_NOTE = "No tariff applied to this session when it started: it is not charged."


# -- pricing ended sessions --------------------------------------------------------------------


class StoredSessionPricer:
    """EndedSessionPricer over the stored sessions, their sites and the tariffs."""

    def __init__(
        self,
        *,
        sessions: SessionSource,
        sites: SiteLookup,
        tariffs: TariffService,
        fallback_currency: str = "EUR",
    ) -> None:
        self._sessions = sessions
        self._sites = sites
        self._tariffs = tariffs
        self._no_tariff = Tariff(
            id=NO_TARIFF, name="No tariff assigned", currency=fallback_currency
        )

    def price_ended(self, tenant_id: str, session_id: str) -> EndedSession:
        """The session's newest revision priced (see the module docstring)."""
        session = self._sessions.get(session_id)
        if session is None or session.tenant_id != tenant_id:
            raise SessionNotFoundError(session_id)
        if session.state is SessionState.ACTIVE or session.revision < 1:
            raise SessionNotPriceableError(session_id, "it has not ended")
        started = session.started_at or (session.meter_start.at if session.meter_start else None)
        if started is None:
            raise SessionNotPriceableError(session_id, "its start is not known")
        resolved = self._tariffs.tariff_for(
            tenant_id,
            site_id=session.site_id,
            station_id=session.station_id,
            evse_id=session.evse.evse_id if session.evse else None,
            group_id=session.group_id,
            id_token=session.id_token,
            started_at=started,
        )
        tariff = resolved.tariff.tariff if resolved is not None else self._no_tariff
        usage = self._usage(session, started)
        priced = price(tariff, usage)
        if resolved is None:
            # Not retried (nothing would change): the operator must assign a tariff.
            logger.error(
                "session billed without a tariff",
                extra={"tenant_id": tenant_id, "session_id": session_id, "alert": "no-tariff"},
            )
            priced = priced.model_copy(
                update={"explanation": (*priced.explanation, _NO_TARIFF_NOTE)}
            )
        return EndedSession(facts=_facts(session), tariff=tariff, usage=usage, priced=priced)

    def _usage(self, session: Session, started: datetime) -> SessionUsage:
        end = session.stopped_at or (session.meter_last.at if session.meter_last else None)
        return stored_usage(
            session, self._sessions, self._sites, started=started, stop=end or started
        )


def _facts(session: Session) -> SessionFacts:
    return SessionFacts(
        tenant_id=session.tenant_id,
        session_id=session.id,
        revision=session.revision,
        station_id=session.station_id,
        site_id=session.site_id,
        evse_id=session.evse.evse_id if session.evse else None,
        connector_id=session.evse.connector_id if session.evse else None,
        id_token=session.id_token,
        token_type=session.token_type,
        group_id=session.group_id,
        auth_method=auth_method(
            remote_start=session.remote_start_id is not None,
            authorized_by_csms=session.authorization is not None,
        ),
    )


# -- billing accounts --------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredAccount:
    """A billing account as stored, with the version its writes are conditional on."""

    account: BillingAccount
    version: int


class BillingAccountStore(Protocol):
    """A tenant's billing accounts (one item per account id)."""

    def get_account(self, tenant_id: str, account_id: str) -> StoredAccount | None:
        """The account, strongly consistent."""
        ...

    def save_account(self, tenant_id: str, account: BillingAccount, expected_version: int) -> bool:
        """Store as version `expected_version + 1` while the stored one is at it (0: none)."""
        ...

    def list_accounts(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[StoredAccount]:
        """The tenant's accounts by id, a page at a time.

        Raises InvalidCursorError for a cursor this list did not hand out.
        """
        ...


def token_account_id(id_token: str) -> str:
    """A driver's account: by the token's case-insensitive value, hashed if not URL-safe."""
    key = token_key(id_token)
    if _SAFE_ID.match(key):
        return f"token:{key}"
    return "token:" + hashlib.sha256(key.encode()).hexdigest()[:32]


def account_of(id_token: str | None, group: DriverGroup | None) -> tuple[str, BillingMode]:
    """The account id and billing mode of a session (see the module docstring)."""
    if group is not None and (
        group.kind is GroupKind.FLEET or (group.kind is GroupKind.RESIDENTS and id_token is None)
    ):
        return f"group:{group.id}", BillingMode.MONTHLY
    if id_token is None:
        return ANONYMOUS, BillingMode.AD_HOC
    if group is not None and group.kind is GroupKind.RESIDENTS:
        return token_account_id(id_token), BillingMode.MONTHLY
    return token_account_id(id_token), BillingMode.AD_HOC


class GroupBillingAccounts:
    """BillingAccounts: the account by the driver group's kind, stored with its customer."""

    def __init__(
        self,
        *,
        store: BillingAccountStore,
        groups: GroupLookup,
        payments: PaymentProvider,
        attempts: int = 3,
    ) -> None:
        self._store = store
        self._groups = groups
        self._payments = payments
        self._attempts = attempts

    def account_for(
        self, tenant_id: str, *, id_token: str | None, group_id: str | None
    ) -> BillingAccount:
        """The session's account, made (with its provider customer) on first use."""
        group = self._groups.get_group(tenant_id, group_id) if group_id is not None else None
        account_id, mode = account_of(id_token, group)
        name = group.name if group is not None and account_id.startswith("group:") else None
        for _ in range(self._attempts):
            stored = self._store.get_account(tenant_id, account_id)
            account = stored.account if stored is not None else None
            wanted = (account or BillingAccount(id=account_id, mode=mode)).model_copy(
                update={"mode": mode}
            )
            if wanted.customer is None:
                # Idempotent at the provider: a retry after a lost write makes no second one.
                customer = self._payments.ensure_customer(
                    tenant_id, account_id, email=None, name=name
                )
                wanted = wanted.model_copy(update={"customer": customer})
            if wanted == account:
                return wanted
            expected = stored.version if stored is not None else 0
            if self._store.save_account(tenant_id, wanted, expected):
                return wanted
        raise ConcurrentModificationError(ACCOUNT, account_id)

    def get_account(self, tenant_id: str, account_id: str) -> BillingAccount | None:
        """The account as stored."""
        stored = self._store.get_account(tenant_id, account_id)
        return stored.account if stored is not None else None

    def set_payment_method(
        self,
        tenant_id: str,
        account_id: str,
        payment_method: str | None,
        *,
        at: datetime | None = None,
    ) -> BillingAccount | None:
        """Save the account's default payment method (None: forget it); None when no account.

        With `at` (when the choice was made), only a choice newer than the stored one's wins:
        a provider's notification redelivered after the method was changed changes nothing.
        """
        for _ in range(self._attempts):
            stored = self._store.get_account(tenant_id, account_id)
            if stored is None:
                return None
            since = stored.account.payment_method_since
            if at is not None and since is not None and at <= since:
                return stored.account
            update: dict[str, object] = {"payment_method": payment_method}
            if at is not None:
                update["payment_method_since"] = at
            changed = stored.account.model_copy(update=update)
            if changed == stored.account or self._store.save_account(
                tenant_id, changed, stored.version
            ):
                return changed
        raise ConcurrentModificationError(ACCOUNT, account_id)
