"""WebSocket `$default`: one OCPP-J frame in, the reply out as the route response."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from csms.handlers._runtime import gateway, logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Answer a CALL in the route response (never via post_to_connection)."""
    del context
    connection_id = str((event.get("requestContext") or {}).get("connectionId", ""))
    body: str | bytes = event.get("body") or ""
    if event.get("isBase64Encoded") and isinstance(body, str):
        try:
            body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            body = b""
    reply = gateway().dispatcher.handle(connection_id, body)
    if reply is None:
        return {"statusCode": 200}
    return {"statusCode": 200, "body": reply}
