"""WebSocket `$disconnect`: record the disconnect (it feeds uptime)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from csms.handlers._runtime import gateway, logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway ignores the result; the record is what matters."""
    del context
    connection_id = str((event.get("requestContext") or {}).get("connectionId", ""))
    gateway().stations.disconnect(connection_id)
    return {"statusCode": 200}
