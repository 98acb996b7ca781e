"""The local gateway lets exactly the public operations through without a bearer token."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request

from csms.handlers import api as api_handler
from csms_local.gateway import LocalGateway

WEBHOOK = "/v1/payments/stripe/webhook"


class Handler:
    """The api function, recording the events it is given."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 400, "headers": {"Content-Type": "application/problem+json"}}


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Handler:
    recorder = Handler()
    monkeypatch.setattr(api_handler, "lambda_handler", recorder)
    return recorder


def send(method: str, path: str, body: bytes = b"", **headers: str) -> web.Response:
    """One request through the gateway's HTTP API (no socket: a mocked aiohttp request)."""

    async def run() -> web.Response:
        payload = StreamReader(
            mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop()
        )
        payload.feed_data(body)
        payload.feed_eof()
        request = make_mocked_request(method, path, headers=headers, payload=payload)
        with ThreadPoolExecutor(max_workers=1) as executor:
            gateway = LocalGateway(signing_key="k" * 32, executor=executor)
            return await gateway._http_api(request)

    return asyncio.run(run())


def test_gateway_passes_the_stripe_webhook_without_a_token_to_the_api(handler: Handler) -> None:
    # GIVEN a Stripe delivery, which carries no Authorization header
    body = json.dumps({"id": "evt_1", "type": "setup_intent.succeeded"}).encode()
    # WHEN it is POSTed to the webhook path
    answer = send("POST", WEBHOOK, body, **{"Stripe-Signature": "t=1,v1=bad"})
    # THEN the api function gets it (no claims), raw body and signature intact, and answers
    [event] = handler.events
    assert answer.status == 400
    assert event["rawPath"] == WEBHOOK
    assert event["body"] == body.decode()
    assert event["headers"]["stripe-signature"] == "t=1,v1=bad"
    assert event["requestContext"]["authorizer"]["jwt"]["claims"] == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", WEBHOOK),
        ("PUT", WEBHOOK),
        ("POST", WEBHOOK + "/x"),
        ("POST", "/v1/payments/stripe"),
        ("GET", "/v1/billing-accounts"),
        ("POST", "/v1/openapi.json"),
    ],
)
def test_gateway_refuses_every_other_request_without_a_token(
    handler: Handler, method: str, path: str
) -> None:
    # GIVEN / WHEN a request without a token that is not a public operation
    answer = send(method, path)
    # THEN 401 with a problem document; the api function never runs
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert json.loads(answer.text or "")["status"] == 401
    assert handler.events == []


def test_gateway_serves_the_openapi_document_without_a_token(handler: Handler) -> None:
    # GIVEN / WHEN the OpenAPI document is read without a token
    send("GET", api_handler.OPENAPI_PATH)
    # THEN the api function answers it
    assert [e["rawPath"] for e in handler.events] == [api_handler.OPENAPI_PATH]
