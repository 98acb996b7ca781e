"""EventBridge rule target: pre-authorise an ad-hoc session when it starts (TransactionStarted).

The event's `{metadata, data}` envelope carries all the service needs (tenant, session, station,
site, EVSE, token, group, start), so nothing is read to decide what the event is about. What is
held and when is csms.services.preauth's business. An event that is not a session start of a
tenant is dropped with a warning (retrying could not mend it); a payment provider that could
not be asked raises, so that Lambda's asynchronous retries (and then the rule's dead-letter
queue) apply, with the same idempotency key every time.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from csms.handlers import _runtime
from csms.handlers._runtime import logger
from csms.services.preauth import StartedSession

_Id = Field(min_length=1, max_length=128)


class _Evse(BaseModel):
    model_config = ConfigDict(extra="ignore")

    evse_id: int = Field(ge=0)


class _Started(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tenant_id: str = Field(min_length=1, max_length=64)
    session_id: str = _Id
    station_id: str = Field(min_length=1, max_length=64)
    occurred_at: AwareDatetime
    site_id: str | None = None
    evse: _Evse | None = None
    id_token: str | None = None
    group_id: str | None = None
    started_at: AwareDatetime | None = None


class _Detail(BaseModel):
    model_config = ConfigDict(extra="ignore")

    data: _Started


def started_of(event: dict[str, Any]) -> StartedSession | None:
    """The started session an EventBridge event tells of; None when it tells of none."""
    if event.get("detail-type") != "TransactionStarted":
        return None
    try:
        data = _Detail.model_validate(event.get("detail") or {}).data
    except ValidationError:
        return None
    return StartedSession(
        tenant_id=data.tenant_id,
        session_id=data.session_id,
        station_id=data.station_id,
        site_id=data.site_id,
        evse_id=data.evse.evse_id if data.evse is not None else None,
        id_token=data.id_token,
        group_id=data.group_id,
        # A session first heard of without its start (2.0.1 Updated first): the tariff in
        # force when it was heard of is the best there is.
        started_at=(data.started_at or data.occurred_at).astimezone(UTC),
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Pre-authorise the started session's payment when one is due."""
    del context
    started = started_of(event)
    if started is None:
        logger.warning(
            "pre-authorisation event dropped: not a session start",
            extra={"event_id": event.get("id"), "detail_type": event.get("detail-type")},
        )
        return {"outcome": "dropped", "why": "not a session start"}
    result = _runtime.preauth().preauthorize(started)
    summary: dict[str, Any] = {
        "outcome": result.outcome.value,
        "why": result.reason,
        "tenantId": started.tenant_id,
        "sessionId": started.session_id,
    }
    if result.hold is not None:
        summary["hold"] = {
            "reference": result.hold.reference,
            "amountMinor": result.hold.amount_minor,
            "currency": result.hold.currency,
        }
    logger.info("pre-authorisation", extra=summary)
    return summary
