"""FrameLog on the single table: the recent frames of traced stations, short-lived.

| item  | PK                   | SK                              |
|-------|----------------------|---------------------------------|
| frame | STATION#{id}#FRAMES  | {at, fixed width UTC}#{seq}     |

Frames expire after the log's time to live (TTL attribute `expires_at`); since DynamoDB
deletes expired items only eventually, reads leave out what has expired.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)

from csms.adapters.dynamo import decode_cursor, encode_cursor, station_pk
from csms.adapters.dynamo_audit import bounded_query, time_key
from csms.adapters.dynamo_models import _Item
from csms.domain.frames import FrameDirection, FrameRecord
from csms.services.message_log import FrameQuery
from csms.services.ports import Page


class FrameItem(_Item):
    """One frame a traced station sent or received."""

    at = UTCDateTimeAttribute()
    direction = UnicodeAttribute()
    message_type = NumberAttribute(null=True)
    unique_id = UnicodeAttribute(null=True)
    action = UnicodeAttribute(null=True)
    frame = UnicodeAttribute()
    truncated = BooleanAttribute(null=True)
    size = NumberAttribute()
    expires_at = NumberAttribute()


def frames_pk(station_id: str) -> str:
    """Partition of a station's message log."""
    return f"{station_pk(station_id)}#FRAMES"


class DynamoFrameLog:
    """Frames of traced stations, one small item each."""

    def __init__(self, ttl: timedelta) -> None:
        self._ttl = ttl

    def append(self, records: list[FrameRecord]) -> None:
        """One put per frame (a frame and its reply: two)."""
        for record in records:
            FrameItem(
                frames_pk(record.station_id),
                f"{time_key(record.at)}#{record.seq}",
                tenant_id=record.tenant_id,
                at=record.at,
                direction=record.direction.value,
                message_type=record.message_type,
                unique_id=record.unique_id,
                action=record.action,
                frame=record.frame,
                truncated=record.truncated or None,
                size=record.size,
                expires_at=int((record.at + self._ttl).timestamp()),
            ).save()

    def list(
        self,
        station_id: str,
        tenant_id: str,
        query: FrameQuery,
        *,
        now: datetime,
        limit: int,
        cursor: str | None = None,
    ) -> Page[FrameRecord]:
        """Newest first, unexpired, of this tenant; a filtered page can come back short."""
        partition = frames_pk(station_id)
        start = decode_cursor(cursor, partition)
        # The station was checked to be the caller's; the tenant condition also keeps out the
        # frames of a station id that another tenant used within the last day.
        filters: Any = (FrameItem.expires_at > int(now.timestamp())) & (
            FrameItem.tenant_id == tenant_id
        )
        if query.direction is not None:
            filters &= FrameItem.direction == query.direction.value
        if query.action is not None:
            filters &= FrameItem.action == query.action
        found, next_key = bounded_query(
            FrameItem, partition, key_condition=None, filters=filters, limit=limit, start=start
        )
        items = [
            FrameRecord(
                station_id=station_id,
                tenant_id=item.tenant_id or tenant_id,
                at=item.at,
                seq=item.SK.rsplit("#", 1)[-1],
                direction=FrameDirection(item.direction),
                message_type=int(item.message_type) if item.message_type is not None else None,
                unique_id=item.unique_id,
                action=item.action,
                frame=item.frame,
                truncated=bool(item.truncated),
                size=int(item.size),
            )
            for item in found
        ]
        return Page(items=items, next_cursor=encode_cursor(next_key))
