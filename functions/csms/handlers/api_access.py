"""The caller, the permission each API operation requires, ETags, and what the audit log keeps.

Every route is declared through `operation(...)`, which records the permission it requires in
`ROUTE_PERMISSIONS` (docs/permissions.md and the permission tests are generated from it) and
puts a guard in front of the route: 401 without a usable identity, 403 without the permission.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from csms.domain.access import Permission, Principal, Role
from csms.domain.errors import ForbiddenError, VersionMismatchError
from csms.handlers.problems import problem

F = TypeVar("F", bound=Callable[..., Any])


class UnauthorizedError(Exception):
    """No usable identity on the request."""


_ROLES = {role.value: role for role in Role}


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """Read subject, tenant, role and sites from verified JWT claims.

    Cognito puts custom attributes under `custom:`; the role may also come from the first
    `cognito:groups` entry. A token without tenant or subject is not ours (401); a token whose
    role is missing or unknown gets nothing (403).
    """
    tenant = claims.get("tenant_id") or claims.get("custom:tenant_id")
    # Cognito's `sub` is a UUID of its own; the user's id in the CSMS is the username (the
    # users endpoints create it so): `cognito:username` in ID tokens, `username` in access tokens.
    subject = claims.get("cognito:username") or claims.get("username") or claims.get("sub")
    if not tenant or not subject:
        raise UnauthorizedError
    raw_role = claims.get("role") or claims.get("custom:role")
    groups = claims.get("cognito:groups")
    if raw_role is None and groups:
        raw_role = groups[0] if isinstance(groups, list) else _split(str(groups))[0]
    role = _ROLES.get(str(raw_role).lower()) if raw_role else None
    if role is None:
        raise ForbiddenError(
            f"the token carries no known role (one of {', '.join(_ROLES)} is needed)"
        )
    raw_sites = claims.get("sites", claims.get("custom:sites"))
    sites: frozenset[str] | None = None
    if raw_sites not in (None, "", "*"):
        values = raw_sites if isinstance(raw_sites, list) else _split(str(raw_sites))
        sites = frozenset(str(v) for v in values if str(v))
    return Principal(subject=str(subject), tenant_id=str(tenant), role=role, sites=sites)


def _split(value: str) -> list[str]:
    # API Gateway renders list claims as "[a b]"; Cognito custom attributes are strings.
    return [part for part in re.split(r"[\s,]+", value.strip("[]")) if part]


def claims_of(resolver: ApiGatewayResolver) -> dict[str, Any]:
    """The verified claims of the request being handled."""
    ctx = resolver.current_event.raw_event.get("requestContext") or {}
    claims: dict[str, Any] = ((ctx.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    return claims


# (METHOD, path as declared) -> the permission it requires; None for public operations.
ROUTE_PERMISSIONS: dict[tuple[str, str], Permission | None] = {}

_principal: ContextVar[Principal | None] = ContextVar("csms_principal", default=None)


def current_principal() -> Principal:
    """The caller of the request being handled (the guard has checked it)."""
    principal = _principal.get()
    if principal is None:  # pragma: no cover - every declared operation runs behind the guard
        raise UnauthorizedError
    return principal


def _refusal(app: ApiGatewayResolver, permission: Permission | None) -> Response[Any] | None:
    """401 or 403 for a caller who may not use an operation; None (caller noted) otherwise."""
    _principal.set(None)
    if permission is None:
        return None
    try:
        principal = principal_from_claims(claims_of(app))
    except UnauthorizedError:
        return problem(
            HTTPStatus.UNAUTHORIZED,
            "unauthorized",
            "a bearer token with a tenant is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    except ForbiddenError as exc:
        return problem(HTTPStatus.FORBIDDEN, "forbidden", str(exc))
    if not principal.may(permission):
        why = (
            f"role {principal.role.value} may not {permission.value}"
            if permission not in _granted(principal)
            else f"{permission.value} acts on the whole tenant; this user is limited to sites"
        )
        return problem(HTTPStatus.FORBIDDEN, "forbidden", why)
    _principal.set(principal)
    return None


def _guard(permission: Permission | None) -> Callable[..., Response[Any]]:
    def guard(app: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response[Any]:
        refusal = _refusal(app, permission)
        return refusal if refusal is not None else next_middleware(app)

    return guard


# The largest request body the API reads.
MAX_BODY_BYTES = 256 * 1024


class GuardedRequestValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, after the caller's identity and permission are checked.

    Powertools runs request validation before any middleware of ours, so without this a caller
    without a token or without the permission would learn the body's schema errors (400) before
    being refused (401/403). The route's own guard still runs; it finds the same answer.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Powertools' __init__ is untyped

    def handler(self, app: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response[Any]:
        """Refuse who may not call the matched operation; validate the request of who may."""
        body = app.current_event.body or ""
        if len(body) > MAX_BODY_BYTES * (4 / 3 if app.current_event.is_base64_encoded else 1):
            # Refused before anything parses it (API Gateway itself allows 10 MB).
            return problem(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "content-too-large",
                f"the body is larger than {MAX_BODY_BYTES // 1024} KiB",
                instance=app.current_event.path,
            )
        route = app.context.get("_route")
        key = (getattr(route, "method", ""), getattr(route, "path", ""))
        if key in ROUTE_PERMISSIONS:
            refusal = _refusal(app, ROUTE_PERMISSIONS[key])
            if refusal is not None:
                return refusal
        dependant = getattr(route, "dependant", None)
        content_type = (app.current_event.headers or {}).get("content-type", "").strip()
        if (
            getattr(dependant, "body_params", None)
            and content_type
            and not content_type.lower().startswith("application/json")
        ):
            # Powertools would also read forms and multipart (and fail on a bad boundary):
            # bodies of this API are JSON, anything else is refused before it is parsed.
            return problem(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be application/json",
                instance=app.current_event.path,
            )
        if getattr(dependant, "body_params", None) and not _is_json(app):
            return problem(
                HTTPStatus.BAD_REQUEST,
                "invalid-request",
                "the request does not match the API's schema",
                instance=app.current_event.path,
                errors=[{"location": "body", "message": "the body is not UTF-8 JSON"}],
            )
        return super().handler(app, next_middleware)


def _is_json(app: ApiGatewayResolver) -> bool:
    """Whether the body is absent or UTF-8 JSON (Powertools fails on other bytes: a 500)."""
    if not app.current_event.body:
        return True
    try:
        json.loads(app.current_event.decoded_body or "")
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def _granted(principal: Principal) -> frozenset[Permission]:
    from csms.domain.access import ROLE_PERMISSIONS

    return ROLE_PERMISSIONS[principal.role]


def operation(
    router: APIGatewayHttpRouter,
    method: str,
    path: str,
    permission: Permission | None,
    **kwargs: Any,
) -> Callable[[F], F]:
    """Declare a route with the permission it requires (None: public)."""
    ROUTE_PERMISSIONS[(method.upper(), path)] = permission
    decorator: Callable[[F], F] = router.route(
        path, method.upper(), middlewares=[_guard(permission)], **kwargs
    )
    return decorator


# -- ETag / If-Match ------------------------------------------------------------------------


def etag(version: int) -> str:
    """A strong entity tag for a stored version."""
    return f'"{version}"'


def expected_version(if_match: str | None, kind: str, resource_id: str) -> int | None:
    """The version an `If-Match` header requires; None when absent or `*`.

    A header that names no version of ours can never match: 412, as RFC 9110 prescribes.
    """
    if if_match is None or if_match.strip() in ("", "*"):
        return None
    tags = [tag.strip() for tag in if_match.split(",")]
    for tag in tags:
        match = re.fullmatch(r'"(\d{1,12})"', tag)
        if match:
            return int(match.group(1))
    raise VersionMismatchError(kind, resource_id)


def if_match_header(resolver: ApiGatewayResolver | APIGatewayHttpRouter) -> str | None:
    """The request's `If-Match` header, if any."""
    headers = resolver.current_event.headers or {}
    for name, value in headers.items():
        if name.lower() == "if-match":
            return str(value)
    return None


# -- audit capture --------------------------------------------------------------------------


@dataclass
class Change:
    """One resource a request changed: what it was and what it became (None: absent)."""

    kind: str
    resource_id: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    action: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


_changes: ContextVar[list[Change] | None] = ContextVar("csms_changes", default=None)


def begin_request() -> list[Change]:
    """Start collecting the changes of a new request."""
    changes: list[Change] = []
    _changes.set(changes)
    return changes


def record_change(change: Change) -> None:
    """Note a change for the audit log of the current request."""
    changes = _changes.get()
    if changes is not None:
        changes.append(change)
