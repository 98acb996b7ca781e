"""The single table (DESIGN §5) as pynamodb models.

Key layout (every item also carries `tenant_id`):

| item               | PK                   | SK                       | GSI1PK / GSI1SK      |
|--------------------|----------------------|--------------------------|----------------------|
| station            | STATION#{id}         | META                     | TENANT#{t} / STATION#|
| connector status   | STATION#{id}         | EVSE#{evse:03}#{conn:02} |                      |
| connection log     | STATION#{id}         | LOG#{at}#{connection}    |                      |
| outstanding call   | STATION#{id}         | CALL#OUTSTANDING         |                      |
| call record        | STATION#{id}         | CALL#{unique id}         |                      |
| status history     | STATION#{id}#STATUS  | {at}#{evse:03}#{conn:02} |                      |
| connection binding | CONN#{connection id} | META                     |                      |
| site               | TENANT#{t}           | SITE#{id}                |                      |
| id token           | TENANT#{t}           | TOKEN#{id}               |                      |

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


class StationItem(_Item):
    """A registered station, its boot data and its live connection."""

    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    by_tenant = Gsi1()
    site_id = UnicodeAttribute(null=True)
    password_hash = UnicodeAttribute(null=True)
    pinned_protocol = UnicodeAttribute(null=True)
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
    online = BooleanAttribute(null=True)
    protocol = UnicodeAttribute(null=True)
    connection_id = UnicodeAttribute(null=True)
    connected_at = UTCDateTimeAttribute(null=True)
    disconnected_at = UTCDateTimeAttribute(null=True)


class ConnectionItem(_Item):
    """Binding of a live WebSocket connection to its station."""

    station_id = UnicodeAttribute()
    protocol = UnicodeAttribute()
    connected_at = UTCDateTimeAttribute()
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


class CallSlotItem(_Item):
    """The one outstanding CSMS-initiated call of a station."""

    unique_id = UnicodeAttribute()
    deadline = NumberAttribute()  # epoch milliseconds
    expires_at = NumberAttribute(null=True)


class CallItem(_Item):
    """A CSMS-initiated call and its outcome (the whole record as JSON in `body`)."""

    state = UnicodeAttribute()
    body = UnicodeAttribute()
    expires_at = NumberAttribute(null=True)


class SiteItem(_Item):
    """A site (first form; the operator API grows it)."""

    name = UnicodeAttribute()
    limit_kw = UnicodeAttribute()


class TokenItem(_Item):
    """An id token (first form; the sessions issue grows it)."""

    status = UnicodeAttribute()
    group_id = UnicodeAttribute(null=True)


MODELS: tuple[type[_Item], ...] = (
    StationItem,
    ConnectionItem,
    ConnectionLogItem,
    ConnectorStatusItem,
    StatusHistoryItem,
    CallSlotItem,
    CallItem,
    SiteItem,
    TokenItem,
)


def configure_table(table_name: str, region: str, host: str | None = None) -> None:
    """Point every model at the table named by settings (once per cold start)."""
    models: tuple[type[_Item], ...] = (_Item, *MODELS)
    for model in models:
        model.Meta.table_name = table_name
        model.Meta.region = region
        model.Meta.host = host  # type: ignore[attr-defined]
        model._connection = None
    StationItem.by_tenant.Meta.model = StationItem  # type: ignore[attr-defined]
