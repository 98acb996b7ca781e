"""Usage reports through the API handler, on moto (sessions and CDRs as the adapters store them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.integration.billing_world import store_paid_receipt
from tests.integration.conftest import http_event, invoke_api
from tests.integration.test_api import CLAIMS, call_api

from csms.adapters.dynamo_sessions import DynamoSessionRepository
from csms.adapters.outbox import OutboxEncoder
from csms.adapters.system import new_uuid
from csms.domain.sessions import MeterMark, Session, SessionState
from csms.domain.station import ProtocolVersion
from csms.handlers import _runtime

REPORT = "/v1/reports/usage"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
VIEWER = {"sub": "v", "tenant_id": "default", "role": "viewer"}
OTHER = {"sub": "x", "tenant_id": "other", "role": "owner"}


@pytest.fixture
def world(aws: Any) -> None:
    """Two 10 kWh sessions at =CS-1 on 10 March (one billed) and one at CS-2 on 11 March."""
    del aws
    _runtime.reset()
    _runtime.api()  # configures the table
    sessions = DynamoSessionRepository(OutboxEncoder(new_uuid))
    for session_id, station, day in (("S1", "=CS-1", 10), ("S2", "=CS-1", 10), ("S3", "CS-2", 11)):
        start = datetime(2026, 3, day, 8, tzinfo=UTC)
        stop = start + timedelta(hours=1)
        assert sessions.create(
            Session(
                id=session_id,
                tenant_id="default",
                station_id=station,
                transaction_id=session_id,
                protocol=ProtocolVersion.OCPP201,
                site_id="site-1",
                state=SessionState.ENDED,
                started_at=start,
                stopped_at=stop,
                meter_start=MeterMark(wh=Decimal(0), at=start),
                meter_last=MeterMark(wh=Decimal(10_000), at=stop),
                updated_at=stop,
            )
        )
    store_paid_receipt(
        "default", "S1", site_id="site-1", ended=datetime(2026, 3, 10, 9, tzinfo=UTC)
    )


def test_usage_report_by_station_and_day_as_json_and_csv(world: None) -> None:
    # GIVEN the world's sessions
    # WHEN March is reported by station and day as JSON and CSV, to a viewer, another tenant
    status, _, report = call_api("GET", REPORT, query={**MARCH, "by": "station", "period": "day"})
    csv_status, headers, text = invoke_api(
        http_event(
            "GET",
            REPORT,
            claims=CLAIMS,
            query={**MARCH, "by": "station", "period": "day", "format": "csv"},
        )
    )
    _, _, viewed = call_api(
        "GET", REPORT, query={**MARCH, "by": "station", "period": "month"}, claims=VIEWER
    )
    _, _, foreign = call_api(
        "GET", REPORT, query={**MARCH, "by": "station", "period": "day"}, claims=OTHER
    )

    # THEN rows per station and day with sessions, energy and the billed session's revenue
    assert status == 200
    assert [(r["key"], r["period"], r["sessions"], r["energyKwh"]) for r in report["rows"]] == [
        ("=CS-1", "2026-03-10", 2, "20.000"),
        ("CS-2", "2026-03-11", 1, "10.000"),
    ]
    first = report["rows"][0]
    assert first["revenue"] == [{"currency": "EUR", "exclTax": "2.52", "inclTax": "3.00"}]
    assert first["peakKw"] == "20.000"
    assert first["averageDurationMin"] == "60.00"
    assert (report["totals"]["sessions"], report["co2KgPerKwh"]) == (3, "0.947")
    # AND the CSV defuses the formula-like station id, one line per currency
    assert csv_status == 200
    assert (
        'filename="usage-station-day-2026-03-01-2026-03-31.csv"' in headers["content-disposition"]
    )
    lines = text.split("\r\n")
    assert lines[0].startswith("by,key,period,start,end,sessions,energyKwh,currency,")
    assert lines[1].startswith("station,'=CS-1,2026-03-10,")
    assert ",EUR,2.52,3.00," in lines[1]
    assert ",,,," in lines[2]  # CS-2 earned nothing: no currency, no revenue
    # AND a viewer sees usage without money, another tenant nothing at all
    assert viewed["rows"][0]["revenue"] is None
    assert viewed["totals"]["revenue"] is None
    assert foreign["rows"] == []


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ({"from": "2026-03-31", "to": "2026-03-01"}, "before"),
        ({"from": "2025-01-01", "to": "2026-03-01"}, "366 days"),
        ({**MARCH, "period": "year"}, "period"),
    ],
)
def test_usage_report_refuses_absurd_queries(world: None, query: dict[str, str], why: str) -> None:
    # GIVEN the world
    # WHEN a report is asked for backwards, over more than a year, or by an unknown period
    status, _, problem = call_api("GET", REPORT, query={"by": "site", "period": "day", **query})
    # THEN a 400 problem says which parameter is wrong
    assert status == 400
    assert problem["type"].endswith("invalid-request")
    assert why in str(problem["errors"])
