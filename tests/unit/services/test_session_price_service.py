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
from csms.domain.billing.tariff import IdleFee, Tariff, TimeRate, TimeUnit
from csms.domain.billing.usage import EnergySample
from csms.domain.connector import EvseRef
from csms.domain.errors import ResourceNotFoundError, SessionNotFoundError, SessionNotPriceableError
from csms.domain.meter import Measurand, Reading, Sample
from csms.domain.sessions import ChargingState, MeterChunk, MeterMark, Session, SessionState
from csms.domain.station import ProtocolVersion
from csms.domain.tenancy import Site
from csms.services.session_price import SessionPriceService, last_increase, usage_samples
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


def a_chunk(
    key: str,
    minutes: int,
    wh: int | None,
    state: ChargingState | None = None,
    seq_no: int | None = None,
) -> MeterChunk:
    at = T0 + timedelta(minutes=minutes)
    readings = (
        ()
        if wh is None
        else (
            Reading(timestamp=at, samples=(Sample(measurand=Measurand.ENERGY, value=Decimal(wh)),)),
        )
    )
    return MeterChunk(
        session_id="S1",
        key=key,
        readings=readings,
        seq_no=seq_no,
        charging_state=state,
        state_at=at if state is not None else None,
    )


class World:
    def __init__(self, idle_fee: IdleFee | None = None) -> None:
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
        tariff = Tariff(id="public", version=1, name="P", currency="EUR", idle_fee=idle_fee)
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


# 0.10 EUR a minute idle, after 10 free minutes.
IDLE_FEE = IdleFee(rate=TimeRate(amount=Decimal("0.10"), per=TimeUnit.MINUTE), grace_minutes=10)


def test_estimate_shows_the_idle_fee_accruing_after_the_ev_finished() -> None:
    # GIVEN a 2.0.1 session that charged 2 kWh and reported SuspendedEV 10 minutes in, still
    # plugged in when estimated 30 minutes in
    w = World(idle_fee=IDLE_FEE)
    w.store(
        a_session(),
        a_chunk("0", 0, 1000, ChargingState.CHARGING, seq_no=0),
        a_chunk("1", 10, 3000, ChargingState.SUSPENDED_EV, seq_no=1),
        a_chunk("2", 20, 3000, seq_no=2),
    )
    # WHEN estimated
    estimate = w.service.estimate(OWNER, "S1")
    # THEN 20 minutes idle so far, 10 of them billed: 0.80 energy + 1.00 idle
    assert estimate.priced.idle_minutes == Decimal(20)
    assert estimate.priced.billed_idle_minutes == Decimal(10)
    assert estimate.priced.total_incl_tax == Decimal("1.80")
    # AND 10 minutes later the idle fee has grown by 1.00
    w.clock.advance(600)
    assert w.service.estimate(OWNER, "S1").priced.total_incl_tax == Decimal("2.80")


def test_estimate_idle_ends_when_the_ev_left_and_prices_nothing_while_charging() -> None:
    # GIVEN an ended session whose EV finished at 10 and left (Idle) at 25, stopped at 40
    w = World(idle_fee=IDLE_FEE)
    ended = a_session(
        state=SessionState.ENDED,
        stopped_at=T0 + timedelta(minutes=40),
        meter_stop_wh=Decimal(3000),
    )
    w.store(
        ended,
        a_chunk("0", 0, 1000, ChargingState.CHARGING, seq_no=0),
        a_chunk("1", 10, 3000, ChargingState.SUSPENDED_EV, seq_no=1),
        a_chunk("2", 25, None, ChargingState.IDLE, seq_no=2),
    )
    # AND one still charging (the same states, then Charging again)
    w.store(
        a_session(id="C"),
    )
    w.sessions.chunk_store["C"] = {
        c.key: c
        for c in (
            a_chunk("0", 0, 1000, ChargingState.CHARGING, seq_no=0),
            a_chunk("1", 10, 3000, ChargingState.SUSPENDED_EVSE, seq_no=1),
            a_chunk("2", 12, 3000, ChargingState.CHARGING, seq_no=2),
        )
    }
    # WHEN estimated
    final = w.service.estimate(OWNER, "S1").priced
    charging = w.service.estimate(OWNER, "C").priced
    # THEN idle 10-25 only (5 minutes billed); none while it charges again
    assert (final.idle_minutes, final.billed_idle_minutes) == (Decimal(15), Decimal(5))
    assert charging.idle_minutes == 0


def test_estimate_without_reported_states_takes_idle_from_the_register() -> None:
    # GIVEN a 1.6 session (no charging state) whose register stopped rising at 10 minutes
    w = World(idle_fee=IDLE_FEE)
    w.store(
        a_session(protocol=ProtocolVersion.OCPP16),
        a_chunk("a", 5, 2000),
        a_chunk("b", 10, 3000),
        a_chunk("c", 15, 3000),
    )
    # AND a 2.0.1 session with the same register that reported Charging throughout
    w.store(a_session(id="R"))
    w.sessions.chunk_store["R"] = {
        c.key: c
        for c in (
            a_chunk("0", 5, 2000, ChargingState.CHARGING, seq_no=0),
            a_chunk("1", 10, 3000, seq_no=1),
            a_chunk("2", 15, 3000, seq_no=2),
        )
    }
    # AND a 1.6 session whose Charging status was missed, SuspendedEV kept at 12 minutes
    w.store(a_session(id="M", protocol=ProtocolVersion.OCPP16))
    w.sessions.chunk_store["M"] = {
        c.key: c
        for c in (
            a_chunk("!s", 12, None, ChargingState.SUSPENDED_EV),
            a_chunk("a", 5, 2000),
            a_chunk("b", 10, 3000),
            a_chunk("c", 15, 3000),
        )
    }
    # WHEN estimated 30 minutes in
    register = w.service.estimate(OWNER, "S1").priced
    reported = w.service.estimate(OWNER, "R").priced
    missed = w.service.estimate(OWNER, "M").priced
    # THEN idle from the register's last increase to now; the station's word wins over it,
    # unless it never said Charging
    assert register.idle_minutes == Decimal(20)
    assert reported.idle_minutes == 0
    assert missed.idle_minutes == Decimal(20)


def sample(minutes: int, wh: int) -> EnergySample:
    return EnergySample(at=T0 + timedelta(minutes=minutes), wh=Decimal(wh))


def test_last_increase_is_the_first_sample_of_a_flat_tail() -> None:
    # GIVEN a register that rose until 20 minutes, then stayed flat twice
    samples = (sample(0, 100), sample(10, 500), sample(20, 900), sample(30, 900), sample(40, 900))
    # WHEN read
    # THEN energy stopped flowing at 20 minutes (at most one sample interval late)
    assert last_increase(samples) == T0 + timedelta(minutes=20)


def test_last_increase_needs_energy_and_a_flat_interval() -> None:
    # GIVEN a register still rising at its last sample, one never rising, and a single sample
    rising = (sample(0, 100), sample(10, 100), sample(20, 500))
    flat = (sample(0, 100), sample(10, 100), sample(20, 100))
    single = (sample(0, 100),)
    # WHEN read
    # THEN no idle start from any of them
    assert last_increase(rising) is None
    assert last_increase(flat) is None
    assert last_increase(single) is None
