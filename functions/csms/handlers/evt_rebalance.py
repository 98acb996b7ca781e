"""EventBridge rule target: rebalance the site an event is about (one site per invocation).

Triggers: TransactionStarted and TransactionEnded (csms.sessions), LoadChanged (csms.load,
the site's configuration, readings or declared needs changed) and RebalanceRequested (the
periodic schedule, csms.handlers.sched_rebalance). Every one carries the tenant in its
`{metadata, data}` envelope; the site is in `data.site_id`, or found through the station for a
session event that has none (sessions of stations that had no site when they started).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from csms.handlers._runtime import logger, rebalancer


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tenant_id: str | None = Field(default=None, min_length=1, max_length=64)
    site_id: str | None = Field(default=None, min_length=1, max_length=64)
    station_id: str | None = Field(default=None, min_length=1, max_length=64)
    session_id: str | None = Field(default=None, min_length=1, max_length=128)


class _Detail(BaseModel):
    model_config = ConfigDict(extra="ignore")

    metadata: _Data = _Data()
    data: _Data = _Data()


class RebalanceTrigger(BaseModel):
    """Which site to rebalance, and why (from an EventBridge event)."""

    model_config = ConfigDict(frozen=True)

    reason: str
    tenant_id: str
    site_id: str | None = None
    station_id: str | None = None
    session_id: str | None = None


def trigger_of(event: dict[str, Any]) -> RebalanceTrigger | None:
    """The trigger an event carries; None when it names no tenant (nothing to do)."""
    try:
        detail = _Detail.model_validate(event.get("detail") or {})
    except ValidationError:
        return None
    data, metadata = detail.data, detail.metadata
    tenant = data.tenant_id or metadata.tenant_id
    if tenant is None:
        return None
    return RebalanceTrigger(
        reason=str(event.get("detail-type") or "unknown"),
        tenant_id=tenant,
        site_id=data.site_id,
        station_id=data.station_id or metadata.station_id,
        session_id=data.session_id,
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Rebalance the event's site; an event that names no site of a tenant is dropped."""
    del context
    trigger = trigger_of(event)
    if trigger is None:
        logger.warning(
            "rebalance event without a tenant dropped", extra={"event_id": event.get("id")}
        )
        return {"rebalanced": False, "why": "no tenant in the event"}
    runtime = rebalancer()
    site_id = trigger.site_id
    if site_id is None and trigger.station_id is not None:
        station = runtime.stations.get(trigger.station_id)
        if station is not None and station.tenant_id == trigger.tenant_id:
            site_id = station.site_id
    if site_id is None:
        return {"rebalanced": False, "why": "the event's station has no site"}
    outcome = runtime.service.rebalance(
        trigger.tenant_id, site_id, trigger.reason, session_id=trigger.session_id
    )
    summary = {
        "rebalanced": outcome.skipped is None,
        "tenantId": outcome.tenant_id,
        "siteId": outcome.site_id,
        "reason": outcome.reason,
        "sent": list(outcome.sent),
        "cleared": list(outcome.cleared),
        "stored": outcome.stored,
    }
    if outcome.skipped is not None:
        summary["why"] = outcome.skipped
    logger.info("rebalance", extra={**summary, "notes": list(outcome.notes)})
    return summary
