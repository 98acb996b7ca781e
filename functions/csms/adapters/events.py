"""EventBridge: the `{metadata, data}` envelope, and putting the outbox relay's entries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from csms.domain.events import DomainEvent, EventEnvelope

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient


# PutEvents takes at most 10 entries per request.
_BATCH = 10


def envelope_json(event: DomainEvent, event_id: str) -> str:
    """The EventBridge `detail` (and webhook body) of an event."""
    return EventEnvelope[Any].wrap(event, event_id).model_dump_json()


class EventBridgePublisher:
    """Puts entries on the bus for the outbox relay; the client is created on first use."""

    def __init__(
        self,
        bus_name: str,
        client_factory: Callable[[], EventBridgeClient],
    ) -> None:
        self._bus = bus_name
        self._factory = client_factory
        self._client: EventBridgeClient | None = None

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
