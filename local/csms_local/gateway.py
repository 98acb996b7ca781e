"""The local gateway: API Gateway's WebSocket API, its `@connections` API and the HTTP API.

It builds API Gateway-shaped events and calls the very handler functions that run in Lambda,
each in a worker thread (as Lambda runs them beside the gateway). It enforces API Gateway's
limits that shape the design: 128 KB messages, 10 minutes idle, 2 hours per connection.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web
from aws_lambda_powertools.utilities.typing import LambdaContext

from csms.handlers import api as api_handler
from csms.handlers import ws_connect, ws_disconnect, ws_message
from csms_local import tokens

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

MAX_MESSAGE_BYTES = 128 * 1024
PROBLEM_JSON = "application/problem+json"


class LambdaContextStub(LambdaContext):
    """A Lambda context with what the handlers and Powertools read."""

    def __init__(self, function_name: str) -> None:
        self._function_name = function_name
        self._memory_limit_in_mb = 512
        self._invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self._aws_request_id = secrets.token_hex(8)


@dataclass
class LiveConnection:
    """A station's WebSocket as the gateway tracks it."""

    connection_id: str
    socket: web.WebSocketResponse
    source_ip: str
    user_agent: str
    connected_at: datetime
    last_active_at: datetime


@dataclass
class GatewayLimits:
    """API Gateway's WebSocket limits (shorter in tests)."""

    idle_timeout_s: float = 600.0
    max_connection_s: float = 7200.0


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def new_connection_id() -> str:
    """An id shaped like API Gateway's (base64 of random bytes)."""
    return base64.b64encode(secrets.token_bytes(10)).decode()


class LocalGateway:
    """Serves the station WebSocket endpoint, `@connections` and the HTTP API."""

    def __init__(
        self,
        *,
        signing_key: str,
        limits: GatewayLimits | None = None,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        self._key = signing_key
        self._limits = limits or GatewayLimits()
        self._executor = executor or ThreadPoolExecutor(max_workers=16, thread_name_prefix="lambda")
        self.connections: dict[str, LiveConnection] = {}
        self._api_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- applications ------------------------------------------------------------------------
    def websocket_app(self) -> web.Application:
        """`/ocpp/{stationId}` for stations and `/@connections/{id}` for the CSMS."""
        app = web.Application(client_max_size=MAX_MESSAGE_BYTES)
        app.router.add_get("/ocpp/{station_id:.*}", self._station_socket)
        app.router.add_post("/@connections/{connection_id}", self._post_to_connection)
        app.router.add_get("/@connections/{connection_id}", self._get_connection)
        app.router.add_delete("/@connections/{connection_id}", self._delete_connection)
        app.on_shutdown.append(self._close_all)
        return app

    def http_app(self) -> web.Application:
        """The HTTP API: the JWT authorizer, then the api function."""
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_route("*", r"/{tail:[\s\S]*}", self._http_api)
        return app

    async def _invoke(self, handler: Handler, event: dict[str, Any], name: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, handler, event, LambdaContextStub(function_name=name)
        )

    # -- WebSocket API -----------------------------------------------------------------------
    def _ws_event(self, route: str, connection_id: str, **extra: Any) -> dict[str, Any]:
        event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
        context = {
            "routeKey": route,
            "eventType": event_type,
            "connectionId": connection_id,
            "domainName": "127.0.0.1",
            "stage": "local",
            "apiId": "local",
            "requestTimeEpoch": int(time.time() * 1000),
            "connectedAt": int(time.time() * 1000),
        }
        context.update(extra.pop("request_context", {}))
        return {"requestContext": context, "isBase64Encoded": False, **extra}

    async def _station_socket(self, request: web.Request) -> web.StreamResponse:
        connection_id = new_connection_id()
        source_ip = request.remote or "127.0.0.1"
        event = self._ws_event(
            "$connect",
            connection_id,
            path=request.path,
            headers=dict(request.headers),
            queryStringParameters=dict(request.query) or None,
            request_context={
                "identity": {
                    "sourceIp": source_ip,
                    "userAgent": request.headers.get("User-Agent", ""),
                }
            },
        )
        result = await self._invoke(ws_connect.lambda_handler, event, "ws-connect")
        status = int(result.get("statusCode", 500))
        if status != 200:
            return web.Response(status=status, text=f"connection refused ({status})\n")
        protocol = (result.get("headers") or {}).get("Sec-WebSocket-Protocol")
        socket = web.WebSocketResponse(
            protocols=(protocol,) if protocol else (),
            max_msg_size=MAX_MESSAGE_BYTES,
            autoping=True,
        )
        await socket.prepare(request)
        now = _now()
        live = LiveConnection(
            connection_id=connection_id,
            socket=socket,
            source_ip=source_ip,
            user_agent=request.headers.get("User-Agent", ""),
            connected_at=now,
            last_active_at=now,
        )
        self.connections[connection_id] = live
        try:
            await self._pump(live)
        finally:
            self.connections.pop(connection_id, None)
            await self._invoke(
                ws_disconnect.lambda_handler,
                self._ws_event("$disconnect", connection_id),
                "ws-disconnect",
            )
        return socket

    async def _pump(self, live: LiveConnection) -> None:
        deadline = time.monotonic() + self._limits.max_connection_s
        while not live.socket.closed:
            timeout = min(self._limits.idle_timeout_s, deadline - time.monotonic())
            if timeout <= 0:
                await live.socket.close(code=1001, message=b"Going away")
                return
            try:
                message = await live.socket.receive(timeout=timeout)
            except TimeoutError:
                await live.socket.close(code=1001, message=b"Going away")
                return
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return
            if message.type is WSMsgType.ERROR:
                logger.warning("websocket error on %s", live.connection_id)
                return
            live.last_active_at = _now()
            if message.type is WSMsgType.TEXT:
                body, encoded = message.data, False
            elif message.type is WSMsgType.BINARY:
                body, encoded = base64.b64encode(message.data).decode(), True
            else:
                continue
            event = self._ws_event(
                "$default", live.connection_id, body=body, isBase64Encoded=encoded
            )
            result = await self._invoke(ws_message.lambda_handler, event, "ws-message")
            reply = result.get("body")
            if reply and not live.socket.closed:
                await live.socket.send_str(reply)

    async def _close_all(self, app: web.Application) -> None:
        del app
        for live in list(self.connections.values()):
            await live.socket.close(code=1001, message=b"Server shutdown")

    # -- @connections ------------------------------------------------------------------------
    @staticmethod
    def _gone(connection_id: str) -> web.Response:
        return web.json_response(
            {"message": f"connection {connection_id} is gone"},
            status=410,
            headers={"x-amzn-ErrorType": "GoneException"},
        )

    async def _post_to_connection(self, request: web.Request) -> web.Response:
        connection_id = request.match_info["connection_id"]
        live = self.connections.get(connection_id)
        if live is None or live.socket.closed:
            return self._gone(connection_id)
        data = await request.read()
        if len(data) > MAX_MESSAGE_BYTES:
            return web.json_response(
                {"message": "payload too large"},
                status=413,
                headers={"x-amzn-ErrorType": "PayloadTooLargeException"},
            )
        await live.socket.send_str(data.decode("utf-8", errors="replace"))
        return web.Response(status=200)

    async def _get_connection(self, request: web.Request) -> web.Response:
        connection_id = request.match_info["connection_id"]
        live = self.connections.get(connection_id)
        if live is None or live.socket.closed:
            return self._gone(connection_id)
        return web.json_response(
            {
                "connectedAt": _iso(live.connected_at),
                "lastActiveAt": _iso(live.last_active_at),
                "identity": {"sourceIp": live.source_ip, "userAgent": live.user_agent},
            }
        )

    async def _delete_connection(self, request: web.Request) -> web.Response:
        connection_id = request.match_info["connection_id"]
        live = self.connections.get(connection_id)
        if live is None:
            return self._gone(connection_id)
        await live.socket.close(code=1000)
        return web.Response(status=204)

    # -- HTTP API ----------------------------------------------------------------------------
    def _api_serially(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        # One api function instance: Powertools keeps the request being resolved on the
        # resolver object, so two requests must not run in it at once (Lambda never does).
        with self._api_lock:
            return api_handler.lambda_handler(event, context)

    async def _http_api(self, request: web.Request) -> web.Response:
        claims: dict[str, Any] | None = None
        # Exactly the public operations pass without a token (as API Gateway's routes without
        # the JWT authorizer): the OpenAPI document and Stripe's signed webhook.
        if (request.method, request.path) not in api_handler.PUBLIC_ROUTES:
            try:
                claims = tokens.verify(self._key, request.headers.get("Authorization"))
            except tokens.TokenError as exc:
                body = {
                    "type": "/problems/unauthorized",
                    "title": "Unauthorized",
                    "status": 401,
                    "detail": str(exc),
                }
                return web.Response(
                    status=401,
                    text=json.dumps(body),
                    content_type=PROBLEM_JSON,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        raw = await request.read()
        try:
            body_text, encoded = raw.decode("utf-8"), False
        except UnicodeDecodeError:
            body_text, encoded = base64.b64encode(raw).decode(), True
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": request.path,
            "rawQueryString": request.query_string,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "queryStringParameters": dict(request.query) or None,
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "local",
                "domainName": request.host,
                "http": {
                    "method": request.method,
                    "path": request.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": request.remote or "127.0.0.1",
                    "userAgent": request.headers.get("User-Agent", ""),
                },
                "requestId": secrets.token_hex(8),
                "routeKey": "$default",
                "stage": "$default",
                "time": _now().strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(time.time() * 1000),
                "authorizer": {"jwt": {"claims": claims or {}, "scopes": None}},
            },
            "body": body_text or None,
            "isBase64Encoded": encoded,
        }
        result = await self._invoke(self._api_serially, event, "api")
        headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(str(v) for v in values)
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        content_type = headers.pop("Content-Type", headers.pop("content-type", None))
        response = web.Response(
            status=int(result.get("statusCode", 500)), body=data, headers=headers
        )
        if content_type:
            response.content_type = content_type.split(";")[0]
        return response
