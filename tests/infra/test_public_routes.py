"""The operator API's routes without the JWT authorizer are exactly the API's public operations."""

from __future__ import annotations

from typing import Any

from tests.infra.test_stack import route_targets

from csms.handlers.api import PUBLIC_ROUTES
from csms_infra.stack import API, STRIPE_WEBHOOK_PATH


def test_http_api_routes_without_jwt_are_exactly_the_public_operations(
    template: dict[str, Any],
) -> None:
    # GIVEN the synthesized template and the operations the API declares public
    targets = route_targets(template)
    # WHEN collecting the HTTP API routes that need no authorization
    unguarded = {
        tuple(key.split(" ", 1))
        for key, (props, _) in targets.items()
        if not key.startswith("$") and props.get("AuthorizationType", "NONE") == "NONE"
    }
    # THEN they are exactly the API's public operations (OpenAPI document, Stripe's webhook)
    assert unguarded == set(PUBLIC_ROUTES)
    assert ("POST", STRIPE_WEBHOOK_PATH) in unguarded


def test_stripe_webhook_route_is_post_only_without_authorizer_to_the_api_function(
    template: dict[str, Any],
) -> None:
    # GIVEN the synthesized template
    targets = route_targets(template)
    # WHEN looking at the webhook path's routes
    webhook = {key: value for key, value in targets.items() if STRIPE_WEBHOOK_PATH in key}
    # THEN only POST is unguarded, with no authorizer, and it reaches the api function
    assert set(webhook) == {f"POST {STRIPE_WEBHOOK_PATH}"}
    props, handler = webhook[f"POST {STRIPE_WEBHOOK_PATH}"]
    assert props["AuthorizationType"] == "NONE"
    assert "AuthorizerId" not in props
    assert handler == API
    # AND every other method on that path falls to the JWT-guarded proxy route
    proxy, _ = targets["ANY /v1/{proxy+}"]
    assert proxy["AuthorizationType"] == "JWT"
