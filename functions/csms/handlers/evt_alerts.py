"""EventBridge rule target: fault detection on station events (csms.services.alerts).

The rule delivers ConnectorStatusChanged, StationConnected, StationDisconnected,
StationBooted, TokenAuthorized and TransactionStarted (failed starts), TransactionUpdated and
TransactionEnded (no energy while charging); the event's `data`
is the domain event itself, rebuilt here. An event that does not parse is dropped with a
warning (retrying could not mend it); a store that fails raises,
so Lambda's asynchronous retries and then the rule's dead-letter queue apply (every step is
conditional, so a retry changes nothing twice).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from csms.domain.events import (
    ConnectorStatusChanged,
    DomainEvent,
    StationBooted,
    StationConnected,
    StationDisconnected,
    TokenAuthorized,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from csms.handlers import _runtime
from csms.handlers._runtime import logger

DETECTED: dict[str, type[DomainEvent]] = {
    cls.detail_type: cls
    for cls in (
        ConnectorStatusChanged,
        StationConnected,
        StationDisconnected,
        StationBooted,
        TokenAuthorized,
        TransactionStarted,
        TransactionUpdated,
        TransactionEnded,
    )
}


def event_of(event: dict[str, Any]) -> DomainEvent | None:
    """The domain event an EventBridge event carries; None when it carries none we detect on."""
    cls = DETECTED.get(str(event.get("detail-type")))
    detail = event.get("detail")
    if cls is None or not isinstance(detail, dict):
        return None
    try:
        return cls.model_validate(detail.get("data"))
    except ValidationError:
        return None


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Apply one station event to the alerts."""
    del context
    domain_event = event_of(event)
    if domain_event is None:
        logger.warning(
            "alert detection event dropped",
            extra={"event_id": event.get("id"), "detail_type": event.get("detail-type")},
        )
        return {"outcome": "dropped"}
    outcome = _runtime.alerts().observe(domain_event)
    logger.info(
        "alert detection",
        extra={
            "outcome": outcome,
            "detail_type": domain_event.detail_type,
            "station_id": domain_event.station_id,
        },
    )
    return {"outcome": outcome}
