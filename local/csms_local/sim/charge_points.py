"""The simulated station's charge point for each OCPP version, on the `ocpp` package.

These classes only know wire shapes: they build the payloads of their version and answer the
CSMS's calls. What a station does and when (boot, heartbeats, rebooting after a Reset, sending
a triggered message) is decided by the version-neutral session in `csms_local.simulator`.
"""

from __future__ import annotations

import asyncio
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
from csms_local.sim.commands import (
    FIRMWARE_STEPS_16,
    FIRMWARE_STEPS_201,
    LOG_STEPS_16,
    LOG_STEPS_201,
    VARIABLES_201,
)
from csms_local.sim.profiles import ProfileError, from_wire16, from_wire201
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
# A reading sent because the charging state changed (paused, resumed, battery full).
_OTHER = "Other"
# Real seconds between two progress notifications of a firmware update or a log upload.
_PROGRESS_STEP_S = 0.2
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
            context = _OTHER if message.state_change else _PERIODIC
            return call16.MeterValues(
                connector_id=transaction.connector,
                transaction_id=transaction.csms_id,
                meter_value=[_meter_value16(sample, context, full=True)],
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

    # -- the CSMS's other commands (csms_local.sim.commands keeps what they change) ----------

    def _connector_ok(self, connector_id: int | None) -> bool:
        return connector_id is None or 0 <= connector_id <= self._station.connectors

    @_on(enums16.Action.remote_start_transaction)
    def on_remote_start_transaction(
        self, id_tag: str, connector_id: int | None = None, **_: Any
    ) -> Any:
        """Accept when a connector (the one asked for) is free; the session starts after."""
        free = self._host.free_connector(connector_id) if connector_id != 0 else None
        status = enums16.RemoteStartStopStatus.accepted if free else "Rejected"
        return result16.RemoteStartTransaction(status=status)

    @_after(enums16.Action.remote_start_transaction)
    def after_remote_start_transaction(
        self, id_tag: str, connector_id: int | None = None, **_: Any
    ) -> None:
        """Start the session (the driver is at the car: no Authorize)."""
        free = self._host.free_connector(connector_id) if connector_id != 0 else None
        if free is not None:
            self._host.start_remote(free, id_tag, None)

    @_on(enums16.Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id: int, **_: Any) -> Any:
        """Stop the transaction the CSMS numbered so, if it runs here."""
        stopped = self._host.stop_remote(lambda t: t.csms_id == transaction_id)
        return result16.RemoteStopTransaction(status="Accepted" if stopped else "Rejected")

    @_on(enums16.Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **_: Any) -> Any:
        """Unlocked, for a connector the station has."""
        ok = 1 <= connector_id <= self._station.connectors
        return result16.UnlockConnector(status="Unlocked" if ok else "NotSupported")

    @_on(enums16.Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        """Keep the availability; Scheduled while a transaction runs on the connector."""
        if not self._connector_ok(connector_id):
            return result16.ChangeAvailability(status="Rejected")
        return result16.ChangeAvailability(status=_set_availability(self, connector_id, type))

    @_on(enums16.Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        """The keys asked for (all without a list); the others as unknown."""
        memory = self._host.memory
        names = key if key else list(memory.configuration)
        known, unknown = [], []
        for name in names:
            entry = memory.read(name)
            if entry is None:
                unknown.append(name)
            else:
                known.append({"key": name, "readonly": entry[1], "value": entry[0]})
        return result16.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @_on(enums16.Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        """Accepted, Rejected (read-only) or NotSupported (unknown key)."""
        return result16.ChangeConfiguration(status=self._host.memory.write(key, value))

    @_on(enums16.Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        """The simulated station keeps no authorization cache: nothing to clear."""
        self._host.memory.cache_cleared += 1
        return result16.ClearCache(status="Accepted")

    @_on(enums16.Action.send_local_list)
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        """Keep the list and its version."""
        memory = self._host.memory
        status = memory.update_list(list_version, update_type, local_authorization_list or [])
        return result16.SendLocalList(status=status)

    @_on(enums16.Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> Any:
        """The version of the last list received (0: none)."""
        return result16.GetLocalListVersion(list_version=self._host.memory.local_list_version)

    @_on(enums16.Action.reserve_now)
    def on_reserve_now(
        self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **_: Any
    ) -> Any:
        """Hold the connector (0: any) unless it is in use."""
        if not self._connector_ok(connector_id):
            return result16.ReserveNow(status="Rejected")
        if connector_id and self._host.free_connector(connector_id) is None:
            return result16.ReserveNow(status="Occupied")
        self._host.memory.reservations[reservation_id] = {
            "connector": connector_id,
            "expiry": expiry_date,
            "id_tag": id_tag,
        }
        return result16.ReserveNow(status="Accepted")

    @_on(enums16.Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        """Accepted when the reservation was held."""
        held = self._host.memory.reservations.pop(reservation_id, None) is not None
        return result16.CancelReservation(status="Accepted" if held else "Rejected")

    @_on(enums16.Action.update_firmware)
    def on_update_firmware(self, location: str, retrieve_date: str, **_: Any) -> Any:
        """An empty answer: progress comes as FirmwareStatusNotifications."""
        return result16.UpdateFirmware()

    @_after(enums16.Action.update_firmware)
    def after_update_firmware(self, **_: Any) -> None:
        """Download and install, reporting each step."""

        async def progress() -> None:
            for status in FIRMWARE_STEPS_16:
                await asyncio.sleep(_PROGRESS_STEP_S)
                await _call(self, call16.FirmwareStatusNotification(status=status))

        self._host.in_background(progress)

    @_on(enums16.Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, **_: Any) -> Any:
        """The file that will be uploaded; progress comes as DiagnosticsStatusNotifications."""
        return result16.GetDiagnostics(file_name=f"{self._station.station_id}-diagnostics.log")

    @_after(enums16.Action.get_diagnostics)
    def after_get_diagnostics(self, **_: Any) -> None:
        """Upload, reporting each step."""

        async def progress() -> None:
            for status in LOG_STEPS_16:
                await asyncio.sleep(_PROGRESS_STEP_S)
                await _call(self, call16.DiagnosticsStatusNotification(status=status))

        self._host.in_background(progress)

    @_on(enums16.Action.set_charging_profile)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> Any:
        """Keep the profile and limit the connectors by it (Rejected when it cannot apply)."""
        try:
            profile = from_wire16(cs_charging_profiles, connector_id, self._host.now())
        except ProfileError:
            return result16.SetChargingProfile(status="Rejected")
        status = self._host.set_profile(profile, needs_transaction_id=False)
        return result16.SetChargingProfile(status=status)

    @_on(enums16.Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> Any:
        """Accepted when a profile matched, else Unknown."""
        cleared = self._host.clear_profiles(id, connector_id, charging_profile_purpose, stack_level)
        return result16.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @_on(enums16.Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        """The composite schedule of the profiles on the connector (0: the station)."""
        if not self._connector_ok(connector_id):
            return result16.GetCompositeSchedule(status="Rejected")
        unit = charging_rate_unit or "A"
        start, periods = self._host.composite_schedule(connector_id, duration, unit)
        return result16.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=wire_time(start),
            charging_schedule={
                "duration": duration,
                "charging_rate_unit": unit,
                "charging_schedule_period": periods,
            },
        )


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
            trigger = enums201.TriggerReasonEnumType.authorized
            if transaction.remote_start_id is not None:
                info["remote_start_id"] = transaction.remote_start_id
                trigger = enums201.TriggerReasonEnumType.remote_start
            return call201.TransactionEvent(
                event_type=enums201.TransactionEventEnumType.started,
                timestamp=wire_time(sample.timestamp),
                trigger_reason=trigger,
                seq_no=message.seq_no,
                transaction_info=info,
                id_token=_id_token201(transaction.id_token),
                evse={"id": transaction.connector, "connector_id": 1},
                meter_value=[_meter_value201(sample, _BEGIN, full=False)],
                offline=offline,
            )
        if message.kind is TxKind.UPDATE:
            info["charging_state"] = enums201.ChargingStateEnumType(message.charging_state.value)
            trigger = enums201.TriggerReasonEnumType.meter_value_periodic
            context = _PERIODIC
            if message.state_change:
                trigger, context = enums201.TriggerReasonEnumType.charging_state_changed, _OTHER
            return call201.TransactionEvent(
                event_type=enums201.TransactionEventEnumType.updated,
                timestamp=wire_time(sample.timestamp),
                trigger_reason=trigger,
                seq_no=message.seq_no,
                transaction_info=info,
                meter_value=[_meter_value201(sample, context, full=True)],
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

    # -- the CSMS's other commands (csms_local.sim.commands keeps what they change) ----------

    def _evse_ok(self, evse_id: int | None) -> bool:
        return evse_id is None or 0 <= evse_id <= self._station.connectors

    @_on(enums201.Action.request_start_transaction)
    def on_request_start_transaction(
        self, id_token: dict[str, Any], remote_start_id: int, evse_id: int | None = None, **_: Any
    ) -> Any:
        """Accept when an EVSE (the one asked for) is free; the session starts after."""
        free = self._host.free_connector(evse_id) if evse_id != 0 else None
        return result201.RequestStartTransaction(status="Accepted" if free else "Rejected")

    @_after(enums201.Action.request_start_transaction)
    def after_request_start_transaction(
        self, id_token: dict[str, Any], remote_start_id: int, evse_id: int | None = None, **_: Any
    ) -> None:
        """Start the session (TransactionEvent Started carries the remoteStartId)."""
        free = self._host.free_connector(evse_id) if evse_id != 0 else None
        if free is not None:
            self._host.start_remote(free, str(id_token["id_token"]), remote_start_id)

    @_on(enums201.Action.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id: str, **_: Any) -> Any:
        """Stop the transaction of this id, if it runs here."""
        stopped = self._host.stop_remote(lambda t: t.local_id == transaction_id)
        return result201.RequestStopTransaction(status="Accepted" if stopped else "Rejected")

    @_on(enums201.Action.unlock_connector)
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        """Unlocked, for an EVSE the station has (one connector each)."""
        ok = 1 <= evse_id <= self._station.connectors and connector_id == 1
        return result201.UnlockConnector(status="Unlocked" if ok else "UnknownConnector")

    @_on(enums201.Action.change_availability)
    def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        """Keep the availability; Scheduled while a transaction runs on the EVSE."""
        target = int(evse["id"]) if evse else 0
        if not self._evse_ok(target):
            return result201.ChangeAvailability(status="Rejected")
        status = _set_availability(self, target, operational_status)
        return result201.ChangeAvailability(status=status)

    @_on(enums201.Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        """Each variable's value from the store; unknown ones said so."""
        memory = self._host.memory
        results = []
        for item in get_variable_data:
            component, variable = item["component"], item["variable"]
            key = VARIABLES_201.get((component["name"], variable["name"]))
            entry = memory.read(key) if key else None
            result: dict[str, Any] = {"component": component, "variable": variable}
            if entry is None:
                known = any(c == component["name"] for c, _v in VARIABLES_201)
                result["attribute_status"] = "UnknownVariable" if known else "UnknownComponent"
            else:
                result["attribute_status"] = "Accepted"
                result["attribute_value"] = entry[0]
            if "attribute_type" in item:
                result["attribute_type"] = item["attribute_type"]
            results.append(result)
        return result201.GetVariables(get_variable_result=results)

    @_on(enums201.Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        """Each write to the store: Accepted, Rejected (read-only) or unknown."""
        memory = self._host.memory
        results = []
        for item in set_variable_data:
            component, variable = item["component"], item["variable"]
            key = VARIABLES_201.get((component["name"], variable["name"]))
            status = memory.write(key, item["attribute_value"]) if key else "UnknownVariable"
            results.append(
                {
                    "component": component,
                    "variable": variable,
                    "attribute_status": "UnknownVariable" if status == "NotSupported" else status,
                }
            )
        return result201.SetVariables(set_variable_result=results)

    @_on(enums201.Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        """The simulated station keeps no authorization cache: nothing to clear."""
        self._host.memory.cache_cleared += 1
        return result201.ClearCache(status="Accepted")

    @_on(enums201.Action.send_local_list)
    def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        """Keep the list and its version."""
        memory = self._host.memory
        status = memory.update_list(version_number, update_type, local_authorization_list or [])
        return result201.SendLocalList(status=status)

    @_on(enums201.Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> Any:
        """The version of the last list received (0: none)."""
        return result201.GetLocalListVersion(version_number=self._host.memory.local_list_version)

    @_on(enums201.Action.reserve_now)
    def on_reserve_now(
        self,
        id: int,
        expiry_date_time: str,
        id_token: dict[str, Any],
        evse_id: int | None = None,
        **_: Any,
    ) -> Any:
        """Hold the EVSE (or any) unless it is in use."""
        if not self._evse_ok(evse_id):
            return result201.ReserveNow(status="Rejected")
        if evse_id and self._host.free_connector(evse_id) is None:
            return result201.ReserveNow(status="Occupied")
        self._host.memory.reservations[id] = {
            "evse": evse_id,
            "expiry": expiry_date_time,
            "id_token": id_token,
        }
        return result201.ReserveNow(status="Accepted")

    @_on(enums201.Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        """Accepted when the reservation was held."""
        held = self._host.memory.reservations.pop(reservation_id, None) is not None
        return result201.CancelReservation(status="Accepted" if held else "Rejected")

    @_on(enums201.Action.update_firmware)
    def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any) -> Any:
        """Accepted; progress comes as FirmwareStatusNotifications with the requestId."""
        return result201.UpdateFirmware(status="Accepted")

    @_after(enums201.Action.update_firmware)
    def after_update_firmware(self, request_id: int, **_: Any) -> None:
        """Download and install, reporting each step."""

        async def progress() -> None:
            for status in FIRMWARE_STEPS_201:
                await asyncio.sleep(_PROGRESS_STEP_S)
                notification = call201.FirmwareStatusNotification(
                    status=status, request_id=request_id
                )
                await _call(self, notification)

        self._host.in_background(progress)

    @_on(enums201.Action.get_log)
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int, **_: Any) -> Any:
        """Accepted with the file name; progress comes as LogStatusNotifications."""
        name = f"{self._station.station_id}-{log_type}.log"
        return result201.GetLog(status="Accepted", filename=name)

    @_after(enums201.Action.get_log)
    def after_get_log(self, request_id: int, **_: Any) -> None:
        """Upload, reporting each step."""

        async def progress() -> None:
            for status in LOG_STEPS_201:
                await asyncio.sleep(_PROGRESS_STEP_S)
                notification = call201.LogStatusNotification(status=status, request_id=request_id)
                await _call(self, notification)

        self._host.in_background(progress)

    @_on(enums201.Action.set_charging_profile)
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> Any:
        """Keep the profile and limit the EVSEs by it (Rejected when it cannot apply)."""
        try:
            profile = from_wire201(charging_profile, evse_id, self._host.now())
        except ProfileError:
            return result201.SetChargingProfile(status="Rejected")
        status = self._host.set_profile(profile, needs_transaction_id=True)
        return result201.SetChargingProfile(status=status)

    @_on(enums201.Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        """Accepted when a profile matched, else Unknown."""
        criteria = charging_profile_criteria or {}
        cleared = self._host.clear_profiles(
            charging_profile_id,
            criteria.get("evse_id"),
            criteria.get("charging_profile_purpose"),
            criteria.get("stack_level"),
        )
        return result201.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @_on(enums201.Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        """The composite schedule of the profiles on the EVSE (0: the station)."""
        if not self._evse_ok(evse_id):
            return result201.GetCompositeSchedule(status="Rejected")
        unit = charging_rate_unit or "A"
        start, periods = self._host.composite_schedule(evse_id, duration, unit)
        return result201.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": duration,
                "schedule_start": wire_time(start),
                "charging_rate_unit": unit,
                "charging_schedule_period": periods,
            },
        )


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


def _set_availability(charge_point: Any, target: int, kind: str) -> str:
    """Record Operative/Inoperative for a connector (0: all); Scheduled while one charges."""
    memory = charge_point._host.memory
    station = charge_point._station
    targets = range(1, station.connectors + 1) if target == 0 else [target]
    busy = any(charge_point._host.free_connector(t) is None for t in targets)
    for number in targets:
        if kind == "Inoperative":
            memory.unavailable.add(number)
        else:
            memory.unavailable.discard(number)
    return "Scheduled" if busy and kind == "Inoperative" else "Accepted"


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
    StopCause.REMOTE: (
        enums201.TriggerReasonEnumType.remote_stop,
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
