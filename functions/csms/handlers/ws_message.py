"""WebSocket `$default`: one OCPP-J frame in, the reply out as the route response."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from csms.domain.errors import UnknownConnectionError
from csms.handlers._runtime import Runtime, gateway, logger


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
    runtime = gateway()
    reply = runtime.dispatcher.handle(connection_id, body)
    # Traced stations' frames go to the message log; for others this reads the cached binding
    # and writes nothing. It never raises.
    runtime.message_log.observe(runtime.stations.resolve, connection_id, body, reply)
    _deliver_queued(runtime, connection_id)
    if reply is None:
        return {"statusCode": 200}
    return {"statusCode": 200, "body": reply}


def _deliver_queued(runtime: Runtime, connection_id: str) -> None:
    """On a connection's first message, send what was queued for the station while it was away.

    The binding (cached: no read) says whether anything was queued when it connected, so other
    messages cost nothing here. The station's own CALL is answered in the route response, just
    after: OCPP-J lets each side have one CALL outstanding at the same time.
    """
    try:
        binding = runtime.stations.resolve(connection_id)
    except UnknownConnectionError:
        return
    if not binding.deliver_queue:
        return
    try:
        runtime.commands.deliver_on_connect(binding)
    except Exception:
        # The station's message was handled; its reply must still go out.
        logger.exception("delivering queued commands failed")
