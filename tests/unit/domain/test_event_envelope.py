"""Domain events and their `{metadata, data}` envelope."""

from __future__ import annotations

from typing import Any

from tests.fakes import T0

from csms.domain.connector import ConnectorStatus, EvseRef
from csms.domain.events import (
    EVENT_TYPES,
    ConnectorStatusChanged,
    EventEnvelope,
    StationConnected,
)
from csms.domain.station import ProtocolVersion


def test_event_envelope_wrap_copies_metadata_from_the_event() -> None:
    # GIVEN an event
    event = StationConnected(
        station_id="CP-1",
        tenant_id="tenant-a",
        occurred_at=T0,
        connection_id="conn-1",
        protocol=ProtocolVersion.OCPP16,
    )
    # WHEN wrapped
    envelope = EventEnvelope[Any].wrap(event, "evt-1")
    # THEN the metadata names the event and the data is the event itself
    assert envelope.metadata.event_id == "evt-1"
    assert envelope.metadata.event_version == "1"
    assert envelope.metadata.occurred_at == T0
    assert envelope.metadata.tenant_id == "tenant-a"
    assert envelope.metadata.station_id == "CP-1"
    assert envelope.data is event


def test_event_envelope_json_keeps_every_field_of_the_subclass() -> None:
    # GIVEN a status change event
    event = ConnectorStatusChanged(
        station_id="CP-1",
        tenant_id="tenant-a",
        occurred_at=T0,
        evse=EvseRef(evse_id=1, connector_id=1),
        status=ConnectorStatus.FAULTED,
        error_code="GroundFailure",
    )
    # WHEN wrapped and serialised
    body = EventEnvelope.wrap(event, "evt-2").model_dump(mode="json")
    # THEN the subclass fields travel too, and times are ISO strings
    assert body["data"]["evse"] == {"evse_id": 1, "connector_id": 1}
    assert body["data"]["status"] == "Faulted"
    assert "previous_status" not in body["data"]
    assert body["data"]["error_code"] == "GroundFailure"
    assert body["metadata"]["occurred_at"] == "2026-11-24T08:00:00Z"


def test_event_types_have_distinct_detail_types_and_known_sources() -> None:
    # GIVEN every published event type
    # WHEN / THEN each has its own detail type, under csms.stations, csms.sessions, csms.load,
    # csms.billing or csms.alerts
    detail_types = [t.detail_type for t in EVENT_TYPES]
    assert len(set(detail_types)) == len(detail_types)
    assert {t.source for t in EVENT_TYPES} == {
        "csms.stations",
        "csms.sessions",
        "csms.load",
        "csms.billing",
        "csms.alerts",
    }
    assert detail_types == [t.__name__ for t in EVENT_TYPES]
