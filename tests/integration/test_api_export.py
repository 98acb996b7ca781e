"""Data export on moto: every kind, both formats, pages linked until the end, tenant-scoped."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.integration.test_api_audit import ADMIN, OTHER_ADMIN, SITE, call
from tests.integration.test_api_sessions import (  # noqa: F401 - the fixture
    Sessions,
    sessions,
)

from csms.handlers import api_export
from csms_local import emulation, export

OPERATOR = {"sub": "op-2", "tenant_id": "default", "role": "operator"}


def export_all(
    kind: str, fmt: str = "jsonl", limit: int | None = None, claims: dict[str, Any] = ADMIN
) -> list[tuple[str, str]]:
    """Every page of an export, following `Link` headers: (content type, body) per page."""
    query: dict[str, str] | None = {"format": fmt, **({"limit": str(limit)} if limit else {})}
    pages: list[tuple[str, str]] = []
    for _ in range(200):
        status, headers, body = call("GET", f"/v1/export/{kind}", query=query, claims=claims)
        assert status == 200, body
        pages.append((headers["content-type"], body))
        link = headers.get("link")
        if link is None:
            return pages
        match = re.fullmatch(r'<(/v1/export/[^>]+)>; rel="next"', link)
        assert match, link
        url = urlsplit(match.group(1))
        assert url.path == f"/v1/export/{kind}"
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
    raise AssertionError("the export does not end")


def jsonl_records(pages: list[tuple[str, str]]) -> list[dict[str, Any]]:
    records = []
    for content_type, body in pages:
        assert content_type == "application/x-ndjson"
        assert body == "" or body.endswith("\n")
        records += [json.loads(line) for line in body.splitlines()]
    return records


def csv_rows(pages: list[tuple[str, str]]) -> tuple[list[str], list[dict[str, str]]]:
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    for content_type, body in pages:
        assert content_type == "text/csv; charset=utf-8"
        reader = csv.reader(io.StringIO(body))
        page_header = next(reader)
        assert header is None or page_header == header  # every page: the same header row
        header = page_header
        rows += [dict(zip(page_header, row, strict=True)) for row in reader]
    assert header is not None
    return header, rows


@pytest.fixture
def drivers(sessions: Sessions) -> Sessions:  # noqa: F811 - the fixture imported above
    """Sessions plus a site with an address, a driver group and a vehicle of tenant default."""
    assert call("POST", "/v1/sites", body=SITE)[0] == 201
    group = {"id": "vans", "name": "Vans", "kind": "fleet"}
    assert call("POST", "/v1/groups", body=group)[0] == 201
    vehicle = {"id": "van-7", "name": "Van 7", "groupId": "vans", "batteryKwh": 75}
    assert call("POST", "/v1/vehicles", body=vehicle)[0] == 201
    return sessions


def test_export_jsonl_gives_each_kind_in_its_api_representation(drivers: Sessions) -> None:
    # WHEN every kind is exported as JSON Lines
    got = {kind.value: jsonl_records(export_all(kind.value)) for kind in api_export.ExportKind}
    # THEN each holds the tenant's records as the API shows them
    assert {s["id"] for s in got["stations"]} == {"CP-16", "CP-201"}
    assert {s["id"] for s in got["sites"]} == {"site-1", "site-2", "depot-north"}
    assert {t["idToken"] for t in got["tokens"]} == {"TAG-1", "TAG-2"}
    assert [g["id"] for g in got["groups"]] == ["vans"]
    assert [v["id"] for v in got["vehicles"]] == ["van-7"]
    assert [s["id"] for s in got["sessions"]] == [drivers.c, drivers.b, drivers.a]
    _, _, listed = call("GET", "/v1/sessions")
    assert got["sessions"] == listed["items"]
    # AND meter values come one row per sample, as many as the sessions' own readings hold
    for sid in (drivers.a, drivers.b):
        _, _, readings = call("GET", f"/v1/sessions/{sid}/meter-values", query={"limit": "100"})
        expected = [
            (r["timestamp"], s["measurand"], s["phase"], s["value"], s["unit"])
            for r in readings["items"]
            for s in r["samples"]
        ]
        rows = [
            (m["timestamp"], m["measurand"], m["phase"], m["value"], m["unit"])
            for m in got["meter-values"]
            if m["sessionId"] == sid
        ]
        assert sorted(rows, key=str) == sorted(expected, key=str)
        assert expected
    row = next(m for m in got["meter-values"] if m["sessionId"] == drivers.b)
    assert (row["stationId"], row["evseId"], row["connectorId"]) == ("CP-201", 2, 1)


def test_export_csv_has_a_header_row_and_flattened_columns(drivers: Sessions) -> None:
    # WHEN sites and meter values are exported as CSV
    header, sites = csv_rows(export_all("sites", "csv"))
    # THEN nested objects are dotted columns and empty values empty cells
    assert {"address.city", "address.street", "timezone"} <= set(header)
    assert "address" not in header
    by_id = {row["id"]: row for row in sites}
    assert set(by_id) == {"site-1", "site-2", "depot-north"}
    assert (by_id["depot-north"]["address.city"], by_id["depot-north"]["limitKw"]) == (
        "Hamburg",
        "250",
    )
    assert (by_id["site-1"]["address.city"], by_id["site-1"]["limitKw"]) == ("", "50")
    header, rows = csv_rows(export_all("meter-values", "csv"))
    assert header == [
        "sessionId",
        "stationId",
        "evseId",
        "connectorId",
        "timestamp",
        "measurand",
        "phase",
        "value",
        "unit",
        "context",
    ]
    assert len(rows) == len(jsonl_records(export_all("meter-values")))
    assert any(row["phase"] == "" for row in rows)
    _, vehicles = csv_rows(export_all("vehicles", "csv"))
    assert vehicles[0]["id"] == "van-7"


@pytest.mark.parametrize("kind", ["tokens", "sessions", "meter-values"])
def test_export_pages_follow_links_without_loss_or_repeat(drivers: Sessions, kind: str) -> None:
    # GIVEN the export in one page and in pages of one record
    whole = jsonl_records(export_all(kind))
    paged_pages = export_all(kind, limit=1)
    # THEN following the links gives the same records, in the same order
    assert jsonl_records(paged_pages) == whole
    assert len(paged_pages) > 1
    # AND CSV pages follow the same way
    _, rows = csv_rows(export_all(kind, "csv", limit=2))
    assert len(rows) == len(whole)


def test_export_resumes_inside_sessions_and_across_pages_of_sessions(
    drivers: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the exports read with the usual page sizes
    whole = jsonl_records(export_all("meter-values"))
    tokens = jsonl_records(export_all("tokens"))
    # WHEN sessions are read two at a time, chunks one at a time, the underlying lists one
    # item at a time, and a request may read only one session
    monkeypatch.setattr(api_export, "_SESSION_PAGE", 2)
    monkeypatch.setattr(api_export, "_CHUNK_PAGE", 1)
    monkeypatch.setattr(api_export, "_INNER_PAGE", 1)
    for limit in (1, 3, 1000):
        # THEN every page size gives the same rows in the same order
        assert jsonl_records(export_all("meter-values", limit=limit)) == whole
    assert jsonl_records(export_all("tokens", limit=1000)) == tokens
    monkeypatch.setattr(api_export, "_MAX_SESSIONS_PER_REQUEST", 1)
    pages = export_all("meter-values", limit=1000)
    assert jsonl_records(pages) == whole
    assert len(pages) >= 3  # one per session


def test_export_is_scoped_to_the_tenant_and_needs_the_permission(drivers: Sessions) -> None:
    # WHEN the other tenant exports THEN it gets its own data only
    assert [s["id"] for s in jsonl_records(export_all("stations", claims=OTHER_ADMIN))] == ["CP-X"]
    assert [s["id"] for s in jsonl_records(export_all("sessions", claims=OTHER_ADMIN))] == [
        drivers.x
    ]
    other_rows = jsonl_records(export_all("meter-values", claims=OTHER_ADMIN))
    assert {r["sessionId"] for r in other_rows} <= {drivers.x}
    # AND an operator or a site-restricted admin may not export
    for claims in (OPERATOR, {**ADMIN, "sites": ["site-1"]}):
        status, _, problem = call("GET", "/v1/export/tokens", claims=claims)
        assert (status, problem["type"]) == (403, "/problems/forbidden")


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/export/users", {}),
        ("/v1/export/tokens", {"format": "xml"}),
        ("/v1/export/tokens", {"limit": "0"}),
        ("/v1/export/tokens", {"limit": "5001"}),
        ("/v1/export/tokens", {"cursor": "bogus"}),
        ("/v1/export/meter-values", {"cursor": "bogus"}),
        ("/v1/export/meter-values", {"cursor": "mv.bm90IGpzb24"}),
        ("/v1/export/meter-values", {"cursor": "mv.WzFd"}),
        ("/v1/export/meter-values", {"cursor": "mv.eyJzIjpudWxsLCJpIjo5OSwiYyI6bnVsbH0"}),
        ("/v1/export/meter-values", {"cursor": "mv.eyJzIjogbnVsbCwgImkiOiA1LCAiYyI6IG51bGx9"}),
    ],
)
def test_export_refuses_bad_parameters_with_400(
    aws: emulation.EmulatedResources, path: str, query: dict[str, str]
) -> None:
    status, _, problem = call("GET", path, query=query)
    assert status == 400, problem
    assert problem["type"] in ("/problems/invalid-request", "/problems/invalid-cursor")


def test_export_cli_writes_every_kind_through_the_api_handler(
    drivers: Sessions, tmp_path: Path
) -> None:
    # GIVEN the CLI talks to the API handler (instead of a socket)
    def fetch(url: str, headers: dict[str, str]) -> export.Answer:
        assert headers["Authorization"] == "Bearer local-token"
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        status, answer_headers, body = call("GET", parts.path, query=query)
        text = body if isinstance(body, str) else json.dumps(body)
        return export.Answer(status, answer_headers, text.encode())

    # WHEN every kind is exported as CSV in small pages
    written = export.export(
        "http://127.0.0.1:8000", "local-token", tmp_path, fmt="csv", limit=2, fetch=fetch
    )
    # THEN one file per kind holds every record under one header row
    assert [w.path.name for w in written] == [f"{k}.csv" for k in export.KINDS]
    by_kind = {w.kind: w for w in written}
    assert by_kind["sessions"].records == 3
    assert by_kind["tokens"].records == 2
    with (tmp_path / "meter-values.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == by_kind["meter-values"].records > 0
    assert {row["sessionId"] for row in rows} <= {drivers.a, drivers.b, drivers.c}


def test_export_refuses_a_cursor_of_another_kind_or_tenant(drivers: Sessions) -> None:
    status, headers, _ = call("GET", "/v1/export/tokens", query={"limit": "1"})
    link = headers["link"]
    cursor = parse_qs(urlsplit(link[1 : link.index(">")]).query)["cursor"][0]
    for path, claims in (("/v1/export/sessions", ADMIN), ("/v1/export/tokens", OTHER_ADMIN)):
        status, _, problem = call("GET", path, query={"cursor": cursor}, claims=claims)
        assert (status, problem["type"]) == (400, "/problems/invalid-cursor")
