"""SessionPriceService: a stored session priced under the tariff its assignments give it."""

from __future__ import annotations

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

from csms.domain.access import Principal, Role
from csms.domain.billing.assignment import TariffAssignment
from csms.domain.billing.tariff import Tariff
from csms.domain.connector import EvseRef
from csms.domain.errors import ResourceNotFoundError, SessionNotFoundError, SessionNotPriceableError
from csms.domain.meter import Measurand, Reading, Sample
from csms.domain.sessions import MeterChunk, MeterMark, Session, SessionState
from csms.domain.station import ProtocolVersion
from csms.domain.tenancy import Site
from csms.services.session_price import SessionPriceService, usage_samples
from csms.services.tariffs import TariffService

T = "t-1"
OWNER = Principal("o", T, Role.OWNER)


def a_session(**over: Any) -> Session:
    fields: dict[str, Any] = {
        "id": "S1",
        "tenant_id": T,
        "station_id": "CP-1",
        "transaction_id": "TX",
        "protocol": ProtocolVersion.OCPP201,
        "site_id": "s1",
        "evse": EvseRef(evse_id=1, connector_id=1),
        "started_at": T0,
        "meter_start": MeterMark(wh=Decimal(1000), at=T0),
        "updated_at": T0,
        **over,
    }
    return Session.model_validate(fields)


def a_chunk(key: str, minutes: int, wh: int) -> MeterChunk:
    reading = Reading(
        timestamp=T0 + timedelta(minutes=minutes),
        samples=(Sample(measurand=Measurand.ENERGY, value=Decimal(wh)),),
    )
    return MeterChunk(session_id="S1", key=key, readings=(reading,))


class World:
    def __init__(self) -> None:
        self.clock = FixedClock(T0 + timedelta(minutes=30))
        self.sessions = InMemorySessionRepository()
        self.sites = InMemorySiteRepository()
        self.repo = InMemoryTariffRepository()
        self.sites.create_site(T, Site(id="s1", name="S", limit_kw=50, timezone="Europe/Berlin"))
        tariffs = TariffService(
            tariffs=self.repo,
            stations=InMemoryStationRepository(),
            sites=self.sites,
            groups=InMemoryGroupRepository(),
            tokens=InMemoryTokenRepository(),
            clock=self.clock,
        )
        self.service = SessionPriceService(
            sessions=self.sessions, sites=self.sites, tariffs=tariffs, clock=self.clock
        )
        tariff = Tariff(id="public", version=1, name="P", currency="EUR")
        tariff = tariff.model_copy(update={"prices": tariff.prices.model_copy(
            update={"energy_per_kwh": Decimal("0.40")})})  # fmt: skip
        self.repo.create_tariff(T, _version(tariff, T0 - timedelta(days=1)))
        self.repo.create_assignment(T, TariffAssignment(tariff_id="public", site_id="s1"))

    def store(self, session: Session, *chunks: MeterChunk) -> None:
        self.sessions.sessions[session.id] = session
        self.sessions.chunk_store[session.id] = {c.key: c for c in chunks}


def _version(tariff: Tariff, at: Any) -> Any:
    from csms.services.tariffs import TariffVersion

    return TariffVersion(tariff, at)


@pytest.fixture
def w() -> World:
    return World()


def test_estimate_prices_an_active_session_so_far(w: World) -> None:
    # GIVEN an active session at s1 with 2 kWh, then 5 kWh registered since its start
    w.store(a_session(), a_chunk("1", 10, 3000), a_chunk("2", 20, 6000))
    # WHEN estimated 30 minutes in
    estimate = w.service.estimate(OWNER, "S1")
    # THEN 5 kWh at 0.40 so far, not final, under the site's tariff
    assert not estimate.final
    assert estimate.priced.energy_kwh == Decimal(5)
    assert estimate.priced.total_incl_tax == Decimal("2.00")
    assert estimate.resolved.assignment.site_id == "s1"


def test_estimate_of_an_ended_session_is_final_up_to_its_stop(w: World) -> None:
    # GIVEN an ended session with its stop register
    w.store(
        a_session(
            state=SessionState.ENDED,
            stopped_at=T0 + timedelta(minutes=15),
            meter_stop_wh=Decimal(3500),
        ),
        a_chunk("1", 10, 3000),
        a_chunk("late", 25, 9000),
    )
    # WHEN estimated later
    estimate = w.service.estimate(OWNER, "S1")
    # THEN final, priced to the stop register (readings after the stop left out)
    assert estimate.final
    assert estimate.priced.energy_kwh == Decimal("2.5")
    assert estimate.priced.plugged_minutes == Decimal(15)


def test_estimate_refuses_foreign_unpriceable_and_unassigned_sessions(w: World) -> None:
    # GIVEN a session of another tenant, one without any start, one at a site without tariff
    w.store(a_session(id="X", tenant_id="other"))
    w.store(a_session(id="N", started_at=None, meter_start=None))
    w.store(a_session(id="U", site_id="s2"))
    w.store(a_session(id="L", started_at=T0 - timedelta(days=40)))
    # WHEN estimated
    # THEN absent, not priceable, no tariff, too long
    with pytest.raises(SessionNotFoundError):
        w.service.estimate(OWNER, "X")
    with pytest.raises(SessionNotPriceableError, match="start is not known"):
        w.service.estimate(OWNER, "N")
    with pytest.raises(ResourceNotFoundError):
        w.service.estimate(OWNER, "U")
    with pytest.raises(SessionNotPriceableError, match="31 days"):
        w.service.estimate(OWNER, "L")


def test_estimate_uses_the_current_version_when_the_tariff_came_after_the_start(
    w: World,
) -> None:
    # GIVEN a session that started before its site's tariff existed
    w.store(a_session(started_at=T0 - timedelta(days=2), meter_start=None))
    # WHEN estimated
    estimate = w.service.estimate(OWNER, "S1")
    # THEN under the current version, with no energy measured
    assert estimate.resolved.tariff.version == 1
    assert estimate.priced.energy_kwh == 0


def test_usage_samples_keep_the_register_in_order_and_never_going_down() -> None:
    # GIVEN a start register, readings out of order, one going down, one outside the session
    session = a_session()
    readings = [
        (T0 + timedelta(minutes=20), Decimal(5000)),
        (T0 + timedelta(minutes=10), Decimal(3000)),
        (T0 + timedelta(minutes=15), Decimal(2000)),
        (T0 + timedelta(hours=5), Decimal(9000)),
    ]
    # WHEN made into samples for the first hour
    samples = usage_samples(session, readings, T0, T0 + timedelta(hours=1))
    # THEN start, 10 and 20 minutes, in order
    assert [(s.at - T0, s.wh) for s in samples] == [
        (timedelta(0), Decimal(1000)),
        (timedelta(minutes=10), Decimal(3000)),
        (timedelta(minutes=20), Decimal(5000)),
    ]
