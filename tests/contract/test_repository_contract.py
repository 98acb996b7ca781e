"""One contract suite for the repository ports, run against the in-memory fakes and against the
DynamoDB adapters on moto (table from the synthesized template). The port docstrings in
`csms.services.ports` are the contract: where the fakes and the adapters disagree, the port wins.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from tests.fakes import (
    T0,
    InMemoryConnectionLog,
    InMemoryConnectorStatusRepository,
    InMemoryEventPublisher,
    InMemorySeedRepository,
    InMemoryStationRepository,
    a_binding,
    a_station,
)

from csms.adapters.dynamo import (
    DynamoConnectionLog,
    DynamoConnectorStatusRepository,
    DynamoSeedRepository,
    DynamoStationRepository,
    tenant_pk,
)
from csms.adapters.dynamo_models import SiteItem, TokenItem
from csms.adapters.outbox import OutboxEncoder, entries_of
from csms.domain.connection import (
    ConnectionBinding,
    ConnectionLogEntry,
    ConnectionOutcome,
    RefusalReason,
)
from csms.domain.connector import (
    MAX_ID,
    AppliedStatus,
    ConnectorState,
    ConnectorStatus,
    EvseRef,
    OccupancyDetail,
    StatusOutcome,
    StatusReport,
)
from csms.domain.errors import InvalidCursorError
from csms.domain.seed import Site
from csms.domain.station import (
    BootInfo,
    BootReason,
    ProtocolVersion,
    RegistrationStatus,
    Station,
)
from csms.domain.tokens import IdToken, TokenStatus
from csms.services.ports import (
    ConnectionLog,
    ConnectorStatusRepository,
    Page,
    SeedRepository,
    StationRepository,
)
from csms_local import emulation

MEMORY, DYNAMO = "memory", "dynamo"


@dataclass
class Repos:
    """One implementation of every repository port, and read-back probes for write-only ports."""

    kind: str
    stations: StationRepository
    log: ConnectionLog
    statuses: ConnectorStatusRepository
    seeds: SeedRepository
    read_site: Callable[[str, str], Site | None]
    read_token: Callable[[str, str], IdToken | None]
    # Detail types of the events published so far (through the outbox, for DynamoDB).
    published: Callable[[], list[str]]


def _memory() -> Repos:
    seeds = InMemorySeedRepository()
    bus = InMemoryEventPublisher()
    return Repos(
        kind=MEMORY,
        stations=InMemoryStationRepository(bus),
        log=InMemoryConnectionLog(bus),
        statuses=InMemoryConnectorStatusRepository(bus),
        seeds=seeds,
        read_site=lambda tenant, site_id: seeds.sites.get((tenant, site_id)),
        read_token=lambda tenant, token: seeds.tokens.get((tenant, token)),
        published=lambda: [event.detail_type for event in bus.events],
    )


def _outbox_published(table_name: str) -> list[str]:
    """Every entry the table's stream carries for the outbox relay, in order."""
    arn = boto3.client("dynamodb", region_name=emulation.REGION).describe_table(
        TableName=table_name
    )["Table"]["LatestStreamArn"]
    streams = boto3.client(
        "dynamodbstreams",
        region_name=emulation.REGION,
        endpoint_url=f"https://streams.dynamodb.{emulation.REGION}.amazonaws.com",
    )
    types: list[str] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
        for record in records:
            types.extend(entry["DetailType"] for entry in entries_of(record, "csms-events"))
    return types


def _read_site(tenant_id: str, site_id: str) -> Site | None:
    try:
        item = SiteItem.get(tenant_pk(tenant_id), f"SITE#{site_id}", consistent_read=True)
    except SiteItem.DoesNotExist:
        return None
    return Site(id=site_id, name=item.name, limit_kw=Decimal(item.limit_kw))


def _read_token(tenant_id: str, id_token: str) -> IdToken | None:
    try:
        item = TokenItem.get(tenant_pk(tenant_id), f"TOKEN#{id_token}", consistent_read=True)
    except TokenItem.DoesNotExist:
        return None
    return IdToken(id_token=id_token, status=TokenStatus(item.status), group_id=item.group_id)


def _dynamo(table_name: str) -> Repos:
    outbox = OutboxEncoder(lambda: str(uuid.uuid4()))
    return Repos(
        kind=DYNAMO,
        stations=DynamoStationRepository(outbox),
        log=DynamoConnectionLog(timedelta(days=90), outbox),
        statuses=DynamoConnectorStatusRepository(outbox),
        seeds=DynamoSeedRepository(),
        read_site=_read_site,
        read_token=_read_token,
        published=lambda: _outbox_published(table_name),
    )


@pytest.fixture(params=[MEMORY, DYNAMO])
def repos(request: pytest.FixtureRequest) -> Repos:
    if request.param == DYNAMO:
        return _dynamo(request.getfixturevalue("dynamo_table"))
    return _memory()


def _all_pages(fetch: Callable[[str | None], Page[Any]], limit: int) -> list[list[Any]]:
    pages: list[list[Any]] = []
    cursor: str | None = None
    for _ in range(50):
        page = fetch(cursor)
        assert len(page.items) <= limit
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return pages
    pytest.fail("paging did not end")


# -- StationRepository ------------------------------------------------------------------------


def test_station_repository_get_unknown_is_none(repos: Repos) -> None:
    # GIVEN an empty repository
    # WHEN an unknown station is read
    # THEN there is none
    assert repos.stations.get("CP-404") is None


def test_station_repository_register_then_get_returns_it(repos: Repos) -> None:
    # GIVEN a station with a pinned protocol
    station = a_station(pinned_protocol=ProtocolVersion.OCPP16)
    # WHEN it is registered
    repos.stations.register(station)
    # THEN it reads back as registered: offline, no boot yet
    assert repos.stations.get("CP-1") == station


def test_station_repository_register_again_updates_registration_and_keeps_boot_and_connection(
    repos: Repos,
) -> None:
    # GIVEN a registered station that connected and booted
    repos.stations.register(a_station(pinned_protocol=ProtocolVersion.OCPP16))
    repos.stations.bind(a_binding(protocol=ProtocolVersion.OCPP16))
    boot = BootInfo(vendor="Acme", model="AC22", serial_number="SN-1", firmware_version="1.0")
    repos.stations.record_boot("CP-1", boot, RegistrationStatus.ACCEPTED, T0)
    # WHEN it is registered again with new registration data (no site, no pin, new hash)
    repos.stations.register(
        a_station(site_id=None, password_hash="plain$new-password", pinned_protocol=None)
    )
    # THEN the registration data is replaced and boot data and connection state are kept
    station = repos.stations.get("CP-1")
    assert station is not None
    assert station.site_id is None
    assert station.pinned_protocol is None
    assert station.password_hash == "plain$new-password"
    assert station.boot == boot
    assert station.registration_status is RegistrationStatus.ACCEPTED
    assert station.last_boot_at == T0
    assert station.online
    assert station.connection_id == "conn-1"
    assert station.protocol is ProtocolVersion.OCPP16


def test_station_repository_list_for_tenant_pages_by_id_within_tenant(repos: Repos) -> None:
    # GIVEN five stations of tenant-a and three of tenant-b, registered in no particular order
    for station_id in ["CP-4", "CP-1", "CP-5", "CP-3", "CP-2"]:
        repos.stations.register(a_station(id=station_id))
    for station_id in ["B-2", "B-1", "B-3"]:
        repos.stations.register(a_station(id=station_id, tenant_id="tenant-b"))
    # WHEN tenant-a's stations are listed two at a time, following the cursors
    pages = _all_pages(lambda cursor: repos.stations.list_for_tenant("tenant-a", 2, cursor), 2)
    # THEN every one of its stations comes exactly once, by id, and no other tenant's
    listed = [station for page in pages for station in page]
    assert [s.id for s in listed] == ["CP-1", "CP-2", "CP-3", "CP-4", "CP-5"]
    assert {s.tenant_id for s in listed} == {"tenant-a"}
    assert listed[0] == a_station(id="CP-1")
    other = repos.stations.list_for_tenant("tenant-b", 10)
    assert [s.id for s in other.items] == ["B-1", "B-2", "B-3"]
    assert other.next_cursor is None
    assert repos.stations.list_for_tenant("tenant-none", 10) == Page(items=[])


def test_station_repository_cursor_of_another_tenant_is_invalid(repos: Repos) -> None:
    # GIVEN a cursor handed out while listing tenant-a
    for station_id in ["CP-1", "CP-2", "CP-3"]:
        repos.stations.register(a_station(id=station_id))
        repos.stations.register(a_station(id=f"B-{station_id}", tenant_id="tenant-b"))
    cursor = repos.stations.list_for_tenant("tenant-a", 1).next_cursor
    assert cursor is not None
    # WHEN it is used to list tenant-b
    # THEN it is refused: a cursor cannot cross tenants
    with pytest.raises(InvalidCursorError):
        repos.stations.list_for_tenant("tenant-b", 1, cursor)


@pytest.mark.parametrize(
    "cursor",
    ["not-a-cursor", "", "%%%", base64.urlsafe_b64encode(b"[1, 2]").decode(), "eyJ9"],
    ids=["words", "empty", "symbols", "json-array", "broken-json"],
)
def test_station_repository_garbage_cursor_is_invalid(repos: Repos, cursor: str) -> None:
    # GIVEN a tenant with stations
    repos.stations.register(a_station())
    # WHEN a cursor that no list handed out is used
    # THEN it is refused
    with pytest.raises(InvalidCursorError):
        repos.stations.list_for_tenant("tenant-a", 1, cursor)


def test_station_repository_tampered_cursor_of_the_right_tenant_is_invalid(repos: Repos) -> None:
    # GIVEN a tenant with stations
    repos.stations.register(a_station())
    # WHEN a client forges a cursor that names the tenant but is no position in the listing
    # (each implementation in its own cursor format: a partial index key, a non-numeric offset)
    forged_key = {"GSI1PK": {"S": tenant_pk("tenant-a")}}
    forged = base64.urlsafe_b64encode(json.dumps(forged_key).encode()).decode().rstrip("=")
    if repos.kind == MEMORY:
        forged = "stations-tenant-a:x"
    # THEN it is refused as a cursor this list did not hand out
    with pytest.raises(InvalidCursorError):
        repos.stations.list_for_tenant("tenant-a", 1, forged)


def test_station_repository_bind_puts_station_online_and_lookup_finds_binding(
    repos: Repos,
) -> None:
    # GIVEN a registered station
    repos.stations.register(a_station())
    binding = a_binding(protocol=ProtocolVersion.OCPP16)
    # WHEN a connection is bound to it
    repos.stations.bind(binding)
    # THEN the binding is found by connection id and the station is online on it
    assert repos.stations.lookup("conn-1") == binding
    assert repos.stations.lookup("conn-unknown") is None
    station = repos.stations.get("CP-1")
    assert station is not None
    assert station.online
    assert station.protocol is ProtocolVersion.OCPP16
    assert station.connection_id == "conn-1"
    assert station.connected_at == T0


def test_station_repository_unbind_of_superseded_connection_keeps_station_online(
    repos: Repos,
) -> None:
    # GIVEN a station that reconnected: conn-2 superseded conn-1
    repos.stations.register(a_station())
    first = a_binding(connection_id="conn-1")
    second = a_binding(connection_id="conn-2", connected_at=T0 + timedelta(seconds=5))
    repos.stations.bind(first)
    repos.stations.bind(second)
    # WHEN the old connection closes
    went_offline = repos.stations.unbind(first, T0 + timedelta(seconds=6))
    # THEN the station stays online on the new one, and the old binding is gone
    assert went_offline is False
    assert repos.stations.lookup("conn-1") is None
    assert repos.stations.lookup("conn-2") == second
    station = repos.stations.get("CP-1")
    assert station is not None
    assert station.online
    assert station.connection_id == "conn-2"
    assert station.connected_at == T0 + timedelta(seconds=5)


def test_station_repository_unbind_of_current_connection_takes_station_offline(
    repos: Repos,
) -> None:
    # GIVEN a station online on conn-1
    repos.stations.register(a_station())
    binding = a_binding()
    repos.stations.bind(binding)
    at = T0 + timedelta(minutes=3)
    # WHEN that connection closes
    went_offline = repos.stations.unbind(binding, at)
    # THEN the station is offline since then, and the binding is gone
    assert went_offline is True
    assert repos.stations.lookup("conn-1") is None
    station = repos.stations.get("CP-1")
    assert station is not None
    assert not station.online
    assert station.connection_id is None
    assert station.disconnected_at == at
    # AND closing it again changes nothing
    assert repos.stations.unbind(binding, at + timedelta(seconds=1)) is False
    again = repos.stations.get("CP-1")
    assert again is not None
    assert again.disconnected_at == at


def test_station_repository_record_boot_once_per_message(repos: Repos) -> None:
    # GIVEN a station whose boot came in CALL b-1
    repos.stations.register(a_station())
    boot = BootInfo(vendor="Acme", model="AC22")
    assert repos.stations.record_boot(
        "CP-1", boot, RegistrationStatus.ACCEPTED, T0, message_id="b-1"
    )
    # WHEN the same CALL is recorded again later, then a new boot comes in b-2
    again = repos.stations.record_boot(
        "CP-1", boot, RegistrationStatus.ACCEPTED, T0 + timedelta(seconds=30), message_id="b-1"
    )
    station = repos.stations.get("CP-1")
    later = T0 + timedelta(minutes=5)
    new = repos.stations.record_boot(
        "CP-1", boot, RegistrationStatus.ACCEPTED, later, message_id="b-2"
    )
    # THEN the retransmission changed nothing; the new boot is recorded
    assert not again
    assert station is not None
    assert station.last_boot_at == T0
    assert new
    rebooted = repos.stations.get("CP-1")
    assert rebooted is not None
    assert rebooted.last_boot_at == later


def test_station_repository_record_boot_stores_and_replaces_boot_data(repos: Repos) -> None:
    # GIVEN a registered station that booted once with every field
    repos.stations.register(a_station())
    full = BootInfo(
        vendor="Acme",
        model="AC22",
        serial_number="SN-1",
        firmware_version="1.0",
        iccid="8931",
        imsi="2040",
        meter_type="M1",
        meter_serial_number="MS-1",
        reason=BootReason.POWER_UP,
    )
    repos.stations.record_boot("CP-1", full, RegistrationStatus.ACCEPTED, T0)
    first = repos.stations.get("CP-1")
    assert first is not None
    assert first.boot == full
    assert first.registration_status is RegistrationStatus.ACCEPTED
    assert first.last_boot_at == T0
    # WHEN it boots again telling less
    later = T0 + timedelta(hours=1)
    short = BootInfo(vendor="Acme", model="AC22", reason=BootReason.WATCHDOG)
    repos.stations.record_boot("CP-1", short, RegistrationStatus.PENDING, later)
    # THEN the new boot data replaces the old as a whole
    station = repos.stations.get("CP-1")
    assert station is not None
    assert station.boot == short
    assert station.registration_status is RegistrationStatus.PENDING
    assert station.last_boot_at == later
    assert station.tenant_id == "tenant-a"


# -- ConnectionLog ----------------------------------------------------------------------------


def _entry(station_id: str, seconds: int, **over: Any) -> ConnectionLogEntry:
    values: dict[str, Any] = {
        "station_id": station_id,
        "at": T0 + timedelta(seconds=seconds),
        "outcome": ConnectionOutcome.CONNECTED,
        "protocol": ProtocolVersion.OCPP201,
        "connection_id": f"conn-{seconds}",
        "source_ip": "203.0.113.7",
        "offered_protocols": ("ocpp2.0.1", "ocpp1.6"),
    }
    values.update(over)
    return ConnectionLogEntry(**values)


def test_connection_log_lists_newest_first_with_paging(repos: Repos) -> None:
    # GIVEN five entries of CP-1, appended out of order, and one of CP-2
    entries = [
        _entry("CP-1", 30),
        _entry(
            "CP-1",
            10,
            outcome=ConnectionOutcome.REFUSED,
            reason=RefusalReason.BAD_CREDENTIALS,
            protocol=None,
        ),
        _entry("CP-1", 50, outcome=ConnectionOutcome.DISCONNECTED, offered_protocols=()),
        _entry("CP-1", 20, source_ip=None),
        _entry("CP-1", 40, at=T0 + timedelta(seconds=40, microseconds=250_000)),
    ]
    for entry in entries:
        repos.log.append(entry)
    repos.log.append(_entry("CP-2", 35))
    # WHEN CP-1's log is read two entries at a time
    pages = _all_pages(lambda cursor: repos.log.list("CP-1", 2, cursor), 2)
    # THEN all its entries come back once, newest first, exactly as appended
    listed = [entry for page in pages for entry in page]
    assert listed == sorted(entries, key=lambda e: e.at, reverse=True)


def test_connection_log_of_station_without_entries_is_empty(repos: Repos) -> None:
    # GIVEN entries of another station only
    repos.log.append(_entry("CP-2", 1))
    # WHEN CP-1's log is read
    # THEN it is one empty, final page
    assert repos.log.list("CP-1", 10) == Page(items=[])


def test_connection_log_cursor_of_another_station_is_invalid(repos: Repos) -> None:
    # GIVEN a cursor handed out while reading CP-1's log
    for seconds in range(3):
        repos.log.append(_entry("CP-1", seconds))
        repos.log.append(_entry("CP-2", seconds))
    cursor = repos.log.list("CP-1", 1).next_cursor
    assert cursor is not None
    # WHEN it is used to read CP-2's log, or as garbage
    # THEN it is refused
    with pytest.raises(InvalidCursorError):
        repos.log.list("CP-2", 1, cursor)
    with pytest.raises(InvalidCursorError):
        repos.log.list("CP-1", 1, "not-a-cursor")


def test_connection_log_cursor_of_the_station_list_is_invalid(repos: Repos) -> None:
    # GIVEN a cursor handed out by tenant-a's station list, stopping at CP-1
    repos.stations.register(a_station(id="CP-1"))
    repos.stations.register(a_station(id="CP-2"))
    repos.log.append(_entry("CP-1", 1))
    cursor = repos.stations.list_for_tenant("tenant-a", 1).next_cursor
    assert cursor is not None
    # WHEN it is used to read CP-1's connection log
    # THEN it is refused as a cursor this list did not hand out
    with pytest.raises(InvalidCursorError):
        repos.log.list("CP-1", 1, cursor)


# -- ConnectorStatusRepository ----------------------------------------------------------------


def _state(
    evse_id: int = 1, connector_id: int = 1, seconds: int = 0, **over: Any
) -> ConnectorState:
    at = T0 + timedelta(seconds=seconds)
    values: dict[str, Any] = {
        "evse": EvseRef(evse_id=evse_id, connector_id=connector_id),
        "status": ConnectorStatus.AVAILABLE,
        "since": at,
        "reported_at": at,
    }
    values.update(over)
    return ConnectorState(**values)


def test_connector_status_get_unknown_is_none(repos: Repos) -> None:
    # GIVEN nothing stored
    # WHEN a connector is read
    # THEN there is no state
    assert repos.statuses.get("CP-1", EvseRef(evse_id=1, connector_id=1)) is None


def _report(evse_id: int = 1, connector_id: int = 1, seconds: int = 0, **over: Any) -> StatusReport:
    values: dict[str, Any] = {
        "evse": EvseRef(evse_id=evse_id, connector_id=connector_id),
        "status": ConnectorStatus.AVAILABLE,
        "timestamp": T0 + timedelta(seconds=seconds),
    }
    values.update(over)
    return StatusReport(**values)


def test_connector_status_apply_first_report_is_a_change(repos: Repos) -> None:
    # GIVEN no state for the connector
    report = _report(
        status=ConnectorStatus.OCCUPIED,
        detail=OccupancyDetail.CHARGING,
        error_code="OtherError",
        info="hot",
        vendor_error_code="E42",
    )
    # WHEN the first report is applied
    applied = repos.statuses.apply("CP-1", "tenant-a", report)
    # THEN it is a change from nothing, stored with since = its time
    assert applied == AppliedStatus(outcome=StatusOutcome.CHANGED)
    assert repos.statuses.get("CP-1", report.evse) == _state(
        status=ConnectorStatus.OCCUPIED,
        detail=OccupancyDetail.CHARGING,
        error_code="OtherError",
        info="hot",
        vendor_error_code="E42",
    )


def test_connector_status_apply_newer_other_status_is_a_change(repos: Repos) -> None:
    # GIVEN an Available connector
    repos.statuses.apply("CP-1", "tenant-a", _report())
    # WHEN a newer Faulted report is applied
    applied = repos.statuses.apply(
        "CP-1",
        "tenant-a",
        _report(seconds=10, status=ConnectorStatus.FAULTED, error_code="GroundFailure"),
    )
    # THEN it is a change; since moved
    assert applied == AppliedStatus(outcome=StatusOutcome.CHANGED)
    assert repos.statuses.get("CP-1", EvseRef(evse_id=1, connector_id=1)) == _state(
        seconds=10, status=ConnectorStatus.FAULTED, error_code="GroundFailure"
    )


def test_connector_status_apply_repeat_moves_report_time_and_details_only(repos: Repos) -> None:
    # GIVEN a Faulted connector
    repos.statuses.apply("CP-1", "tenant-a", _report(status=ConnectorStatus.FAULTED, info="a"))
    # WHEN a newer report with the same status and other details is applied
    applied = repos.statuses.apply(
        "CP-1", "tenant-a", _report(seconds=10, status=ConnectorStatus.FAULTED, error_code="X")
    )
    # THEN it is a repeat: since stays, the details follow the newest report
    assert applied == AppliedStatus(outcome=StatusOutcome.REPEATED)
    held = repos.statuses.get("CP-1", EvseRef(evse_id=1, connector_id=1))
    assert held == _state(status=ConnectorStatus.FAULTED, error_code="X").model_copy(
        update={"reported_at": T0 + timedelta(seconds=10)}
    )


@pytest.mark.parametrize("seconds", [-5, 0], ids=["older", "same-time"])
def test_connector_status_apply_stale_report_changes_nothing(repos: Repos, seconds: int) -> None:
    # GIVEN a connector whose state was reported at T0
    repos.statuses.apply("CP-1", "tenant-a", _report())
    # WHEN a report from before T0 (late) or from T0 itself (retransmitted) is applied
    applied = repos.statuses.apply(
        "CP-1", "tenant-a", _report(seconds=seconds, status=ConnectorStatus.UNAVAILABLE)
    )
    # THEN it is stale and the state stands
    assert applied == AppliedStatus(outcome=StatusOutcome.STALE)
    assert repos.statuses.get("CP-1", EvseRef(evse_id=1, connector_id=1)) == _state()


def test_connector_status_apply_retransmitted_repeat_is_stale(repos: Repos) -> None:
    # GIVEN a connector reported Available twice (the second a repeat)
    repos.statuses.apply("CP-1", "tenant-a", _report())
    repeat = _report(seconds=5)
    assert repos.statuses.apply("CP-1", "tenant-a", repeat).outcome is StatusOutcome.REPEATED
    # WHEN the repeat is retransmitted
    # THEN it is stale
    assert repos.statuses.apply("CP-1", "tenant-a", repeat).outcome is StatusOutcome.STALE


def test_connector_status_second_writer_change_is_not_taken_for_a_repeat(repos: Repos) -> None:
    # GIVEN this writer saw Available, then another writer (another Lambda container) stored
    # Faulted
    repos.statuses.apply("CP-1", "tenant-a", _report())
    # (the fakes hold state per instance, so the same instance stands for the other writer)
    other = (
        repos.statuses
        if repos.kind == MEMORY
        else DynamoConnectorStatusRepository(OutboxEncoder(lambda: str(uuid.uuid4())))
    )
    other.apply("CP-1", "tenant-a", _report(seconds=5, status=ConnectorStatus.FAULTED))
    # WHEN this writer applies a newer Available
    applied = repos.statuses.apply("CP-1", "tenant-a", _report(seconds=10))
    # THEN it is a change back to Available, not a repeat of what it last saw
    assert applied.outcome is StatusOutcome.CHANGED
    held = repos.statuses.get("CP-1", EvseRef(evse_id=1, connector_id=1))
    assert held is not None
    assert (held.status, held.since) == (ConnectorStatus.AVAILABLE, T0 + timedelta(seconds=10))


def test_connector_status_history_keeps_changes_and_appended_reports(repos: Repos) -> None:
    # GIVEN a change, a repeat, a later change and a retransmitted one
    first = _report()
    repos.statuses.apply("CP-1", "tenant-a", first)
    repos.statuses.apply("CP-1", "tenant-a", _report(seconds=5))
    change = _report(seconds=10, status=ConnectorStatus.FAULTED, error_code="GroundFailure")
    repos.statuses.apply("CP-1", "tenant-a", change)
    repos.statuses.apply("CP-1", "tenant-a", change)
    # AND a late report kept by the caller, twice (a retransmission)
    late = _report(seconds=7, status=ConnectorStatus.UNAVAILABLE)
    repos.statuses.append_history("CP-1", "tenant-a", late)
    repos.statuses.append_history("CP-1", "tenant-a", late)
    # WHEN the history is read
    history = repos.statuses.history("CP-1")
    # THEN it holds the changes and the late report once each, oldest first
    assert [(r.timestamp, r.status) for r in history] == [
        (first.timestamp, ConnectorStatus.AVAILABLE),
        (late.timestamp, ConnectorStatus.UNAVAILABLE),
        (change.timestamp, ConnectorStatus.FAULTED),
    ]
    assert history[2].error_code == "GroundFailure"
    assert repos.statuses.history("CP-2") == []


def test_connector_status_list_is_ordered_by_evse_and_connector(repos: Repos) -> None:
    # GIVEN connectors of CP-1 saved out of order, and one of CP-2
    refs = [(2, 1), (0, 0), (1, 2), (10, 1), (1, 1)]
    for evse_id, connector_id in refs:
        repos.statuses.apply("CP-1", "tenant-a", _report(evse_id, connector_id))
    repos.statuses.apply("CP-2", "tenant-a", _report(3, 1))
    # WHEN CP-1's connectors are listed
    listed = repos.statuses.list("CP-1")
    # THEN they are ordered by EVSE, then connector, and only CP-1's
    assert [(s.evse.evse_id, s.evse.connector_id) for s in listed] == sorted(refs)
    assert repos.statuses.list("CP-404") == []


def test_connector_status_list_orders_large_evse_and_connector_ids_numerically(
    repos: Repos,
) -> None:
    # GIVEN connectors whose ids need more digits than the usual, up to the domain's bound
    refs = [(101, 1), (1000, 1), (2, 1), (5, 11), (5, 100), (MAX_ID, MAX_ID), (MAX_ID, 0)]
    for evse_id, connector_id in refs:
        repos.statuses.apply("CP-1", "tenant-a", _report(evse_id, connector_id))
    # WHEN they are listed
    listed = repos.statuses.list("CP-1")
    # THEN they are still in numeric EVSE/connector order
    assert [(s.evse.evse_id, s.evse.connector_id) for s in listed] == sorted(refs)


# -- SeedRepository ---------------------------------------------------------------------------


def test_seed_repository_put_site_creates_or_replaces(repos: Repos) -> None:
    # GIVEN a site stored once
    repos.seeds.put_site("tenant-a", Site(id="site-1", name="Depot", limit_kw=Decimal(50)))
    # WHEN it is put again with other values, and another tenant puts the same id
    replaced = Site(id="site-1", name="Depot North", limit_kw=Decimal("72.5"))
    repos.seeds.put_site("tenant-a", replaced)
    repos.seeds.put_site("tenant-b", Site(id="site-1", name="Elsewhere", limit_kw=Decimal(1)))
    # THEN the tenant's site is replaced, and tenants do not share it
    assert repos.read_site("tenant-a", "site-1") == replaced
    other = repos.read_site("tenant-b", "site-1")
    assert other is not None
    assert other.name == "Elsewhere"
    assert repos.read_site("tenant-a", "site-2") is None


def test_seed_repository_put_token_creates_or_replaces(repos: Repos) -> None:
    # GIVEN a token stored once
    repos.seeds.put_token("tenant-a", IdToken(id_token="TAG-1", status=TokenStatus.ACCEPTED))
    # WHEN it is put again, blocked and in a group
    blocked = IdToken(id_token="TAG-1", status=TokenStatus.BLOCKED, group_id="fleet")
    repos.seeds.put_token("tenant-a", blocked)
    # THEN it is replaced as a whole, and unknown tokens stay unknown
    assert repos.read_token("tenant-a", "TAG-1") == blocked
    assert repos.read_token("tenant-b", "TAG-1") is None


# -- the outbox: events ride with the writes that record them ---------------------------------


def _event(kind: type[Any], **fields: Any) -> Any:
    return kind(station_id="CP-1", tenant_id="tenant-a", occurred_at=T0, **fields)


def test_outbox_events_go_out_with_their_writes_only(repos: Repos) -> None:
    from csms.domain.events import ConnectorStatusChanged, StationBooted, StationConnected

    # GIVEN a registered, connected station
    repos.stations.register(Station(id="CP-1", tenant_id="tenant-a", password_hash="plain$x"))
    # WHEN a log entry, a boot and a status change are written with their events, and a
    # repeated status and later station updates are written without
    repos.log.append(
        ConnectionLogEntry(station_id="CP-1", at=T0, outcome=ConnectionOutcome.CONNECTED),
        events=[_event(StationConnected, connection_id="c1", protocol=ProtocolVersion.OCPP16)],
    )
    repos.stations.record_boot(
        "CP-1",
        BootInfo(vendor="V", model="M"),
        RegistrationStatus.ACCEPTED,
        T0,
        events=[
            _event(
                StationBooted,
                vendor="V",
                model="M",
                reason=BootReason.UNKNOWN,
                registration_status=RegistrationStatus.ACCEPTED,
            )
        ],
    )
    changed = _event(
        ConnectorStatusChanged,
        evse=EvseRef(evse_id=1, connector_id=1),
        status=ConnectorStatus.AVAILABLE,
    )
    repos.statuses.apply("CP-1", "tenant-a", _report(), on_change=[changed])
    repos.statuses.apply("CP-1", "tenant-a", _report(seconds=5), on_change=[changed])
    repos.statuses.apply("CP-1", "tenant-a", _report(seconds=1), on_change=[changed])
    repos.stations.bind(
        ConnectionBinding(
            connection_id="c2",
            station_id="CP-1",
            tenant_id="tenant-a",
            protocol=ProtocolVersion.OCPP16,
            connected_at=T0,
        )
    )
    # THEN each event went out exactly once, in order; the repeat, the stale report and the
    # later update published nothing
    assert repos.published() == ["StationConnected", "StationBooted", "ConnectorStatusChanged"]
