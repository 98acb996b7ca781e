"""Routes whose wire shape is the same in 1.6 and 2.0.1, built around each version's decoder."""

from __future__ import annotations

from collections.abc import Callable

from csms.domain.connector import StatusReport
from csms.domain.station import BootInfo
from csms.ocpp.common.frames import format_timestamp
from csms.ocpp.common.protocol import OcppContext, Payload, Route


def boot_notification(decode: Callable[[Payload], BootInfo]) -> Route:
    """BootNotification: the response is `{status, currentTime, interval}` in both versions."""

    def route(ctx: OcppContext, payload: Payload) -> Payload:
        result = ctx.stations.register_boot(ctx.binding, decode(payload), ctx.unique_id)
        return {
            "status": result.status.value,
            "currentTime": format_timestamp(result.current_time),
            "interval": result.interval_s,
        }

    return route


def heartbeat(ctx: OcppContext, payload: Payload) -> Payload:
    """Heartbeat: the response is `{currentTime}` in both versions."""
    del payload
    return {"currentTime": format_timestamp(ctx.stations.heartbeat(ctx.binding))}


def status_notification(decode: Callable[[Payload], StatusReport]) -> Route:
    """StatusNotification: the response is empty in both versions."""

    def route(ctx: OcppContext, payload: Payload) -> Payload:
        changed = ctx.stations.report_status(ctx.binding, decode(payload))
        if changed is not None:
            # 1.6 tells the charging state through the connector's status (idle fees).
            ctx.sessions.connector_status(ctx.binding, changed)
        return {}

    return route
