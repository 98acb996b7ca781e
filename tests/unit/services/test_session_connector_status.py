"""1.6 connector statuses kept as the charging state of the session on the connector."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from tests.conftest import World
from tests.fakes import T0, a_binding

from csms.domain.connector import ConnectorStatus, EvseRef, OccupancyDetail, StatusReport
from csms.domain.sessions import (
    ChargingState,
    MeterChunk,
    charging_state_of,
    chunk_key_status,
    session_id,
)
from csms.domain.station import ProtocolVersion
from csms.domain.tokens import IdToken, PresentedToken
from csms.services.sessions import StartTransactionRequest

V16 = a_binding(protocol=ProtocolVersion.OCPP16, site_id="site-1")
V201 = a_binding(site_id="site-1")
EVSE1 = EvseRef(evse_id=1, connector_id=1)
EVSE2 = EvseRef(evse_id=2, connector_id=1)
STATION = EvseRef(evse_id=0, connector_id=0)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def a_report(
    detail: OccupancyDetail | None,
    minutes: float = 30,
    evse: EvseRef = EVSE1,
    status: ConnectorStatus = ConnectorStatus.OCCUPIED,
) -> StatusReport:
    return StatusReport(evse=evse, status=status, detail=detail, timestamp=at(minutes))


def started(world: World) -> str:
    """A 1.6 session on EVSE 1 of CP-1, started at T0; its id."""
    world.tokens.create("tenant-a", IdToken(id_token="CARD-1"), T0)
    request = StartTransactionRequest(
        evse=EVSE1, token=PresentedToken(value="CARD-1"), meter_start_wh=Decimal(0), timestamp=T0
    )
    tx = world.sessions.start_transaction(V16, request).transaction_id
    return session_id("CP-1", str(tx))


def states(world: World, sid: str) -> list[MeterChunk]:
    chunks = world.sessions_repo.chunks(sid, 100).items
    return [c for c in chunks if c.charging_state is not None]


def test_charging_state_of_a_1_6_status() -> None:
    # GIVEN 1.6 statuses of a connector and of the whole station
    # WHEN read as charging states
    # THEN the occupied ones and Available tell one; the others and the station tell none
    assert charging_state_of(a_report(OccupancyDetail.CHARGING)) is ChargingState.CHARGING
    assert charging_state_of(a_report(OccupancyDetail.SUSPENDED_EV)) is ChargingState.SUSPENDED_EV
    assert (
        charging_state_of(a_report(OccupancyDetail.SUSPENDED_EVSE)) is ChargingState.SUSPENDED_EVSE
    )
    assert charging_state_of(a_report(OccupancyDetail.FINISHING)) is ChargingState.EV_CONNECTED
    available = a_report(None, status=ConnectorStatus.AVAILABLE)
    assert charging_state_of(available) is ChargingState.IDLE
    assert charging_state_of(a_report(OccupancyDetail.PREPARING)) is None
    assert charging_state_of(a_report(None, status=ConnectorStatus.FAULTED)) is None
    assert charging_state_of(a_report(OccupancyDetail.CHARGING, evse=STATION)) is None


def test_chunk_key_status_sorts_before_meter_chunks_and_is_stable() -> None:
    # GIVEN a status chunk key and a 1.6 meter chunk key of an earlier time
    key = chunk_key_status(at(30), ChargingState.SUSPENDED_EV)
    # WHEN compared
    # THEN the status key sorts first (the newest chunk stays a meter reading) and repeats
    assert key < at(0).isoformat()
    assert key == chunk_key_status(at(30), ChargingState.SUSPENDED_EV)
    assert key != chunk_key_status(at(30), ChargingState.CHARGING)


def test_connector_status_keeps_the_state_with_the_session_on_the_connector(
    world: World,
) -> None:
    # GIVEN an open 1.6 session on EVSE 1
    sid = started(world)
    before = world.sessions_repo.get(sid)
    # WHEN the station reports Charging, then SuspendedEV on it, and SuspendedEV again
    world.sessions.connector_status(V16, a_report(OccupancyDetail.CHARGING, 1))
    world.sessions.connector_status(V16, a_report(OccupancyDetail.SUSPENDED_EV, 30))
    world.sessions.connector_status(V16, a_report(OccupancyDetail.SUSPENDED_EV, 30))
    # THEN each state is one chunk with its time; the session item is not rewritten
    assert [(c.charging_state, c.state_at) for c in states(world, sid)] == [
        (ChargingState.CHARGING, at(1)),
        (ChargingState.SUSPENDED_EV, at(30)),
    ]
    assert world.sessions_repo.get(sid) == before


def test_connector_status_without_a_time_takes_now(world: World) -> None:
    # GIVEN an open 1.6 session and a status without a timestamp
    sid = started(world)
    report = a_report(OccupancyDetail.SUSPENDED_EVSE).model_copy(update={"timestamp": None})
    # WHEN reported
    world.sessions.connector_status(V16, report)
    # THEN kept at the time it arrived
    assert [c.state_at for c in states(world, sid)] == [world.clock.now()]


def test_connector_status_that_concerns_no_session_keeps_nothing(world: World) -> None:
    # GIVEN an open 1.6 session on EVSE 1
    sid = started(world)
    # WHEN statuses arrive for another connector, the station, with no charging state, from a
    # 2.0.1 station, and for a connector with no session in the last 48 hours
    world.sessions.connector_status(V16, a_report(OccupancyDetail.SUSPENDED_EV, evse=EVSE2))
    world.sessions.connector_status(V16, a_report(OccupancyDetail.CHARGING, evse=STATION))
    world.sessions.connector_status(V16, a_report(OccupancyDetail.PREPARING))
    world.sessions.connector_status(V201, a_report(OccupancyDetail.SUSPENDED_EV))
    world.sessions.connector_status(V16, a_report(OccupancyDetail.SUSPENDED_EV, 60 * 72))
    # THEN the session keeps no state
    assert states(world, sid) == []


def test_report_status_returns_the_report_only_when_it_changed(world: World) -> None:
    # GIVEN a connector reported Charging
    first = world.stations.report_status(V16, a_report(OccupancyDetail.CHARGING, 1))
    # WHEN the same status is reported again, a change follows, and a late one arrives
    same = world.stations.report_status(V16, a_report(OccupancyDetail.CHARGING, 2))
    change = world.stations.report_status(V16, a_report(OccupancyDetail.SUSPENDED_EV, 3))
    late = world.stations.report_status(V16, a_report(OccupancyDetail.FINISHING, 0))
    # THEN only the first and the change are returned, with their time
    assert first is not None
    assert first.timestamp == at(1)
    assert change is not None
    assert change.detail is OccupancyDetail.SUSPENDED_EV
    assert (same, late) == (None, None)
