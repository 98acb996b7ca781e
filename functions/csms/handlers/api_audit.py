"""The audit log: written after every mutating request (and every refusal), read at /v1/audit.

`csms.handlers.api` calls `audit_request` once per request: from its middleware once the
route has answered, or, for requests refused before the middleware ran (an invalid body) or
that raised, once the answer is known. Writing never fails the request.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import AwareDatetime

from csms.domain.access import Permission
from csms.domain.audit import Actor, AuditChange, AuditOutcome, AuditRequest
from csms.domain.errors import ForbiddenError
from csms.handlers._runtime import logger
from csms.handlers.api_access import (
    Change,
    UnauthorizedError,
    current_principal,
    operation,
    principal_from_claims,
)
from csms.handlers.api_common import BAD_REQUEST, Cursor, Limit, new_router, responses, runtime
from csms.handlers.api_models_audit import AuditEntryView, AuditPage
from csms.services.audit import AuditQuery

router = new_router()

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class _RequestAudit:
    changes: list[Change]
    route: str | None = None
    done: bool = False


_current: ContextVar[_RequestAudit | None] = ContextVar("csms_request_audit", default=None)


def begin_audit(changes: list[Change], route: str | None = None) -> None:
    """A request starts (again): its route (declared path) notes its changes in `changes`."""
    _current.set(_RequestAudit(changes, route))


def audit_pending(event: dict[str, Any], status: int) -> None:
    """Audit the current request if nothing has yet (it was refused or raised early)."""
    current = _current.get()
    if current is not None and not current.done:
        audit_request(event, status, current.changes, current.route)


def worth_auditing(method: str, status: int) -> bool:
    """Every mutating request, and any request refused for its caller's role or sites."""
    return method.upper() in MUTATING or status == HTTPStatus.FORBIDDEN


def audit_request(
    event: dict[str, Any], status: int, changes: list[Change], route: str | None = None
) -> None:
    """Write the audit entries of a request, if it is worth it; log, never raise, on failure."""
    current = _current.get()
    if current is not None:
        current.done = True
    try:
        context = event.get("requestContext") or {}
        method = str((context.get("http") or {}).get("method") or event.get("httpMethod") or "")
        if not worth_auditing(method, status):
            return
        claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
        tenant_id, actor = _caller(claims)
        if tenant_id is None:
            # No tenant to file it under: such a token is not ours (API Gateway's authorizer
            # refuses requests without one before they get here).
            logger.warning("request without a tenant not audited", extra={"status": status})
            return
        request = AuditRequest(
            tenant_id=tenant_id,
            actor=actor,
            method=method,
            path=str(event.get("rawPath") or event.get("path") or ""),
            route=route,
            status=status,
            source_ip=(context.get("http") or {}).get("sourceIp"),
            request_id=context.get("requestId"),
        )
        runtime().audit.record(request, [_domain_change(change) for change in changes])
    except Exception as exc:
        # Only the error's type: its text could quote the entry, and entries hold ids.
        logger.error(
            "audit write failed",
            extra={"error": type(exc).__name__, "status": status},
        )


def _caller(claims: dict[str, Any]) -> tuple[str | None, Actor]:
    """The tenant and actor of the request, as far as its claims tell."""
    try:
        principal = principal_from_claims(claims)
    except (UnauthorizedError, ForbiddenError):
        # Refused by the guard: keep what the token says, for whoever investigates.
        tenant = claims.get("tenant_id") or claims.get("custom:tenant_id")
        subject = claims.get("sub")
        role = claims.get("role") or claims.get("custom:role") or claims.get("cognito:groups")
        return (
            str(tenant)[:64] if tenant else None,
            Actor(
                subject=str(subject)[:128] if subject else None,
                role=str(role)[:64] if role else None,
            ),
        )
    sites = tuple(sorted(principal.sites)) if principal.sites is not None else None
    return principal.tenant_id, Actor(
        subject=principal.subject, role=principal.role.value, sites=sites
    )


def _domain_change(change: Change) -> AuditChange:
    return AuditChange(
        kind=change.kind,
        resource_id=change.resource_id,
        before=change.before,
        after=change.after,
        action=change.action,
        details=change.details,
    )


# -- GET /v1/audit ----------------------------------------------------------------------------


@operation(
    router,
    "GET",
    "/v1/audit",
    Permission.READ_AUDIT,
    summary="Read the audit log",
    tags=["audit"],
    responses=responses("A page of audit entries, newest first", BAD_REQUEST),
)
def list_audit(
    *,
    limit: Limit = 50,
    cursor: Cursor = None,
    from_: Annotated[
        AwareDatetime | None,
        Query(alias="from", description="At or after (RFC 3339, inclusive)"),
    ] = None,
    to: Annotated[AwareDatetime | None, Query(description="Before (RFC 3339, exclusive)")] = None,
    actor: Annotated[
        str | None, Query(max_length=128, description="The subject (user id) who acted")
    ] = None,
    resource_kind: Annotated[
        str | None,
        Query(alias="resourceKind", max_length=64, description="station, site, token, ..."),
    ] = None,
    resource_id: Annotated[
        str | None,
        Query(
            alias="resourceId",
            max_length=128,
            description="The resource's id (an id token: its full value or as the log shows it)",
        ),
    ] = None,
    action: Annotated[
        str | None, Query(max_length=128, description="`site.update`, `command.Reset`, ...")
    ] = None,
    outcome: Annotated[AuditOutcome | None, Query(description="What became of it")] = None,
) -> AuditPage:
    """Who did what when, with before/after, newest first; filters combine (all must match).

    The time range narrows what is read; the other filters are applied to what is read, so a
    page can hold fewer than `limit` entries (even none) while `nextCursor` says more follow.
    """
    query = AuditQuery(
        from_=from_,
        to=to,
        actor=actor,
        resource_kind=resource_kind,
        resource_id=resource_id,
        action=action,
        outcome=outcome,
    )
    page = runtime().audit.find(current_principal().tenant_id, query, limit, cursor)
    return AuditPage(
        items=[AuditEntryView.of(entry) for entry in page.items], next_cursor=page.next_cursor
    )
