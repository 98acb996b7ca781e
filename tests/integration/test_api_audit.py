"""The audit log on moto: what mutating requests leave behind, refusals too, and never a secret."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from tests.integration.conftest import http_event, invoke_api, seed_station

from csms.adapters.dynamo_audit import DynamoAuditRepository
from csms.handlers import _runtime
from csms_local import emulation

ADMIN = {"sub": "op-1", "tenant_id": "default", "role": "admin"}
OTHER_ADMIN = {"sub": "op-9", "tenant_id": "other", "role": "admin"}
VIEWER = {"sub": "view-1", "tenant_id": "default", "role": "viewer"}
BEARER = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvcC0xIn0.c2lnbmF0dXJlLXNlY3JldA"
STATION_SECRET = "Audit-Secret-Pass-0099"


def call(
    method: str,
    path: str,
    *,
    claims: dict[str, Any] | None = ADMIN,
    query: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> tuple[int, dict[str, str], Any]:
    """The API handler as API Gateway calls it; JSON answers parsed, others as text."""
    if raw_body is None and body is not None:
        raw_body = json.dumps(body)
    event = http_event(
        method,
        path,
        claims=claims,
        query=query,
        headers=headers,
        body=raw_body,
        source_ip="198.51.100.7",
        request_id=f"req-{method}-{path}",
    )
    status, out_headers, text = invoke_api(event)
    payload: Any = text
    if out_headers.get("content-type", "").endswith(("/json", "+json")) and text:
        payload = json.loads(text)
    return status, out_headers, payload


def audit(claims: dict[str, Any] = ADMIN, **query: str) -> list[dict[str, Any]]:
    """The whole audit log the caller can read (following cursors), newest first."""
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(50):
        page_query = {**query, **({"cursor": cursor} if cursor else {})}
        status, _, body = call("GET", "/v1/audit", claims=claims, query=page_query)
        assert status == 200, body
        entries += body["items"]
        cursor = body["nextCursor"]
        if cursor is None:
            return entries
    raise AssertionError("the audit log does not end")


def audit_items(resources: emulation.EmulatedResources) -> list[dict[str, Any]]:
    """Every stored audit item, raw (tests may scan; the code never does)."""
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(resources.table_name)
    items = table.scan()["Items"]
    return [item for item in items if str(item["PK"]).startswith("AUDIT#")]


SITE = {
    "id": "depot-north",
    "name": "Depot North",
    "address": {"street": "Hafenstr. 1", "city": "Hamburg", "postalCode": "20457", "country": "DE"},
    "timezone": "Europe/Berlin",
    "limitKw": 250,
}


@pytest.fixture
def api_ready(aws: emulation.EmulatedResources) -> emulation.EmulatedResources:
    return aws


def test_audit_records_create_update_delete_with_before_and_after(
    api_ready: emulation.EmulatedResources,
) -> None:
    # GIVEN an admin creates, changes and deletes a site
    assert call("POST", "/v1/sites", body=SITE)[0] == 201
    assert call("PATCH", "/v1/sites/depot-north", body={"limitKw": 400})[0] == 200
    assert call("DELETE", "/v1/sites/depot-north")[0] == 204
    # WHEN the audit log is read
    entries = audit()
    # THEN it holds the three changes, newest first, with who, when, what, before and after
    assert [e["action"] for e in entries] == ["site.delete", "site.update", "site.create"]
    delete, update, create = entries
    assert create["before"] is None
    assert create["after"]["limitKw"] == 250
    assert update["before"]["limitKw"] == 250
    assert update["after"]["limitKw"] == 400
    assert "limitKw" in update["changedFields"]
    assert delete["after"] is None
    assert [e["status"] for e in entries] == [204, 200, 201]
    assert {e["outcome"] for e in entries} == {"Succeeded"}
    assert {(e["resourceKind"], e["resourceId"]) for e in entries} == {("site", "depot-north")}
    assert create["actor"] == {"subject": "op-1", "role": "admin", "sites": None}
    assert create["sourceIp"] == "198.51.100.7"
    assert create["requestId"] == "req-POST-/v1/sites"
    assert (create["method"], create["path"]) == ("POST", "/v1/sites")
    assert entries[0]["id"] > entries[1]["id"] > entries[2]["id"]  # UUIDv7: time-sortable
    assert datetime.fromisoformat(delete["at"]) >= datetime.fromisoformat(create["at"])


def test_audit_never_stores_a_password_or_a_bearer_token(
    runtime: _runtime.Runtime, api_ready: emulation.EmulatedResources
) -> None:
    # GIVEN a site, and a station registered (then its password rotated) with a bearer token
    seed_station(runtime, "CP-SEED")
    _runtime.reset()
    headers = {"Authorization": BEARER}
    station = {"id": "CP-AUD", "siteId": "site-1", "password": STATION_SECRET}
    status, _, body = call("POST", "/v1/stations", body=station, headers=headers)
    assert status == 201, body
    rotated = call("POST", "/v1/stations/CP-AUD/password", body={}, headers=headers)
    # AND a refused request that carried a password in its body
    call("POST", "/v1/stations", claims=VIEWER, body={**station, "id": "CP-V"}, headers=headers)
    # WHEN every stored audit item is searched
    stored = json.dumps(audit_items(api_ready), default=str)
    # THEN the changes are there, the secrets are not
    assert "station.register" in stored
    assert "CP-AUD" in stored
    assert STATION_SECRET not in stored
    assert "eyJhbGciOiJSUzI1NiJ9" not in stored
    if rotated[0] == 200 and isinstance(rotated[2], dict) and rotated[2].get("password"):
        assert rotated[2]["password"] not in stored
    assert "$argon2" not in stored  # no password hash either


def test_audit_records_refused_requests_with_their_status(
    api_ready: emulation.EmulatedResources,
) -> None:
    # GIVEN a viewer who may not create sites, an invalid body, a missing site, an unknown role
    assert call("POST", "/v1/sites", claims=VIEWER, body=SITE)[0] == 403
    assert call("POST", "/v1/sites", body={"id": "x"})[0] == 400
    assert call("PATCH", "/v1/sites/nowhere", body={"limitKw": 1})[0] == 404
    wizard = {**ADMIN, "sub": "w-1", "role": "wizard"}
    assert call("DELETE", "/v1/sites/depot-north", claims=wizard)[0] == 403
    # AND a token without a tenant (nothing to file it under) and a read (not audited)
    assert call("POST", "/v1/sites", claims={"sub": "x"}, body=SITE)[0] == 401
    assert call("GET", "/v1/sites")[0] == 200
    # WHEN the audit log is read
    entries = audit()
    # THEN each refusal is there with its status and outcome, newest first
    summary = [(e["method"], e["status"], e["outcome"], e["actor"]["role"]) for e in entries]
    assert summary == [
        ("DELETE", 403, "Denied", "wizard"),
        ("PATCH", 404, "Rejected", "admin"),
        ("POST", 400, "Rejected", "admin"),
        ("POST", 403, "Denied", "viewer"),
    ]
    denied = entries[-1]
    assert denied["action"] == "POST /v1/sites"
    assert (denied["resourceKind"], denied["resourceId"]) == ("site", None)
    assert entries[1]["action"] == "PATCH /v1/sites/{site_id}"
    assert (entries[1]["resourceKind"], entries[1]["resourceId"]) == ("site", "nowhere")


def test_audit_records_a_refused_read_of_the_audit_log(
    api_ready: emulation.EmulatedResources,
) -> None:
    # GIVEN an operator (no read-audit) and a site-restricted admin try to read the log
    operator = {**ADMIN, "sub": "op-2", "role": "operator"}
    restricted = {**ADMIN, "sub": "op-3", "sites": ["site-1"]}
    assert call("GET", "/v1/audit", claims=operator)[0] == 403
    assert call("GET", "/v1/audit", claims=restricted)[0] == 403
    # THEN both attempts are in the log
    entries = audit()
    assert [(e["actor"]["subject"], e["status"]) for e in entries] == [
        ("op-3", 403),
        ("op-2", 403),
    ]
    assert entries[0]["actor"]["sites"] == ["site-1"]


def test_audit_filters_combine_and_pages_follow_cursors(
    api_ready: emulation.EmulatedResources,
) -> None:
    # GIVEN five sites created by two users, one changed, and one refused request
    for n in range(5):
        who = ADMIN if n % 2 == 0 else {**ADMIN, "sub": "op-2"}
        assert call("POST", "/v1/sites", claims=who, body={**SITE, "id": f"s-{n}"})[0] == 201
    assert call("PATCH", "/v1/sites/s-3", body={"limitKw": 11})[0] == 200
    assert call("POST", "/v1/sites", claims=VIEWER, body=SITE)[0] == 403
    everything = audit()
    assert len(everything) == 7
    # WHEN the log is filtered THEN only matching entries come, newest first
    assert [e["resourceId"] for e in audit(action="site.create")] == [
        "s-4",
        "s-3",
        "s-2",
        "s-1",
        "s-0",
    ]
    assert [e["resourceId"] for e in audit(actor="op-2")] == ["s-3", "s-1"]
    assert [e["action"] for e in audit(resourceKind="site", resourceId="s-3")] == [
        "site.update",
        "site.create",
    ]
    assert [e["actor"]["subject"] for e in audit(outcome="Denied")] == ["view-1"]
    assert audit(actor="op-2", action="site.update") == []
    # AND the time range is inclusive at its start, exclusive at its end
    times = [e["at"] for e in everything]
    assert [e["at"] for e in audit(**{"from": times[3]})] == times[:4]
    assert [e["at"] for e in audit(to=times[3])] == times[4:]
    assert [e["at"] for e in audit(**{"from": times[5], "to": times[1]})] == times[2:6]
    assert audit(**{"from": times[0], "to": times[0]}) == []
    # AND pages of two follow their cursors to the end
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, _, body = call("GET", "/v1/audit", query=query)
        assert status == 200
        assert len(body["items"]) <= 2
        seen += [e["id"] for e in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in everything]
    # AND a filtered page may come back short but never loses an entry
    short = audit(limit="1", actor="op-2")
    assert [e["resourceId"] for e in short] == ["s-3", "s-1"]


def test_audit_refuses_cursors_it_did_not_hand_out(
    api_ready: emulation.EmulatedResources,
) -> None:
    for n in range(3):
        call("POST", "/v1/sites", body={**SITE, "id": f"s-{n}"})
    status, _, body = call("GET", "/v1/audit", query={"limit": "1"})
    cursor = body["nextCursor"]
    # WHEN a cursor is forged, used by another tenant, or used outside its time range
    later = (datetime.fromisoformat(body["items"][0]["at"]) + timedelta(days=1)).isoformat()
    attempts = [
        ({"cursor": "not-a-cursor"}, ADMIN),
        ({"cursor": cursor}, OTHER_ADMIN),
        ({"cursor": cursor, "from": later}, ADMIN),
    ]
    for query, claims in attempts:
        status, _, problem = call("GET", "/v1/audit", query=query, claims=claims)
        # THEN 400 invalid-cursor
        assert (status, problem["type"]) == (400, "/problems/invalid-cursor")


def test_audit_is_scoped_to_the_callers_tenant(api_ready: emulation.EmulatedResources) -> None:
    # GIVEN each tenant changed something
    call("POST", "/v1/sites", body=SITE)
    call("POST", "/v1/sites", claims=OTHER_ADMIN, body={**SITE, "id": "far-away"})
    # WHEN each reads its audit log THEN it sees its own entries only
    assert [e["resourceId"] for e in audit()] == ["depot-north"]
    assert [e["resourceId"] for e in audit(OTHER_ADMIN)] == ["far-away"]


def test_audit_write_failure_does_not_fail_the_request(
    api_ready: emulation.EmulatedResources,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN the audit store fails
    def broken(self: DynamoAuditRepository, entries: Any) -> None:
        raise RuntimeError(f"cannot write {entries}")

    monkeypatch.setattr(DynamoAuditRepository, "append", broken)
    # WHEN a site is created
    status, _, body = call("POST", "/v1/sites", body=SITE)
    # THEN the request succeeds as the route answered, and the failure is logged without details
    assert status == 201, body
    [record] = [r for r in caplog.records if r.getMessage() == "audit write failed"]
    assert record.levelname == "ERROR"
    assert record.__dict__["error"] == "RuntimeError"
    assert record.exc_info is None
    assert "depot-north" not in json.dumps(record.__dict__, default=str)
