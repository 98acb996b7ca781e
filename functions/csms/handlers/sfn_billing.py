"""The billing workflow's Lambda functions: its starter, its tasks, and the monthly close.

TransactionEnded (csms.sessions) -> `start_handler` (EventBridge rule target) starts the billing
state machine under a name made from tenant, session and revision: Step Functions refuses a
name used in the last 90 days, so a duplicate event starts nothing. The state machine
(infra/csms_infra/billing.py) runs `bill_handler`, retries it on the errors below and, when
billing fails for good, runs `alert_handler` (an ALERT in the logs) and fails the execution
(an alarm watches failed executions). Exactly once is BillingService's: the workflow adds the
retries, the visibility and the alert.

Error names are the state machine's contract (Lambda reports an exception by its class name):
- BillingRetryableError: the payment provider could not be asked, or a write race; retried
  with backoff;
- BillingRejectedError: billing refused the session (not priceable, a conflict, a provider
  refusal that is not a decline); never retried, alerted at once;
- anything else (an AWS call that failed, a bug): retried a few times, then alerted.

`close_month_handler` runs on the schedule of the 1st of each month and closes last month's
statements (csms.services.billing_month).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from csms.adapters.system import SystemClock
from csms.domain.errors import DomainError
from csms.handlers import _runtime
from csms.handlers._runtime import logger
from csms.services.billing_month import is_transient, previous_month

# Execution names: at most 80 characters of A-Z a-z 0-9 - _ (Step Functions' quota).
_NAME_LIMIT = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class BillingRetryableError(Exception):
    """Billing failed for now (provider unavailable, a write race): the workflow retries."""


class BillingRejectedError(Exception):
    """Billing refused the session for good: the workflow alerts without retrying."""


class MonthCloseIncompleteError(Exception):
    """Some statements could not be collected for now: the schedule's retry closes the rest."""


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tenant_id: str | None = Field(default=None, min_length=1, max_length=64)
    station_id: str | None = Field(default=None, min_length=1, max_length=64)
    session_id: str | None = Field(default=None, min_length=1, max_length=128)
    revision: int = Field(default=1, ge=1)


class _Detail(BaseModel):
    model_config = ConfigDict(extra="ignore")

    metadata: _Data = _Data()
    data: _Data = _Data()


class BillRequest(BaseModel):
    """The state machine's input: which session (and revision) ended."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    tenant_id: str = Field(alias="tenantId", min_length=1, max_length=64)
    session_id: str = Field(alias="sessionId", min_length=1, max_length=128)
    revision: int = Field(default=1, ge=1)
    station_id: str | None = Field(default=None, alias="stationId")


def bill_request_of(event: dict[str, Any]) -> BillRequest | None:
    """The billing request a TransactionEnded event carries; None when it names no session."""
    try:
        detail = _Detail.model_validate(event.get("detail") or {})
    except ValidationError:
        return None
    data, metadata = detail.data, detail.metadata
    tenant = data.tenant_id or metadata.tenant_id
    if tenant is None or data.session_id is None:
        return None
    return BillRequest.model_validate(
        {
            "tenantId": tenant,
            "sessionId": data.session_id,
            "revision": data.revision,
            "stationId": data.station_id or metadata.station_id,
        }
    )


def execution_name(request: BillRequest) -> str:
    """The execution's name: readable, and unique per tenant, session and revision.

    The digest keeps two sessions apart whose ids differ only in characters a name may not
    hold, or beyond the length a name may have.
    """
    key = f"{request.tenant_id}\n{request.session_id}\n{request.revision}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    suffix = f"-r{request.revision}-{digest}"
    readable = _UNSAFE.sub("_", f"{request.tenant_id}_{request.session_id}")
    return readable[: _NAME_LIMIT - len(suffix)] + suffix


def execution_input(request: BillRequest) -> str:
    """The execution's input, the same for the same request (a repeated start is idempotent)."""
    return json.dumps(request.model_dump(by_alias=True), sort_keys=True, separators=(",", ":"))


@logger.inject_lambda_context(clear_state=True)
def start_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Start the billing of the session a TransactionEnded event tells of, once."""
    del context
    request = bill_request_of(event)
    if request is None:
        # Our publisher always names both; an event that does not is a bug upstream.
        logger.error(
            "ALERT billing: TransactionEnded without tenant or session, not billed",
            extra={"event_id": event.get("id")},
        )
        return {"started": False, "why": "no tenant or session in the event"}
    name = execution_name(request)
    started = _runtime.billing_workflow().start(name, execution_input(request))
    logger.info(
        "billing workflow started" if started else "billing workflow exists already",
        extra={
            "tenant_id": request.tenant_id,
            "session_id": request.session_id,
            "revision": request.revision,
            "execution": name,
        },
    )
    return {"started": started, "execution": name}


@logger.inject_lambda_context(clear_state=True)
def bill_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Bill task: bill the session's newest revision (BillingService does it once)."""
    del context
    try:
        request = BillRequest.model_validate(event)
    except ValidationError as exc:
        raise BillingRejectedError(f"not a billing request: {exc.error_count()} errors") from None
    logger.append_keys(tenant_id=request.tenant_id, session_id=request.session_id)
    try:
        outcome = _runtime.billing_service().bill_session(
            request.tenant_id, request.session_id, SystemClock().now()
        )
    except DomainError as exc:
        if is_transient(exc):
            logger.warning("billing failed for now; retried", extra={"reason": str(exc)})
            raise BillingRetryableError(str(exc)) from exc
        raise BillingRejectedError(str(exc)) from exc
    invoice = outcome.invoice
    billed = {
        "sessionId": outcome.session_id,
        "revision": outcome.revision,
        "cdrId": outcome.cdr_id,
        "invoiceId": invoice.id if invoice is not None else None,
        "invoiceState": invoice.state.value if invoice is not None else None,
    }
    logger.info("session billed", extra=billed)
    return billed


def _reason(error: dict[str, Any]) -> str:
    # Lambda errors come as Cause = {"errorMessage", "errorType", "stackTrace"} (a JSON string).
    cause = error.get("Cause")
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except json.JSONDecodeError:
            return cause[:1000]
        if isinstance(parsed, dict):
            return str(parsed.get("errorMessage") or cause)[:1000]
    return str(cause)[:1000]


@logger.inject_lambda_context(clear_state=True)
def alert_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Alert task: the session is not billed; tell the operator (emits no domain event)."""
    del context
    error = event.get("error") if isinstance(event.get("error"), dict) else {}
    alert = {
        "tenant_id": event.get("tenantId"),
        "session_id": event.get("sessionId"),
        "revision": event.get("revision"),
        "error": (error or {}).get("Error"),
        "reason": _reason(error or {}),
    }
    # The line operators search for and a metric filter can count.
    logger.error("ALERT billing failed: session not billed", extra=alert)
    return {"alerted": True, **alert}


@logger.inject_lambda_context(clear_state=True)
def close_month_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Close last month's statements (or those of `{"month": "YYYY-MM"}`, for a rerun)."""
    del context
    month = event.get("month")
    if not (isinstance(month, str) and re.fullmatch(_MONTH, month)):
        month = previous_month(SystemClock().now())
    report = _runtime.billing_month().close(month, SystemClock().now())
    for ref, reason in report.refused:
        logger.error(
            "ALERT billing: statement not closed",
            extra={"tenant_id": ref.tenant_id, "account_id": ref.account_id, "reason": reason},
        )
    summary = {
        "month": report.month,
        "closed": report.closed,
        "refused": len(report.refused),
        "retry": len(report.retry),
    }
    logger.info("monthly close", extra=summary)
    if report.retry:
        # The schedule's target retries the invocation; what closed stays closed.
        raise MonthCloseIncompleteError(f"{len(report.retry)} statements to retry in {month}")
    return summary
