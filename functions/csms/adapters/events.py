"""EventPublisher on EventBridge: one bus, `{metadata, data}` envelopes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from csms.domain.events import DomainEvent, EventEnvelope
from csms.services.ports import IdGenerator

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

logger = logging.getLogger(__name__)

# PutEvents takes at most 10 entries per request.
_BATCH = 10


def envelope_json(event: DomainEvent, event_id: str) -> str:
    """The EventBridge `detail` (and webhook body) of an event."""
    return EventEnvelope[Any].wrap(event, event_id).model_dump_json()


def entry_of(event: DomainEvent, bus_name: str, event_id: str) -> dict[str, Any]:
    """The PutEvents entry of an event (JSON-ready: it also travels through the outbox)."""
    return {
        "Source": event.source,
        "DetailType": event.detail_type,
        "Detail": envelope_json(event, event_id),
        "EventBusName": bus_name,
        "Time": event.occurred_at.isoformat(),
    }


class EventBridgePublisher:
    """Publishes to the bus; the client is created on first use (most messages need none)."""

    def __init__(
        self,
        bus_name: str,
        client_factory: Callable[[], EventBridgeClient],
        new_id: IdGenerator,
    ) -> None:
        self._bus = bus_name
        self._factory = client_factory
        self._client: EventBridgeClient | None = None
        self._new_id = new_id

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Publish in order; entries that still fail after one retry are logged."""
        entries = [entry_of(event, self._bus, self._new_id()) for event in events]
        for entry in self.put_entries(entries):
            logger.error(
                "event not published",
                extra={"detail_type": entry["DetailType"], "source": entry["Source"]},
            )

    def put_entries(self, entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Put ready entries in batches of ten, retrying failures once; return what failed."""
        failed_all: list[dict[str, Any]] = []
        for start in range(0, len(entries), _BATCH):
            batch = list(entries[start : start + _BATCH])
            failed = self._put(batch)
            if failed:
                failed = self._put(failed)
            failed_all.extend(failed)
        return failed_all

    def _put(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self._client is None:
            self._client = self._factory()
        response = self._client.put_events(Entries=batch)  # type: ignore[arg-type]
        if not response.get("FailedEntryCount"):
            return []
        return [
            entry
            for entry, result in zip(batch, response["Entries"], strict=False)
            if result.get("ErrorCode")
        ]
