"""PreauthService: a hold on an ad-hoc driver's saved card at the start, made once or not at all."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes_billing import FakePaymentProvider, InMemoryBillingRepository
from tests.unit.domain.billing.builders import a_tariff

from csms.domain.billing.assignment import TariffAssignment
from csms.domain.billing.invoice import BillingAccount, BillingMode, receipt_id
from csms.domain.billing.payments import PaymentResult, PaymentStatus
from csms.domain.errors import PaymentProviderError
from csms.domain.tenancy import DriverGroup, GroupKind
from csms.services.billing import BilledRevision, Hold, SessionLedger
from csms.services.billing_wiring import token_account_id
from csms.services.preauth import (
    PreauthOutcome,
    PreauthService,
    StartedSession,
    hold_amount,
)
from csms.services.tariffs import Resolved, TariffVersion

T = "t-1"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
ANNA = token_account_id("anna")


@dataclass
class Accounts:
    stored: dict[str, BillingAccount] = field(default_factory=dict)
    reads: int = 0

    def get_account(self, tenant_id: str, account_id: str) -> BillingAccount | None:
        self.reads += 1
        return self.stored.get(account_id) if tenant_id == T else None


@dataclass
class Groups:
    stored: dict[str, DriverGroup] = field(default_factory=dict)

    def get_group(self, tenant_id: str, group_id: str) -> DriverGroup | None:
        return self.stored.get(group_id)


@dataclass
class Tariffs:
    resolved: Resolved | None = None
    asked: list[dict[str, Any]] = field(default_factory=list)

    def tariff_for(self, tenant_id: str, **how: Any) -> Resolved | None:
        self.asked.append(how)
        return self.resolved


def _resolved(**tariff: Any) -> Resolved:
    return Resolved(
        TariffAssignment(tariff_id="tariff-1", site_id="site-1"),
        TariffVersion(a_tariff(version=1, **tariff), T0 - timedelta(days=1)),
    )


@dataclass
class World:
    holds: InMemoryBillingRepository = field(default_factory=InMemoryBillingRepository)
    accounts: Accounts = field(default_factory=Accounts)
    groups: Groups = field(default_factory=Groups)
    tariffs: Tariffs = field(default_factory=lambda: Tariffs(_resolved()))
    payments: FakePaymentProvider = field(default_factory=FakePaymentProvider)
    hold_amount: Decimal = Decimal(50)

    @property
    def service(self) -> PreauthService:
        return PreauthService(
            holds=self.holds,
            accounts=self.accounts,
            groups=self.groups,
            tariffs=self.tariffs,
            payments=self.payments,
            hold_amount=self.hold_amount,
        )


STARTED = StartedSession(
    tenant_id=T,
    session_id="S1",
    station_id="CP-1",
    site_id="site-1",
    evse_id=1,
    id_token="anna",
    group_id=None,
    started_at=T0,
)


def _with_card(world: World, **over: Any) -> World:
    fields: dict[str, Any] = {
        "id": ANNA,
        "mode": BillingMode.AD_HOC,
        "customer": "cus-anna",
        "payment_method": "pm-anna",
    }
    world.accounts.stored[ANNA] = BillingAccount(**(fields | over))
    return world


def test_preauth_holds_the_configured_amount_on_the_saved_card_once() -> None:
    # GIVEN an ad-hoc driver with a saved card, starting a session under a priced tariff
    world = _with_card(World())
    # WHEN the start is pre-authorised
    result = world.service.preauthorize(STARTED)
    # THEN 50.00 EUR is held on that card under a key derived from tenant and session, for
    # the receipt the session will be billed on, and the hold is stored
    assert result.outcome is PreauthOutcome.HELD
    [call] = world.payments.calls
    assert (call.method, call.key) == ("authorize", "csms:t-1:S1:hold")
    assert call.args["amount_minor"] == 5000
    assert (call.args["customer"], call.args["payment_method"]) == ("cus-anna", "pm-anna")
    assert call.args["metadata"] == {"invoice_id": receipt_id(T, "S1"), "session_id": "S1"}
    assert world.holds.get_hold(T, "S1") == Hold(
        reference="authorize-1", amount_minor=5000, currency="EUR"
    )
    assert result.hold == world.holds.get_hold(T, "S1")
    # AND the tariff asked for is the one in force at the start, at that station and EVSE
    assert world.tariffs.asked == [
        {
            "site_id": "site-1",
            "station_id": "CP-1",
            "evse_id": 1,
            "group_id": None,
            "id_token": "anna",
            "started_at": T0,
        }
    ]


def test_preauth_duplicate_event_asks_the_provider_nothing() -> None:
    # GIVEN a start pre-authorised already
    world = _with_card(World())
    first = world.service.preauthorize(STARTED)
    # WHEN the same TransactionStarted is delivered again
    again = world.service.preauthorize(STARTED)
    # THEN nothing more is asked or stored; the stored hold is answered
    assert again.outcome is PreauthOutcome.ALREADY_HELD
    assert again.hold == first.hold
    assert [c.method for c in world.payments.calls] == ["authorize"]


def test_preauth_racing_deliveries_make_and_store_one_hold() -> None:
    # GIVEN a delivery that stored its hold between this one's check and its write
    world = _with_card(World())
    racing = Hold(reference="authorize-1", amount_minor=5000, currency="EUR")

    class Racing(InMemoryBillingRepository):
        def get_hold(self, tenant_id: str, session_id: str) -> Hold | None:
            hold = super().get_hold(tenant_id, session_id)
            if hold is None and not self.holds:
                self.holds[tenant_id, session_id] = racing  # the other delivery, after our read
            return hold

    world.holds = Racing()
    # WHEN this delivery asks the provider (the same key: the same hold) and stores it
    result = world.service.preauthorize(STARTED)
    # THEN the first stored hold stands and is answered
    assert result.outcome is PreauthOutcome.ALREADY_HELD
    assert result.hold == racing
    assert world.holds.holds == {(T, "S1"): racing}


def test_preauth_hold_is_lowered_to_the_tariffs_maximum_price() -> None:
    # GIVEN a tariff that never costs more than 12.50 EUR (with tax)
    world = _with_card(World(tariffs=Tariffs(_resolved(maxPrice="12.50"))))
    # WHEN the start is pre-authorised
    world.service.preauthorize(STARTED)
    # THEN 12.50 EUR is held, not the configured 50
    assert world.payments.calls[0].args["amount_minor"] == 1250


@pytest.mark.parametrize(
    ("tariff", "configured", "expected"),
    [
        # Without tax, the maximum price gets its taxes (19 % of 10.00, and 7 % of 10.00).
        (
            {
                "pricesIncludeTax": False,
                "maxPrice": "10",
                "taxRates": [{"name": "VAT", "percent": "19"}, {"name": "X", "percent": "7"}],
            },
            "50",
            "12.60",
        ),
        ({"maxPrice": "80"}, "50", "50"),
        ({}, "25.5", "25.5"),
    ],
)
def test_preauth_hold_amount_is_the_least_of_setting_and_maximum_with_tax(
    tariff: dict[str, Any], configured: str, expected: str
) -> None:
    # GIVEN a tariff and a configured hold
    # WHEN computing the hold
    # THEN it is the lower of the two, the maximum counted with tax as pricing counts it
    assert hold_amount(a_tariff(**tariff), Decimal(configured)) == Decimal(expected)


@pytest.mark.parametrize(
    ("world", "started", "reason"),
    [
        (World(), replace(STARTED, id_token=None), "no id token"),
        (World(), STARTED, "no saved payment method"),
        (_with_card(World(), payment_method=None), STARTED, "no saved payment method"),
        (_with_card(World(), customer=None), STARTED, "no saved payment method"),
        (_with_card(World(tariffs=Tariffs(None))), STARTED, "no tariff"),
        (
            _with_card(World(tariffs=Tariffs(_resolved(prices={})))),
            STARTED,
            "the tariff is free",
        ),
        (
            _with_card(World(tariffs=Tariffs(_resolved(maxPrice="0.004")))),
            STARTED,
            "maximum price is zero",
        ),
        (_with_card(World(hold_amount=Decimal(0))), STARTED, "maximum price is zero"),
    ],
    ids=[
        "anonymous",
        "no-account",
        "no-method",
        "no-customer",
        "no-tariff",
        "free",
        "max-zero",
        "hold-zero",
    ],
)
def test_preauth_skips_sessions_with_nothing_to_hold(
    world: World, started: StartedSession, reason: str
) -> None:
    # GIVEN a start with no card, no tariff or nothing it could cost
    # WHEN it is pre-authorised
    result = world.service.preauthorize(started)
    # THEN nothing is asked of the provider and nothing is written
    assert result.outcome is PreauthOutcome.SKIPPED
    assert reason in result.reason
    assert world.payments.calls == []
    assert world.holds.holds == {}


@pytest.mark.parametrize(
    ("kind", "group_id"),
    [(GroupKind.RESIDENTS, "garage"), (GroupKind.FLEET, "vans")],
)
def test_preauth_skips_monthly_accounts_without_reading_them(
    kind: GroupKind, group_id: str
) -> None:
    # GIVEN a resident or fleet driver (billed on a monthly statement), with a saved card
    world = _with_card(World())
    world.groups.stored[group_id] = DriverGroup(id=group_id, name="G", kind=kind)
    # WHEN their start is pre-authorised
    result = world.service.preauthorize(replace(STARTED, group_id=group_id))
    # THEN nothing is held: the statement is charged at the month's end
    assert result.outcome is PreauthOutcome.SKIPPED
    assert "monthly" in result.reason
    assert world.accounts.reads == 0
    assert world.payments.calls == []


def test_preauth_employees_are_ad_hoc_and_held_when_their_tariff_costs() -> None:
    # GIVEN an employee (ad hoc per token) with a saved card and a priced tariff
    world = _with_card(World())
    world.groups.stored["staff"] = DriverGroup(id="staff", name="Staff", kind=GroupKind.EMPLOYEES)
    # WHEN their start is pre-authorised
    result = world.service.preauthorize(replace(STARTED, group_id="staff"))
    # THEN a hold is made
    assert result.outcome is PreauthOutcome.HELD


def test_preauth_skips_a_session_whose_billing_has_started() -> None:
    # GIVEN a start that arrives after its session was billed (an offline queue, a late event)
    world = _with_card(World())
    ledger = SessionLedger(
        tenant_id=T,
        session_id="S1",
        account=world.accounts.stored[ANNA],
        current=BilledRevision(
            revision=1, cdr_id="cdr-1", currency="EUR", total_incl_tax=Decimal(3)
        ),
        month="2026-11",
    )
    assert world.holds.save_ledger(T, ledger, 0)
    # WHEN it is pre-authorised
    result = world.service.preauthorize(STARTED)
    # THEN nothing is held: the end charged the card without a hold
    assert result.outcome is PreauthOutcome.SKIPPED
    assert "billing has started" in result.reason
    assert world.payments.calls == []


@pytest.mark.parametrize(
    "status", [PaymentStatus.DECLINED, PaymentStatus.REQUIRES_ACTION, PaymentStatus.FAILED]
)
def test_preauth_refusal_stores_nothing_and_logs_codes_only(
    status: PaymentStatus, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a card the bank declines (or that needs 3-D Secure, or a permanent failure)
    world = _with_card(World())

    class Refusing(FakePaymentProvider):
        def authorize(self, tenant_id: str, **kwargs: Any) -> PaymentResult:
            super().authorize(tenant_id, **kwargs)
            return PaymentResult(
                status=status,
                amount_minor=kwargs["amount_minor"],
                currency="EUR",
                failure_code="card_declined",
                failure_message="Card 4000 0000 0000 0002 was declined",
                permanent=True,
            )

    world.payments = Refusing()
    # WHEN the start is pre-authorised
    with caplog.at_level("WARNING", logger="csms.services.preauth"):
        result = world.service.preauthorize(STARTED)
    # THEN no hold is stored (the end charges the saved card as usual)
    assert result.outcome is PreauthOutcome.REFUSED
    assert result.reason == "card_declined"
    assert world.holds.holds == {}
    # AND a warning names the session and the code, never the provider's message
    [record] = caplog.records
    assert record.levelname == "WARNING"
    assert record.__dict__["failure_code"] == "card_declined"
    assert "4000" not in caplog.text


def test_preauth_unreachable_provider_raises_for_a_retry_and_stores_nothing() -> None:
    # GIVEN a provider that cannot be reached (a retryable failure)
    world = _with_card(World())
    world.payments.script = [(PaymentStatus.FAILED, "connection_error")]
    # WHEN the start is pre-authorised
    # THEN it raises a retryable error (the event is delivered again), with nothing stored
    with pytest.raises(PaymentProviderError) as raised:
        world.service.preauthorize(STARTED)
    assert raised.value.retryable
    assert world.holds.holds == {}
    # AND the retry, with the same key, makes the hold
    assert world.service.preauthorize(STARTED).outcome is PreauthOutcome.HELD
    assert {c.key for c in world.payments.calls} == {"csms:t-1:S1:hold"}


def test_preauth_invoice_only_provider_holds_nothing() -> None:
    # GIVEN the invoice-only provider (it answers INVOICED: nothing is held)
    world = _with_card(World())
    world.payments.script = [(PaymentStatus.INVOICED, None)]
    # WHEN the start is pre-authorised
    result = world.service.preauthorize(STARTED)
    # THEN no hold is stored: the end puts the price on the invoice
    assert result.outcome is PreauthOutcome.SKIPPED
    assert world.holds.holds == {}
