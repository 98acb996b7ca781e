"""StationService: connect, disconnect, resolve, boot, heartbeat and status reports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.conftest import World
from tests.fakes import T0, a_binding, a_station

from csms.domain.connection import ConnectionOutcome, RefusalReason
from csms.domain.connector import (
    ConnectorStatus,
    EvseRef,
    OccupancyDetail,
    StatusReport,
)
from csms.domain.errors import UnknownConnectionError
from csms.domain.events import (
    ConnectorStatusChanged,
    StationBooted,
    StationConnected,
    StationConnectionRefused,
    StationDisconnected,
)
from csms.domain.station import (
    BootInfo,
    BootReason,
    PasswordUsed,
    ProtocolVersion,
    RegistrationStatus,
    StationState,
)
from csms.services.stations import ConnectRequest, Credentials, StationService

EVSE_1 = EvseRef(evse_id=1, connector_id=1)


def a_request(**over: object) -> ConnectRequest:
    values: dict[str, object] = {
        "station_id": "CP-1",
        "connection_id": "conn-1",
        "credentials": Credentials("CP-1", "secret-password"),
        "offered_protocols": ("ocpp1.6", "ocpp2.0.1"),
        "source_ip": "192.0.2.10",
    }
    values.update(over)
    return ConnectRequest(**values)  # type: ignore[arg-type]


# -- $connect ---------------------------------------------------------------------------------


def test_credentials_repr_hides_the_password() -> None:
    # GIVEN credentials
    creds = Credentials("CP-1", "secret-password")
    # WHEN printed (e.g. in a log line or a traceback)
    text = repr(creds)
    # THEN the password does not appear
    assert "secret-password" not in text
    assert "CP-1" in text


def test_connect_known_station_accepts_preferred_protocol(world: World) -> None:
    # GIVEN a registered station
    world.stations_repo.register(a_station())
    # WHEN it connects with the right credentials, offering both versions
    decision = world.stations.connect(a_request())
    # THEN the server's preference wins
    assert decision.accepted
    assert decision.protocol is ProtocolVersion.OCPP201
    assert decision.refusal is None
    # AND the station is online on this connection
    station = world.stations_repo.stations["CP-1"]
    assert station.online
    assert station.connection_id == "conn-1"
    assert station.protocol is ProtocolVersion.OCPP201
    assert station.connected_at == T0
    binding = world.stations_repo.bindings["conn-1"]
    assert (binding.station_id, binding.tenant_id) == ("CP-1", "tenant-a")
    # AND the connection log has the connect
    [entry] = world.log.entries
    assert entry.outcome is ConnectionOutcome.CONNECTED
    assert entry.protocol is ProtocolVersion.OCPP201
    assert entry.reason is None
    assert entry.connection_id == "conn-1"
    assert entry.source_ip == "192.0.2.10"
    assert entry.offered_protocols == ("ocpp1.6", "ocpp2.0.1")
    assert entry.at == T0
    # AND StationConnected is published
    assert world.events.events == [
        StationConnected(
            station_id="CP-1",
            tenant_id="tenant-a",
            occurred_at=T0,
            connection_id="conn-1",
            protocol=ProtocolVersion.OCPP201,
        )
    ]


def test_connect_pinned_station_gets_its_version(world: World) -> None:
    # GIVEN a station pinned to 1.6
    world.stations_repo.register(a_station(pinned_protocol=ProtocolVersion.OCPP16))
    # WHEN it offers both versions
    decision = world.stations.connect(a_request())
    # THEN it gets 1.6
    assert decision.protocol is ProtocolVersion.OCPP16
    assert world.stations_repo.bindings["conn-1"].protocol is ProtocolVersion.OCPP16


def test_connect_accepted_binding_is_cached(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a station that just connected
    world.stations_repo.register(a_station())
    world.stations.connect(a_request())

    def no_lookup(connection_id: str) -> None:
        raise AssertionError("lookup must not be needed")

    monkeypatch.setattr(world.stations_repo, "lookup", no_lookup)
    # WHEN its first frame arrives on the same container
    binding = world.stations.resolve("conn-1")
    # THEN the binding comes from the cache
    assert binding.station_id == "CP-1"


def test_resolve_reads_the_binding_again_after_a_few_minutes(world: World) -> None:
    # GIVEN a connected station whose binding this container has cached
    world.stations_repo.register(a_station())
    world.stations.connect(a_request())
    assert world.stations.resolve("conn-1").trace_until is None
    # WHEN an operator turns tracing on for it
    until = T0 + timedelta(hours=1)
    world.stations_repo.set_trace("CP-1", until)
    # THEN the cached binding serves for a while, and then the new trace window is seen
    world.clock.advance(299)
    assert world.stations.resolve("conn-1").trace_until is None
    world.clock.advance(1)
    assert world.stations.resolve("conn-1").trace_until == until


@pytest.mark.parametrize(
    ("request_over", "registered", "reason"),
    [
        ({}, False, RefusalReason.UNKNOWN_STATION),
        ({"credentials": None}, True, RefusalReason.MISSING_CREDENTIALS),
        (
            {"credentials": Credentials("CP-2", "secret-password")},
            True,
            RefusalReason.BAD_CREDENTIALS,
        ),
        (
            {"credentials": Credentials("CP-1", "wrong-password")},
            True,
            RefusalReason.BAD_CREDENTIALS,
        ),
        ({"credentials": Credentials("CP-1", "")}, True, RefusalReason.BAD_CREDENTIALS),
        ({"offered_protocols": ("ocpp1.5",)}, True, RefusalReason.NO_SUBPROTOCOL),
        ({"offered_protocols": ()}, True, RefusalReason.NO_SUBPROTOCOL),
    ],
)
def test_connect_refusal_is_logged_with_its_reason(
    world: World, request_over: dict[str, object], registered: bool, reason: RefusalReason
) -> None:
    # GIVEN a station (or none) and a connection attempt that is wrong in one way
    if registered:
        world.stations_repo.register(a_station())
    # WHEN it tries to connect
    decision = world.stations.connect(a_request(**request_over))
    # THEN it is refused with that reason
    assert not decision.accepted
    assert decision.protocol is None
    assert decision.refusal is reason
    # AND the operator can read why in the station's connection log
    [entry] = world.log.entries
    assert entry.station_id == "CP-1"
    assert entry.outcome is ConnectionOutcome.REFUSED
    assert entry.reason is reason
    assert entry.protocol is None
    assert entry.connection_id == "conn-1"
    assert entry.source_ip == "192.0.2.10"
    assert entry.at == T0
    # AND nothing is bound
    assert world.stations_repo.bindings == {}
    with pytest.raises(UnknownConnectionError):
        world.stations.resolve("conn-1")


@pytest.mark.parametrize(
    ("request_over", "reason"),
    [
        ({"credentials": None}, RefusalReason.MISSING_CREDENTIALS),
        ({"credentials": Credentials("CP-1", "wrong-password")}, RefusalReason.BAD_CREDENTIALS),
        ({"offered_protocols": ("ocpp1.5",)}, RefusalReason.NO_SUBPROTOCOL),
    ],
)
def test_connect_refusal_of_known_station_is_published(
    world: World, request_over: dict[str, object], reason: RefusalReason
) -> None:
    # GIVEN a registered station
    world.stations_repo.register(a_station())
    # WHEN a connection attempt for it is refused
    world.stations.connect(a_request(**request_over))
    # THEN the tenant hears about it, and the station stays offline
    assert world.events.events == [
        StationConnectionRefused(
            station_id="CP-1", tenant_id="tenant-a", occurred_at=T0, reason=reason
        )
    ]
    assert not world.stations_repo.stations["CP-1"].online


def test_connect_pinned_station_without_its_version_is_refused(world: World) -> None:
    # GIVEN a station pinned to 1.6
    world.stations_repo.register(a_station(pinned_protocol=ProtocolVersion.OCPP16))
    # WHEN it offers 2.0.1 only
    decision = world.stations.connect(a_request(offered_protocols=("ocpp2.0.1",)))
    # THEN no subprotocol is acceptable (400 at the edge)
    assert decision.refusal is RefusalReason.NO_SUBPROTOCOL
    assert decision.refusal.http_status == 400


def test_connect_unknown_station_publishes_nothing(world: World) -> None:
    # GIVEN no station CP-1
    # WHEN someone tries to connect as CP-1
    decision = world.stations.connect(a_request())
    # THEN it is refused as unknown, with no event (there is no tenant to tell)
    assert decision.refusal is RefusalReason.UNKNOWN_STATION
    assert world.events.events == []


def test_connect_unknown_station_costs_one_password_verification(world: World) -> None:
    # GIVEN no station CP-9, and a registered CP-1
    world.stations_repo.register(a_station())
    # WHEN an attacker tries an unknown id and a wrong password for a known one
    world.stations.connect(a_request(station_id="CP-9", credentials=Credentials("CP-9", "guess")))
    unknown_cost = world.hasher.verifications
    world.stations.connect(a_request(credentials=Credentials("CP-1", "guess")))
    wrong_cost = world.hasher.verifications - unknown_cost
    # THEN both take exactly one verification: the timing does not tell them apart
    assert unknown_cost == 1
    assert wrong_cost == 1


def test_connect_wrong_username_still_verifies_the_password(world: World) -> None:
    # GIVEN a registered station
    world.stations_repo.register(a_station())
    # WHEN the right password comes with another username
    decision = world.stations.connect(a_request(credentials=Credentials("CP-2", "secret-password")))
    # THEN it is refused after the same single verification
    assert decision.refusal is RefusalReason.BAD_CREDENTIALS
    assert world.hasher.verifications == 1


def test_connect_without_credentials_verifies_nothing(world: World) -> None:
    # GIVEN a registered station
    world.stations_repo.register(a_station())
    # WHEN a known and an unknown id connect without credentials
    known = world.stations.connect(a_request(credentials=None))
    unknown = world.stations.connect(a_request(station_id="CP-9", credentials=None))
    # THEN neither costs a verification, and both are 401
    assert world.hasher.verifications == 0
    assert known.refusal is RefusalReason.MISSING_CREDENTIALS
    assert unknown.refusal is RefusalReason.UNKNOWN_STATION
    assert known.refusal.http_status == unknown.refusal.http_status == 401


@pytest.mark.parametrize("station_id", ["", "CP 1", "x" * 49, "CP/../1"])
def test_connect_invalid_station_id_is_refused_before_any_lookup(
    world: World, station_id: str
) -> None:
    # GIVEN an identity that cannot be a station id
    # WHEN it tries to connect
    decision = world.stations.connect(a_request(station_id=station_id))
    # THEN it is refused with 400, without a password verification, event or bind
    assert decision.refusal is RefusalReason.INVALID_STATION_ID
    assert decision.refusal.http_status == 400
    assert world.hasher.verifications == 0
    assert world.events.events == []
    assert world.stations_repo.bindings == {}
    # AND no log entry is written: the log is per station and this id cannot be one
    assert world.log.entries == []


# -- $disconnect ------------------------------------------------------------------------------


def test_disconnect_current_connection_takes_station_offline(world: World) -> None:
    # GIVEN a station connected on conn-1
    world.stations_repo.register(a_station())
    world.stations.connect(a_request())
    world.events.events.clear()
    world.clock.advance(60)
    # WHEN conn-1 closes
    world.stations.disconnect("conn-1")
    # THEN the station is offline since now
    station = world.stations_repo.stations["CP-1"]
    assert not station.online
    assert station.connection_id is None
    assert station.disconnected_at == T0 + timedelta(seconds=60)
    # AND the log and the bus hear about it
    entry = world.log.entries[-1]
    assert entry.outcome is ConnectionOutcome.DISCONNECTED
    assert entry.connection_id == "conn-1"
    assert entry.protocol is ProtocolVersion.OCPP201
    assert world.events.events == [
        StationDisconnected(
            station_id="CP-1",
            tenant_id="tenant-a",
            occurred_at=T0 + timedelta(seconds=60),
            connection_id="conn-1",
            superseded=False,
        )
    ]
    # AND the connection no longer resolves
    with pytest.raises(UnknownConnectionError):
        world.stations.resolve("conn-1")


def test_disconnect_superseded_connection_keeps_station_online(world: World) -> None:
    # GIVEN a station that reconnected on conn-2 before conn-1's close arrived
    world.stations_repo.register(a_station())
    world.stations.connect(a_request(connection_id="conn-1"))
    world.stations.connect(a_request(connection_id="conn-2"))
    world.events.events.clear()
    # WHEN conn-1 closes
    world.stations.disconnect("conn-1")
    # THEN the station stays online on conn-2
    station = world.stations_repo.stations["CP-1"]
    assert station.online
    assert station.connection_id == "conn-2"
    # AND the event says the old connection was superseded
    [event] = world.events.events
    assert isinstance(event, StationDisconnected)
    assert event.connection_id == "conn-1"
    assert event.superseded is True
    # AND conn-2 still resolves
    assert world.stations.resolve("conn-2").connection_id == "conn-2"


def test_disconnect_binding_not_in_cache_is_looked_up(world: World) -> None:
    # GIVEN a station bound by another container (nothing in this service's cache)
    world.stations_repo.register(a_station())
    world.stations_repo.bind(a_binding())
    # WHEN its connection closes here
    world.stations.disconnect("conn-1")
    # THEN the stored binding is found and the station goes offline
    assert not world.stations_repo.stations["CP-1"].online
    assert [type(e) for e in world.events.events] == [StationDisconnected]


def test_disconnect_unknown_connection_is_a_no_op(world: World) -> None:
    # GIVEN a station online on conn-1
    world.stations_repo.register(a_station())
    world.stations.connect(a_request())
    before = (
        dict(world.stations_repo.stations),
        list(world.log.entries),
        list(world.events.events),
    )
    # WHEN a connection nobody knows closes
    world.stations.disconnect("conn-unknown")
    # THEN nothing changes
    after = (dict(world.stations_repo.stations), list(world.log.entries), list(world.events.events))
    assert after == before


def test_disconnect_twice_records_once(world: World) -> None:
    # GIVEN a station whose connection closed
    world.stations_repo.register(a_station())
    world.stations.connect(a_request())
    world.stations.disconnect("conn-1")
    events = len(world.events.events)
    # WHEN API Gateway delivers the $disconnect again
    world.stations.disconnect("conn-1")
    # THEN nothing more is recorded
    assert len(world.events.events) == events


# -- resolve ----------------------------------------------------------------------------------


def test_resolve_looks_up_once_then_caches(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a binding stored by another container
    world.stations_repo.register(a_station())
    world.stations_repo.bind(a_binding())
    lookups: list[str] = []
    real_lookup = world.stations_repo.lookup

    def counting_lookup(connection_id: str) -> object:
        lookups.append(connection_id)
        return real_lookup(connection_id)

    monkeypatch.setattr(world.stations_repo, "lookup", counting_lookup)
    # WHEN three frames arrive on the connection
    bindings = [world.stations.resolve("conn-1") for _ in range(3)]
    # THEN the repository was asked once and every frame got the same binding
    assert lookups == ["conn-1"]
    assert bindings == [a_binding()] * 3


def test_resolve_unknown_connection_raises(world: World) -> None:
    # GIVEN no binding for conn-x
    # WHEN / THEN resolving it fails with the connection id attached
    with pytest.raises(UnknownConnectionError) as caught:
        world.stations.resolve("conn-x")
    assert caught.value.connection_id == "conn-x"


def test_resolve_cache_is_bounded_least_recently_used(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a cache of two bindings and three stored connections
    monkeypatch.setattr(world.stations, "_BINDING_CACHE_SIZE", 2)
    for n in (1, 2, 3):
        world.stations_repo.register(a_station(id=f"CP-{n}"))
        world.stations_repo.bind(a_binding(connection_id=f"conn-{n}", station_id=f"CP-{n}"))
    lookups: list[str] = []
    real_lookup = world.stations_repo.lookup

    def counting_lookup(connection_id: str) -> object:
        lookups.append(connection_id)
        return real_lookup(connection_id)

    monkeypatch.setattr(world.stations_repo, "lookup", counting_lookup)
    world.stations.resolve("conn-1")
    world.stations.resolve("conn-2")
    world.stations.resolve("conn-1")  # conn-1 is now the most recently used
    # WHEN a third connection is resolved
    world.stations.resolve("conn-3")
    # THEN the least recently used (conn-2) was evicted, conn-1 was kept
    world.stations.resolve("conn-1")
    world.stations.resolve("conn-2")
    assert lookups == ["conn-1", "conn-2", "conn-3", "conn-2"]


# -- BootNotification -------------------------------------------------------------------------


def test_register_boot_stores_boot_and_publishes_station_booted(world: World) -> None:
    # GIVEN a connected station
    world.stations_repo.register(a_station())
    world.stations_repo.bind(a_binding())
    boot = BootInfo(
        vendor="ACME",
        model="Fast-22",
        serial_number="SN-1",
        firmware_version="1.2.3",
        reason=BootReason.POWER_UP,
    )
    # WHEN it boots
    result = world.stations.register_boot(a_binding(), boot)
    # THEN it is accepted with the time and the heartbeat interval
    assert result.status is RegistrationStatus.ACCEPTED
    assert result.current_time == T0
    assert result.interval_s == 300
    # AND the boot information is stored
    station = world.stations_repo.stations["CP-1"]
    assert station.boot == boot
    assert station.registration_status is RegistrationStatus.ACCEPTED
    assert station.last_boot_at == T0
    # AND StationBooted is published
    assert world.events.events == [
        StationBooted(
            station_id="CP-1",
            tenant_id="tenant-a",
            occurred_at=T0,
            vendor="ACME",
            model="Fast-22",
            serial_number="SN-1",
            firmware_version="1.2.3",
            reason=BootReason.POWER_UP,
            registration_status=RegistrationStatus.ACCEPTED,
        )
    ]


def test_register_boot_uses_configured_interval(world: World) -> None:
    # GIVEN a service configured with a 60 s heartbeat
    world.stations_repo.register(a_station())
    service = StationService(
        stations=world.stations_repo,
        connection_log=world.log,
        statuses=world.statuses,
        hasher=world.hasher,
        clock=world.clock,
        heartbeat_interval_s=60,
    )
    # WHEN a station boots
    result = service.register_boot(a_binding(), BootInfo(vendor="V", model="M"))
    # THEN it is told to beat every 60 s
    assert result.interval_s == 60


# -- Heartbeat --------------------------------------------------------------------------------


def test_heartbeat_answers_the_time_and_writes_nothing(world: World) -> None:
    # GIVEN a connected station
    world.stations_repo.register(a_station())
    world.stations_repo.bind(a_binding())
    world.clock.advance(42)
    before = (
        dict(world.stations_repo.stations),
        dict(world.stations_repo.bindings),
        dict(world.statuses.states),
        dict(world.statuses.history_items),
        list(world.log.entries),
    )
    # WHEN it sends a heartbeat
    now = world.stations.heartbeat(a_binding())
    # THEN it gets the current time
    assert now == T0 + timedelta(seconds=42)
    # AND no repository changed and no event was published
    after = (
        dict(world.stations_repo.stations),
        dict(world.stations_repo.bindings),
        dict(world.statuses.states),
        dict(world.statuses.history_items),
        list(world.log.entries),
    )
    assert after == before
    assert world.events.events == []


# -- StatusNotification -----------------------------------------------------------------------


def a_report(**over: object) -> StatusReport:
    values: dict[str, object] = {
        "evse": EVSE_1,
        "status": ConnectorStatus.AVAILABLE,
        "timestamp": T0,
    }
    values.update(over)
    return StatusReport.model_validate(values)


def test_report_status_first_report_stores_state_and_publishes(world: World) -> None:
    # GIVEN a connector the CSMS knows nothing about
    report = a_report(status=ConnectorStatus.FAULTED, error_code="GroundFailure")
    # WHEN the station reports it
    world.stations.report_status(a_binding(), report)
    # THEN the state is stored, history keeps the transition
    state = world.statuses.get("CP-1", EVSE_1)
    assert state is not None
    assert state.status is ConnectorStatus.FAULTED
    assert state.since == T0
    assert list(world.statuses.history_items.values()) == [report]
    # AND a change with no previous status is published
    assert world.events.events == [
        ConnectorStatusChanged(
            station_id="CP-1",
            tenant_id="tenant-a",
            occurred_at=T0,
            evse=EVSE_1,
            status=ConnectorStatus.FAULTED,
            error_code="GroundFailure",
        )
    ]


def test_report_status_same_status_again_publishes_nothing(world: World) -> None:
    # GIVEN a connector Available since T0
    world.stations.report_status(a_binding(), a_report())
    world.events.events.clear()
    later = T0 + timedelta(minutes=5)
    # WHEN it reports Available again
    world.stations.report_status(a_binding(), a_report(timestamp=later))
    # THEN no event, since is unchanged, reported_at moved, no new history (no transition)
    assert world.events.events == []
    state = world.statuses.get("CP-1", EVSE_1)
    assert state is not None
    assert (state.since, state.reported_at) == (T0, later)
    assert len(world.statuses.history_items) == 1


def test_report_status_change_publishes_the_new_status(world: World) -> None:
    # GIVEN a connector Available since T0
    world.stations.report_status(a_binding(), a_report())
    world.events.events.clear()
    later = T0 + timedelta(minutes=5)
    # WHEN it reports Occupied/Charging
    report = a_report(
        status=ConnectorStatus.OCCUPIED, detail=OccupancyDetail.CHARGING, timestamp=later
    )
    world.stations.report_status(a_binding(), report)
    # THEN the change carries the new status and the report's time
    assert world.events.events == [
        ConnectorStatusChanged(
            station_id="CP-1",
            tenant_id="tenant-a",
            occurred_at=later,
            evse=EVSE_1,
            status=ConnectorStatus.OCCUPIED,
            detail=OccupancyDetail.CHARGING,
        )
    ]
    state = world.statuses.get("CP-1", EVSE_1)
    assert state is not None
    assert state.since == later


def test_report_status_older_report_goes_to_history_only(world: World) -> None:
    # GIVEN a connector Charging as of T0
    current = a_report(status=ConnectorStatus.OCCUPIED, detail=OccupancyDetail.CHARGING)
    world.stations.report_status(a_binding(), current)
    world.events.events.clear()
    held = world.statuses.get("CP-1", EVSE_1)
    # WHEN a report from before T0 arrives late
    late = a_report(status=ConnectorStatus.AVAILABLE, timestamp=T0 - timedelta(minutes=1))
    world.stations.report_status(a_binding(), late)
    # THEN it is kept in history but changes neither the state nor the bus
    assert world.statuses.get("CP-1", EVSE_1) == held
    assert list(world.statuses.history_items.values())[-1] == late
    assert world.events.events == []


def test_report_status_without_timestamp_uses_the_clock(world: World) -> None:
    # GIVEN a report with no timestamp (optional in 1.6)
    world.clock.advance(90)
    report = a_report(timestamp=None)
    # WHEN it arrives
    world.stations.report_status(a_binding(), report)
    # THEN the time of receipt is used for state, history and event
    now = T0 + timedelta(seconds=90)
    state = world.statuses.get("CP-1", EVSE_1)
    assert state is not None
    assert state.reported_at == now
    assert next(iter(world.statuses.history_items.values())).timestamp == now
    assert world.events.events[0].occurred_at == now


def test_report_status_connectors_are_independent(world: World) -> None:
    # GIVEN two connectors and the station itself
    world.stations.report_status(a_binding(), a_report())
    world.stations.report_status(a_binding(), a_report(evse=EvseRef(evse_id=2, connector_id=1)))
    world.stations.report_status(
        a_binding(),
        a_report(evse=EvseRef(evse_id=0, connector_id=0), status=ConnectorStatus.UNAVAILABLE),
    )
    # WHEN / THEN each has its own state and its own first-change event
    assert [s.evse.evse_id for s in world.statuses.list("CP-1")] == [0, 1, 2]
    assert len(world.events.events) == 3


def test_report_status_retransmitted_report_changes_nothing_twice(world: World) -> None:
    # GIVEN a change to Faulted that was applied and published
    report = a_report(status=ConnectorStatus.FAULTED)
    world.stations.report_status(a_binding(), report)
    # WHEN the station sends the very same report again (same timestamp)
    world.stations.report_status(a_binding(), report)
    # THEN it is stale: one state, one history entry, one event
    assert len(world.statuses.history_items) == 1
    assert len(world.events.events) == 1


def test_report_status_repeat_updates_error_details_without_event(world: World) -> None:
    # GIVEN a Faulted connector
    world.stations.report_status(
        a_binding(), a_report(status=ConnectorStatus.FAULTED, error_code="GroundFailure")
    )
    world.events.events.clear()
    # WHEN it is still Faulted, now for another reason
    later = T0 + timedelta(minutes=1)
    world.stations.report_status(
        a_binding(),
        a_report(status=ConnectorStatus.FAULTED, error_code="HighTemperature", timestamp=later),
    )
    # THEN the details follow the newest report, the status did not change
    state = world.statuses.get("CP-1", EVSE_1)
    assert state is not None
    assert (state.error_code, state.since, state.reported_at) == ("HighTemperature", T0, later)
    assert world.events.events == []


def test_register_boot_resend_is_recorded_once_but_a_reused_id_with_new_content_is_new(
    world: World,
) -> None:
    # GIVEN a station that booted in CALL "1"
    world.stations_repo.register(a_station())
    first = BootInfo(vendor="Acme", model="AC22", firmware_version="1.0")
    world.stations.register_boot(a_binding(), first, "1")
    booted = len(world.events.events)
    # WHEN the same CALL comes again, then a reboot numbers its first message "1" again
    world.stations.register_boot(a_binding(), first, "1")
    resent = len(world.events.events)
    updated = first.model_copy(update={"firmware_version": "2.0"})
    world.stations.register_boot(a_binding(), updated, "1")
    # THEN the resend published and changed nothing, the reboot is recorded
    assert resent == booted
    assert len(world.events.events) == booted + 1
    station = world.stations_repo.get("CP-1")
    assert station is not None
    assert station.boot == updated


# -- $connect during a password rotation, after decommissioning, with tracing ----------------


def test_connect_with_previous_password_within_grace_is_accepted_and_logged(world: World) -> None:
    # GIVEN a station whose password was rotated, the old one valid for another hour
    world.stations_repo.register(a_station())
    world.stations_repo.stations["CP-1"] = a_station(
        previous_password_hash="plain$old-password",
        previous_password_until=T0 + timedelta(hours=1),
    )
    # WHEN it connects with the old password
    decision = world.stations.connect(a_request(credentials=Credentials("CP-1", "old-password")))
    # THEN it is accepted, the log says which password it used, and the old one stays valid
    assert decision.accepted
    assert world.log.entries[-1].password_used is PasswordUsed.PREVIOUS
    station = world.stations_repo.get("CP-1")
    assert station is not None
    assert station.previous_password_hash == "plain$old-password"


def test_connect_with_new_password_ends_the_grace_period(world: World) -> None:
    # GIVEN a station in a rotation's grace period
    world.stations_repo.stations["CP-1"] = a_station(
        previous_password_hash="plain$old-password",
        previous_password_until=T0 + timedelta(hours=1),
    )
    # WHEN it connects with the new password
    decision = world.stations.connect(a_request())
    # THEN it is accepted with the current password and the old one no longer works
    assert decision.accepted
    assert world.log.entries[-1].password_used is PasswordUsed.CURRENT
    world.stations.disconnect("conn-1")
    again = world.stations.connect(
        a_request(connection_id="conn-2", credentials=Credentials("CP-1", "old-password"))
    )
    assert again.refusal is RefusalReason.BAD_CREDENTIALS


def test_connect_with_previous_password_after_grace_is_refused(world: World) -> None:
    # GIVEN a rotation whose grace period ended a second ago
    world.stations_repo.stations["CP-1"] = a_station(
        previous_password_hash="plain$old-password",
        previous_password_until=T0 - timedelta(seconds=1),
    )
    # WHEN the station connects with the old password
    decision = world.stations.connect(a_request(credentials=Credentials("CP-1", "old-password")))
    # THEN it is refused as bad credentials
    assert decision.refusal is RefusalReason.BAD_CREDENTIALS


def test_connect_decommissioned_station_is_refused_after_its_password_is_checked(
    world: World,
) -> None:
    # GIVEN a decommissioned station
    world.stations_repo.stations["CP-1"] = a_station(state=StationState.DECOMMISSIONED)
    # WHEN it connects with its password, and someone else with a wrong one
    decision = world.stations.connect(a_request())
    wrong = world.stations.connect(
        a_request(connection_id="conn-2", credentials=Credentials("CP-1", "guess"))
    )
    # THEN it is refused as decommissioned (403 at the edge), logged and published;
    # a wrong password learns nothing more than bad credentials
    assert decision.refusal is RefusalReason.DECOMMISSIONED
    assert RefusalReason.DECOMMISSIONED.http_status == 403
    assert wrong.refusal is RefusalReason.BAD_CREDENTIALS
    assert world.log.entries[0].reason is RefusalReason.DECOMMISSIONED
    assert world.events.of_type("StationConnectionRefused")
    assert world.stations_repo.lookup("conn-1") is None


def test_connect_copies_the_stations_trace_into_the_binding(world: World) -> None:
    # GIVEN a station traced for another day
    world.stations_repo.stations["CP-1"] = a_station(trace_until=T0 + timedelta(days=1))
    # WHEN it connects
    world.stations.connect(a_request())
    # THEN its binding carries the trace, so that messages need no station read
    binding = world.stations_repo.lookup("conn-1")
    assert binding is not None
    assert binding.trace_until == T0 + timedelta(days=1)
