"""EventBridge rule target: fan an event out to the tenant's webhook subscriptions.

The rule delivers the events partners may subscribe to (csms.domain.webhooks); the fan-out
keeps a copy per matching subscription and queues one delivery each (csms.services.webhooks).
An event whose envelope does not parse is dropped with a warning (retrying could not mend it);
a store or queue that fails raises, so Lambda's asynchronous retries and then the rule's
dead-letter queue apply: no event is lost, and a repeated fan-out only repeats a `webhook-id`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from csms.handlers import _runtime
from csms.handlers._runtime import logger


class _Metadata(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    tenant_id: str = Field(min_length=1, max_length=64)
    occurred_at: AwareDatetime


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    metadata: _Metadata
    data: dict[str, Any]


def envelope_of(event: dict[str, Any]) -> dict[str, Any] | None:
    """The `{metadata, data}` envelope an EventBridge event carries; None if it carries none."""
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return None
    try:
        _Envelope.model_validate(detail)
    except ValidationError:
        return None
    return detail


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Queue the event's deliveries."""
    del context
    detail_type = str(event.get("detail-type"))
    envelope = envelope_of(event)
    if envelope is None:
        logger.warning(
            "webhook fan-out event dropped: no envelope",
            extra={"event_id": event.get("id"), "detail_type": detail_type},
        )
        return {"outcome": "dropped", "queued": 0}
    queued = _runtime.webhooks().fan_out(detail_type, envelope)
    logger.info(
        "webhook fan-out",
        extra={
            "detail_type": detail_type,
            "event_id": envelope["metadata"]["event_id"],
            "tenant_id": envelope["metadata"]["tenant_id"],
            "queued": queued,
        },
    )
    return {"outcome": "queued", "queued": queued}
