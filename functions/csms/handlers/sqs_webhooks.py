"""SQS event source: deliver queued webhooks, one signed POST each (csms.services.webhooks).

A batch answers with partial failures: a message delivered, skipped or given up on the
receiver's side (410) is deleted; one that failed is hidden for its backoff (the visibility
timeout, at most 12 hours) and reported failed, so the queue offers it again then. The
attempt number is SQS's receive count; after the last attempt the message is reported failed
without a backoff and the redrive policy moves it to the dead-letter queue at the next
receive (its `maxReceiveCount` is `csms.domain.webhooks.attempts_to_cover()`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from csms.domain.webhooks import DeliveryOutcome, WebhookEventType, retry_delay
from csms.handlers import _runtime
from csms.handlers._runtime import logger
from csms.services.webhooks import DeliveryMessage


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tenant_id: str = Field(alias="tenantId", min_length=1, max_length=64)
    subscription_id: str = Field(alias="subscriptionId", min_length=1, max_length=64)
    event_id: str = Field(alias="eventId", min_length=1, max_length=128)
    event_type: WebhookEventType = Field(alias="eventType")


def message_of(record: dict[str, Any]) -> DeliveryMessage | None:
    """The delivery a queue record asks for; None when its body is not one."""
    try:
        body = _Body.model_validate_json(record.get("body") or "")
    except ValidationError:
        return None
    return DeliveryMessage(body.tenant_id, body.subscription_id, body.event_id, body.event_type)


def _attempt(record: dict[str, Any]) -> int:
    try:
        return max(1, int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")))
    except ValueError:
        return 1


def _deliver(record: dict[str, Any]) -> bool:
    """Deliver one record; True when the queue should keep it for another attempt."""
    message = message_of(record)
    if message is None:
        logger.warning(
            "webhook delivery dropped: not a delivery", extra={"id": record.get("messageId")}
        )
        return False
    attempt = _attempt(record)
    try:
        result = _runtime.webhooks().deliver(message, attempt)
    except Exception:
        # The table or the secret could not be read: the backoff applies as for a receiver.
        logger.exception("webhook delivery failed", extra={"attempt": attempt})
        _runtime.webhook_queue().retry_later(
            record["receiptHandle"], int(retry_delay(attempt).total_seconds())
        )
        return True
    logger.info(
        "webhook delivery",
        extra={
            "outcome": result.outcome.value,
            "attempt": attempt,
            "tenant_id": message.tenant_id,
            "subscription_id": message.subscription_id,
            "event_id": message.event_id,
        },
    )
    if result.retry_after is not None:
        _runtime.webhook_queue().retry_later(
            record["receiptHandle"], int(result.retry_after.total_seconds())
        )
        return True
    # Given up: reported failed so that the redrive policy moves it to the dead-letter queue.
    return result.outcome is DeliveryOutcome.GAVE_UP


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Deliver a batch; the failed ones are named for the queue to offer again."""
    del context
    failures = [
        {"itemIdentifier": record["messageId"]}
        for record in event.get("Records", [])
        if _deliver(record)
    ]
    return {"batchItemFailures": failures}
