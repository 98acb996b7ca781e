"""The outbox: which stream records carry events, and how the relay reports failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from csms.adapters.outbox import OutboxEncoder, entries_of
from csms.domain.events import StationConnected
from csms.domain.station import ProtocolVersion

EVENT = StationConnected(
    station_id="CP-1",
    tenant_id="t",
    occurred_at=datetime(2026, 11, 24, tzinfo=UTC),
    connection_id="c1",
    protocol=ProtocolVersion.OCPP16,
)


def _record(name: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None) -> Any:
    change: dict[str, Any] = {"SequenceNumber": "1"}
    if new is not None:
        change["NewImage"] = new
    if old is not None:
        change["OldImage"] = old
    return {"eventName": name, "dynamodb": change}


def _image(outbox: str, outbox_id: str) -> dict[str, Any]:
    return {"outbox": {"S": outbox}, "outbox_id": {"S": outbox_id}}


def test_outbox_encoder_writes_ready_entries_with_a_fresh_id() -> None:
    # GIVEN an encoder with predictable ids
    ids = iter(["e-1", "o-1"])
    encoder = OutboxEncoder(lambda: next(ids))
    # WHEN events are encoded, and when there are none
    encoded = encoder.encode([EVENT])
    # THEN the relay turns it into PutEvents entries with the envelope, and no events make
    # no outbox
    assert encoded is not None
    outbox, outbox_id = encoded
    [entry] = entries_of(_record("INSERT", _image(outbox, outbox_id)), "bus")
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        "csms.stations",
        "StationConnected",
        "bus",
    )
    assert json.loads(entry["Detail"])["metadata"]["event_id"] == "e-1"
    assert entry["Time"] == "2026-11-24T00:00:00Z"
    assert outbox_id == "o-1"
    assert encoder.encode([]) is None


def test_entries_of_publishes_only_a_new_outbox() -> None:
    outbox = OutboxEncoder(lambda: "x").encode([EVENT])
    assert outbox is not None
    image = _image(*outbox)
    # An insert with an outbox, and a modify that brings a new outbox id, publish
    assert len(entries_of(_record("INSERT", image), "bus")) == 1
    assert len(entries_of(_record("MODIFY", image, _image(outbox[0], "older")), "bus")) == 1
    # A modify that keeps the id, one that removed the outbox, a delete, or a plain item: none
    assert entries_of(_record("MODIFY", image, image), "bus") == []
    assert entries_of(_record("MODIFY", {"PK": {"S": "a"}}, image), "bus") == []
    assert entries_of(_record("REMOVE", None, image), "bus") == []
    assert entries_of(_record("INSERT", {"PK": {"S": "a"}}), "bus") == []


def test_relay_reports_the_first_failed_record_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a relay whose bus refuses every entry
    from tests.integration.conftest import Ctx

    from csms.handlers import _runtime, stream_outbox

    monkeypatch.setenv("CSMS_TABLE_NAME", "csms-test")
    monkeypatch.setenv("CSMS_EVENT_BUS_NAME", "bus")
    _runtime.reset()
    published: list[list[dict[str, Any]]] = []

    def refuse(self: Any, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        published.append(entries)
        return list(entries)

    monkeypatch.setattr("csms.adapters.events.EventBridgePublisher.put_entries", refuse)
    outbox = OutboxEncoder(lambda: "x").encode([EVENT])
    assert outbox is not None
    records = [
        {
            "eventName": "INSERT",
            "dynamodb": {"SequenceNumber": "10", "NewImage": {"PK": {"S": "a"}}},
        },
        {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "11", "NewImage": _image(*outbox)}},
        {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "12", "NewImage": _image(*outbox)}},
    ]
    # WHEN a batch arrives
    result = stream_outbox.lambda_handler({"Records": records}, Ctx())
    # THEN it is retried from the first record that failed, and nothing after it was tried
    assert result == {"batchItemFailures": [{"itemIdentifier": "11"}]}
    assert len(published) == 1
    _runtime.reset()
