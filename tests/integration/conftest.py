"""Handlers and adapters on moto, the table and bus built from the synthesized CDK template."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import argon2
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from csms.adapters import system
from csms.domain.seed import Seed

# Importing the api function registers every route (ROUTE_PERMISSIONS), which the permission
# and isolation tests enumerate when they are collected.
from csms.handlers import _runtime, api
from csms_local import emulation

STATION_PASSWORD = "integration-pass-1"


class Ctx(LambdaContext):
    """A Lambda context with what Powertools reads."""

    def __init__(self, function_name: str = "test") -> None:
        self._function_name = function_name
        self._memory_limit_in_mb = 512
        self._invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        )
        self._aws_request_id = "req-1"


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return emulation.load_template()


@pytest.fixture
def aws(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[emulation.EmulatedResources]:
    with emulation.mocked_aws():
        resources = emulation.create_resources(template)
        monkeypatch.setenv("CSMS_TABLE_NAME", resources.table_name)
        monkeypatch.setenv("CSMS_EVENT_BUS_NAME", resources.event_bus_name)
        # A dead port: nothing in these tests may post to a connection unless it stubs the sender.
        monkeypatch.setenv("CSMS_WS_MANAGEMENT_ENDPOINT", "http://127.0.0.1:9")
        # Argon2id still, but with the smallest cost: the production parameters take ~0.1 s per
        # hash, and these tests hash and verify thousands of times. (The e2e tests keep them.)
        monkeypatch.setattr(
            system,
            "PasswordHasher",
            lambda: argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1),
        )
        _runtime.reset()
        yield resources
        _runtime.reset()


@pytest.fixture
def runtime(aws: emulation.EmulatedResources) -> _runtime.Runtime:
    del aws
    return _runtime.gateway()


def seed_station(
    runtime: _runtime.Runtime,
    station_id: str = "CP-1",
    *,
    tenant: str = "default",
    protocol: str | None = None,
    password: str = STATION_PASSWORD,
) -> None:
    """Register one station (and its site) through the seed service."""
    station: dict[str, Any] = {"id": station_id, "siteId": "site-1", "password": password}
    if protocol:
        station["protocol"] = protocol
    runtime.seeds.load(
        tenant,
        Seed.model_validate(
            {"sites": [{"id": "site-1", "name": "Site", "limitKw": 50}], "stations": [station]}
        ),
    )


def connect_event(
    station_id: str,
    connection_id: str = "conn-1",
    *,
    password: str = STATION_PASSWORD,
    protocols: str = "ocpp2.0.1, ocpp1.6",
    via_query: bool = True,
) -> dict[str, Any]:
    """A $connect event as API Gateway (query form) or the local gateway (path form) sends it."""
    auth = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    event: dict[str, Any] = {
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "connectionId": connection_id,
            "identity": {"sourceIp": "203.0.113.7"},
        },
        "headers": {"Authorization": f"Basic {auth}", "Sec-WebSocket-Protocol": protocols},
        "isBase64Encoded": False,
    }
    if via_query:
        event["queryStringParameters"] = {"station": station_id}
    else:
        event["path"] = f"/ocpp/{station_id}"
    return event


def message_event(connection_id: str, body: str) -> dict[str, Any]:
    """A $default event."""
    return {
        "requestContext": {
            "routeKey": "$default",
            "eventType": "MESSAGE",
            "connectionId": connection_id,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def http_event(
    method: str,
    path: str,
    *,
    claims: dict[str, Any] | None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: str | None = None,
    base64_encoded: bool = False,
    source_ip: str = "127.0.0.1",
    request_id: str = "r1",
) -> dict[str, Any]:
    """An HTTP API (payload v2) event as API Gateway sends it after its JWT authorizer."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {"content-type": "application/json", **(headers or {})},
        "queryStringParameters": query or None,
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip},
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "authorizer": {"jwt": {"claims": claims or {}, "scopes": None}},
        },
        "body": body,
        "isBase64Encoded": base64_encoded,
    }


def invoke_api(event: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    """Run the api function: status, headers (lower-case names, repeated ones joined), text."""
    result = api.lambda_handler(event, Ctx())
    headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for k, v in (result.get("multiValueHeaders") or {}).items():
        headers[k.lower()] = ", ".join(str(item) for item in v)
    return int(result["statusCode"]), headers, result.get("body") or ""
