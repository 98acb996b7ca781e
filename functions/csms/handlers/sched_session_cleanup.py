"""Scheduled job (EventBridge rule): close sessions their stations stopped reporting on."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from csms.handlers._runtime import cleanup, logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Close every abandoned session; report how many were closed."""
    del event, context
    closed = cleanup().close_abandoned()
    logger.info("session cleanup done", extra={"closed": len(closed)})
    return {"closed": len(closed)}
