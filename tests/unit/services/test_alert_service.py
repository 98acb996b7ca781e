"""Fault detection: hold-down, offline grace, reboot loops, racing and late events."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.fakes import (
    T0,
    FixedClock,
    InMemoryConnectorStatusRepository,
    InMemoryStationRepository,
    a_station,
)
from tests.fakes_alerts import InMemoryAlertRepository

from csms.domain.alerts import (
    Alert,
    AlertKey,
    AlertKind,
    AlertState,
    BootHistory,
    Severity,
    Watch,
    WatchState,
)
from csms.domain.connector import ConnectorState, ConnectorStatus, EvseRef
from csms.domain.events import (
    AlertClosed,
    AlertOpened,
    ConnectorStatusChanged,
    StationBooted,
    StationConnected,
    StationDisconnected,
    TokenAuthorized,
)
from csms.domain.station import BootReason, ProtocolVersion, RegistrationStatus
from csms.domain.tokens import AuthorizationStatus
from csms.services.alerts import AlertPolicy, AlertQuery, AlertService

TENANT = "t1"
STATION = "CP-1"
PORT = EvseRef(evse_id=1, connector_id=1)


class World:
    def __init__(self) -> None:
        self.clock = FixedClock()
        self.repo = InMemoryAlertRepository()
        self.stations = InMemoryStationRepository()
        self.statuses = InMemoryConnectorStatusRepository()
        self.stations.stations[STATION] = a_station(
            id=STATION, tenant_id=TENANT, site_id="s1", online=True, connected_at=T0
        )
        self.service = AlertService(self.repo, self.stations, self.statuses, self.clock)

    def at(self, seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    def status(self, seconds: float, status: ConnectorStatus, code: str | None = None) -> str:
        # The stored state moves with the event, as the message path does.
        self.statuses.states[(STATION, PORT)] = ConnectorState(
            evse=PORT,
            status=status,
            error_code=code,
            since=self.at(seconds),
            reported_at=self.at(seconds),
        )
        return self.service.observe(
            ConnectorStatusChanged(
                station_id=STATION,
                tenant_id=TENANT,
                occurred_at=self.at(seconds),
                evse=PORT,
                status=status,
                error_code=code,
                vendor_error_code="E42" if code else None,
            )
        )

    def disconnect(self, seconds: float, *, superseded: bool = False) -> str:
        self.stations.stations[STATION] = self.stations.stations[STATION].model_copy(
            update={"online": superseded, "disconnected_at": self.at(seconds)}
        )
        return self.service.observe(
            StationDisconnected(
                station_id=STATION,
                tenant_id=TENANT,
                occurred_at=self.at(seconds),
                connection_id="c1",
                superseded=superseded,
            )
        )

    def connect(self, seconds: float) -> str:
        self.stations.stations[STATION] = self.stations.stations[STATION].model_copy(
            update={"online": True, "connected_at": self.at(seconds)}
        )
        return self.service.observe(
            StationConnected(
                station_id=STATION,
                tenant_id=TENANT,
                occurred_at=self.at(seconds),
                connection_id="c2",
                protocol=ProtocolVersion.OCPP16,
            )
        )

    def boot(self, seconds: float) -> str:
        return self.service.observe(
            StationBooted(
                station_id=STATION,
                tenant_id=TENANT,
                occurred_at=self.at(seconds),
                vendor="V",
                model="M",
                reason=BootReason.POWER_UP,
                registration_status=RegistrationStatus.ACCEPTED,
            )
        )

    def sweep(self, seconds: float) -> tuple[int, int, int]:
        self.clock.at = self.at(seconds)
        result = self.service.sweep()
        return len(result.opened), len(result.closed), result.dropped

    def alerts(self) -> list[Alert]:
        return list(self.repo.alerts.values())


def test_fault_lasting_the_hold_down_opens_one_critical_alert_that_closes_when_cleared() -> None:
    # GIVEN a port that faults with a ground failure and stays faulted past the hold-down
    world = World()
    assert world.status(0, ConnectorStatus.FAULTED, "GroundFailure") == "watching"
    # WHEN the sweep runs before and after the hold-down, and the port later recovers
    early = world.sweep(30)
    late = world.sweep(61)
    outcome = world.status(300, ConnectorStatus.AVAILABLE)
    # THEN one alert opened at the fault's time, critical, with the station's details and site
    assert early == (0, 0, 0)
    assert late == (1, 0, 0)
    assert outcome == "closed"
    (alert,) = world.alerts()
    assert alert.severity is Severity.CRITICAL
    assert alert.key.evse == PORT
    assert alert.site_id == "s1"
    assert alert.details.vendor_error_code == "E42"
    assert alert.opened_at == T0
    assert alert.state is AlertState.CLOSED
    assert alert.closed_at == world.at(300)
    # AND AlertOpened then AlertClosed ride with the writes, and the key is free again
    assert [type(e) for e in world.repo.events] == [AlertOpened, AlertClosed]
    assert world.repo.markers == {}


def test_fault_clearing_within_the_hold_down_opens_nothing() -> None:
    # GIVEN a transient fault
    world = World()
    world.status(0, ConnectorStatus.FAULTED, "OtherError")
    # WHEN it clears within the hold-down and the sweep runs later
    cleared = world.status(20, ConnectorStatus.AVAILABLE)
    swept = world.sweep(120)
    # THEN no alert and no event
    assert cleared == "cleared within the hold-down"
    assert swept == (0, 0, 0)
    assert world.alerts() == []
    assert world.repo.events == []


def test_fault_whose_clear_was_lost_is_dropped_by_the_sweep() -> None:
    # GIVEN a fault watched, and the stored state already back to Available (event reordered)
    world = World()
    world.status(0, ConnectorStatus.FAULTED)
    world.statuses.states[(STATION, PORT)] = ConnectorState(
        evse=PORT,
        status=ConnectorStatus.AVAILABLE,
        since=world.at(5),
        reported_at=world.at(5),
    )
    # WHEN the sweep confirms it
    swept = world.sweep(90)
    # THEN nothing opens and the watch is dropped
    assert swept == (0, 0, 1)
    assert world.alerts() == []


def test_repeated_fault_report_while_watched_claims_the_key_once() -> None:
    # GIVEN a fault watched
    world = World()
    world.status(0, ConnectorStatus.FAULTED, "OtherError")
    # WHEN a second detector (a retried event) reports the same fault
    second = world.status(1, ConnectorStatus.FAULTED, "OtherError")
    world.sweep(61)
    # THEN the key holds one claim and one alert opens (minor, by its error code)
    assert second == "already watched"
    (alert,) = world.alerts()
    assert alert.severity is Severity.MINOR


def test_clear_older_than_the_fault_is_ignored() -> None:
    # GIVEN a fault at 100 s
    world = World()
    world.status(100, ConnectorStatus.FAULTED)
    # WHEN a status from before it is delivered late
    outcome = world.service.observe(
        ConnectorStatusChanged(
            station_id=STATION,
            tenant_id=TENANT,
            occurred_at=world.at(50),
            evse=PORT,
            status=ConnectorStatus.AVAILABLE,
        )
    )
    # THEN the watch stays
    assert outcome == "ignored: older than the condition"
    assert len(world.repo.markers) == 1


def test_reconnect_within_the_grace_is_not_an_outage() -> None:
    # GIVEN a station that API Gateway cut after 2 hours
    world = World()
    world.disconnect(7200)
    # WHEN it reconnects 30 s later and the sweep runs after the grace
    reconnected = world.connect(7230)
    swept = world.sweep(7400)
    # THEN no alert opened
    assert reconnected == "cleared within the hold-down"
    assert swept == (0, 0, 0)
    assert world.alerts() == []


def test_offline_beyond_the_grace_opens_an_alert_that_closes_on_reconnect() -> None:
    # GIVEN a station that went offline
    world = World()
    world.disconnect(0)
    # WHEN the sweep runs after the 2-minute grace, and the station reconnects later
    swept = world.sweep(121)
    closed = world.connect(600)
    # THEN an offline alert for the whole station opened at the disconnect and closed
    assert swept == (1, 0, 0)
    assert closed == "closed"
    (alert,) = world.alerts()
    assert alert.key.kind is AlertKind.OFFLINE
    assert alert.key.evse is None
    assert alert.severity is Severity.MAJOR
    assert (alert.opened_at, alert.closed_at) == (T0, world.at(600))


def test_offline_station_seen_online_again_by_the_sweep_opens_nothing() -> None:
    # GIVEN a disconnect whose reconnect event has not arrived, but the station is online again
    world = World()
    world.disconnect(0)
    world.stations.stations[STATION] = world.stations.stations[STATION].model_copy(
        update={"online": True, "connected_at": world.at(30)}
    )
    # WHEN the sweep runs after the grace
    swept = world.sweep(200)
    # THEN the watch is dropped
    assert swept == (0, 0, 1)


def test_superseded_disconnect_is_ignored() -> None:
    # GIVEN / WHEN a disconnect of a connection the station had already replaced
    world = World()
    outcome = world.disconnect(0, superseded=True)
    # THEN nothing is watched
    assert outcome == "ignored: already reconnected"
    assert world.repo.markers == {}


def test_connect_with_nothing_watched_does_nothing() -> None:
    # GIVEN / WHEN a station connects with no outage watched
    world = World()
    # THEN nothing to clear
    assert world.connect(0) == "nothing to clear"


def test_reboot_loop_opens_at_the_third_boot_and_closes_after_a_quiet_window() -> None:
    # GIVEN a station that boots three times in ten minutes
    world = World()
    outcomes = [world.boot(0), world.boot(300), world.boot(600)]
    # WHEN it boots once more while looping, then stays quiet
    again = world.boot(900)
    still = world.sweep(600 + 1800 + 1)  # the first due time: a later boot moved the end
    done = world.sweep(900 + 1800 + 1)
    # THEN the loop opened at the third boot, dated from the first, and closed when quiet
    assert outcomes == ["boot counted", "boot counted", "opened"]
    assert again == "loop already open"
    assert still == (0, 0, 0)
    assert done == (0, 1, 0)
    (alert,) = world.alerts()
    assert alert.key.kind is AlertKind.REBOOT_LOOP
    assert alert.details.boots == 3
    assert alert.opened_at == T0
    assert alert.closed_at == world.at(900 + 1800)


def test_boots_spread_beyond_the_window_are_no_loop() -> None:
    # GIVEN / WHEN three boots an hour apart
    world = World()
    outcomes = [world.boot(0), world.boot(3600), world.boot(7200)]
    # THEN no alert
    assert outcomes == ["boot counted"] * 3
    assert world.alerts() == []


def test_events_without_a_detector_are_ignored() -> None:
    # GIVEN / WHEN an Authorize result arrives
    world = World()
    outcome = world.service.observe(
        TokenAuthorized(
            station_id=STATION,
            tenant_id=TENANT,
            occurred_at=T0,
            id_token="ABC",
            status=AuthorizationStatus.ACCEPTED,
        )
    )
    # THEN nothing happens
    assert outcome == "ignored"


def test_marker_without_its_alert_is_freed_on_clear() -> None:
    # GIVEN an open marker whose alert is missing
    world = World()
    key = AlertKey(tenant_id=TENANT, station_id=STATION, evse=PORT, kind=AlertKind.FAULTED)
    world.repo.markers[key] = Watch(
        key=key, state=WatchState.OPEN, since=T0, due_at=T0, alert_id="gone"
    )
    # WHEN the port recovers
    outcome = world.status(10, ConnectorStatus.AVAILABLE)
    # THEN the key is free again
    assert outcome == "close lost a race"
    assert world.repo.markers == {}


def test_reads_go_to_the_repository() -> None:
    # GIVEN an opened alert
    world = World()
    world.disconnect(0)
    world.sweep(200)
    (alert,) = world.alerts()
    # WHEN it is read and listed
    # THEN it is found for its tenant only
    assert world.service.get(TENANT, alert.alert_id) == alert
    assert world.service.get("other", alert.alert_id) is None
    assert world.service.list(TENANT, AlertQuery(state=AlertState.OPEN), 10).items == [alert]


def test_policy_thresholds_apply() -> None:
    # GIVEN a 10 s hold-down
    world = World()
    world.service = AlertService(
        world.repo,
        world.stations,
        world.statuses,
        world.clock,
        AlertPolicy(hold_down=timedelta(seconds=10)),
    )
    world.status(0, ConnectorStatus.FAULTED)
    # WHEN the sweep runs after 11 s
    # THEN the alert opens
    assert world.sweep(11) == (1, 0, 0)


def test_sweep_passes_over_open_alerts() -> None:
    # GIVEN a fault alert that is open
    world = World()
    world.status(0, ConnectorStatus.FAULTED)
    world.sweep(61)
    # WHEN the sweep runs again while the port is still faulted
    again = world.sweep(600)
    # THEN nothing changes
    assert again == (0, 0, 0)
    assert [a.state for a in world.alerts()] == [AlertState.OPEN]


def test_reboot_loop_watch_left_pending_is_dropped_when_quiet() -> None:
    # GIVEN a reboot loop's watch whose opening was lost (a crash between the two writes)
    world = World()
    key = AlertKey(tenant_id=TENANT, station_id=STATION, kind=AlertKind.REBOOT_LOOP)
    world.repo.markers[key] = Watch(key=key, state=WatchState.PENDING, since=T0, due_at=T0)
    world.repo.boot_histories[(TENANT, STATION)] = BootHistory(boots=(T0,))
    # WHEN the sweep runs after a quiet window
    swept = world.sweep(1801)
    # THEN the watch is dropped and the key is free
    assert swept == (0, 0, 1)
    assert world.repo.markers == {}
