"""Fault detection on moto: the detector and the sweep handlers, the table adapter, the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.integration.conftest import Ctx, connect_event, seed_station
from tests.integration.test_api import call_api

from csms.adapters.dynamo_alerts import AlertItem, DynamoAlertRepository, alert_pk
from csms.adapters.events import envelope_json
from csms.adapters.outbox import OutboxEncoder
from csms.adapters.system import new_uuid
from csms.domain.alerts import (
    Alert,
    AlertKey,
    AlertKind,
    Severity,
    Watch,
    WatchState,
    alert_id_of,
)
from csms.domain.connector import ConnectorStatus, EvseRef
from csms.domain.events import (
    ConnectorStatusChanged,
    DomainEvent,
    StationConnected,
    StationDisconnected,
)
from csms.domain.station import ProtocolVersion
from csms.handlers import _runtime, evt_alerts, sched_alerts, ws_connect, ws_disconnect


def bus_event(event: DomainEvent) -> dict[str, Any]:
    """The EventBridge event the rule delivers for a domain event."""
    return {
        "id": "evt-1",
        "source": event.source,
        "detail-type": event.detail_type,
        "detail": json.loads(envelope_json(event, new_uuid())),
    }


@pytest.fixture
def no_hold(runtime: _runtime.Runtime, monkeypatch: pytest.MonkeyPatch) -> _runtime.Runtime:
    """Zero grace and hold-down: a sweep right after an event finds it due (no waiting)."""
    monkeypatch.setenv("CSMS_ALERT_OFFLINE_GRACE_S", "0")
    monkeypatch.setenv("CSMS_ALERT_HOLD_DOWN_S", "0")
    _runtime.alerts.cache_clear()
    return runtime


def test_alerts_offline_station_opens_an_alert_the_api_shows_and_reconnect_closes(
    no_hold: _runtime.Runtime,
) -> None:
    # GIVEN CP-1 connected, then disconnected (the station item says offline)
    seed_station(no_hold, "CP-1")
    ws_connect.lambda_handler(connect_event("CP-1", connection_id="c-1"), Ctx())
    ws_disconnect.lambda_handler({"requestContext": {"connectionId": "c-1"}}, Ctx())
    went = datetime.now(UTC) - timedelta(seconds=1)
    disconnected = StationDisconnected(
        station_id="CP-1", tenant_id="default", occurred_at=went, connection_id="c-1"
    )
    # WHEN the detector sees the disconnect and the sweep runs
    watched = evt_alerts.lambda_handler(bus_event(disconnected), Ctx())
    swept = sched_alerts.lambda_handler({}, Ctx())
    # THEN an offline alert is open, at the station's site, and listed by the API
    assert watched == {"outcome": "watching"}
    assert swept == {"opened": 1, "closed": 0, "dropped": 0}
    status, _, page = call_api("GET", "/v1/alerts", query={"state": "open"})
    assert status == 200
    [alert] = page["items"]
    assert (alert["kind"], alert["stationId"], alert["siteId"]) == ("offline", "CP-1", "site-1")
    assert alert["state"] == "open"
    assert "evseId" not in alert or alert["evseId"] is None
    # AND the alert item carries AlertOpened in its outbox
    item = AlertItem.get(alert_pk("default"), alert["id"])
    assert item.outbox is not None
    assert "AlertOpened" in item.outbox

    # WHEN the station reconnects
    back = StationConnected(
        station_id="CP-1",
        tenant_id="default",
        occurred_at=datetime.now(UTC),
        connection_id="c-2",
        protocol=ProtocolVersion.OCPP16,
    )
    closed = evt_alerts.lambda_handler(bus_event(back), Ctx())
    # THEN the alert is closed, with AlertClosed in the same write
    assert closed == {"outcome": "closed"}
    status, _, shown = call_api("GET", f"/v1/alerts/{alert['id']}")
    assert status == 200
    assert shown["state"] == "closed"
    assert shown["closedAt"] is not None
    assert "AlertClosed" in (AlertItem.get(alert_pk("default"), alert["id"]).outbox or "")
    status, _, open_page = call_api("GET", "/v1/alerts", query={"state": "open"})
    assert open_page["items"] == []


def test_alerts_fault_not_faulted_in_the_store_is_dropped_by_the_sweep(
    no_hold: _runtime.Runtime,
) -> None:
    # GIVEN a Faulted event for a connector the store holds no fault for (a late event)
    seed_station(no_hold, "CP-1")
    faulted = ConnectorStatusChanged(
        station_id="CP-1",
        tenant_id="default",
        occurred_at=datetime.now(UTC) - timedelta(seconds=1),
        evse=EvseRef(evse_id=1, connector_id=1),
        status=ConnectorStatus.FAULTED,
        error_code="GroundFailure",
    )
    evt_alerts.lambda_handler(bus_event(faulted), Ctx())
    # WHEN the sweep confirms it
    swept = sched_alerts.lambda_handler({}, Ctx())
    # THEN nothing opens
    assert swept == {"opened": 0, "closed": 0, "dropped": 1}


def test_alerts_detector_drops_events_it_cannot_read(no_hold: _runtime.Runtime) -> None:
    # GIVEN / WHEN events of another type, or with a broken body
    other = evt_alerts.lambda_handler({"detail-type": "TransactionEnded", "detail": {}}, Ctx())
    broken = evt_alerts.lambda_handler(
        {"detail-type": "StationBooted", "detail": {"data": {"station_id": 7}}}, Ctx()
    )
    # THEN both are dropped without an error
    assert other == broken == {"outcome": "dropped"}


def test_alerts_marker_claim_is_won_once_and_lists_page_by_cursor(
    no_hold: _runtime.Runtime,
) -> None:
    # GIVEN the adapter and three stations' faults opened as alerts
    _runtime.alerts()  # configures the table
    repository = DynamoAlertRepository(OutboxEncoder(new_uuid))
    since = datetime(2026, 11, 1, 8, tzinfo=UTC)
    for n in range(3):
        key = AlertKey(
            tenant_id="default",
            station_id=f"CP-{n}",
            evse=EvseRef(evse_id=1, connector_id=1),
            kind=AlertKind.FAULTED,
        )
        watch = Watch(key=key, state=WatchState.PENDING, since=since, due_at=since)
        assert repository.watch(watch)
        # WHEN a second detector races for the same key
        # THEN it loses the claim
        assert not repository.watch(watch)
        assert [w.key for w in repository.due(since, 10)].count(key) == 1
    # AND pages of the API follow the cursor without repeats; a made-up cursor is refused
    for watch in repository.due(since, 10):
        alert = Alert(
            alert_id=alert_id_of(watch.key, watch.since),
            key=watch.key,
            site_id="site-1",
            severity=Severity.MAJOR,
            opened_at=watch.since,
        )
        assert repository.open(watch, alert, [])
    assert repository.due(since + timedelta(days=1), 10) == []
    status, _, first = call_api("GET", "/v1/alerts", query={"limit": "2"})
    status2, _, second = call_api(
        "GET", "/v1/alerts", query={"limit": "2", "cursor": first["nextCursor"]}
    )
    assert (status, status2) == (200, 200)
    ids = [a["id"] for a in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 3
    assert second.get("nextCursor") is None
    status, _, problem = call_api("GET", "/v1/alerts", query={"cursor": "bm90LWEtY3Vyc29y"})
    assert status == 400
    assert problem["type"].endswith("invalid-cursor")
    # AND a user restricted to another site sees none of them, and gets 404 for one
    restricted = {"sub": "u", "tenant_id": "default", "role": "viewer", "sites": ["site-9"]}
    status, _, page = call_api("GET", "/v1/alerts", claims=restricted)
    assert (status, page["items"]) == (200, [])
    status, _, _ = call_api("GET", f"/v1/alerts/{ids[0]}", claims=restricted)
    assert status == 404
    status, _, by_station = call_api("GET", "/v1/alerts", query={"stationId": "CP-1"})
    assert [a["stationId"] for a in by_station["items"]] == ["CP-1"]
