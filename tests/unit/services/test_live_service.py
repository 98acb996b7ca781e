"""The live view's arithmetic and assembly, on fakes: energy today in the site's time zone, power
now, connectors charging, sessions placed on connectors, scoping and paging of sites."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes import (
    FixedClock,
    InMemoryConnectorStatusRepository,
    InMemorySessionRepository,
    InMemorySiteDirectory,
    InMemoryStationRepository,
    InMemoryTokenRepository,
    a_station,
)

from csms.domain.access import Principal, Role
from csms.domain.connector import (
    ConnectorState,
    ConnectorStatus,
    EvseRef,
    OccupancyDetail,
    StatusReport,
)
from csms.domain.errors import InvalidCursorError, ResourceNotFoundError
from csms.domain.meter import Measurand, Reading, Sample
from csms.domain.sessions import (
    ChargingState,
    MeterChunk,
    MeterMark,
    Session,
    SessionState,
    totals,
)
from csms.domain.station import ProtocolVersion, StationState
from csms.domain.tokens import IdTokenType
from csms.services.live import (
    LiveConnector,
    LiveService,
    LiveSession,
    connectors_with_sessions,
    decode_site_cursor,
    encode_site_cursor,
    energy_since,
    local_midnight,
)
from csms.services.ports import SiteRef
from csms.services.sessions import SessionService

BERLIN = "Europe/Berlin"
# 2026-11-24 08:30 in Berlin (UTC+1): the local day began at 2026-11-23 23:00 UTC.
NOW = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
ADMIN = Principal(subject="op", tenant_id="tenant-a", role=Role.ADMIN)


def a_session(**over: Any) -> Session:
    values: dict[str, Any] = {
        "id": "s-1",
        "tenant_id": "tenant-a",
        "station_id": "CP-1",
        "transaction_id": "tx-1",
        "protocol": ProtocolVersion.OCPP201,
        "site_id": "site-1",
        "evse": EvseRef(evse_id=1, connector_id=1),
        "updated_at": NOW,
    }
    values.update(over)
    return Session(**values)


def mark(wh: int, at: datetime) -> MeterMark:
    return MeterMark(wh=Decimal(wh), at=at)


def a_state(evse: int = 1, connector: int = 1, **over: Any) -> ConnectorState:
    values: dict[str, Any] = {
        "evse": EvseRef(evse_id=evse, connector_id=connector),
        "status": ConnectorStatus.OCCUPIED,
        "since": NOW - timedelta(hours=1),
        "reported_at": NOW - timedelta(hours=1),
    }
    values.update(over)
    return ConnectorState(**values)


# -- local midnight -----------------------------------------------------------------------------


def test_local_midnight_is_the_start_of_the_day_in_the_sites_time_zone() -> None:
    # GIVEN 07:30 UTC, which is 08:30 in Berlin and 23:30 the day before in Los Angeles
    # WHEN the local midnights are taken
    berlin = local_midnight(NOW, BERLIN)
    los_angeles = local_midnight(NOW, "America/Los_Angeles")
    # THEN each is the start of the local day, as an instant
    assert berlin == MIDNIGHT
    assert los_angeles == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert local_midnight(NOW, "UTC") == datetime(2026, 11, 24, tzinfo=UTC)


def test_local_midnight_of_an_unknown_time_zone_falls_back_to_utc() -> None:
    # WHEN the site names a zone that does not exist
    # THEN the view still works, on UTC days
    assert local_midnight(NOW, "Mars/Olympus_Mons") == datetime(2026, 11, 24, tzinfo=UTC)


def test_local_midnight_on_a_dst_change_day_is_still_the_first_hour() -> None:
    # GIVEN the day Berlin moves to summer time (02:00 -> 03:00)
    during = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
    # WHEN its midnight is taken
    # THEN it is 00:00 CET = 23:00 UTC the day before (the gap comes later in the night)
    assert local_midnight(during, BERLIN) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)


# -- energy today -------------------------------------------------------------------------------


def test_energy_since_counts_all_of_a_session_started_after_midnight() -> None:
    # GIVEN a session that started at 00:30 Berlin time and delivered 5 kWh
    started = MIDNIGHT + timedelta(minutes=30)
    session = a_session(
        started_at=started,
        meter_start=mark(1000, started),
        meter_last=mark(6000, NOW),
        state=SessionState.ENDED,
    )
    # WHEN its energy since local midnight is taken
    # THEN all of it counts
    assert energy_since(session, totals(session, None), MIDNIGHT) == Decimal(5000)


def test_energy_since_prorates_a_session_across_local_midnight() -> None:
    # GIVEN a session from 22:00 to 02:00 Berlin time (21:00-01:00 UTC) that delivered 8 kWh
    started = MIDNIGHT - timedelta(hours=2)
    session = a_session(
        started_at=started,
        meter_start=mark(0, started),
        meter_last=mark(8000, MIDNIGHT + timedelta(hours=2)),
        state=SessionState.ENDED,
    )
    # WHEN its energy since Berlin midnight (23:00 UTC) is taken
    energy = energy_since(session, totals(session, None), MIDNIGHT)
    # THEN half of it counts: two of its four hours were after midnight
    assert energy == Decimal(4000)


def test_energy_since_of_a_session_that_ended_before_midnight_is_zero() -> None:
    # GIVEN a session of yesterday evening, in Berlin time
    started = MIDNIGHT - timedelta(hours=3)
    session = a_session(
        started_at=started,
        meter_start=mark(0, started),
        meter_last=mark(3000, MIDNIGHT - timedelta(minutes=1)),
        state=SessionState.ENDED,
    )
    # WHEN/THEN nothing of it was delivered today
    assert energy_since(session, totals(session, None), MIDNIGHT) == 0


def test_energy_since_of_a_session_in_utc_terms_today_but_not_locally_is_prorated() -> None:
    # GIVEN a session that started at 23:30 Berlin time, i.e. 22:30 UTC - already "today" for a
    # site in Asia but yesterday for Berlin, and still running at 08:30
    started = MIDNIGHT - timedelta(minutes=30)
    session = a_session(started_at=started, meter_start=mark(0, started), meter_last=mark(900, NOW))
    # WHEN the Berlin day is taken
    energy = energy_since(session, totals(session, None), MIDNIGHT)
    # THEN 8.5 h of its 9 h count
    assert energy == Decimal(850)


@pytest.mark.parametrize(
    "session",
    [
        a_session(started_at=NOW),  # no register yet
        a_session(started_at=NOW, meter_start=mark(100, NOW), meter_last=mark(100, NOW)),
        a_session(meter_start=None, started_at=None, meter_last=mark(100, NOW)),
    ],
    ids=["no-register", "no-energy-yet", "no-start"],
)
def test_energy_since_without_energy_is_zero(session: Session) -> None:
    # WHEN a session has no energy to tell
    # THEN it adds nothing
    assert energy_since(session, totals(session, None), MIDNIGHT) == 0


def test_energy_since_with_the_first_register_after_a_start_before_midnight_counts_span() -> None:
    # GIVEN a session started before midnight whose first and newest register are one instant
    started = MIDNIGHT - timedelta(minutes=5)
    at = MIDNIGHT + timedelta(minutes=5)
    session = a_session(
        started_at=started, meter_start=mark(0, started), meter_last=mark(0, at)
    ).model_copy(update={"meter_start": mark(0, at), "meter_last": mark(50, at)})
    # WHEN its energy since midnight is taken (no time span to share it out)
    # THEN all of it counts
    assert energy_since(session, totals(session, None), MIDNIGHT) == Decimal(50)


# -- connectors ---------------------------------------------------------------------------------


def _live(session: Session, power: int | None = None) -> LiveSession:
    live = totals(session, None)
    if power is not None:
        live = live.model_copy(update={"power_w": Decimal(power)})
    return LiveSession(session=session, totals=live)


@pytest.mark.parametrize(
    ("state", "session", "charging"),
    [
        (a_state(detail=OccupancyDetail.CHARGING), None, True),
        (a_state(detail=OccupancyDetail.SUSPENDED_EV), _live(a_session(), 7000), False),
        (a_state(), _live(a_session(charging_state=ChargingState.CHARGING)), True),
        (a_state(), _live(a_session(charging_state=ChargingState.SUSPENDED_EV), 10), False),
        (a_state(), _live(a_session(), 7000), True),
        (a_state(), _live(a_session(), 0), False),
        (a_state(status=ConnectorStatus.AVAILABLE), None, False),
        (None, _live(a_session(charging_state=ChargingState.CHARGING)), True),
    ],
    ids=[
        "16-charging",
        "16-suspended-ev",
        "201-charging",
        "201-suspended",
        "power-only",
        "no-power",
        "available",
        "no-status-yet",
    ],
)
def test_live_connector_charging_believes_status_then_session_then_power(
    state: ConnectorState | None, session: LiveSession | None, charging: bool
) -> None:
    # GIVEN a connector's status and session
    connector = LiveConnector(EvseRef(evse_id=1, connector_id=1), state, session)
    # WHEN/THEN it is charging as the most specific source says
    assert connector.charging is charging


def test_connectors_with_sessions_places_each_session_on_its_connector() -> None:
    # GIVEN two EVSEs, a session on EVSE 2 that named no connector (0), one on an EVSE that
    # reported no status yet, one with no EVSE, and a second session claiming EVSE 1
    states = [a_state(1, 1), a_state(2, 1)]
    on_1 = _live(a_session(id="s-1"))
    on_2 = _live(a_session(id="s-2", evse=EvseRef(evse_id=2, connector_id=0)))
    on_3 = _live(a_session(id="s-3", evse=EvseRef(evse_id=3, connector_id=1)))
    nowhere = _live(a_session(id="s-4", evse=None))
    again_1 = _live(a_session(id="s-5"))
    # WHEN they are placed
    connectors, unplaced = connectors_with_sessions(states, [on_1, on_2, on_3, nowhere, again_1])
    # THEN each connector has its session, in EVSE order, and the rest stay unplaced
    placed = [
        (c.evse.evse_id, c.session.session.id if c.session else None, c.state is not None)
        for c in connectors
    ]
    assert placed == [(1, "s-1", True), (2, "s-2", True), (3, "s-3", False)]
    assert [s.session.id for s in unplaced] == ["s-4", "s-5"]


# -- the service --------------------------------------------------------------------------------


class Live:
    def __init__(self) -> None:
        self.clock = FixedClock(NOW)
        self.stations = InMemoryStationRepository()
        self.statuses = InMemoryConnectorStatusRepository()
        self.sessions_repo = InMemorySessionRepository()
        self.sites = InMemorySiteDirectory()
        self.sites.add("tenant-a", SiteRef(id="site-1", name="Depot", timezone=BERLIN))
        self.sites.add("tenant-a", SiteRef(id="site-2", name="Office"))
        self.sites.add("tenant-b", SiteRef(id="site-9"))
        self.service = LiveService(
            stations=self.stations,
            statuses=self.statuses,
            sessions=SessionService(
                sessions=self.sessions_repo, tokens=InMemoryTokenRepository(), clock=self.clock
            ),
            sites=self.sites,
            clock=self.clock,
        )

    def status(self, station: str, evse: int, status: ConnectorStatus, **over: Any) -> None:
        report = StatusReport(
            evse=EvseRef(evse_id=evse, connector_id=1),
            status=status,
            timestamp=NOW - timedelta(hours=2),
            **over,
        )
        self.statuses.apply(station, "tenant-a", report)

    def session(self, **over: Any) -> Session:
        session = a_session(**over)
        self.sessions_repo.sessions[session.id] = session
        return session


@pytest.fixture
def live() -> Live:
    """site-1 (Berlin): CP-1 online with two connectors, CP-2 offline, CP-3 decommissioned."""
    world = Live()
    world.stations.register(a_station(id="CP-1"))
    world.stations.register(a_station(id="CP-2"))
    world.stations.register(a_station(id="CP-3", state=StationState.DECOMMISSIONED))
    world.stations.register(a_station(id="CP-9", site_id="site-2"))
    world.stations.stations["CP-1"] = world.stations.stations["CP-1"].model_copy(
        update={
            "online": True,
            "connected_at": NOW - timedelta(hours=1),
            "protocol": ProtocolVersion.OCPP201,
        }
    )
    world.stations.stations["CP-3"] = world.stations.stations["CP-3"].model_copy(
        update={"state": StationState.DECOMMISSIONED}
    )
    world.status("CP-1", 1, ConnectorStatus.OCCUPIED)
    world.status("CP-1", 2, ConnectorStatus.FAULTED, error_code="GroundFailure")
    world.status("CP-2", 1, ConnectorStatus.OCCUPIED, detail=OccupancyDetail.CHARGING)
    return world


def test_live_site_sums_power_now_and_energy_today_in_local_time(live: Live) -> None:
    # GIVEN on CP-1 an active 2.0.1 session since 22:00 Berlin whose newest chunk (6 kWh by
    # 08:00, 7 kW) is newer than the session item; an ended session from 23:30 to 00:30
    # (2 kWh), an ended one of yesterday; on CP-2 an active 1.6 session since 06:00 (3 kWh)
    started = MIDNIGHT - timedelta(hours=2)
    active = live.session(
        id="s-a",
        started_at=started,
        meter_start=mark(10_000, started),
        meter_last=mark(14_000, NOW - timedelta(hours=1)),
        power_w=Decimal(5000),
        charging_state=ChargingState.CHARGING,
        token_type=IdTokenType.ISO14443,
    )
    reading = Reading(
        timestamp=NOW - timedelta(minutes=30),
        samples=(
            Sample(measurand=Measurand.ENERGY, value=Decimal(16_000)),
            Sample(measurand=Measurand.POWER, value=Decimal(7000)),
        ),
    )
    newest = MeterChunk(session_id=active.id, key="0000000009", readings=(reading,))
    live.sessions_repo.chunk_store[active.id] = {newest.key: newest}
    live.session(
        id="s-b",
        evse=EvseRef(evse_id=2, connector_id=1),
        state=SessionState.ENDED,
        started_at=MIDNIGHT - timedelta(minutes=30),
        meter_start=mark(0, MIDNIGHT - timedelta(minutes=30)),
        meter_last=mark(2000, MIDNIGHT + timedelta(minutes=30)),
    )
    live.session(
        id="s-c",
        state=SessionState.ENDED,
        started_at=MIDNIGHT - timedelta(hours=10),
        meter_start=mark(0, MIDNIGHT - timedelta(hours=10)),
        meter_last=mark(9000, MIDNIGHT - timedelta(hours=8)),
    )
    six = MIDNIGHT + timedelta(hours=6)
    live.session(
        id="s-d",
        station_id="CP-2",
        protocol=ProtocolVersion.OCPP16,
        started_at=six,
        meter_start=mark(500, six),
        meter_last=mark(3500, NOW),
        power_w=Decimal(4000),
    )
    # and another tenant's session on a station id of its own
    live.session(id="s-x", tenant_id="tenant-b", station_id="CP-1", power_w=Decimal(99_000))
    # WHEN the site's live view is read
    view = live.service.site(ADMIN, "site-1")
    # THEN the summary counts the two stations in service, one online, two charging
    summary = view.summary
    assert (summary.stations_total, summary.stations_online) == (2, 1)
    assert summary.connectors_charging == 2
    # power now: the active sessions' last power (7 kW + 4 kW)
    assert summary.power_w == Decimal(11_000)
    # energy today: s-a 6 kWh over 10 h of which 8 h today, s-b half of 2 kWh, s-d 3 kWh
    assert summary.energy_today_wh == Decimal(4800) + Decimal(1000) + Decimal(3000)
    assert summary.day_start == MIDNIGHT
    assert summary.as_of == NOW
    assert summary.truncated is False
    # AND per station: CP-1 online since an hour with its session on connector 1 and the fault
    cp1 = view.stations[0]
    assert cp1.station.id == "CP-1"
    assert [(c.evse.evse_id, c.charging) for c in cp1.connectors] == [(1, True), (2, False)]
    first = cp1.connectors[0].session
    assert first is not None
    assert first.session.id == "s-a"
    assert first.session.token_type is IdTokenType.ISO14443
    faulted = cp1.connectors[1].state
    assert faulted is not None
    assert faulted.error_code == "GroundFailure"
    assert [s.station.id for s in view.stations] == ["CP-1", "CP-2"]


def test_live_site_of_another_tenant_or_beyond_reach_is_absent(live: Live) -> None:
    # WHEN a caller asks for a site of another tenant, a missing one, or one beyond its sites
    restricted = Principal(
        subject="t", tenant_id="tenant-a", role=Role.VIEWER, sites=frozenset({"site-2"})
    )
    for principal, site in ((ADMIN, "site-9"), (ADMIN, "nope"), (restricted, "site-1")):
        # THEN it is not found
        with pytest.raises(ResourceNotFoundError):
            live.service.site(principal, site)


def test_live_sites_pages_summaries_by_site_id(live: Live) -> None:
    # GIVEN two sites of tenant-a
    # WHEN an admin pages one at a time
    first = live.service.sites(ADMIN, 1)
    second = live.service.sites(ADMIN, 1, first.next_cursor)
    # THEN each site comes once, by id, and the last page ends
    assert [s.site.id for s in first.items + second.items] == ["site-1", "site-2"]
    assert second.next_cursor is None
    assert second.items[0].stations_total == 1


def test_live_sites_of_a_restricted_user_are_only_its_sites(live: Live) -> None:
    # GIVEN a user of site-2 and a site in its token that no longer exists
    user = Principal(
        subject="t", tenant_id="tenant-a", role=Role.VIEWER, sites=frozenset({"site-2", "gone"})
    )
    # WHEN it pages its summaries one at a time
    first = live.service.sites(user, 1)
    second = live.service.sites(user, 1, first.next_cursor)
    # THEN it sees site-2 only ("gone" first, and left out)
    assert first.items == []
    assert first.next_cursor is not None
    assert [s.site.id for s in second.items] == ["site-2"]
    assert second.next_cursor is None


@pytest.mark.parametrize("cursor", ["%%%", encode_site_cursor("x") + "!!", "bad id"])
def test_live_sites_refuse_a_cursor_not_handed_out(live: Live, cursor: str) -> None:
    # WHEN a forged cursor is used
    # THEN it is refused
    with pytest.raises(InvalidCursorError):
        live.service.sites(ADMIN, 1, cursor)


def test_site_cursor_round_trips() -> None:
    assert decode_site_cursor(encode_site_cursor("site-1")) == "site-1"
    assert decode_site_cursor(None) is None
