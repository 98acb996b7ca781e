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
from csms.domain.events import EVENT_TYPES, DomainEvent
from csms.services.ports import IdGenerator

# Detail type -> event class: the relay rebuilds each event from its compact form.
_EVENT_CLASSES: dict[str, type[DomainEvent]] = {cls.detail_type: cls for cls in EVENT_TYPES}


class OutboxEncoder:
    """Turns events into the `outbox` attribute value (and a fresh `outbox_id`).

    Compact, since it rides in items that are billed per KB (a meter chunk with its event must
    stay under 1 KB): per event only its detail type, its id and the fields that differ from
    their defaults; the relay rebuilds the event and its full `{metadata, data}` envelope.
    """

    def __init__(self, new_id: IdGenerator) -> None:
        self._new_id = new_id

    def encode(self, events: Sequence[DomainEvent]) -> tuple[str, str] | None:
        """`(outbox, outbox_id)` for the events, or None when there are none."""
        if not events:
            return None
        entries = [
            {
                "t": event.detail_type,
                "i": self._new_id(),
                "d": event.model_dump(mode="json", exclude_defaults=True),
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
    entries = []
    for entry in json.loads(new["outbox"]["S"]):
        cls = _EVENT_CLASSES[entry["t"]]
        event = cls.model_validate(entry["d"])
        detail = envelope_json(event, entry["i"])
        entries.append(
            {
                "Source": cls.source,
                "DetailType": cls.detail_type,
                "Detail": detail,
                "EventBusName": bus_name,
                "Time": json.loads(detail)["metadata"]["occurred_at"],
            }
        )
    return entries
