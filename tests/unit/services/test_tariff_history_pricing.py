"""The tariff in force at a session's start applies to the whole session, even when its
assignment is deleted or replaced while the session charges: billing (StoredSessionPricer) and
the live price (SessionPriceService) on the in-memory fakes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.fakes import (
    T0,
    FixedClock,
    InMemoryGroupRepository,
    InMemorySessionRepository,
    InMemorySiteRepository,
    InMemoryStationRepository,
    InMemoryTariffRepository,
    InMemoryTokenRepository,
    a_station,
)
from tests.unit.services.test_billing_wiring import a_chunk, a_session

from csms.domain.access import Principal, Role
from csms.domain.billing.assignment import TariffAssignment
from csms.domain.billing.tariff import Tariff
from csms.domain.sessions import MeterMark, SessionState
from csms.domain.tenancy import Site
from csms.services.billing_wiring import StoredSessionPricer
from csms.services.session_price import SessionPriceService
from csms.services.tariffs import TariffService

T = "t-1"
OWNER = Principal("o", T, Role.OWNER)


def a_tariff(tariff_id: str, per_kwh: str) -> Tariff:
    return Tariff.model_validate(
        {"id": tariff_id, "name": tariff_id, "currency": "EUR", "prices": {"energyPerKwh": per_kwh}}
    )


class World:
    """Site s1 with CP-1; `public` (0.40 EUR/kWh) assigned at s1 an hour before T0."""

    def __init__(self) -> None:
        self.clock = FixedClock(T0 - timedelta(hours=1))
        self.sessions = InMemorySessionRepository()
        self.sites = InMemorySiteRepository()
        self.sites.create_site(T, Site(id="s1", name="S", limit_kw=50))
        stations = InMemoryStationRepository()
        stations.register(a_station(id="CP-1", tenant_id=T, site_id="s1"))
        self.tariffs = TariffService(
            tariffs=InMemoryTariffRepository(),
            stations=stations,
            sites=self.sites,
            groups=InMemoryGroupRepository(),
            tokens=InMemoryTokenRepository(),
            clock=self.clock,
        )
        self.tariffs.create_tariff(OWNER, a_tariff("public", "0.40"))
        self.tariffs.create_tariff(OWNER, a_tariff("dear", "0.90"))
        self.public = self.tariffs.create_assignment(
            OWNER, TariffAssignment(tariff_id="public", site_id="s1")
        )
        self.pricer = StoredSessionPricer(
            sessions=self.sessions, sites=self.sites, tariffs=self.tariffs
        )
        self.prices = SessionPriceService(
            sessions=self.sessions, sites=self.sites, tariffs=self.tariffs, clock=self.clock
        )

    def replace_while_charging(self) -> TariffAssignment:
        """Ten minutes into the session, the public assignment is deleted and `dear` takes s1."""
        self.clock.at = T0 + timedelta(minutes=10)
        self.tariffs.delete_assignment(OWNER, self.public.id)
        return self.tariffs.create_assignment(
            OWNER, TariffAssignment(tariff_id="dear", site_id="s1")
        )


def test_ended_session_is_billed_under_the_assignment_deleted_while_it_charged() -> None:
    # GIVEN a session that started at T0 under `public`, whose assignment was deleted and
    # replaced by `dear` while it charged, and a session that started after the change
    w = World()
    dear = w.replace_while_charging()
    w.sessions.sessions["S1"] = a_session()
    w.sessions.chunk_store["S1"] = {"1": a_chunk("1", 10, 3000)}
    w.sessions.sessions["S2"] = a_session(
        id="S2",
        started_at=T0 + timedelta(minutes=20),
        meter_start=MeterMark(wh=Decimal(1000), at=T0 + timedelta(minutes=20)),
        stopped_at=T0 + timedelta(minutes=50),
    )
    w.clock.at = T0 + timedelta(hours=1)

    # WHEN both ended sessions are priced for billing
    first = w.pricer.price_ended(T, "S1")
    second = w.pricer.price_ended(T, "S2")

    # THEN the first is priced all through under `public` (5 kWh x 0.40), the second under
    # `dear`
    assert (first.tariff.id, first.priced.total_incl_tax) == ("public", Decimal("2.00"))
    assert (second.tariff.id, second.priced.total_incl_tax) == ("dear", Decimal("4.50"))
    assert dear.tariff_id == "dear"


def test_live_price_keeps_the_assignment_in_force_at_the_start() -> None:
    # GIVEN a session charging since T0 whose assignment was replaced ten minutes in
    w = World()
    w.replace_while_charging()
    w.sessions.sessions["S1"] = a_session(
        state=SessionState.ACTIVE, stopped_at=None, meter_stop_wh=None
    )
    w.sessions.chunk_store["S1"] = {"1": a_chunk("1", 10, 3000)}
    w.clock.at = T0 + timedelta(minutes=20)

    # WHEN its live price is asked for
    estimate = w.prices.estimate(OWNER, "S1")

    # THEN it is the ended public assignment's, not the one in force now
    assert estimate.resolved.assignment.id == w.public.id
    assert estimate.resolved.assignment.ended
    assert estimate.resolved.tariff.tariff.id == "public"
    assert not estimate.final
