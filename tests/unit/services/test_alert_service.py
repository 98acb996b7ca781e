"""Fault detection: hold-down, offline grace, reboot loops, racing and late events."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

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
from csms.domain.connection import RefusalReason
from csms.domain.connector import ConnectorState, ConnectorStatus, EvseRef, OccupancyDetail
from csms.domain.events import (
    AlertClosed,
    AlertOpened,
    ConnectorStatusChanged,
    StationBooted,
    StationConnected,
    StationConnectionRefused,
    StationDisconnected,
    TokenAuthorized,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from csms.domain.sessions import ChargingState, MeterMark, Session, SessionState
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
        self.sessions: dict[str, Session] = {}
        self.service = AlertService(
            self.repo, self.stations, self.statuses, self.clock, sessions=self
        )

    def get(self, session_id: str) -> Session | None:
        """The session lookup (SessionLookup) of the no-energy check."""
        return self.sessions.get(session_id)

    def progress(
        self,
        seconds: float,
        energy_wh: int,
        state: ChargingState | None = ChargingState.CHARGING,
        session_id: str = "s1",
    ) -> str:
        """The session's progress: stored as the message path keeps it, then its event."""
        at = self.at(seconds)
        self.sessions[session_id] = Session(
            id=session_id,
            tenant_id=TENANT,
            station_id=STATION,
            transaction_id=session_id,
            protocol=ProtocolVersion.OCPP16,
            evse=PORT,
            charging_state=state,
            meter_start=MeterMark(wh=Decimal(1000), at=T0),
            meter_last=MeterMark(wh=Decimal(1000 + energy_wh), at=at),
            updated_at=at,
        )
        return self.service.observe(
            TransactionUpdated(
                station_id=STATION,
                tenant_id=TENANT,
                occurred_at=at,
                session_id=session_id,
                transaction_id=session_id,
                evse=PORT,
                energy_wh=Decimal(energy_wh),
                charging_state=state,
            )
        )

    def at(self, seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    def status(
        self,
        seconds: float,
        status: ConnectorStatus,
        code: str | None = None,
        detail: OccupancyDetail | None = None,
    ) -> str:
        # The stored state moves with the event, as the message path does.
        self.statuses.states[(STATION, PORT)] = ConnectorState(
            evse=PORT,
            status=status,
            detail=detail,
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
                detail=detail,
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

    def authorize(self, seconds: float, status: AuthorizationStatus) -> str:
        return self.service.observe(
            TokenAuthorized(
                station_id=STATION,
                tenant_id=TENANT,
                occurred_at=self.at(seconds),
                id_token=f"TOK-{seconds}",
                status=status,
            )
        )

    def start(self, seconds: float, authorization: AuthorizationStatus | None) -> str:
        return self.service.observe(
            TransactionStarted(
                station_id=STATION,
                tenant_id=TENANT,
                occurred_at=self.at(seconds),
                session_id=f"s-{seconds}",
                transaction_id=f"t-{seconds}",
                protocol=ProtocolVersion.OCPP16,
                authorization=authorization,
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
    # GIVEN / WHEN a refused connection and an accepted Authorize arrive
    world = World()
    progress = world.service.observe(
        StationConnectionRefused(
            station_id=STATION,
            tenant_id=TENANT,
            occurred_at=T0,
            reason=RefusalReason.MISSING_CREDENTIALS,
        )
    )
    accepted = world.authorize(0, AuthorizationStatus.ACCEPTED)
    # THEN nothing happens
    assert (progress, accepted) == ("ignored", "ignored: accepted")
    assert world.repo.markers == {}


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


# -- stuck connectors ------------------------------------------------------------------------------


def test_stuck_connector_preparing_past_the_threshold_opens_a_minor_alert() -> None:
    # GIVEN a 1.6 connector that went Preparing (a cable in, no session started)
    world = World()
    assert world.status(0, ConnectorStatus.OCCUPIED, detail=OccupancyDetail.PREPARING) == (
        "nothing to clear; watching"
    )
    # WHEN the sweep runs before and after 30 minutes
    world.clock.at = world.at(1799)
    early = world.service.sweep()
    world.clock.at = world.at(1800)
    late = world.service.sweep()
    # THEN only the later sweep opens a minor stuck-connector alert, dated when it got stuck
    assert early.opened == []
    [alert] = late.opened
    assert (alert.key.kind, alert.severity, alert.key.evse) == (
        AlertKind.STUCK_CONNECTOR,
        Severity.MINOR,
        PORT,
    )
    assert alert.opened_at == T0
    assert alert.details.info == "Preparing"
    # WHEN charging starts at last
    outcome = world.status(2000, ConnectorStatus.OCCUPIED, detail=OccupancyDetail.CHARGING)
    # THEN the alert closes
    assert outcome == "nothing to clear; closed"
    assert world.repo.alerts[(TENANT, alert.alert_id)].state is AlertState.CLOSED


def test_stuck_connector_that_moves_on_within_the_threshold_opens_nothing() -> None:
    # GIVEN a connector Finishing, then Available ten minutes later
    world = World()
    world.status(0, ConnectorStatus.OCCUPIED, detail=OccupancyDetail.FINISHING)
    assert world.status(600, ConnectorStatus.AVAILABLE) == (
        "nothing to clear; cleared within the hold-down"
    )
    # WHEN the sweep runs long after
    world.clock.at = world.at(7200)
    result = world.service.sweep()
    # THEN nothing opened and nothing is watched
    assert result.opened == []
    assert world.repo.markers == {}


def test_stuck_connector_state_that_changed_unseen_is_dropped_by_the_sweep() -> None:
    # GIVEN a Preparing connector whose stored state moved on (its event is late or lost)
    world = World()
    world.status(0, ConnectorStatus.OCCUPIED, detail=OccupancyDetail.PREPARING)
    world.statuses.states[(STATION, PORT)] = ConnectorState(
        evse=PORT,
        status=ConnectorStatus.OCCUPIED,
        detail=OccupancyDetail.CHARGING,
        since=world.at(60),
        reported_at=world.at(60),
    )
    # WHEN the sweep confirms after the threshold
    world.clock.at = world.at(3600)
    result = world.service.sweep()
    # THEN it drops the watch instead of opening an alert
    assert (result.opened, result.dropped) == ([], 1)


def test_a_fault_and_a_stuck_state_are_watched_apart() -> None:
    # GIVEN a connector stuck in Preparing that then faults
    world = World()
    world.status(0, ConnectorStatus.OCCUPIED, detail=OccupancyDetail.PREPARING)
    # WHEN it reports Faulted
    outcome = world.status(60, ConnectorStatus.FAULTED, code="GroundFailure")
    # THEN the fault is watched and the stuck watch cleared
    assert outcome == "watching; cleared within the hold-down"
    kinds = {key.kind for key in world.repo.markers}
    assert kinds == {AlertKind.FAULTED}


# -- failed starts ---------------------------------------------------------------------------------


def test_failed_starts_in_a_row_open_an_alert_and_a_successful_start_closes_it() -> None:
    # GIVEN four refused Authorizes and a StartTransaction refused at start, within 30 minutes
    world = World()
    outcomes = [world.authorize(60 * n, AuthorizationStatus.INVALID) for n in range(4)]
    outcomes.append(world.start(300, AuthorizationStatus.BLOCKED))
    # THEN the fifth failure opens a station-wide start-failures alert, dated at the first
    assert outcomes == ["failed start counted"] * 4 + ["opened"]
    [alert] = world.alerts()
    assert (alert.key.kind, alert.key.evse, alert.severity) == (
        AlertKind.START_FAILURES,
        None,
        Severity.MINOR,
    )
    assert alert.opened_at == T0
    assert alert.details.info == "5 failed starts in a row"
    # WHEN a further failure, then a session starts
    assert world.authorize(400, AuthorizationStatus.EXPIRED) == "failed starts already alerted"
    assert world.start(500, AuthorizationStatus.ACCEPTED) == "closed"
    # THEN the alert is closed and the count starts over
    assert world.alerts()[0].state is AlertState.CLOSED
    assert world.repo.failure_histories[(TENANT, STATION)].boots == ()


def test_a_successful_start_between_failures_resets_the_count() -> None:
    # GIVEN four failures, a session started (authorization not given: 2.0.1 without a token
    # check), then four more failures
    world = World()
    for n in range(4):
        world.authorize(n, AuthorizationStatus.INVALID)
    assert world.start(10, None) == "nothing to clear"
    outcomes = [world.authorize(20 + n, AuthorizationStatus.INVALID) for n in range(4)]
    # THEN no alert opened
    assert outcomes == ["failed start counted"] * 4
    assert world.alerts() == []


def test_failures_spread_beyond_the_window_open_nothing() -> None:
    world = World()
    outcomes = [world.authorize(900 * n, AuthorizationStatus.INVALID) for n in range(6)]
    assert set(outcomes) == {"failed start counted"}
    assert world.alerts() == []


def test_a_pending_start_failure_claim_is_opened_by_the_sweep_while_failures_last() -> None:
    # GIVEN a claim whose opening was lost (the process died between claim and open)
    world = World()
    for n in range(5):
        world.repo.failure_histories[(TENANT, STATION)] = world.repo.start_failures(
            TENANT, STATION
        ).add(world.at(n), timedelta(minutes=30), 5)
    key = AlertKey(tenant_id=TENANT, station_id=STATION, kind=AlertKind.START_FAILURES)
    world.repo.markers[key] = Watch(key=key, state=WatchState.PENDING, since=T0, due_at=world.at(4))
    # WHEN the sweep runs
    world.clock.at = world.at(60)
    result = world.service.sweep()
    # THEN it opens the alert
    assert [a.key.kind for a in result.opened] == [AlertKind.START_FAILURES]


# -- no energy while charging ------------------------------------------------------------------


def test_charging_without_energy_for_15_minutes_opens_an_alert_and_energy_closes_it() -> None:
    # GIVEN a session Charging whose energy stays at 500 Wh
    world = World()
    assert world.progress(0, 500) == "watching"
    assert world.progress(300, 500) == "no energy yet"
    assert world.progress(600, 500) == "no energy yet"
    # WHEN the sweep runs before and after 15 minutes
    world.clock.at = world.at(899)
    assert world.service.sweep().opened == []
    world.clock.at = world.at(900)
    [alert] = world.service.sweep().opened
    # THEN a minor alert on the port names the session and its energy, dated when it stalled
    assert (alert.key.kind, alert.key.evse, alert.severity) == (
        AlertKind.NO_ENERGY_WHILE_CHARGING,
        PORT,
        Severity.MINOR,
    )
    assert (alert.details.session_id, alert.details.energy_wh, alert.opened_at) == (
        "s1",
        Decimal(500),
        T0,
    )
    # WHEN energy flows again
    assert world.progress(1200, 650) == "closed"
    # THEN the alert is closed
    assert world.alerts()[0].state is AlertState.CLOSED


def test_energy_that_flows_drops_the_watch_at_the_sweep_and_the_next_update_rewatches() -> None:
    # GIVEN a session whose energy grows between updates
    world = World()
    world.progress(0, 500)
    assert world.progress(300, 900) == "energy watched"
    # WHEN the sweep runs at 15 minutes
    world.clock.at = world.at(900)
    result = world.service.sweep()
    # THEN nothing opens and the watch is gone; the next update watches from its energy
    assert (result.opened, result.dropped) == ([], 1)
    assert world.progress(1000, 1300) == "watching"
    [watch] = world.repo.markers.values()
    assert watch.details.energy_wh == Decimal(1300)


def test_leaving_charging_or_ending_clears_the_watch() -> None:
    # GIVEN a watched session that becomes SuspendedEV (the car is full)
    world = World()
    world.progress(0, 500)
    assert world.progress(300, 500, ChargingState.SUSPENDED_EV) == "cleared within the hold-down"
    # AND another that ends while watched
    world.progress(400, 500)
    ended = world.service.observe(
        TransactionEnded(
            station_id=STATION,
            tenant_id=TENANT,
            occurred_at=world.at(500),
            session_id="s1",
            transaction_id="s1",
            evse=PORT,
            revision=1,
        )
    )
    # THEN nothing is watched
    assert ended == "cleared within the hold-down"
    assert world.repo.markers == {}


def test_a_new_session_on_the_port_replaces_a_stale_watch() -> None:
    # GIVEN a watch of session s1 whose end was never seen, and s2 charging on the same port
    world = World()
    world.progress(0, 500, session_id="s1")
    # WHEN s2 reports
    assert world.progress(600, 100, session_id="s2") == "watching"
    # THEN the watch follows s2
    [watch] = world.repo.markers.values()
    assert watch.details.session_id == "s2"


def test_the_sweep_drops_a_watch_whose_session_ended_or_is_unknown() -> None:
    world = World()
    world.progress(0, 500)
    world.sessions["s1"] = world.sessions["s1"].model_copy(update={"state": SessionState.ENDED})
    world.clock.at = world.at(900)
    assert world.service.sweep().dropped == 1
    world.progress(1000, 500, session_id="s9")
    del world.sessions["s9"]
    world.clock.at = world.at(2000)
    assert world.service.sweep().dropped == 1
