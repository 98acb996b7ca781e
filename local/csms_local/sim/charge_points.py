"""The simulated station's charge point for each OCPP version, on the `ocpp` package.

These classes only know wire shapes: they build the payloads of their version and answer the
CSMS's calls. What a station does and when (boot, heartbeats, rebooting after a Reset, sending
a triggered message) is decided by the version-neutral session in `csms_local.simulator`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError, ValidationError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as OcppChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16 import enums as enums16
from ocpp.v201 import ChargePoint as OcppChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201 import datatypes as datatypes201
from ocpp.v201 import enums as enums201

from csms_local.simulator import (
    OCPP16,
    OCPP201,
    BootReason,
    BootResult,
    CsmsCallError,
    SessionHost,
    SimulatedChargePoint,
    SimulatedStation,
    StationConnection,
    Trigger,
)

_F = TypeVar("_F", bound=Callable[..., Any])

_ENERGY = "Energy.Active.Import.Register"


def _on(action: str) -> Callable[[_F], _F]:
    """Typed `ocpp.routing.on` (the package ships no type hints)."""
    return cast("Callable[[_F], _F]", on(action))


def _after(action: str) -> Callable[[_F], _F]:
    """Typed `ocpp.routing.after`."""
    return cast("Callable[[_F], _F]", after(action))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _WireLogger(logging.LoggerAdapter[logging.Logger]):
    """Log the `ocpp` package's messages at DEBUG.

    It logs the station's normal replies (NotImplemented for an unknown action) as errors with
    a traceback; the session reports what matters as events instead.
    """

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if self.isEnabledFor(logging.DEBUG):
            self.logger.log(logging.DEBUG, msg, *args, **kwargs)


_WIRE_LOGGER = _WireLogger(logging.getLogger("csms_local.simulator.wire"))


async def _call(charge_point: Any, payload: object) -> Any:
    """Send a call; raise `CsmsCallError` when the CSMS answers with a CALLERROR."""
    action = type(payload).__name__
    try:
        return await charge_point.call(payload, suppress=False)
    except OCPPError as exc:
        raise CsmsCallError(action, str(exc.code), str(exc.description)) from exc
    except (ValidationError, UnknownCallErrorCodeError) as exc:
        raise CsmsCallError(action, type(exc).__name__, str(exc)) from exc


class _SimulatedStationMixin:
    """What both versions' charge points are built with (first in their bases)."""

    def __init__(
        self,
        station: SimulatedStation,
        connection: StationConnection,
        host: SessionHost,
        *,
        response_timeout: float,
    ) -> None:
        # Cooperative: the next class in the MRO is the version's ocpp ChargePoint.
        super().__init__(  # type: ignore[call-arg]
            station.station_id, connection, response_timeout=response_timeout, logger=_WIRE_LOGGER
        )
        self._station = station
        self._host = host


class ChargePoint16(_SimulatedStationMixin, OcppChargePoint16):  # type: ignore[misc]  # untyped
    """OCPP 1.6 charge point of a simulated station."""

    target_name = "connector"

    async def send_boot(self, reason: BootReason) -> BootResult:
        """Send BootNotification."""
        # 1.6 BootNotification has no reason field.
        del reason
        station = self._station
        result = await _call(
            self,
            call16.BootNotification(
                charge_point_vendor=station.vendor,
                charge_point_model=station.model,
                charge_point_serial_number=station.serial,
                firmware_version=station.firmware_version,
            ),
        )
        return BootResult(status=str(result.status), interval=int(result.interval))

    async def send_heartbeat(self) -> None:
        """Send Heartbeat."""
        await _call(self, call16.Heartbeat())

    def status_targets(self) -> list[int]:
        """Return the targets of the StatusNotifications sent after boot."""
        # connectorId 0 addresses the whole station - 1.6 StatusNotification.
        return list(range(self._station.connectors + 1))

    async def send_status(self, target: int) -> None:
        """Send StatusNotification Available."""
        await _call(
            self,
            call16.StatusNotification(
                connector_id=target,
                error_code=enums16.ChargePointErrorCode.no_error,
                status=enums16.ChargePointStatus.available,
                timestamp=_now(),
            ),
        )

    async def send_meter_values(self, target: int) -> None:
        """Send MeterValues with an energy register that never moves (no charging)."""
        sample = {"value": "0", "context": "Trigger", "measurand": _ENERGY, "unit": "Wh"}
        await _call(
            self,
            call16.MeterValues(
                connector_id=target,
                meter_value=[{"timestamp": _now(), "sampled_value": [sample]}],
            ),
        )

    @_on(enums16.Action.reset)
    def on_reset(self, **_: Any) -> Any:
        """Answer Reset; the station reboots once the answer is out."""
        # Hard and Soft look the same on a station that never has a transaction.
        return result16.Reset(status=enums16.ResetStatus.accepted)

    @_after(enums16.Action.reset)
    def after_reset(self, **_: Any) -> None:
        """Reboot (the answer to Reset has been sent)."""
        self._host.request_reset()

    @_on(enums16.Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> Any:
        """Answer TriggerMessage: Accepted for the messages a simulated station sends."""
        plan = self._plan_trigger(requested_message, connector_id)
        status = plan if isinstance(plan, str) else enums16.TriggerMessageStatus.accepted
        return result16.TriggerMessage(status=status)

    @_after(enums16.Action.trigger_message)
    def after_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> None:
        """Send the triggered message, after the answer (as TriggerMessage requires)."""
        plan = self._plan_trigger(requested_message, connector_id)
        if not isinstance(plan, str):
            self._host.trigger(*plan)

    def _plan_trigger(
        self, requested_message: str, connector_id: int | None
    ) -> tuple[Trigger, list[int]] | str:
        """Return what to send for a TriggerMessage, or the status that refuses it."""
        try:
            message = Trigger(requested_message)
        except ValueError:
            return str(enums16.TriggerMessageStatus.not_implemented)
        if connector_id is not None and not 0 <= connector_id <= self._station.connectors:
            return str(enums16.TriggerMessageStatus.rejected)
        if message is Trigger.STATUS_NOTIFICATION:
            return message, self.status_targets() if connector_id is None else [connector_id]
        if message is Trigger.METER_VALUES:
            everything = list(range(1, self._station.connectors + 1))
            return message, everything if connector_id is None else [connector_id]
        # connectorId is not relevant to the other messages, so it is ignored - 1.6 TriggerMessage.
        return message, []


class ChargePoint201(_SimulatedStationMixin, OcppChargePoint201):  # type: ignore[misc]  # untyped
    """OCPP 2.0.1 charge point of a simulated station: one connector per EVSE."""

    target_name = "EVSE"

    async def send_boot(self, reason: BootReason) -> BootResult:
        """Send BootNotification with its reason."""
        station = self._station
        result = await _call(
            self,
            call201.BootNotification(
                charging_station=datatypes201.ChargingStationType(
                    vendor_name=station.vendor,
                    model=station.model,
                    serial_number=station.serial,
                    firmware_version=station.firmware_version,
                ),
                reason=enums201.BootReasonEnumType(reason.value),
            ),
        )
        return BootResult(status=str(result.status), interval=int(result.interval))

    async def send_heartbeat(self) -> None:
        """Send Heartbeat."""
        await _call(self, call201.Heartbeat())

    def status_targets(self) -> list[int]:
        """Return the targets of the StatusNotifications sent after boot."""
        return list(range(1, self._station.connectors + 1))

    async def send_status(self, target: int) -> None:
        """Send StatusNotification Available."""
        await _call(
            self,
            call201.StatusNotification(
                timestamp=_now(),
                connector_status=enums201.ConnectorStatusEnumType.available,
                evse_id=target,
                connector_id=1,
            ),
        )

    async def send_meter_values(self, target: int) -> None:
        """Send MeterValues with an energy register that never moves (no charging)."""
        sample = {
            "value": 0.0,
            "context": "Trigger",
            "measurand": _ENERGY,
            "unit_of_measure": {"unit": "Wh"},
        }
        await _call(
            self,
            call201.MeterValues(
                evse_id=target, meter_value=[{"timestamp": _now(), "sampled_value": [sample]}]
            ),
        )

    @_on(enums201.Action.reset)
    def on_reset(self, evse_id: int | None = None, **_: Any) -> Any:
        """Answer Reset; the station reboots once the answer is out."""
        # Immediate and OnIdle are the same on a station that is always idle; resetting a
        # single EVSE is not simulated.
        status = enums201.ResetStatusEnumType.accepted
        if evse_id is not None:
            status = enums201.ResetStatusEnumType.rejected
        return result201.Reset(status=status)

    @_after(enums201.Action.reset)
    def after_reset(self, evse_id: int | None = None, **_: Any) -> None:
        """Reboot (the answer to Reset has been sent)."""
        if evse_id is None:
            self._host.request_reset()

    @_on(enums201.Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        """Answer TriggerMessage: Accepted for the messages a simulated station sends."""
        plan = self._plan_trigger(requested_message, evse)
        status = plan if isinstance(plan, str) else enums201.TriggerMessageStatusEnumType.accepted
        return result201.TriggerMessage(status=status)

    @_after(enums201.Action.trigger_message)
    def after_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> None:
        """Send the triggered message, after the answer (as TriggerMessage requires)."""
        plan = self._plan_trigger(requested_message, evse)
        if not isinstance(plan, str):
            self._host.trigger(*plan)

    def _plan_trigger(
        self, requested_message: str, evse: dict[str, Any] | None
    ) -> tuple[Trigger, list[int]] | str:
        """Return what to send for a TriggerMessage, or the status that refuses it."""
        try:
            message = Trigger(requested_message)
        except ValueError:
            return str(enums201.TriggerMessageStatusEnumType.not_implemented)
        if evse is None:
            # Without an EVSE, StatusNotification and MeterValues cover every EVSE.
            return message, self.status_targets()
        evse_id, connector_id = evse.get("id"), evse.get("connector_id")
        if not (
            isinstance(evse_id, int)
            and 1 <= evse_id <= self._station.connectors
            and connector_id in (None, 1)
        ):
            return str(enums201.TriggerMessageStatusEnumType.rejected)
        return message, [evse_id]


def charge_point_class(protocol: str) -> Callable[..., SimulatedChargePoint]:
    """Return the charge point class for a negotiated subprotocol."""
    classes: dict[str, Callable[..., SimulatedChargePoint]] = {
        OCPP16: ChargePoint16,
        OCPP201: ChargePoint201,
    }
    return classes[protocol]
