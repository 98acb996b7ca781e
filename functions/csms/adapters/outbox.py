"""The transactional outbox: domain events ride in the very item write that records them.

A write that records a change also sets `outbox` (the EventBridge entries, as JSON) and a new
`outbox_id` on an item it writes anyway. The table's stream carries the write to the outbox
relay (`csms.handlers.stream_outbox`), which publishes the entries: no event is published
for a write that failed, none is lost for a write that succeeded, and the message handler
spends no call on EventBridge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from csms.adapters.events import envelope_json
from csms.domain.events import DomainEvent
from csms.services.ports import IdGenerator


class OutboxEncoder:
    """Turns events into the `outbox` attribute value (and a fresh `outbox_id`).

    Compact, since it rides in items that are billed per KB: the envelope as a nested object
    (not an escaped string), short keys, and no bus name (the relay knows its bus).
    """

    def __init__(self, new_id: IdGenerator) -> None:
        self._new_id = new_id

    def encode(self, events: Sequence[DomainEvent]) -> tuple[str, str] | None:
        """`(outbox, outbox_id)` for the events, or None when there are none."""
        if not events:
            return None
        entries = [
            {
                "s": event.source,
                "t": event.detail_type,
                "d": json.loads(envelope_json(event, self._new_id())),
            }
            for event in events
        ]
        return json.dumps(entries, separators=(",", ":")), self._new_id()


def entries_of(record: Mapping[str, Any], bus_name: str) -> list[dict[str, Any]]:
    """The PutEvents entries a DynamoDB stream record carries (none for most records).

    An entry is published when an item gains a new `outbox_id`: on INSERT, or on MODIFY when
    the id differs from the old image's (a later write that leaves or removes the outbox
    publishes nothing again).
    """
    if record.get("eventName") not in ("INSERT", "MODIFY"):
        return []
    change = record.get("dynamodb") or {}
    new = change.get("NewImage") or {}
    old = change.get("OldImage") or {}
    outbox_id = new.get("outbox_id")
    if outbox_id is None or old.get("outbox_id") == outbox_id:
        return []
    return [
        {
            "Source": entry["s"],
            "DetailType": entry["t"],
            "Detail": json.dumps(entry["d"], separators=(",", ":")),
            "EventBusName": bus_name,
            "Time": entry["d"]["metadata"]["occurred_at"],
        }
        for entry in json.loads(new["outbox"]["S"])
    ]
