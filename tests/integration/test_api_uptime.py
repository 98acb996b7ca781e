"""Uptime through the HTTP API on moto: the history read back by key, exclusions, the report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.integration.conftest import seed_station
from tests.integration.test_api import CLAIMS, call_api

from csms.adapters.dynamo_uptime import DynamoExclusionRepository
from csms.domain.connection import ConnectionLogEntry, ConnectionOutcome, RefusalReason
from csms.domain.connector import ConnectorStatus, EvseRef, StatusReport
from csms.handlers import _runtime

MARCH = datetime(2025, 3, 1, tzinfo=UTC)


def _status(runtime: _runtime.Runtime, at: datetime, status: ConnectorStatus) -> None:
    report = StatusReport(evse=EvseRef(evse_id=1, connector_id=1), status=status, timestamp=at)
    runtime.statuses.apply("CP-1", "default", report)


def _link(runtime: _runtime.Runtime, at: datetime, outcome: ConnectionOutcome, conn: str) -> None:
    reason = RefusalReason.BAD_CREDENTIALS if outcome is ConnectionOutcome.REFUSED else None
    runtime.connection_log.append(
        ConnectionLogEntry(
            station_id="CP-1", at=at, outcome=outcome, connection_id=conn, reason=reason
        )
    )


@pytest.fixture
def history(runtime: _runtime.Runtime) -> _runtime.Runtime:
    """CP-1 seen since 20 February 2025; in March a 6 h fault, a 2-hour cut and a 1 h outage."""
    seed_station(runtime, "CP-1")
    seed_station(runtime, "CP-2", tenant="other")
    day = timedelta(days=1)
    _status(runtime, MARCH - 9 * day, ConnectorStatus.AVAILABLE)
    _link(runtime, MARCH - 9 * day, ConnectionOutcome.CONNECTED, "c0")
    _link(runtime, MARCH - day, ConnectionOutcome.REFUSED, "r0")
    _status(runtime, MARCH + 9 * day, ConnectorStatus.FAULTED)
    _status(runtime, MARCH + 9 * day + timedelta(hours=6), ConnectorStatus.AVAILABLE)
    _link(runtime, MARCH + 19 * day, ConnectionOutcome.DISCONNECTED, "c0")
    _link(runtime, MARCH + 19 * day + timedelta(seconds=40), ConnectionOutcome.CONNECTED, "c1")
    _link(runtime, MARCH + 24 * day, ConnectionOutcome.DISCONNECTED, "c1")
    _link(runtime, MARCH + 24 * day + timedelta(hours=1), ConnectionOutcome.CONNECTED, "c2")
    return runtime


def _exclusion(**over: Any) -> dict[str, Any]:
    return {
        "stationId": "CP-1",
        "category": "electric-utility-interruption",
        "reason": "feeder fault, utility ticket 881",
        "start": "2025-03-10T00:00:00Z",
        "end": "2025-03-10T03:00:00Z",
        **over,
    }


def test_uptime_api_counts_march_from_the_stored_history(history: _runtime.Runtime) -> None:
    # GIVEN a 3-hour utility exclusion recorded over the start of the fault
    status, headers, made = call_api("POST", "/v1/uptime/exclusions", body=_exclusion())
    assert status == 201, made
    assert {k.lower(): v for k, v in headers.items()}[
        "location"
    ] == f"/v1/uptime/exclusions/{made['id']}"
    # WHEN March is asked for
    status, _, body = call_api(
        "GET",
        "/v1/uptime",
        query={"stationId": "CP-1", "from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z"},
    )
    # THEN the fault (less the excluded part) and the 1-hour outage are down; the 2-hour cut not
    assert status == 200, body
    (port,) = body["stations"][0]["ports"]
    assert port["evseId"] == 1
    assert port["total"] == {
        "minutesUp": 44_640 - 420,
        "minutesDown": 240,
        "minutesExcluded": 180,
        "minutesObserved": 44_640,
        "uptimePercent": 99.46,
        "meetsNevi": True,
    }
    assert [m["month"] for m in body["months"]] == ["2025-03"]
    # AND the site's figures are the station's (its only one)
    status, _, site = call_api(
        "GET",
        "/v1/uptime",
        query={"siteId": "site-1", "from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z"},
    )
    assert status == 200, site
    assert site["total"] == port["total"]
    assert site["timezone"] == "UTC"


def test_uptime_api_refuses_bad_queries_and_bodies(history: _runtime.Runtime) -> None:
    # GIVEN queries over absurd ranges, without a target, and bodies without a reason
    march = {"from": "2025-03-01T00:00:00Z"}
    cases = [
        ("GET", {"stationId": "CP-1", **march, "to": "2026-06-01T00:00:00Z"}, None),
        ("GET", {"stationId": "CP-1", **march, "to": "2025-02-01T00:00:00Z"}, None),
        ("GET", {"stationId": "CP-1", "siteId": "site-1"}, None),
        ("POST", None, _exclusion(reason="")),
        ("POST", None, _exclusion(reason="   ")),
        ("POST", None, _exclusion(end="2025-03-09T00:00:00Z")),
        ("POST", None, _exclusion(category="bad-luck")),
        ("POST", None, _exclusion(evseIds=[0])),
    ]
    for method, query, body in cases:
        path = "/v1/uptime" if method == "GET" else "/v1/uptime/exclusions"
        # WHEN sent
        status, _, answer = call_api(method, path, query=query, body=body)
        # THEN each is a 400 problem that names what is wrong
        assert status == 400, (query, body, answer)
        assert answer["type"].endswith("invalid-request")
        assert answer["errors"]
    # AND another tenant's station is not found, nor referenced
    other = {**CLAIMS, "tenant_id": "other"}
    assert call_api("GET", "/v1/uptime", query={"stationId": "CP-1"}, claims=other)[0] == 404
    status, _, _ = call_api("POST", "/v1/uptime/exclusions", body=_exclusion(), claims=other)
    assert status == 422


def test_uptime_api_exclusions_round_trip_and_quarter_report(history: _runtime.Runtime) -> None:
    # GIVEN a recorded exclusion
    _, _, made = call_api("POST", "/v1/uptime/exclusions", body=_exclusion(evseIds=[1]))
    path = f"/v1/uptime/exclusions/{made['id']}"
    # WHEN read, listed, deleted and read again
    got = call_api("GET", path)
    listed = call_api("GET", "/v1/uptime/exclusions", query={"stationId": "CP-1"})
    deleted = call_api("DELETE", path)
    gone = call_api("GET", path)
    # THEN it round-trips and is gone after the delete
    assert got[0] == 200
    assert got[2]["evseIds"] == [1]
    assert got[2]["createdBy"] == "op-1"
    assert [e["id"] for e in listed[2]["items"]] == [made["id"]]
    assert deleted[0] == 204
    assert gone[0] == 404
    assert gone[2]["type"].endswith("uptime-exclusion-not-found")
    # AND a delete that finds nothing says so
    assert not DynamoExclusionRepository().delete("default", made["id"])
    # WHEN the first quarter is reported as CSV
    status, headers, _ = call_api("GET", "/v1/uptime/report", query={"quarter": "2025-Q1"})
    event_status, csv_headers, text = _csv_report()
    # THEN one row for the port, observed since it was first seen
    assert status == 200
    assert event_status == 200
    assert {k.lower(): v for k, v in csv_headers.items()}["content-type"].startswith("text/csv")
    lines = text.strip().splitlines()
    assert lines[0].startswith("portId,stationId,evseId,siteId")
    assert len(lines) == 2
    assert lines[1].startswith("CP-1:1,CP-1,1,site-1,UTC")
    del headers


def _csv_report() -> tuple[int, dict[str, str], str]:
    from tests.integration.conftest import http_event, invoke_api

    event = http_event(
        "GET", "/v1/uptime/report", claims=CLAIMS, query={"quarter": "2025-Q1", "format": "csv"}
    )
    return invoke_api(event)
