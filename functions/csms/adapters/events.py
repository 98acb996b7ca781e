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


class EventBridgePublisher:
    """Publishes domain events; the client is created on first use (Heartbeat needs none)."""

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
        """Publish in order, in batches of ten; retry failed entries once, then log them."""
        if not events:
            return
        if self._client is None:
            self._client = self._factory()
        entries = [
            {
                "Source": event.source,
                "DetailType": event.detail_type,
                "Detail": envelope_json(event, self._new_id()),
                "EventBusName": self._bus,
                "Time": event.occurred_at,
            }
            for event in events
        ]
        for start in range(0, len(entries), _BATCH):
            batch = entries[start : start + _BATCH]
            failed = self._put(batch)
            if failed:
                failed = self._put(failed)
            for entry in failed:
                logger.error(
                    "event not published",
                    extra={"detail_type": entry["DetailType"], "source": entry["Source"]},
                )

    def _put(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert self._client is not None  # noqa: S101 - set by publish()
        response = self._client.put_events(Entries=batch)  # type: ignore[arg-type]
        if not response.get("FailedEntryCount"):
            return []
        return [
            entry
            for entry, result in zip(batch, response["Entries"], strict=False)
            if result.get("ErrorCode")
        ]
