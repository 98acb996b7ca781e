"""WebSocket `$connect`: authenticate the station and choose the OCPP subprotocol."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.utilities.typing import LambdaContext

from csms.domain.station import parse_subprotocol_header
from csms.handlers._runtime import gateway, logger
from csms.services.stations import ConnectRequest, Credentials

_PATH_PREFIX = "/ocpp/"


def station_id_from_event(event: dict[str, Any]) -> str:
    """The station id: `?station=` (set by the CloudFront Function in AWS) or `/ocpp/{id}`.

    The local gateway passes the request path as `path`; API Gateway has no path after the
    stage, so in AWS the id arrives as a query parameter. Empty when neither is there.
    """
    query = event.get("queryStringParameters") or {}
    if query.get("station"):
        return str(query["station"])
    path = str(event.get("path") or "")
    if path.startswith(_PATH_PREFIX):
        return unquote(path.removeprefix(_PATH_PREFIX))
    return ""


def lower_headers(event: dict[str, Any]) -> dict[str, str]:
    """Request headers with lower-case names (API Gateway keeps the client's spelling)."""
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


def parse_basic_auth(header: str | None) -> Credentials | None:
    """`Basic base64(user:password)` -> credentials; anything else -> None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep:
        return None
    return Credentials(username=username, password=password)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Accept (200 + Sec-WebSocket-Protocol) or refuse (401/400) the upgrade."""
    del context
    ctx = event.get("requestContext") or {}
    headers = lower_headers(event)
    request = ConnectRequest(
        station_id=station_id_from_event(event),
        connection_id=str(ctx.get("connectionId", "")),
        credentials=parse_basic_auth(headers.get("authorization")),
        offered_protocols=tuple(parse_subprotocol_header(headers.get("sec-websocket-protocol"))),
        source_ip=(ctx.get("identity") or {}).get("sourceIp"),
    )
    decision = gateway().stations.connect(request)
    logger.append_keys(station_id=request.station_id[:64])
    if decision.protocol is not None:
        logger.info("station connected", extra={"protocol": decision.protocol.value})
        return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": decision.protocol.value}}
    reason = decision.refusal
    status = reason.http_status if reason is not None else 401
    logger.warning("connection refused", extra={"reason": reason.value if reason else None})
    return {"statusCode": status}
