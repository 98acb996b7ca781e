"""FrameSender on the API Gateway management API (`@connections`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from csms.domain.errors import StationOfflineError

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient


def _gone(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code") in ("GoneException", "410") or status == 410


class ApiGwConnectionSender:
    """Posts frames to live connections and reads their last activity."""

    def __init__(self, client_factory: Callable[[], ApiGatewayManagementApiClient]) -> None:
        self._factory = client_factory
        self._client: ApiGatewayManagementApiClient | None = None

    @property
    def client(self) -> ApiGatewayManagementApiClient:
        """Created on first use: most messages never send anything."""
        if self._client is None:
            self._client = self._factory()
        return self._client

    def send(self, connection_id: str, frame: str) -> None:
        """Send one frame; a gone connection means the station is offline."""
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=frame.encode())
        except ClientError as exc:
            if _gone(exc):
                raise StationOfflineError(connection_id) from None
            raise

    def last_active_at(self, connection_id: str) -> datetime | None:
        """API Gateway's own record of the connection's last message (Heartbeats included)."""
        try:
            response = self.client.get_connection(ConnectionId=connection_id)
        except ClientError as exc:
            if _gone(exc):
                return None
            raise
        last = response.get("LastActiveAt")
        return last.astimezone(UTC) if last is not None else None

    def disconnect(self, connection_id: str) -> None:
        """Close the connection (API Gateway then runs `$disconnect`); gone is no error."""
        try:
            self.client.delete_connection(ConnectionId=connection_id)
        except ClientError as exc:
            if not _gone(exc):
                raise
