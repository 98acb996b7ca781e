"""Partner webhooks of the caller's tenant: subscriptions, their delivery log, and replay.

Subscriptions are tenant-wide (events of every site reach them), so managing them takes the
tenant's permission. The signing secret is answered once, when created or rotated; the audit
log notes the change without it.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from csms.domain.access import Permission
from csms.handlers import _runtime
from csms.handlers.api_access import (
    current_principal,
    expected_version,
    if_match_header,
    operation,
)
from csms.handlers.api_common import (
    BAD_REQUEST,
    FORBIDDEN,
    PRECONDITION_FAILED,
    Cursor,
    Limit,
    audit_change,
    json_response,
    new_router,
    problems,
    responses,
    versioned,
)
from csms.handlers.api_models_webhooks import (
    DeliveryPage,
    DeliveryView,
    ReplayRequest,
    ReplayView,
    WebhookCreate,
    WebhookPage,
    WebhookUpdate,
    WebhookView,
    WebhookWithSecret,
)
from csms.services.webhooks import WebhookService

router = new_router()

WebhookId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z-]+$")]
_NO_WEBHOOK = (HTTPStatus.NOT_FOUND, "No such webhook subscription in the caller's tenant")
_BAD_URL = (
    HTTPStatus.BAD_REQUEST,
    "The body is invalid, or the URL is not https or reaches a private address "
    "(`invalid-webhook-url`)",
)
_CONFLICT = (HTTPStatus.CONFLICT, "Changed concurrently so often that the change was not applied")
_TAGS = ["webhooks"]


def _service() -> WebhookService:
    return _runtime.api_webhooks()


def _expected(subscription_id: str) -> int | None:
    return expected_version(if_match_header(router), "webhook", subscription_id)


@operation(
    router,
    "GET",
    "/v1/webhooks",
    Permission.MANAGE_TENANT,
    summary="List webhook subscriptions",
    tags=_TAGS,
    responses=responses("A page of subscriptions", BAD_REQUEST, FORBIDDEN),
)
def list_webhooks(limit: Limit = 50, cursor: Cursor = None) -> WebhookPage:
    """The tenant's subscriptions by id (without their secrets)."""
    page = _service().page(current_principal().tenant_id, limit, cursor)
    return WebhookPage(items=[WebhookView.of(s) for s in page.items], next_cursor=page.next_cursor)


_CREATE_EXAMPLES = {
    "sessions": Example(
        summary="Sessions and invoices to a fleet system",
        value={
            "url": "https://fleet.example.com/hooks/csms",
            "eventTypes": ["session.started", "session.ended", "invoice.finalized"],
            "description": "Fleet ERP",
        },
    ),
    "faults": Example(
        summary="Faults and recoveries to a maintenance contractor",
        value={
            "url": "https://service.example.net/csms",
            "eventTypes": ["station.faulted", "station.recovered", "alert.opened"],
        },
    ),
}


@operation(
    router,
    "POST",
    "/v1/webhooks",
    Permission.MANAGE_TENANT,
    summary="Create a webhook subscription",
    tags=_TAGS,
    responses={
        201: {
            "description": "Created; the answer carries the signing secret, shown this once",
            "content": {"application/json": {"model": WebhookWithSecret}},
        },
        **problems(
            _BAD_URL,
            FORBIDDEN,
            (HTTPStatus.CONFLICT, "The tenant has its maximum of subscriptions"),
        ),
    },
)
def create_webhook(
    body: Annotated[WebhookCreate, Body(openapi_examples=_CREATE_EXAMPLES)],
) -> Response[str]:
    """A subscription and its secret; the URL's host must resolve to public addresses."""
    subscription, secret = _service().create(
        current_principal().tenant_id,
        body.url,
        frozenset(body.event_types),
        body.description,
    )
    view = WebhookView.of(subscription)
    audit_change("webhook", subscription.id, "create", None, view)
    return json_response(
        WebhookWithSecret(**view.model_dump(), secret=secret),
        version=subscription.version,
        status=HTTPStatus.CREATED,
        location=f"/v1/webhooks/{subscription.id}",
    )


@operation(
    router,
    "GET",
    "/v1/webhooks/<webhook_id>",
    Permission.MANAGE_TENANT,
    summary="Get a webhook subscription",
    tags=_TAGS,
    responses=versioned("The subscription", WebhookView, FORBIDDEN, _NO_WEBHOOK),
)
def get_webhook(webhook_id: WebhookId) -> Response[str]:
    """URL, event types, status (and why disabled); its version as `ETag`."""
    subscription = _service().get(current_principal().tenant_id, webhook_id)
    return json_response(WebhookView.of(subscription), version=subscription.version)


@operation(
    router,
    "PATCH",
    "/v1/webhooks/<webhook_id>",
    Permission.MANAGE_TENANT,
    summary="Change a webhook subscription",
    tags=_TAGS,
    responses=versioned(
        "The subscription as changed",
        WebhookView,
        _BAD_URL,
        FORBIDDEN,
        _NO_WEBHOOK,
        PRECONDITION_FAILED,
        _CONFLICT,
    ),
)
def update_webhook(
    webhook_id: WebhookId,
    body: Annotated[
        WebhookUpdate,
        Body(
            openapi_examples={
                "resume": Example(
                    summary="Resume deliveries after the endpoint answered 410",
                    value={"enabled": True},
                ),
                "move": Example(
                    summary="Another URL and no description",
                    value={"url": "https://erp.example.com/v2/hooks", "description": None},
                ),
            }
        ),
    ],
) -> Response[str]:
    """JSON merge patch semantics; with `If-Match`, only the version named is changed."""
    before, after = _service().update(
        current_principal().tenant_id, webhook_id, body.patch(), _expected(webhook_id)
    )
    view = WebhookView.of(after)
    if after != before:
        audit_change("webhook", webhook_id, "update", WebhookView.of(before), view)
    return json_response(view, version=after.version)


@operation(
    router,
    "DELETE",
    "/v1/webhooks/<webhook_id>",
    Permission.MANAGE_TENANT,
    summary="Delete a webhook subscription",
    tags=_TAGS,
    responses={
        204: {"description": "Deleted; its secret is destroyed and queued deliveries skipped"},
        **problems(BAD_REQUEST, FORBIDDEN, _NO_WEBHOOK, PRECONDITION_FAILED, _CONFLICT),
    },
)
def delete_webhook(webhook_id: WebhookId) -> Response[str]:
    """The subscription and its secret go; its delivery log expires with its retention."""
    subscription = _service().delete(
        current_principal().tenant_id, webhook_id, _expected(webhook_id)
    )
    audit_change("webhook", webhook_id, "delete", WebhookView.of(subscription), None)
    return Response(status_code=HTTPStatus.NO_CONTENT.value, body="")


@operation(
    router,
    "POST",
    "/v1/webhooks/<webhook_id>/rotate-secret",
    Permission.MANAGE_TENANT,
    summary="Rotate a webhook subscription's signing secret",
    tags=_TAGS,
    responses={
        200: {
            "description": "The new secret, shown this once; it signs from now on",
            "content": {"application/json": {"model": WebhookWithSecret}},
        },
        **problems(FORBIDDEN, _NO_WEBHOOK),
    },
)
def rotate_webhook_secret(webhook_id: WebhookId) -> Response[str]:
    """Deliveries are signed with the new secret within a few minutes (cached secrets)."""
    subscription, secret = _service().rotate_secret(current_principal().tenant_id, webhook_id)
    view = WebhookView.of(subscription)
    # The secret itself never reaches the audit log: the change is noted, not its value.
    audit_change("webhook", webhook_id, "rotate-secret", view, view)
    return json_response(
        WebhookWithSecret(**view.model_dump(), secret=secret), version=subscription.version
    )


@operation(
    router,
    "GET",
    "/v1/webhooks/<webhook_id>/deliveries",
    Permission.MANAGE_TENANT,
    summary="List a webhook subscription's delivery attempts",
    tags=_TAGS,
    responses=responses("A page of attempts, newest first", BAD_REQUEST, FORBIDDEN, _NO_WEBHOOK),
)
def list_webhook_deliveries(
    webhook_id: WebhookId, limit: Limit = 50, cursor: Cursor = None
) -> DeliveryPage:
    """Each attempt: when, the status code or error, how long it took, and what followed."""
    page = _service().deliveries(current_principal().tenant_id, webhook_id, limit, cursor)
    return DeliveryPage(
        items=[DeliveryView.of(a) for a in page.items], next_cursor=page.next_cursor
    )


@operation(
    router,
    "POST",
    "/v1/webhooks/<webhook_id>/replay",
    Permission.MANAGE_TENANT,
    summary="Replay webhook events",
    tags=_TAGS,
    responses={
        202: {
            "description": "Queued again, each with the `webhook-id` it was first sent with",
            "content": {"application/json": {"model": ReplayView}},
        },
        **problems(
            BAD_REQUEST,
            FORBIDDEN,
            (HTTPStatus.NOT_FOUND, "No such subscription, or no kept copy of the event"),
        ),
    },
)
def replay_webhook(
    webhook_id: WebhookId,
    body: Annotated[
        ReplayRequest,
        Body(
            openapi_examples={
                "one": Example(
                    summary="One event again",
                    value={"eventId": "4f0c1f9e-8d1a-4c59-9a43-3f1f7d2b9a10"},
                ),
                "range": Example(
                    summary="What occurred during the receiver's outage",
                    value={"from": "2026-11-20T08:00:00Z", "to": "2026-11-20T10:00:00Z"},
                ),
            }
        ),
    ],
) -> Response[str]:
    """Kept copies (30 days) are queued again; a range queues at most 500 per request."""
    tenant_id = current_principal().tenant_id
    service = _service()
    if body.event_id is not None:
        result = service.replay_event(tenant_id, webhook_id, body.event_id)
    else:
        start, end = body.period()
        result = service.replay_range(tenant_id, webhook_id, start, end)
    return json_response(
        ReplayView(queued=result.queued, next_from=result.next_from),
        status=HTTPStatus.ACCEPTED,
    )
