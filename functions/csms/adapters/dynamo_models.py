"""The single table (DESIGN §5) as pynamodb models.

Key layout (every item also carries `tenant_id`):

| item               | PK                   | SK                       | GSI1PK / GSI1SK      |
|--------------------|----------------------|--------------------------|----------------------|
| station            | STATION#{id}         | META                     | TENANT#{t} / STATION#|
| connector status   | STATION#{id}         | EVSE#{evse:03}#{conn:02} |                      |
| connection log     | STATION#{id}         | LOG#{at}#{connection}    |                      |
| outstanding call   | STATION#{id}         | CALL#OUTSTANDING         |                      |
| command record     | STATION#{id}         | CMD#{command id}         |                      |
| queued command     | STATION#{id}         | QUEUE#{command id}       |                      |
| local list version | STATION#{id}         | LOCALLIST                |                      |
| status history     | STATION#{id}#STATUS  | {at}#{evse:03}#{conn:02} |                      |
| connection binding | CONN#{connection id} | META                     |                      |
| site               | TENANT#{t}           | SITE#{id}                |                      |
| id token           | TENANT#{t}           | TOKEN#{ID, upper-cased}  |                      |
| driver group       | TENANT#{t}           | GROUP#{id}               |                      |
| vehicle            | TENANT#{t}           | VEHICLE#{id}             |                      |
| operator user      | TENANT#{t}           | USER#{id}                |                      |
| active owner count | TENANT#{t}           | OWNERS                   |                      |
| tenant profile     | TENANT#{t}           | PROFILE                  |                      |
| session            | SESSION#{sid}        | SESSION                  | see below            |
| meter chunk        | SESSION#{sid}        | MV#{seqNo or time#digest}|                      |
| 1.6 status chunk   | SESSION#{sid}        | MV#!status#{at}#{state}  | (sorts before meters)|
| 1.6 start key      | STATION#{id}         | START#{digest}           |                      |
| Authorize log      | STATION#{id}         | AUTH#{unique id}         |                      |
| station readings   | STATION#{id}#METER   | {at}#{evse:05}#{conn:05} |                      |
| tx id counter      | COUNTER              | TRANSACTION              |                      |
| station note       | STATION#{id}         | NOTE#{kind}#{at}#{digest}|                      |
| latest note (kind) | STATION#{id}         | LASTNOTE#{kind}          |                      |
| EV charging needs  | STATION#{id}         | NEEDS#{evse:05}          |                      |
| frame (msg log)    | STATION#{id}#FRAMES  | {at}#{seq} (TTL 24 h)    | (dynamo_frames)      |
| audit entry        | AUDIT#{t}            | {at}#{uuid7}             | (dynamo_audit)       |
| load config        | TENANT#{t}#SITE#{s}#LOAD | CONFIG               | (dynamo_load)        |
| load allocation    | TENANT#{t}#SITE#{s}#LOAD | ALLOCATION           | (dynamo_load)        |
| load readings      | TENANT#{t}#SITE#{s}#LOAD | READINGS#{kind} (TTL)| (dynamo_load)        |
| declared needs     | TENANT#{t}#SITE#{s}#LOAD | NEEDS#{sid} (TTL)    | (dynamo_load)        |
| load event carrier | TENANT#{t}#SITE#{s}#LOAD | EVENT (TTL 1 day)    | (dynamo_load)        |
| managed site index | LOADSITES#{0-9}      | {t}#{site}               | (dynamo_load)        |
| tariff (head)      | TENANT#{t}           | TARIFF#{id}              | (dynamo_tariffs)     |
| tariff version     | TENANT#{t}           | TARIFFV#{id}#{v:08}      | (dynamo_tariffs)     |
| tariff assignment  | TENANT#{t}           | TARIFFASSIGN#{ta-hash}   | (dynamo_tariffs)     |
| CDR                | TENANT#{t}           | CDR#{cdr id}             | see below            |
| invoice header     | TENANT#{t}           | INVOICE#{invoice id}     | see below            |
| invoice line       | TENANT#{t}           | INVLINE#{invoice}#{line} | (dynamo_billing)     |
| invoice counter    | TENANT#{t}           | INVCOUNTER               | (dynamo_billing)     |
| session ledger     | TENANT#{t}           | BILLLEDGER#{sid}         | (dynamo_billing)     |
| payment hold       | TENANT#{t}           | BILLHOLD#{sid}           | (dynamo_billing)     |
| billing account    | TENANT#{t}           | BILLACCT#{account id}    | (dynamo_billing)     |
| provider event     | PROVIDEREVENT#{id}   | EVENT (TTL 30 days)      | (dynamo_billing)     |
| alert marker       | TENANT#{t}#ALERTMARK | {station}#{port}#{kind}  | (dynamo_alerts)      |
| alert due entry    | ALERTDUE#{0-9}       | {due}#{t}#{marker SK}    | (dynamo_alerts)      |
| alert              | TENANT#{t}#ALERT     | {alert id}               | (dynamo_alerts)      |
| boot times         | STATION#{id}         | ALERTBOOTS (TTL 1 day)   | (dynamo_alerts)      |
| ticket             | TENANT#{t}#TICKET    | {ticket id}              | (dynamo_maintenance) |
| ticket origin      | TENANT#{t}#TICKETORIGIN | {alert#id, plan#id#n} | (dynamo_maintenance) |
| service record     | TENANT#{t}#SERVICE   | {record id}              | (dynamo_maintenance) |
| maintenance plan   | MAINTPLAN#{0-9}      | {t}#{plan id}            | (dynamo_maintenance) |

CDRs and invoices are listed through the keys-only indexes (dynamo_billing): GSI1
`TENANT#{t}#CDR` / `{end}#{cdr id}` and `TENANT#{t}#INVOICE` / `{created}#{invoice id}`, GSI2
`TENANT#{t}#BILLACCOUNT#{account}` / `{created}#{invoice id}` (an account's invoices).

Tickets and service records are listed per station through GSI1
`TENANT#{t}#STATION#{s}#MAINT` / `{id}` (ids start with their time), plans per tenant through
GSI1 `TENANT#{t}#MAINTPLAN` / `{plan id}` (dynamo_maintenance).

Stations are listed by tenant through GSI1 and by site through GSI2 (keys-only):
`GSI2PK = TENANT#{t}#SITE#{site}`, `GSI2SK = STATION#{id}`.

Sessions are listed through keys-only indexes, each sorted by `{start}#{sid}`: GSI1
`TENANT#{t}#SESSION` (all), GSI2 `TENANT#{t}#TOKEN#{ID}` (by token), GSI3
`TENANT#{t}#STATION#{s}` (by station), GSI4 `OPEN` (active sessions only, for the cleanup job).

The table name comes from settings at cold start: `configure_table` points every model at it.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from csms.adapters.botocore_cache import share_with_pynamodb


class Gsi1(GlobalSecondaryIndex[Any]):  # type: ignore[no-untyped-call]
    """Listing by tenant."""

    class Meta:  # noqa: D106 - pynamodb's configuration class
        index_name = "GSI1"
        projection = KeysOnlyProjection()

    GSI1PK = UnicodeAttribute(hash_key=True)
    GSI1SK = UnicodeAttribute(range_key=True)


class _Item(Model):
    class Meta:
        table_name = "csms"
        region = "us-east-1"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    tenant_id = UnicodeAttribute(null=True)
    # The transactional outbox (csms.adapters.outbox): events that ride with this write.
    outbox = UnicodeAttribute(null=True)
    outbox_id = UnicodeAttribute(null=True)


class StationGsi2(GlobalSecondaryIndex[Any]):  # type: ignore[no-untyped-call]
    """Stations by site (its own class: an index class is bound to one model)."""

    class Meta:  # noqa: D106 - pynamodb's configuration class
        index_name = "GSI2"
        projection = KeysOnlyProjection()

    GSI2PK = UnicodeAttribute(hash_key=True)
    GSI2SK = UnicodeAttribute(range_key=True)


class StationItem(_Item):
    """A registered station, its boot data and its live connection."""

    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    GSI2PK = UnicodeAttribute(null=True)
    GSI2SK = UnicodeAttribute(null=True)
    by_tenant = Gsi1()
    by_site = StationGsi2()
    site_id = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    # Absent on stations registered before decommissioning existed: active.
    state = UnicodeAttribute(null=True)
    password_hash = UnicodeAttribute(null=True)
    previous_password_hash = UnicodeAttribute(null=True)
    previous_password_until = UTCDateTimeAttribute(null=True)
    pinned_protocol = UnicodeAttribute(null=True)
    trace_until = UTCDateTimeAttribute(null=True)
    registered_at = UTCDateTimeAttribute(null=True)
    decommissioned_at = UTCDateTimeAttribute(null=True)
    # Version of what operators manage (ETag); absent = 0 (seeded stations).
    version = NumberAttribute(null=True)
    vendor = UnicodeAttribute(null=True)
    model = UnicodeAttribute(null=True)
    serial_number = UnicodeAttribute(null=True)
    firmware_version = UnicodeAttribute(null=True)
    iccid = UnicodeAttribute(null=True)
    imsi = UnicodeAttribute(null=True)
    meter_type = UnicodeAttribute(null=True)
    meter_serial_number = UnicodeAttribute(null=True)
    boot_reason = UnicodeAttribute(null=True)
    registration_status = UnicodeAttribute(null=True)
    last_boot_at = UTCDateTimeAttribute(null=True)
    # The unique id of the BootNotification last recorded: a retransmission is recognised.
    last_boot_message = UnicodeAttribute(null=True)
    online = BooleanAttribute(null=True)
    protocol = UnicodeAttribute(null=True)
    connection_id = UnicodeAttribute(null=True)
    connected_at = UTCDateTimeAttribute(null=True)
    disconnected_at = UTCDateTimeAttribute(null=True)


class ConnectionItem(_Item):
    """Binding of a live WebSocket connection to its station."""

    station_id = UnicodeAttribute()
    site_id = UnicodeAttribute(null=True)
    protocol = UnicodeAttribute()
    connected_at = UTCDateTimeAttribute()
    trace_until = UTCDateTimeAttribute(null=True)
    # Commands were queued when the station connected (csms.adapters.dynamo_commands).
    deliver_queue = BooleanAttribute(null=True)
    expires_at = NumberAttribute(null=True)


class ConnectionLogItem(_Item):
    """One connect, disconnect or refusal."""

    at = UTCDateTimeAttribute()
    outcome = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    protocol = UnicodeAttribute(null=True)
    connection_id = UnicodeAttribute(null=True)
    source_ip = UnicodeAttribute(null=True)
    offered_protocols = ListAttribute[str](of=UnicodeAttribute, null=True)  # type: ignore[arg-type]
    password_used = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)


class ConnectorStatusItem(_Item):
    """The status held for one connector."""

    evse_id = NumberAttribute()
    connector_id = NumberAttribute()
    status = UnicodeAttribute()
    detail = UnicodeAttribute(null=True)
    status_key = UnicodeAttribute(null=True)
    error_code = UnicodeAttribute(null=True)
    info = UnicodeAttribute(null=True)
    vendor_error_code = UnicodeAttribute(null=True)
    since = UTCDateTimeAttribute()
    reported_at = UTCDateTimeAttribute()


class StatusHistoryItem(_Item):
    """Every status report as received (feeds uptime)."""

    evse_id = NumberAttribute()
    connector_id = NumberAttribute()
    status = UnicodeAttribute()
    detail = UnicodeAttribute(null=True)
    error_code = UnicodeAttribute(null=True)


class SiteItem(_Item):
    """A site: its id, name, grid limit, time zone and version as attributes, the rest as JSON.

    The station and live views read name and time zone without the rest; `body` holds the
    address, the description and the creation time.

    Items written by seeds before the operator API have no `body` and no `version`.
    """

    name = UnicodeAttribute()
    limit_kw = UnicodeAttribute()
    timezone = UnicodeAttribute(null=True)
    body = UnicodeAttribute(null=True)
    version = NumberAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)


class TokenItem(_Item):
    """An id token; the sort key holds its value upper-cased (OCPP compares tokens so)."""

    id_token = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    type = UnicodeAttribute(null=True)
    expires_at_time = UTCDateTimeAttribute(null=True)
    group_id = UnicodeAttribute(null=True)
    parent_id_token = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    # Absent on tokens stored before versions existed: they are version 1.
    version = NumberAttribute(null=True)


class _SessionIndex(GlobalSecondaryIndex[Any]):  # type: ignore[no-untyped-call]
    class Meta:
        projection = KeysOnlyProjection()


class SessionGsi1(_SessionIndex):  # type: ignore[no-untyped-call]
    """Sessions by tenant (its own class: an index class is bound to one model)."""

    class Meta(_SessionIndex.Meta):  # noqa: D106
        index_name = "GSI1"

    GSI1PK = UnicodeAttribute(hash_key=True)
    GSI1SK = UnicodeAttribute(range_key=True)


class Gsi2(_SessionIndex):  # type: ignore[no-untyped-call]
    """Sessions by token."""

    class Meta(_SessionIndex.Meta):  # noqa: D106
        index_name = "GSI2"

    GSI2PK = UnicodeAttribute(hash_key=True)
    GSI2SK = UnicodeAttribute(range_key=True)


class Gsi3(_SessionIndex):  # type: ignore[no-untyped-call]
    """Sessions by station."""

    class Meta(_SessionIndex.Meta):  # noqa: D106
        index_name = "GSI3"

    GSI3PK = UnicodeAttribute(hash_key=True)
    GSI3SK = UnicodeAttribute(range_key=True)


class Gsi4(_SessionIndex):  # type: ignore[no-untyped-call]
    """Active sessions of every tenant (sparse: an ended session leaves it)."""

    class Meta(_SessionIndex.Meta):  # noqa: D106
        index_name = "GSI4"

    GSI4PK = UnicodeAttribute(hash_key=True)
    GSI4SK = UnicodeAttribute(range_key=True)


class SessionItem(_Item):
    """A charging session: the domain model as JSON in `body`, keys and version beside it."""

    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    GSI2PK = UnicodeAttribute(null=True)
    GSI2SK = UnicodeAttribute(null=True)
    GSI3PK = UnicodeAttribute(null=True)
    GSI3SK = UnicodeAttribute(null=True)
    GSI4PK = UnicodeAttribute(null=True)
    GSI4SK = UnicodeAttribute(null=True)
    by_tenant = SessionGsi1()
    by_token = Gsi2()
    by_station = Gsi3()
    open_sessions = Gsi4()
    state = UnicodeAttribute()
    version = NumberAttribute()
    body = UnicodeAttribute()


class ChunkItem(_Item):
    """The meter readings of one transaction message (compact: see dynamo_sessions)."""

    readings = UnicodeAttribute(null=True)
    seq_no = NumberAttribute(null=True)
    event_type = UnicodeAttribute(null=True)
    # The charging state the message reported and when (set only when it reported one).
    charging_state = UnicodeAttribute(null=True)
    state_at = UnicodeAttribute(null=True)


class StartKeyItem(_Item):
    """A 1.6 StartTransaction seen: its content names the session it started."""

    session_id = UnicodeAttribute()
    expires_at = NumberAttribute(null=True)


class CounterItem(_Item):
    """The atomic counter of 1.6 transaction ids."""

    value = NumberAttribute(null=True)


class AuthorizationItem(_Item):
    """An Authorize a station sent, and the answer."""

    id_token = UnicodeAttribute()
    token_type = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    expires_at = NumberAttribute(null=True)


class StationReadingItem(_Item):
    """Meter readings outside any session (connector 0, idle connectors)."""

    evse_id = NumberAttribute()
    connector_id = NumberAttribute()
    readings = UnicodeAttribute()
    expires_at = NumberAttribute(null=True)


class StationNoteItem(_Item):
    """A note in a station's log (csms.domain.notifications), or the latest one of its kind."""

    kind = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    received_at = UTCDateTimeAttribute()
    unique_id = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    status = UnicodeAttribute(null=True)
    subject = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    evse_id = NumberAttribute(null=True)
    reference = NumberAttribute(null=True)
    seq_no = NumberAttribute(null=True)
    tbc = BooleanAttribute(null=True)
    info = UnicodeAttribute(null=True)
    detail = UnicodeAttribute(null=True)
    truncated = BooleanAttribute(null=True)
    expires_at = NumberAttribute(null=True)


class ChargingNeedsItem(_Item):
    """The current charging needs of one EVSE (the domain model as JSON in `body`)."""

    evse_id = NumberAttribute()
    received_at = UTCDateTimeAttribute()
    # The unique id of the CALL that told them: a retransmission is recognised.
    message_id = UnicodeAttribute(null=True)
    body = UnicodeAttribute()
    expires_at = NumberAttribute(null=True)


MODELS: tuple[type[_Item], ...] = (
    StationItem,
    ConnectionItem,
    ConnectionLogItem,
    ConnectorStatusItem,
    StatusHistoryItem,
    SiteItem,
    TokenItem,
    SessionItem,
    ChunkItem,
    StartKeyItem,
    CounterItem,
    AuthorizationItem,
    StationReadingItem,
    StationNoteItem,
    ChargingNeedsItem,
)


def _subclasses(model: type[_Item], known: tuple[type[_Item], ...]) -> list[type[_Item]]:
    found: list[type[_Item]] = []
    for sub in model.__subclasses__():
        if sub not in known:
            found.append(sub)
        found.extend(s for s in _subclasses(sub, known) if s not in found)
    return found


def configure_table(table_name: str, region: str, host: str | None = None) -> None:
    """Point every model at the table named by settings (once per cold start)."""
    share_with_pynamodb()
    # Models declared in other adapter modules (dynamo_commands, ...) are subclasses too.
    models: tuple[type[_Item], ...] = (_Item, *MODELS, *_subclasses(_Item, MODELS))
    for model in models:
        model.Meta.table_name = table_name
        model.Meta.region = region
        model.Meta.host = host  # type: ignore[attr-defined]
        model._connection = None
    StationItem.by_tenant.Meta.model = StationItem  # type: ignore[attr-defined]
    StationItem.by_site.Meta.model = StationItem  # type: ignore[attr-defined]
    indexes: tuple[Any, ...] = (
        SessionItem.by_tenant,
        SessionItem.by_token,
        SessionItem.by_station,
        SessionItem.open_sessions,
    )
    for index in indexes:
        index.Meta.model = SessionItem
