"""The one place errors become HTTP problem details (RFC 9457)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response

from csms.domain.errors import (
    BillingConflictError,
    CallInProgressError,
    CallNotFoundError,
    CommandNotSupportedError,
    ConcurrentModificationError,
    DomainError,
    ForbiddenError,
    InvalidCursorError,
    InvalidLoadInputError,
    InvalidReferenceError,
    InvalidTransitionError,
    InvalidWebhookSignatureError,
    InvalidWebhookUrlError,
    LastOwnerError,
    PaymentProviderError,
    ResourceExistsError,
    ResourceInUseError,
    ResourceNotFoundError,
    SessionNotActiveError,
    SessionNotFoundError,
    SessionNotPriceableError,
    StationDecommissionedError,
    StationNotFoundError,
    StationOfflineError,
    TokenExistsError,
    TokenNotFoundError,
    UserDirectoryError,
    VersionMismatchError,
    WebhookLimitError,
)
from csms.handlers.api_models import Problem

PROBLEM_JSON = "application/problem+json"

# Domain error type -> (HTTP status, problem type slug). Mapped by type, never by message.
_DOMAIN: dict[type[DomainError], tuple[HTTPStatus, str]] = {
    StationNotFoundError: (HTTPStatus.NOT_FOUND, "station-not-found"),
    StationDecommissionedError: (HTTPStatus.CONFLICT, "station-decommissioned"),
    CallNotFoundError: (HTTPStatus.NOT_FOUND, "command-not-found"),
    StationOfflineError: (HTTPStatus.CONFLICT, "station-offline"),
    CallInProgressError: (HTTPStatus.CONFLICT, "command-in-progress"),
    InvalidCursorError: (HTTPStatus.BAD_REQUEST, "invalid-cursor"),
    SessionNotFoundError: (HTTPStatus.NOT_FOUND, "session-not-found"),
    TokenNotFoundError: (HTTPStatus.NOT_FOUND, "token-not-found"),
    TokenExistsError: (HTTPStatus.CONFLICT, "token-exists"),
    ForbiddenError: (HTTPStatus.FORBIDDEN, "forbidden"),
    # The generic resource errors name their kind in the slug: `site-not-found`, ...
    ResourceNotFoundError: (HTTPStatus.NOT_FOUND, "{kind}-not-found"),
    ResourceExistsError: (HTTPStatus.CONFLICT, "{kind}-exists"),
    ResourceInUseError: (HTTPStatus.CONFLICT, "{kind}-in-use"),
    InvalidReferenceError: (HTTPStatus.UNPROCESSABLE_ENTITY, "invalid-reference"),
    VersionMismatchError: (HTTPStatus.PRECONDITION_FAILED, "version-mismatch"),
    CommandNotSupportedError: (HTTPStatus.UNPROCESSABLE_ENTITY, "command-not-supported"),
    ConcurrentModificationError: (HTTPStatus.CONFLICT, "concurrent-modification"),
    LastOwnerError: (HTTPStatus.CONFLICT, "last-owner"),
    UserDirectoryError: (HTTPStatus.BAD_GATEWAY, "user-directory-failed"),
    InvalidLoadInputError: (HTTPStatus.BAD_REQUEST, "invalid-{kind}"),
    SessionNotActiveError: (HTTPStatus.CONFLICT, "session-not-active"),
    SessionNotPriceableError: (HTTPStatus.CONFLICT, "session-not-priceable"),
    BillingConflictError: (HTTPStatus.CONFLICT, "{kind}-conflict"),
    InvalidWebhookSignatureError: (HTTPStatus.BAD_REQUEST, "invalid-webhook-signature"),
    PaymentProviderError: (HTTPStatus.BAD_GATEWAY, "payment-provider-failed"),
    InvalidTransitionError: (HTTPStatus.CONFLICT, "invalid-transition"),
    InvalidWebhookUrlError: (HTTPStatus.BAD_REQUEST, "invalid-webhook-url"),
    WebhookLimitError: (HTTPStatus.CONFLICT, "webhook-limit-reached"),
}


def problem(
    status: HTTPStatus,
    slug: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    """A problem response."""
    body = Problem(
        type=f"/problems/{slug}",
        title=status.phrase,
        status=status.value,
        detail=detail,
        instance=instance,
        errors=errors,
    )
    return Response(
        status_code=status.value,
        content_type=PROBLEM_JSON,
        body=body.model_dump_json(by_alias=True, exclude_none=True),
        headers=headers,
    )


def domain_problem(exc: DomainError, instance: str | None = None) -> Response[str]:
    """The problem for a domain error."""
    for error_type in type(exc).__mro__:
        if error_type in _DOMAIN:
            status, slug = _DOMAIN[error_type]
            slug = slug.format(kind=getattr(exc, "kind", "resource"))
            return problem(status, slug, str(exc), instance=instance)
    return problem(HTTPStatus.UNPROCESSABLE_ENTITY, "domain-error", str(exc), instance=instance)
