"""Pre-authorisation: money held on a driver's saved card when an ad-hoc session starts.

Runs for each TransactionStarted (csms.handlers.evt_preauth; EventBridge delivers at least
once). A hold is made only when all of these hold, cheapest checks first:

- the session has an id token (an anonymous session has no saved card);
- its billing account is AD HOC (residents and fleets get monthly statements, charged then),
  is stored already and has a provider customer and a saved payment method: the account is
  only read here, never made (a driver with no saved card is charged at the end, if at all);
- billing has not started for it (a start that reaches us after the end: the end charged it);
- a tariff applied at its start (the version in force then, as billing prices it) and that
  tariff can cost something (`Tariff.free`: free is free, no hold).

The amount: `hold_amount` (a setting, in the tariff's currency) or, when lower, the most the
tariff can cost (its maximum price, with tax). The provider is asked with an idempotency key
derived from tenant and session (`csms:{tenant}:{session}:hold`) and the receipt the session
will be billed on in its metadata, so the capture at the end reports to that receipt. The hold
is stored with `put_hold` (first write wins), and BillingService captures it at the end (up
to the final price; the rest is charged) or releases it when the session cost nothing.

Exactly once: a duplicate event finds the hold stored and asks nothing; two racing deliveries
ask the provider with one key (one hold) and store it once. A decline (or a card that needs
3-D Secure, which a driver away from a checkout cannot give) stores nothing: it is logged as a
warning (codes only, never card data) and billing charges the saved method at the end as it
would without a hold. A provider that could not be asked raises PaymentProviderError(retryable)
so that the delivery is retried with the same key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from csms.domain.billing.invoice import BillingAccount, BillingMode, receipt_id
from csms.domain.billing.money import round_money
from csms.domain.billing.payments import PaymentStatus, payment_metadata, to_minor
from csms.domain.billing.tariff import Tariff
from csms.domain.errors import PaymentProviderError
from csms.services.billing import Hold, SessionLedger
from csms.services.billing_wiring import account_of
from csms.services.payments import PaymentProvider
from csms.services.tariffs import GroupLookup, Resolved

logger = logging.getLogger(__name__)

DEFAULT_HOLD_AMOUNT = Decimal(50)


class PreauthOutcome(StrEnum):
    """What pre-authorising a started session came to."""

    # A hold was made and stored now.
    HELD = "held"
    # The hold was made before (a duplicate event): nothing asked, nothing written.
    ALREADY_HELD = "already-held"
    # No hold is due (see `reason`): nothing asked, nothing written.
    SKIPPED = "skipped"
    # The provider refused the hold (decline, 3-D Secure, a permanent failure): nothing stored.
    REFUSED = "refused"


@dataclass(frozen=True)
class StartedSession:
    """What a TransactionStarted tells about the session (no read needed)."""

    tenant_id: str
    session_id: str
    station_id: str
    site_id: str | None
    evse_id: int | None
    id_token: str | None
    group_id: str | None
    started_at: datetime


@dataclass(frozen=True)
class PreauthResult:
    """The outcome, why, and the hold when there is one."""

    outcome: PreauthOutcome
    reason: str
    hold: Hold | None = None


class HoldRepository(Protocol):
    """The holds and ledgers of billing (DynamoBillingRepository implements it)."""

    def get_hold(self, tenant_id: str, session_id: str) -> Hold | None:
        """The hold stored for the session, if any."""
        ...

    def put_hold(self, tenant_id: str, session_id: str, hold: Hold) -> bool:
        """Store the session's hold; False (nothing written) when one is stored."""
        ...

    def get_ledger(self, tenant_id: str, session_id: str) -> SessionLedger | None:
        """The session's billing ledger (present once billing started)."""
        ...


class AccountReader(Protocol):
    """Billing accounts, read only (GroupBillingAccounts implements it)."""

    def get_account(self, tenant_id: str, account_id: str) -> BillingAccount | None:
        """The account as stored, or None."""
        ...


class TariffResolver(Protocol):
    """The tariff in force at a session's start (TariffService implements it)."""

    def tariff_for(
        self,
        tenant_id: str,
        *,
        site_id: str | None,
        station_id: str,
        evse_id: int | None,
        group_id: str | None,
        id_token: str | None,
        started_at: datetime,
    ) -> Resolved | None:
        """The assignment that applies and its tariff's version at `started_at`."""
        ...


class PreauthService:
    """Holds money on the saved card of an ad-hoc driver when a session starts, once."""

    def __init__(
        self,
        *,
        holds: HoldRepository,
        accounts: AccountReader,
        groups: GroupLookup,
        tariffs: TariffResolver,
        payments: PaymentProvider,
        hold_amount: Decimal = DEFAULT_HOLD_AMOUNT,
    ) -> None:
        self._holds = holds
        self._accounts = accounts
        self._groups = groups
        self._tariffs = tariffs
        self._payments = payments
        self._hold_amount = hold_amount

    def preauthorize(self, started: StartedSession) -> PreauthResult:
        """Make and store the session's hold when one is due (module docstring)."""
        tenant_id, session_id = started.tenant_id, started.session_id
        account = self._account(started)
        if isinstance(account, PreauthResult):
            return account
        stored = self._holds.get_hold(tenant_id, session_id)
        if stored is not None:
            return PreauthResult(PreauthOutcome.ALREADY_HELD, "held before", stored)
        if self._holds.get_ledger(tenant_id, session_id) is not None:
            return _skipped("billing has started: the end is charged without a hold")
        resolved = self._tariffs.tariff_for(
            tenant_id,
            site_id=started.site_id,
            station_id=started.station_id,
            evse_id=started.evse_id,
            group_id=started.group_id,
            id_token=started.id_token,
            started_at=started.started_at,
        )
        if resolved is None:
            return _skipped("no tariff applied at the start")
        tariff = resolved.tariff.tariff
        if tariff.free:
            return _skipped("the tariff is free")
        amount = to_minor(hold_amount(tariff, self._hold_amount), tariff.currency)
        if amount < 1:
            return _skipped("the tariff's maximum price is zero")
        return self._authorize(started, account, tariff, amount)

    def _account(self, started: StartedSession) -> BillingAccount | PreauthResult:
        if started.id_token is None:
            return _skipped("no id token: no saved payment method")
        group = (
            self._groups.get_group(started.tenant_id, started.group_id)
            if started.group_id is not None
            else None
        )
        account_id, mode = account_of(started.id_token, group)
        if mode is not BillingMode.AD_HOC:
            return _skipped(f"the account is billed {mode.value}")
        account = self._accounts.get_account(started.tenant_id, account_id)
        if account is None or account.customer is None or account.payment_method is None:
            return _skipped("no saved payment method")
        return account

    def _authorize(
        self, started: StartedSession, account: BillingAccount, tariff: Tariff, amount: int
    ) -> PreauthResult:
        tenant_id, session_id = started.tenant_id, started.session_id
        result = self._payments.authorize(
            tenant_id,
            customer=account.customer or "",
            payment_method=account.payment_method,
            amount_minor=amount,
            currency=tariff.currency,
            idempotency_key=f"csms:{tenant_id}:{session_id}:hold",
            description=f"Charging session {session_id} (pre-authorisation)",
            metadata=payment_metadata(receipt_id(tenant_id, session_id), session_id),
        )
        if result.retryable:
            raise PaymentProviderError(result.failure_code or "provider-failed", retryable=True)
        if result.status is PaymentStatus.INVOICED:
            # The invoice-only provider holds nothing: the end puts the price on the invoice.
            return _skipped("the payment provider holds no money")
        if result.status is not PaymentStatus.AUTHORIZED or result.reference is None:
            # Codes only: the provider's message may name the card.
            logger.warning(
                "pre-authorisation refused; the session is charged at its end",
                extra={
                    "tenant_id": tenant_id,
                    "session_id": session_id,
                    "status": result.status.value,
                    "failure_code": result.failure_code,
                },
            )
            return PreauthResult(PreauthOutcome.REFUSED, result.failure_code or result.status)
        hold = Hold(
            reference=result.reference,
            amount_minor=result.amount_minor,
            currency=result.currency.upper(),
        )
        if not self._holds.put_hold(tenant_id, session_id, hold):
            # A racing delivery stored it first: the same key made the same hold.
            stored = self._holds.get_hold(tenant_id, session_id)
            return PreauthResult(PreauthOutcome.ALREADY_HELD, "held by a racing delivery", stored)
        return PreauthResult(PreauthOutcome.HELD, "held", hold)


def hold_amount(tariff: Tariff, configured: Decimal) -> Decimal:
    """`configured`, or the most a session can cost under the tariff when that is lower.

    The maximum price is in the tariff's basis: without tax when prices exclude it, so the
    taxes are added the way pricing adds them (each rounded on the net amount).
    """
    if tariff.max_price is None:
        return configured
    currency = tariff.currency
    most = round_money(tariff.max_price, currency)
    if not tariff.prices_include_tax:
        most += sum(
            (round_money(most * rate.percent / 100, currency) for rate in tariff.tax_rates),
            Decimal(0),
        )
    return min(configured, most)


def _skipped(reason: str) -> PreauthResult:
    return PreauthResult(PreauthOutcome.SKIPPED, reason)
