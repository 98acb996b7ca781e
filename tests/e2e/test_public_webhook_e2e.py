"""`csms local`: Stripe's webhook reaches the API without a token; nothing else does."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import LocalCsms, start_local

WEBHOOK = "/v1/payments/stripe/webhook"


@pytest.fixture(scope="module")
def local_with_webhooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCsms]:
    with pytest.MonkeyPatch.context() as patch:
        # The process inherits the environment: a webhook signing secret makes it take them.
        patch.setenv("CSMS_STRIPE_WEBHOOK_SECRETS", "whsec_e2e0secret")
        local = start_local(Path(tmp_path_factory.mktemp("webhooks")))
    try:
        yield local
    finally:
        local.stop()


def unsigned_in(
    local: LocalCsms, method: str, path: str, body: bytes | None, **headers: str
) -> tuple[int, Any]:
    """A request with no Authorization header at all."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{local.http_port}{path}", method=method, data=body, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_webhook_without_a_token_reaches_the_handler_and_others_are_401(
    local_with_webhooks: LocalCsms,
) -> None:
    # GIVEN csms local taking Stripe webhooks
    event = json.dumps({"id": "evt_1", "object": "event", "type": "setup_intent.succeeded"})
    # WHEN a delivery with a bad signature comes without a token, and other requests too
    webhook = unsigned_in(
        local_with_webhooks,
        "POST",
        WEBHOOK,
        event.encode(),
        **{"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"},
    )
    other_method = unsigned_in(local_with_webhooks, "GET", WEBHOOK, None)
    other_path = unsigned_in(local_with_webhooks, "GET", "/v1/billing-accounts", None)
    # THEN the handler refuses the signature (400 problem), the gateway the rest (401)
    assert webhook[0] == 400
    assert webhook[1]["type"] == "/problems/invalid-webhook-signature"
    assert other_method[0] == 401
    assert other_path[0] == 401
    assert other_path[1]["status"] == 401
