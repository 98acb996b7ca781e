"""The simulated station's charge point for each OCPP version, on the `ocpp` package.

These classes only know wire shapes: they build the payloads of their version and answer the
CSMS's calls. What a station does and when (boot, heartbeats, rebooting after a Reset, sending
a triggered message) is decided by the version-neutral session in `csms_local.simulator`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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

from csms_local.sim.clock import wire_time
from csms_local.sim.sessions import (
    ACCEPTED,
    ConnectorState,
    MeterSample,
    StopCause,
    TxAnswer,
    TxKind,
    TxMessage,
)
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
_POWER = "Power.Active.Import"
_CURRENT = "Current.Import"
_VOLTAGE = "Voltage"
_SOC = "SoC"
_PHASES = ("L1", "L2", "L3")
_BEGIN = "Transaction.Begin"
_END = "Transaction.End"
_PERIODIC = "Sample.Periodic"
# 2.0.1 identifies a driver's card by its type as well; the simulated cards are RFID.
_ID_TOKEN_TYPE = "ISO14443"  # noqa: S105 - a token type, not a secret


def _on(action: str) -> Callable[[_F], _F]:
    """Typed `ocpp.routing.on` (the package ships no type hints)."""
    return cast("Callable[[_F], _F]", on(action))


def _after(action: str) -> Callable[[_F], _F]:
    """Typed `ocpp.routing.after`."""
    return cast("Callable[[_F], _F]", after(action))


def _measurands(sample: MeterSample) -> list[tuple[str, str | None, float, str]]:
    """(measurand, phase, value, unit) of a periodic sample; SoC when the vehicle gives it."""
    values: list[tuple[str, str | None, float, str]] = [
        (_ENERGY, None, sample.energy_wh, "Wh"),
        (_POWER, None, sample.power_w, "W"),
    ]
    values += [(_CURRENT, phase, sample.current_a, "A") for phase in _PHASES]
    values.append((_VOLTAGE, "L1-N", sample.voltage_v, "V"))
    if sample.soc is not None:
        values.append((_SOC, None, sample.soc, "Percent"))
    return values


class _WireLogger(logging.LoggerAdapter[logging.Logger]):
    """Log the `ocpp` package's messages at DEBUG.

    It logs the station's normal replies (NotImplemented for an unknown action) as errors with
    a traceback; the session reports what matters as events instead.
    """

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if self.isEnabledFor(logging.DEBUG):
            self.logger.log(logging.DEBUG, msg, *args, **kwargs)


_WIRE_LOGGER = _WireLogger(logging.getLogger("csms_local.simulator.wire"))


async def _call(charge_point: Any, payload: object, unique_id: str | None = None) -> Any:
    """Send a call; raise `CsmsCallError` when the CSMS answers with a CALLERROR."""
    action = type(payload).__name__
    try:
        return await charge_point.call(payload, suppress=False, unique_id=unique_id)
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

    def _now(self) -> str:
        """The simulated time, as a timestamp on the wire."""
        return wire_time(self._host.now())


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

    async def send_status(
        self, target: int, state: ConnectorState, previous: ConnectorState | None = None
    ) -> bool:
        """Send StatusNotification (1.6 has a status for every state of a session)."""
        del previous
        await _call(
            self,
            call16.StatusNotification(
                connector_id=target,
                error_code=enums16.ChargePointErrorCode.no_error,
                status=enums16.ChargePointStatus(state.value),
                timestamp=self._now(),
            ),
        )
        return True

    async def send_meter_values(self, target: int, energy_wh: int) -> None:
        """Send MeterValues with the connector's energy register."""
        sample = {"value": str(energy_wh), "context": "Trigger", "measurand": _ENERGY, "unit": "Wh"}
        await _call(
            self,
            call16.MeterValues(
                connector_id=target,
                meter_value=[{"timestamp": self._now(), "sampled_value": [sample]}],
            ),
        )

    async def send_authorize(self, id_token: str) -> str:
        """Send Authorize; return the idTagInfo status."""
        result = await _call(self, call16.Authorize(id_tag=id_token))
        return str(result.id_tag_info["status"])

    async def send_transaction_message(self, message: TxMessage) -> TxAnswer | None:
        """Send StartTransaction, MeterValues or StopTransaction (None: cannot be sent)."""
        payload = self.transaction_payload(message)
        if payload is None:
            return None
        result = await _call(self, payload, unique_id=message.unique_id)
        if message.kind is TxKind.START:
            return TxAnswer(
                status=str(result.id_tag_info["status"]),
                transaction_id=int(result.transaction_id),
            )
        info = getattr(result, "id_tag_info", None)
        return TxAnswer(status=str(info["status"]) if info else None)

    @staticmethod
    def transaction_payload(message: TxMessage) -> Any:
        """The 1.6 call of a queued transaction message, with the CSMS's transaction id.

        None for a StopTransaction whose StartTransaction was never answered: without the
        transaction id the CSMS assigned, there is nothing to stop.
        """
        transaction, sample = message.transaction, message.sample
        if message.kind is TxKind.START:
            return call16.StartTransaction(
                connector_id=transaction.connector,
                id_tag=transaction.id_token,
                meter_start=sample.energy_wh,
                timestamp=wire_time(sample.timestamp),
            )
        if message.kind is TxKind.UPDATE:
            return call16.MeterValues(
                connector_id=transaction.connector,
                transaction_id=transaction.csms_id,
                meter_value=[_meter_value16(sample, _PERIODIC, full=True)],
            )
        if transaction.csms_id is None:
            return None
        return call16.StopTransaction(
            meter_stop=sample.energy_wh,
            timestamp=wire_time(sample.timestamp),
            transaction_id=transaction.csms_id,
            reason=enums16.Reason(str(message.cause or StopCause.LOCAL)),
            id_tag=transaction.id_token,
            transaction_data=[
                _meter_value16(transaction.begin, _BEGIN, full=False),
                _meter_value16(sample, _END, full=False),
            ],
        )

    @_on(enums16.Action.reset)
    def on_reset(self, **_: Any) -> Any:
        """Answer Reset; the station reboots once the answer is out."""
        # Hard and Soft look the same here: the simulated station reboots either way, and its
        # transactions go on across the reboot (the queue keeps their messages).
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

    async def send_status(
        self, target: int, state: ConnectorState, previous: ConnectorState | None = None
    ) -> bool:
        """Send StatusNotification Available or Occupied, unless that is unchanged.

        A 2.0.1 connector status only says whether a vehicle is plugged in; charging and
        finishing are states of the transaction (TransactionEvent), so going from Preparing to
        Charging to Finishing sends nothing.
        """
        status = _connector_status201(state)
        if previous is not None and _connector_status201(previous) == status:
            return False
        await _call(
            self,
            call201.StatusNotification(
                timestamp=self._now(), connector_status=status, evse_id=target, connector_id=1
            ),
        )
        return True

    async def send_meter_values(self, target: int, energy_wh: int) -> None:
        """Send MeterValues with the EVSE's energy register."""
        sample = {
            "value": float(energy_wh),
            "context": "Trigger",
            "measurand": _ENERGY,
            "unit_of_measure": {"unit": "Wh"},
        }
        await _call(
            self,
            call201.MeterValues(
                evse_id=target,
                meter_value=[{"timestamp": self._now(), "sampled_value": [sample]}],
            ),
        )

    async def send_authorize(self, id_token: str) -> str:
        """Send Authorize; return the idTokenInfo status."""
        result = await _call(self, call201.Authorize(id_token=_id_token201(id_token)))
        return str(result.id_token_info["status"])

    async def send_transaction_message(self, message: TxMessage) -> TxAnswer | None:
        """Send the TransactionEvent of a queued transaction message."""
        result = await _call(self, self.transaction_payload(message), unique_id=message.unique_id)
        info = result.id_token_info
        if message.kind is TxKind.START:
            # Without idTokenInfo the CSMS has nothing against the token - 2.0.1 E01.
            return TxAnswer(status=str(info["status"]) if info else ACCEPTED)
        return TxAnswer(status=str(info["status"]) if info else None)

    @staticmethod
    def transaction_payload(message: TxMessage) -> Any:
        """The TransactionEvent of a queued transaction message."""
        transaction, sample = message.transaction, message.sample
        info: dict[str, Any] = {"transaction_id": transaction.local_id}
        offline = True if message.offline else None
        if message.kind is TxKind.START:
            info["charging_state"] = enums201.ChargingStateEnumType.charging
            return call201.TransactionEvent(
                event_type=enums201.TransactionEventEnumType.started,
                timestamp=wire_time(sample.timestamp),
                trigger_reason=enums201.TriggerReasonEnumType.authorized,
                seq_no=message.seq_no,
                transaction_info=info,
                id_token=_id_token201(transaction.id_token),
                evse={"id": transaction.connector, "connector_id": 1},
                meter_value=[_meter_value201(sample, _BEGIN, full=False)],
                offline=offline,
            )
        if message.kind is TxKind.UPDATE:
            info["charging_state"] = enums201.ChargingStateEnumType.charging
            return call201.TransactionEvent(
                event_type=enums201.TransactionEventEnumType.updated,
                timestamp=wire_time(sample.timestamp),
                trigger_reason=enums201.TriggerReasonEnumType.meter_value_periodic,
                seq_no=message.seq_no,
                transaction_info=info,
                meter_value=[_meter_value201(sample, _PERIODIC, full=True)],
                offline=offline,
            )
        cause = message.cause or StopCause.LOCAL
        trigger, state = _ENDINGS201[cause]
        info["charging_state"] = state
        info["stopped_reason"] = enums201.ReasonEnumType(str(cause))
        return call201.TransactionEvent(
            event_type=enums201.TransactionEventEnumType.ended,
            timestamp=wire_time(sample.timestamp),
            trigger_reason=trigger,
            seq_no=message.seq_no,
            transaction_info=info,
            # The token that stopped the transaction - 2.0.1 E06 (stop by the same card).
            id_token=_id_token201(transaction.id_token) if cause is StopCause.LOCAL else None,
            meter_value=[_meter_value201(sample, _END, full=False)],
            offline=offline,
        )

    @_on(enums201.Action.reset)
    def on_reset(self, evse_id: int | None = None, **_: Any) -> Any:
        """Answer Reset; the station reboots once the answer is out."""
        # Immediate and OnIdle look the same here (transactions go on across the reboot);
        # resetting a single EVSE is not simulated.
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


def _meter_value16(sample: MeterSample, context: str, *, full: bool) -> dict[str, Any]:
    """A 1.6 MeterValue: the energy register, and with `full` every measurand."""
    measurands = _measurands(sample) if full else _measurands(sample)[:1]
    values: list[dict[str, Any]] = []
    for measurand, phase, value, unit in measurands:
        entry: dict[str, Any] = {
            "value": _decimal(value),
            "context": context,
            "measurand": measurand,
            "unit": unit,
        }
        if phase is not None:
            entry["phase"] = phase
        if measurand == _SOC:
            entry["location"] = "EV"
        values.append(entry)
    return {"timestamp": wire_time(sample.timestamp), "sampled_value": values}


def _meter_value201(sample: MeterSample, context: str, *, full: bool) -> dict[str, Any]:
    """A 2.0.1 MeterValueType: values are numbers, units in `unitOfMeasure`."""
    measurands = _measurands(sample) if full else _measurands(sample)[:1]
    values: list[dict[str, Any]] = []
    for measurand, phase, value, unit in measurands:
        entry: dict[str, Any] = {
            "value": value,
            "context": context,
            "measurand": measurand,
            "unit_of_measure": {"unit": unit},
        }
        if phase is not None:
            entry["phase"] = phase
        if measurand == _SOC:
            entry["location"] = "EV"
        values.append(entry)
    return {"timestamp": wire_time(sample.timestamp), "sampled_value": values}


def _decimal(value: float) -> str:
    """A 1.6 sampled value: plain decimal notation, at most two decimals (never 1e+06)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _connector_status201(state: ConnectorState) -> str:
    if state is ConnectorState.AVAILABLE:
        return str(enums201.ConnectorStatusEnumType.available)
    return str(enums201.ConnectorStatusEnumType.occupied)


def _id_token201(id_token: str) -> dict[str, str]:
    return {"id_token": id_token, "type": _ID_TOKEN_TYPE}


# How a 2.0.1 transaction ends, by cause: (triggerReason, chargingState).
_ENDINGS201: dict[StopCause, tuple[str, str]] = {
    StopCause.LOCAL: (
        enums201.TriggerReasonEnumType.stop_authorized,
        enums201.ChargingStateEnumType.ev_connected,
    ),
    StopCause.EV_DISCONNECTED: (
        enums201.TriggerReasonEnumType.ev_departed,
        enums201.ChargingStateEnumType.idle,
    ),
    StopCause.DEAUTHORIZED: (
        enums201.TriggerReasonEnumType.deauthorized,
        enums201.ChargingStateEnumType.ev_connected,
    ),
}


def charge_point_class(protocol: str) -> Callable[..., SimulatedChargePoint]:
    """Return the charge point class for a negotiated subprotocol."""
    classes: dict[str, Callable[..., SimulatedChargePoint]] = {
        OCPP16: ChargePoint16,
        OCPP201: ChargePoint201,
    }
    return classes[protocol]
