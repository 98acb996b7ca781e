"""Billing's wiring: ended sessions priced from storage, accounts by driver group, end to end."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes import (
    T0,
    FixedClock,
    InMemoryGroupRepository,
    InMemorySessionRepository,
    InMemorySiteRepository,
    InMemoryStationRepository,
    InMemoryTariffRepository,
    InMemoryTokenRepository,
)
from tests.fakes_billing import (
    FakePaymentProvider,
    InMemoryBillingAccountStore,
    InMemoryBillingRepository,
)

from csms.adapters.invoice_only import InvoiceOnlyProvider
from csms.domain.billing.assignment import TariffAssignment
from csms.domain.billing.cdr import AuthMethod
from csms.domain.billing.invoice import BillingAccount, BillingMode, InvoiceKind, InvoiceState
from csms.domain.billing.tariff import Tariff
from csms.domain.connector import EvseRef
from csms.domain.errors import (
    ConcurrentModificationError,
    SessionNotFoundError,
    SessionNotPriceableError,
)
from csms.domain.meter import Measurand, Reading, Sample
from csms.domain.sessions import MeterChunk, MeterMark, Session, SessionState
from csms.domain.station import ProtocolVersion
from csms.domain.tenancy import DriverGroup, GroupKind, Site
from csms.domain.tokens import Authorization, AuthorizationStatus
from csms.services.billing import BillingService
from csms.services.billing_wiring import (
    ANONYMOUS,
    NO_TARIFF,
    GroupBillingAccounts,
    StoredAccount,
    StoredSessionPricer,
    account_of,
    token_account_id,
)
from csms.services.tariffs import TariffService, TariffVersion

T = "t-1"
NOW = T0 + timedelta(hours=2)


def a_session(**over: Any) -> Session:
    fields: dict[str, Any] = {
        "id": "S1",
        "tenant_id": T,
        "station_id": "CP-1",
        "transaction_id": "TX",
        "protocol": ProtocolVersion.OCPP201,
        "site_id": "s1",
        "evse": EvseRef(evse_id=1, connector_id=2),
        "state": SessionState.ENDED,
        "id_token": "anna",
        "started_at": T0,
        "stopped_at": T0 + timedelta(minutes=30),
        "meter_start": MeterMark(wh=Decimal(1000), at=T0),
        "meter_stop_wh": Decimal(6000),
        "revision": 1,
        "updated_at": T0 + timedelta(minutes=30),
        **over,
    }
    return Session.model_validate(fields)


def a_chunk(key: str, minutes: int, wh: int) -> MeterChunk:
    reading = Reading(
        timestamp=T0 + timedelta(minutes=minutes),
        samples=(Sample(measurand=Measurand.ENERGY, value=Decimal(wh)),),
    )
    return MeterChunk(session_id="S1", key=key, readings=(reading,))


def a_tariff(version: int = 1, per_kwh: str = "0.40", **over: Any) -> Tariff:
    return Tariff.model_validate(
        {
            "id": "public",
            "version": version,
            "name": "Public",
            "currency": "EUR",
            "prices": {"energyPerKwh": per_kwh},
            **over,
        }
    )


class CountingProvider(FakePaymentProvider):
    """The fake provider, counting the customers it was asked to make."""

    def __init__(self) -> None:
        super().__init__()
        self.customers: list[tuple[str, str | None]] = []

    def ensure_customer(
        self, tenant_id: str, account_id: str, *, email: str | None, name: str | None
    ) -> str:
        self.customers.append((account_id, name))
        return super().ensure_customer(tenant_id, account_id, email=email, name=name)


class World:
    def __init__(self) -> None:
        self.sessions = InMemorySessionRepository()
        self.sites = InMemorySiteRepository()
        self.tariffs = InMemoryTariffRepository()
        self.groups = InMemoryGroupRepository()
        self.sites.create_site(T, Site(id="s1", name="S", limit_kw=50, timezone="Europe/Berlin"))
        service = TariffService(
            tariffs=self.tariffs,
            stations=InMemoryStationRepository(),
            sites=self.sites,
            groups=self.groups,
            tokens=InMemoryTokenRepository(),
            clock=FixedClock(NOW),
        )
        self.pricer = StoredSessionPricer(
            sessions=self.sessions, sites=self.sites, tariffs=service, fallback_currency="CHF"
        )
        self.store = InMemoryBillingAccountStore()
        self.provider = CountingProvider()
        self.accounts = GroupBillingAccounts(
            store=self.store, groups=self.groups, payments=self.provider
        )

    def publish(self, tariff: Tariff, at: Any) -> None:
        if tariff.version == 1:
            assert self.tariffs.create_tariff(T, TariffVersion(tariff, at))
            assert self.tariffs.create_assignment(
                T, TariffAssignment(tariff_id=tariff.id, site_id="s1")
            )
        else:
            assert self.tariffs.add_version(T, TariffVersion(tariff, at), tariff.version - 1)

    def store_session(self, session: Session, *chunks: MeterChunk) -> None:
        self.sessions.sessions[session.id] = session
        self.sessions.chunk_store[session.id] = {c.key: c for c in chunks}

    def group(self, group_id: str, kind: GroupKind) -> None:
        assert self.groups.create_group(
            T, DriverGroup(id=group_id, name=group_id.title(), kind=kind)
        )


@pytest.fixture
def w() -> World:
    return World()


# -- pricing ended sessions ----------------------------------------------------------------------


def test_price_ended_uses_the_tariff_version_in_force_at_the_start(w: World) -> None:
    # GIVEN version 1 before the session started and version 2 published while it charged
    w.publish(a_tariff(1, "0.40"), T0 - timedelta(days=1))
    w.publish(a_tariff(2, "0.90"), T0 + timedelta(minutes=10))
    w.store_session(a_session(), a_chunk("1", 10, 3000))

    # WHEN the ended session is priced
    ended = w.pricer.price_ended(T, "S1")

    # THEN 5 kWh at version 1's 0.40, in the site's timezone, with the session's facts
    assert (ended.tariff.version, ended.priced.tariff_version) == (1, 1)
    assert ended.priced.energy_kwh == Decimal(5)
    assert ended.priced.total_incl_tax == Decimal("2.00")
    assert ended.usage.timezone == "Europe/Berlin"
    assert ended.usage.stop == T0 + timedelta(minutes=30)
    facts = ended.facts
    assert (facts.session_id, facts.revision, facts.station_id, facts.site_id) == (
        "S1",
        1,
        "CP-1",
        "s1",
    )
    assert (facts.evse_id, facts.connector_id, facts.id_token) == (1, 2, "anna")
    assert facts.auth_method is AuthMethod.WHITELIST


def test_price_ended_states_how_the_session_was_authorised(w: World) -> None:
    # GIVEN a remotely started session and one the CSMS authorised
    w.publish(a_tariff(), T0 - timedelta(days=1))
    accepted = Authorization(status=AuthorizationStatus.ACCEPTED)
    w.store_session(a_session(id="R", remote_start_id=7))
    w.store_session(a_session(id="A", authorization=accepted, revision=3))

    # WHEN priced
    remote, authorised = w.pricer.price_ended(T, "R"), w.pricer.price_ended(T, "A")

    # THEN OCPI's auth methods, and the newest revision
    assert remote.facts.auth_method is AuthMethod.COMMAND
    assert authorised.facts.auth_method is AuthMethod.AUTH_REQUEST
    assert authorised.facts.revision == 3


def test_price_ended_without_a_tariff_is_free_with_a_note_and_an_alert(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN an ended session at a site no tariff is assigned to
    w.store_session(a_session(site_id="elsewhere"))

    # WHEN priced
    with caplog.at_level(logging.ERROR, logger="csms.services.billing_wiring"):
        ended = w.pricer.price_ended(T, "S1")

    # THEN free under the stand-in tariff, in the fallback currency, the usage still reported
    assert ended.tariff.id == NO_TARIFF
    assert ended.priced.total_incl_tax == 0
    assert ended.priced.currency == "CHF"
    assert ended.priced.energy_kwh == Decimal(5)
    assert ended.priced.explanation[-1].startswith("No tariff applied to this session")
    # AND an error names the session for the operator
    assert [r.session_id for r in caplog.records] == ["S1"]  # type: ignore[attr-defined]


def test_price_ended_refuses_absent_foreign_active_and_unpriceable_sessions(w: World) -> None:
    # GIVEN sessions: another tenant's, an active one, one without start, one too long
    w.publish(a_tariff(), T0 - timedelta(days=60))
    w.store_session(a_session(id="X", tenant_id="other"))
    w.store_session(a_session(id="ACT", state=SessionState.ACTIVE, revision=0))
    w.store_session(a_session(id="N", started_at=None, meter_start=None))
    w.store_session(a_session(id="L", started_at=T0 - timedelta(days=40)))

    # WHEN / THEN absent or foreign: not found; the others: not priceable
    for absent in ("nope", "X"):
        with pytest.raises(SessionNotFoundError):
            w.pricer.price_ended(T, absent)
    for session_id, reason in (("ACT", "not ended"), ("N", "start"), ("L", "31 days")):
        with pytest.raises(SessionNotPriceableError, match=reason):
            w.pricer.price_ended(T, session_id)


def test_price_ended_without_stop_time_ends_at_the_last_register(w: World) -> None:
    # GIVEN an ended session without a stop time (closed from its readings), and one without
    # any reading ending when it started
    w.publish(a_tariff(), T0 - timedelta(days=1))
    last = MeterMark(wh=Decimal(3000), at=T0 + timedelta(minutes=20))
    w.store_session(a_session(stopped_at=None, meter_stop_wh=None, meter_last=last))
    w.store_session(a_session(id="Z", stopped_at=T0, meter_stop_wh=None, meter_start=None))

    # WHEN priced
    ended, instant = w.pricer.price_ended(T, "S1"), w.pricer.price_ended(T, "Z")

    # THEN it lasts until its last register; an instant session lasts one second, no energy
    assert ended.usage.stop == last.at
    assert instant.usage.stop == T0 + timedelta(seconds=1)
    assert instant.priced.energy_kwh == 0


# -- accounts ------------------------------------------------------------------------------------


def test_account_of_follows_the_group_kind() -> None:
    # GIVEN groups of every kind
    def group(kind: GroupKind) -> DriverGroup:
        return DriverGroup(id="g", name="G", kind=kind)

    # WHEN / THEN fleets and token-less residents bill monthly to the group, residents monthly
    # per token, everyone else ad hoc per token, no token to the anonymous account
    assert account_of("a", group(GroupKind.FLEET)) == ("group:g", BillingMode.MONTHLY)
    assert account_of("a", group(GroupKind.RESIDENTS)) == ("token:A", BillingMode.MONTHLY)
    assert account_of(None, group(GroupKind.RESIDENTS)) == ("group:g", BillingMode.MONTHLY)
    assert account_of("a", group(GroupKind.EMPLOYEES)) == ("token:A", BillingMode.AD_HOC)
    assert account_of("a", group(GroupKind.MEMBERS)) == ("token:A", BillingMode.AD_HOC)
    assert account_of("a", None) == ("token:A", BillingMode.AD_HOC)
    assert account_of(None, None) == (ANONYMOUS, BillingMode.AD_HOC)


def test_token_account_id_is_case_insensitive_and_url_safe() -> None:
    # GIVEN / WHEN / THEN a token's case does not matter; a token unsafe in a URL is hashed
    assert token_account_id("abc-1") == token_account_id("ABC-1") == "token:ABC-1"
    unsafe = token_account_id("a/b c")
    assert unsafe.startswith("token:")
    assert "/" not in unsafe
    assert " " not in unsafe
    assert unsafe == token_account_id("A/B C")


def test_account_for_makes_the_account_and_its_customer_once(w: World) -> None:
    # GIVEN a fleet group
    w.group("fleet", GroupKind.FLEET)

    # WHEN two of its drivers' sessions ask for their account
    first = w.accounts.account_for(T, id_token="anna", group_id="fleet")
    second = w.accounts.account_for(T, id_token="ben", group_id="fleet")

    # THEN one group account, monthly, with one customer made (named after the group), stored
    assert first == second
    assert first == BillingAccount(
        id="group:fleet", mode=BillingMode.MONTHLY, customer="cus-group:fleet"
    )
    assert w.provider.customers == [("group:fleet", "Fleet")]
    assert w.accounts.get_account(T, "group:fleet") == first
    assert w.accounts.get_account(T, "nobody") is None


def test_account_for_an_unknown_group_bills_ad_hoc_per_token(w: World) -> None:
    # GIVEN / WHEN a session whose group no longer exists asks for its account
    account = w.accounts.account_for(T, id_token="anna", group_id="gone")

    # THEN ad hoc to the driver's own account
    assert (account.id, account.mode) == ("token:ANNA", BillingMode.AD_HOC)
    assert w.provider.customers == [("token:ANNA", None)]


def test_account_for_keeps_customer_and_method_when_the_mode_changes(w: World) -> None:
    # GIVEN a driver billed ad hoc who saved a payment method
    first = w.accounts.account_for(T, id_token="anna", group_id=None)
    saved = w.accounts.set_payment_method(T, first.id, "pm_1")
    assert saved is not None

    # WHEN the driver moved into a residents group
    w.group("house", GroupKind.RESIDENTS)
    now = w.accounts.account_for(T, id_token="anna", group_id="house")

    # THEN the same account, monthly now, its customer and method kept; no second customer
    assert now == saved.model_copy(update={"mode": BillingMode.MONTHLY})
    assert now.payment_method == "pm_1"
    assert w.accounts.get_account(T, first.id) == now
    assert len(w.provider.customers) == 1


def test_set_payment_method_of_an_unknown_account_changes_nothing(w: World) -> None:
    # GIVEN / WHEN a method is saved for an account nobody made, and the same one twice
    unknown = w.accounts.set_payment_method(T, "token:NOBODY", "pm_1")
    made = w.accounts.account_for(T, id_token="anna", group_id=None)
    once = w.accounts.set_payment_method(T, made.id, "pm_1")
    twice = w.accounts.set_payment_method(T, made.id, "pm_1")

    # THEN nothing for the unknown one; the second save is the first's result
    assert unknown is None
    assert once == twice
    stored = w.store.get_account(T, made.id)
    assert stored is not None
    assert stored.version == 2


class RacingStore(InMemoryBillingAccountStore):
    """Another writer saves the account just before each of the first `races` saves."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races

    def save_account(self, tenant_id: str, account: BillingAccount, expected_version: int) -> bool:
        if self.races > 0:
            self.races -= 1
            stored = self.accounts.get((tenant_id, account.id))
            version = stored.version if stored is not None else 0
            # The racer made the account, or rewrote it as it was.
            racer = (
                stored.account
                if stored is not None
                else account.model_copy(update={"customer": "cus-racer"})
            )
            self.accounts[tenant_id, account.id] = StoredAccount(racer, version + 1)
        return super().save_account(tenant_id, account, expected_version)


def test_account_for_takes_the_account_another_run_made_meanwhile(w: World) -> None:
    # GIVEN another run that makes the account between our read and our write
    store = RacingStore(races=1)
    accounts = GroupBillingAccounts(store=store, groups=w.groups, payments=w.provider)

    # WHEN the account is asked for
    account = accounts.account_for(T, id_token="anna", group_id=None)

    # THEN the other run's account (and customer) is the one used
    assert account.customer == "cus-racer"


def test_account_writes_that_keep_losing_give_up(w: World) -> None:
    # GIVEN a store where every save loses a race
    store = RacingStore(races=99)
    store.accounts[T, "token:ANNA"] = StoredAccount(
        BillingAccount(id="token:ANNA", mode=BillingMode.MONTHLY, customer="c"), 1
    )
    accounts = GroupBillingAccounts(store=store, groups=w.groups, payments=w.provider)

    # WHEN / THEN a concurrent modification, reported rather than looping forever
    with pytest.raises(ConcurrentModificationError):
        accounts.account_for(T, id_token="anna", group_id=None)
    with pytest.raises(ConcurrentModificationError):
        accounts.set_payment_method(T, "token:ANNA", "pm_9")


# -- end to end with the fakes -------------------------------------------------------------------


def test_billing_an_ended_session_with_the_invoice_only_provider_bills_it_once(w: World) -> None:
    # GIVEN a public tariff and an ended session of an unaffiliated driver
    w.publish(a_tariff(), T0 - timedelta(days=1))
    w.store_session(a_session())
    repo = InMemoryBillingRepository()
    provider = InvoiceOnlyProvider()
    accounts = GroupBillingAccounts(store=w.store, groups=w.groups, payments=provider)
    service = BillingService(repository=repo, pricer=w.pricer, accounts=accounts, payments=provider)

    # WHEN it is billed, and billed again (a duplicate event)
    first = service.bill_session(T, "S1", NOW)
    again = service.bill_session(T, "S1", NOW + timedelta(minutes=1))

    # THEN one CDR and one receipt, due on the account's invoice (nothing moved)
    assert len(repo.cdrs) == 1
    assert first.invoice is not None
    assert first.invoice.kind is InvoiceKind.RECEIPT
    assert first.invoice.state is InvoiceState.FINALIZED
    assert first.invoice.total_incl_tax == Decimal("2.00")
    assert [p.status for p in first.invoice.payments] == ["invoiced"]
    assert again.invoice == first.invoice
    assert first.invoice.account_id == "token:ANNA"
    assert repo.of_type("CdrCreated")
    assert len(repo.of_type("InvoiceFinalized")) == 1


def test_price_ended_reads_every_page_of_registers_and_skips_other_measurands(w: World) -> None:
    # GIVEN an ended session with 150 register readings (more than a page of chunks) and a
    # reading of power only
    w.publish(a_tariff(), T0 - timedelta(days=1))
    chunks = [a_chunk(f"{n:04d}", minutes=1 + n // 10, wh=1000 + 10 * (n + 1)) for n in range(150)]
    power = Reading(
        timestamp=T0 + timedelta(minutes=5),
        samples=(Sample(measurand=Measurand.POWER, value=Decimal(7000)),),
    )
    chunks.append(MeterChunk(session_id="S1", key="power", readings=(power,)))
    w.store_session(a_session(meter_stop_wh=None, stopped_at=T0 + timedelta(minutes=20)), *chunks)

    # WHEN priced
    ended = w.pricer.price_ended(T, "S1")

    # THEN up to the last register of the last page: 1.5 kWh
    assert ended.priced.energy_kwh == Decimal("1.5")
    assert len(ended.usage.samples) == 151
