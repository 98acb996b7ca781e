"""The HTTP API handler on moto: auth, tenant scoping, station views, problem details."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from tests.integration.conftest import (
    Ctx,
    connect_event,
    http_event,
    invoke_api,
    message_event,
    seed_station,
)

from csms.handlers import _runtime, api, ws_connect, ws_disconnect, ws_message
from csms.handlers.api_access import MAX_BODY_BYTES

CLAIMS = {"sub": "op-1", "tenant_id": "default", "role": "admin"}


def call_api(
    method: str,
    path: str,
    *,
    claims: dict[str, Any] | None = CLAIMS,
    query: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    event = http_event(
        method,
        path,
        claims=claims,
        query=query,
        headers=headers,
        body=json.dumps(body) if body is not None else None,
    )
    status, headers, text = invoke_api(event)
    return status, headers, json.loads(text) if text else None


@pytest.fixture
def connected(runtime: _runtime.Runtime) -> _runtime.Runtime:
    """CP-1 (tenant default) booted with one connector; CP-2 in another tenant."""
    seed_station(runtime, "CP-1")
    seed_station(runtime, "CP-2", tenant="other")
    ws_connect.lambda_handler(connect_event("CP-1"), Ctx())
    for frame in (
        [
            2,
            "b",
            "BootNotification",
            {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"},
        ],
        [
            2,
            "s",
            "StatusNotification",
            {
                "timestamp": "2026-11-24T08:00:00Z",
                "connectorStatus": "Faulted",
                "evseId": 1,
                "connectorId": 1,
            },
        ],
    ):
        ws_message.lambda_handler(message_event("conn-1", json.dumps(frame)), Ctx())
    _runtime.reset()  # the API function has its own runtime
    return runtime


def test_api_without_token_is_401_problem(connected: _runtime.Runtime) -> None:
    # WHEN a request has no verified claims
    status, headers, body = call_api("GET", "/v1/stations", claims=None)
    # THEN 401 with an RFC 9457 body
    assert status == 401
    assert headers["content-type"] == "application/problem+json"
    assert headers["www-authenticate"] == "Bearer"
    assert body["status"] == 401
    assert body["type"] == "/problems/unauthorized"


def test_api_lists_only_the_callers_stations(connected: _runtime.Runtime) -> None:
    # WHEN each tenant lists its stations
    _, _, mine = call_api("GET", "/v1/stations")
    _, _, theirs = call_api("GET", "/v1/stations", claims={**CLAIMS, "tenant_id": "other"})
    # THEN each sees its own only
    assert [s["id"] for s in mine["items"]] == ["CP-1"]
    assert [s["id"] for s in theirs["items"]] == ["CP-2"]


def test_api_station_detail_shows_boot_online_and_connectors(
    connected: _runtime.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN API Gateway knows when the connection last carried a message
    from datetime import UTC, datetime

    from csms.adapters.apigw import ApiGwConnectionSender

    seen = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    monkeypatch.setattr(ApiGwConnectionSender, "last_active_at", lambda self, cid: seen)
    # WHEN the operator reads the station
    status, _, body = call_api("GET", "/v1/stations/CP-1")
    # THEN identity, protocol, online state, last boot, last message time and connectors
    assert status == 200
    assert body["protocol"] == "ocpp2.0.1"
    assert body["online"] is True
    assert body["lastSeenAt"] == "2026-11-24T09:30:00Z"
    assert body["lastBoot"]["vendor"] == "V"
    assert body["lastBoot"]["reason"] == "PowerUp"
    assert [(c["evseId"], c["status"]) for c in body["connectors"]] == [(1, "Faulted")]


def test_api_other_tenants_station_is_404(connected: _runtime.Runtime) -> None:
    # WHEN a caller of another tenant asks for CP-1 or its log
    other = {**CLAIMS, "tenant_id": "other"}
    for path in ("/v1/stations/CP-1", "/v1/stations/CP-1/connection-log"):
        status, headers, body = call_api("GET", path, claims=other)
        # THEN it is as absent as a station that does not exist
        assert status == 404
        assert headers["content-type"] == "application/problem+json"
        assert body["type"] == "/problems/station-not-found"


def test_api_connection_log_newest_first_with_paging(connected: _runtime.Runtime) -> None:
    # GIVEN a refused attempt and a disconnect after the connect
    ws_connect.lambda_handler(connect_event("CP-1", "conn-2", password="wrong-password"), Ctx())
    ws_disconnect.lambda_handler({"requestContext": {"connectionId": "conn-1"}}, Ctx())
    # WHEN the operator pages through the log two at a time
    _, _, first = call_api("GET", "/v1/stations/CP-1/connection-log", query={"limit": "2"})
    _, _, second = call_api(
        "GET",
        "/v1/stations/CP-1/connection-log",
        query={"limit": "2", "cursor": first["nextCursor"]},
    )
    # THEN all three entries come, newest first, with reasons
    outcomes = [(e["outcome"], e["reason"]) for e in first["items"] + second["items"]]
    assert outcomes == [
        ("Disconnected", None),
        ("Refused", "BadCredentials"),
        ("Connected", None),
    ]


@pytest.mark.parametrize(
    ("path", "query", "status", "problem"),
    [
        ("/v1/stations", {"limit": "0"}, 400, "/problems/invalid-request"),
        ("/v1/stations", {"cursor": "not-a-cursor"}, 400, "/problems/invalid-cursor"),
        ("/v1/stations/NOPE", None, 404, "/problems/station-not-found"),
        ("/v1/stations/bad%20id!", None, 400, "/problems/invalid-request"),
        ("/v1/nothing-here", None, 404, "/problems/not-found"),
    ],
)
def test_api_bad_requests_get_problem_details(
    connected: _runtime.Runtime,
    path: str,
    query: dict[str, str] | None,
    status: int,
    problem: str,
) -> None:
    # WHEN the request is wrong
    got_status, headers, body = call_api("GET", path, query=query)
    # THEN a specific problem, nothing stored changes
    assert got_status == status
    assert headers["content-type"] == "application/problem+json"
    assert body["type"] == problem
    assert body["status"] == status


def test_api_command_with_invalid_body_is_400(connected: _runtime.Runtime) -> None:
    status, _, body = call_api("POST", "/v1/stations/CP-1/commands", body={"action": "Explode"})
    assert (status, body["type"]) == (400, "/problems/invalid-request")
    assert body["errors"]


def test_api_openapi_document_is_public_and_matches_schemas_folder(
    connected: _runtime.Runtime,
) -> None:
    # WHEN anyone fetches the OpenAPI document
    status, _, body = call_api("GET", api.OPENAPI_PATH, claims=None)
    # THEN it is OpenAPI 3.1 and lists the station endpoints
    assert status == 200
    assert body["openapi"].startswith("3.1")
    assert "/v1/stations/{station_id}/connection-log" in body["paths"]


def test_api_oversized_body_is_413_before_anything_is_read_or_written(
    connected: _runtime.Runtime,
) -> None:
    # GIVEN a token body far beyond the API's limit (a valid shape, padded)
    body = {"idToken": "BIG-1", "groupId": "g" * (MAX_BODY_BYTES + 1)}
    # WHEN it is posted, and the same sent as base64 bytes
    status, headers, problem = call_api("POST", "/v1/tokens", body=body)
    encoded = base64.b64encode(json.dumps(body).encode()).decode()
    raw_status, _, _ = invoke_api(
        http_event("POST", "/v1/tokens", claims=CLAIMS, body=encoded, base64_encoded=True)
    )
    # THEN both are refused as too large, with a problem body, and no token exists
    assert (status, raw_status) == (413, 413)
    assert headers["content-type"] == "application/problem+json"
    assert problem["type"] == "/problems/content-too-large"
    assert call_api("GET", "/v1/tokens/BIG-1")[0] == 404
