"""Billing reports and invoice PDFs through the API handler, on moto."""

from __future__ import annotations

import base64
import re
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.integration.billing_world import store_paid_receipt
from tests.integration.conftest import Ctx, http_event, invoke_api
from tests.integration.test_api import CLAIMS, call_api

from csms.handlers import _runtime, api

OTHER = {"sub": "x", "tenant_id": "other", "role": "owner"}
REPORT = "/v1/reports/billing"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
def billing(aws: Any) -> None:
    del aws
    _runtime.reset()


def _march(session: str, day: int, **over: Any) -> Any:
    return store_paid_receipt(
        "default", session, ended=datetime(2026, 3, day, 12, tzinfo=UTC), **over
    )


def test_report_sums_sessions_by_site_as_json_and_csv(billing: None) -> None:
    # GIVEN two 10 kWh sessions at site-1 and one at site-2 in March, one at site-1 in April
    _march("S1", 1, site_id="site-1")
    _march("S2", 31, site_id="site-1")
    _march("S3", 15, site_id="site-2", station_id="CS-2")
    store_paid_receipt(
        "default", "S4", site_id="site-1", ended=datetime(2026, 4, 1, 12, tzinfo=UTC)
    )

    # WHEN March is reported by site as JSON, by station as CSV (Accept), and to another tenant
    status, _, report = call_api("GET", REPORT, query={**MARCH, "by": "site"})
    csv_status, csv_headers, csv_text = invoke_api(
        http_event(
            "GET",
            REPORT,
            claims=CLAIMS,
            query={**MARCH, "by": "station"},
            headers={"Accept": "text/csv"},
        )
    )
    _, _, foreign = call_api("GET", REPORT, query={**MARCH, "by": "site"}, claims=OTHER)

    # THEN rows per site with Decimal sums, and a total
    assert status == 200
    assert (report["by"], report["from"], report["to"], report["timezone"]) == (
        "site",
        "2026-03-01",
        "2026-03-31",
        "UTC",
    )
    assert [
        (r["key"], r["sessions"], r["energyKwh"], r["costInclTax"]) for r in report["rows"]
    ] == [
        ("site-1", 2, "20", "6.00"),
        ("site-2", 1, "10", "3.00"),
    ]
    assert [(t["currency"], t["sessions"], t["costExclTax"]) for t in report["totals"]] == [
        ("EUR", 3, "7.56")
    ]
    # AND the CSV has a row per station and a total row, to download
    assert csv_status == 200
    assert csv_headers["content-type"].startswith("text/csv")
    assert (
        'filename="billing-station-2026-03-01-2026-03-31.csv"' in csv_headers["content-disposition"]
    )
    assert csv_text.split("\r\n")[:4] == [
        "by,key,currency,sessions,energyKwh,costExclTax,costInclTax",
        "station,CS-1,EUR,2,20,5.04,6.00",
        "station,CS-2,EUR,1,10,2.52,3.00",
        "station,total,EUR,3,30,7.56,9.00",
    ]
    # AND another tenant sees nothing of it
    assert foreign["rows"] == []


def test_report_by_department_follows_the_vehicle_of_the_token(billing: None) -> None:
    # GIVEN a fleet van of the logistics department that carries token TOK-1, and its session
    call_api("POST", "/v1/groups", body={"id": "vans", "name": "Vans", "kind": "fleet"})
    status, _, van = call_api(
        "POST",
        "/v1/vehicles",
        body={
            "id": "van-1",
            "name": "Van 1",
            "groupId": "vans",
            "batteryKwh": 60,
            "idTokens": ["TOK-1"],
            "department": "Logistics",
        },
    )
    _march("S1", 2, site_id="site-1")

    # WHEN March is reported by department and by vehicle, and by month in Berlin
    _, _, departments = call_api("GET", REPORT, query={**MARCH, "by": "department"})
    _, _, vehicles = call_api("GET", REPORT, query={**MARCH, "by": "vehicle", "format": "json"})
    _, _, months = call_api(
        "GET", REPORT, query={**MARCH, "by": "month", "timezone": "Europe/Berlin"}
    )

    # THEN the vehicle keeps its department, and the session is allocated to it
    assert status == 201
    assert van["department"] == "Logistics"
    assert [r["key"] for r in departments["rows"]] == ["Logistics"]
    assert [r["key"] for r in vehicles["rows"]] == ["van-1"]
    assert [r["key"] for r in months["rows"]] == ["2026-03"]


def test_report_shows_a_site_restricted_user_their_sites_only(billing: None) -> None:
    # GIVEN sessions at site-1 and site-9
    _march("S1", 1, site_id="site-1")
    _march("S9", 1, site_id="site-9")
    restricted = {**CLAIMS, "role": "operator", "sites": ["site-1"]}

    # WHEN an operator restricted to site-1 reports by site
    status, _, report = call_api("GET", REPORT, query={**MARCH, "by": "site"}, claims=restricted)

    # THEN only site-1
    assert status == 200
    assert [r["key"] for r in report["rows"]] == ["site-1"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"from": "2026-03-02", "to": "2026-03-01", "by": "site"}, "to"),
        ({"from": "2025-01-01", "to": "2026-01-02", "by": "site"}, "to"),
        ({**MARCH, "by": "site", "timezone": "Mars/Olympus"}, "timezone"),
        ({**MARCH, "by": "galaxy"}, "by"),
        ({"to": "2026-03-01", "by": "site"}, "from"),
        ({**MARCH, "by": "site", "format": "xls"}, "format"),
    ],
)
def test_report_refuses_bad_parameters_precisely(
    billing: None, query: dict[str, str], parameter: str
) -> None:
    # GIVEN a malformed report request
    # WHEN it is sent
    status, _, problem = call_api("GET", REPORT, query=query)

    # THEN 400 invalid-request naming the parameter
    assert (status, problem["type"]) == (400, "/problems/invalid-request")
    assert parameter in {error["location"].split(".")[-1] for error in problem["errors"]}


def _pdf_text(pdf: bytes) -> bytes:
    """Every content stream of the PDF, inflated."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, flags=re.DOTALL)
    out = b""
    for stream in streams:
        try:
            out += zlib.decompress(stream)
        except zlib.error:
            out += stream
    return out


def test_invoice_downloads_as_pdf_base64_encoded_for_the_gateway(billing: None) -> None:
    # GIVEN a paid receipt
    stored = store_paid_receipt("default", "S1", site_id="site-1")
    number = stored.invoice.display_number
    assert number is not None

    # WHEN it is asked for as PDF, by parameter and by Accept, and by another tenant
    by_param = api.lambda_handler(
        http_event(
            "GET", f"/v1/invoices/{stored.invoice_id}", claims=CLAIMS, query={"format": "pdf"}
        ),
        Ctx(),
    )
    by_accept = api.lambda_handler(
        http_event(
            "GET",
            f"/v1/invoices/{stored.invoice_id}",
            claims=CLAIMS,
            headers={"Accept": "application/pdf, application/json;q=0.5"},
        ),
        Ctx(),
    )
    foreign, _, problem = call_api(
        "GET", f"/v1/invoices/{stored.invoice_id}", query={"format": "pdf"}, claims=OTHER
    )

    # THEN a base64-encoded PDF, named by the invoice number, holding that number
    for answer in (by_param, by_accept):
        assert answer["statusCode"] == 200
        assert answer["isBase64Encoded"] is True
        headers = {k.lower(): v for k, v in answer["headers"].items()}
        assert headers["content-type"] == "application/pdf"
        assert f'filename="{number}.pdf"' in headers["content-disposition"]
        pdf = base64.b64decode(answer["body"])
        assert pdf.startswith(b"%PDF-")
        assert number.encode() in _pdf_text(pdf)
        assert b"Receipt" in _pdf_text(pdf)
    # AND another tenant is told it does not exist
    assert (foreign, problem["type"]) == (404, "/problems/invoice-not-found")


def test_invoice_accept_json_or_csv_still_answers_them(billing: None) -> None:
    # GIVEN a paid receipt
    stored = store_paid_receipt("default", "S1", site_id="site-1")
    path = f"/v1/invoices/{stored.invoice_id}"

    # WHEN asked for with Accept: text/csv, and with a PDF refused (q=0) among JSON
    csv_answer = invoke_api(http_event("GET", path, claims=CLAIMS, headers={"Accept": "text/csv"}))
    json_answer = invoke_api(
        http_event(
            "GET", path, claims=CLAIMS, headers={"Accept": "application/pdf;q=0, application/json"}
        )
    )

    # THEN CSV, and JSON
    assert csv_answer[1]["content-type"].startswith("text/csv")
    assert json_answer[1]["content-type"] == "application/json"
