"""OCPP 1.6J: version-neutral commands -> CALL payloads, and CALLRESULTs -> neutral results.

1.6 numbers connectors, not EVSEs: its connectorId N is the domain's EVSE N (with its one
connector, as csms.ocpp.v16.ids reads StatusNotification), and connectorId 0 the whole station.
What 1.6 cannot say (an EVSE reset, a security log, a signed firmware, 2.0.1 variables) is refused
with CommandNotSupportedError rather than silently dropped.
"""

from __future__ import annotations

from typing import assert_never

from csms.domain.commands import (
    CancelReservationCommand,
    ChangeAvailabilityCommand,
    ChargingProfile,
    ChargingProfilePurpose,
    ClearCacheCommand,
    ClearChargingProfileCommand,
    Command,
    CommandResult,
    CommandStatus,
    CompositeSchedule,
    GetCompositeScheduleCommand,
    GetConfigurationCommand,
    GetDiagnosticsCommand,
    GetLocalListVersionCommand,
    LogType,
    ReportedPeriod,
    ReserveNowCommand,
    ResetCommand,
    SendLocalListCommand,
    SetChargingProfileCommand,
    SetConfigurationCommand,
    StartChargingCommand,
    StopChargingCommand,
    TriggerableMessage,
    TriggerMessageCommand,
    UnlockConnectorCommand,
    UpdateFirmwareCommand,
)
from csms.domain.configuration import (
    MAPPINGS,
    REDACTED,
    ConfigurationName,
    ConfigurationResult,
    RawKey,
    SettingRef,
    SettingStatus,
    SettingValue,
    is_sensitive,
    mapping_of_key,
)
from csms.domain.station import ProtocolVersion
from csms.ocpp.common.commands import (
    not_supported,
    present,
    reported_timestamp,
    status_decoders,
    status_result,
)
from csms.ocpp.common.protocol import Payload, ResultReader

VERSION = ProtocolVersion.OCPP16

# 1.6 IdToken is a CiString20 (2.0.1 allows 36); ChangeConfiguration values are CiString500.
ID_TAG_LENGTH = 20
VALUE_LENGTH = 500

_PURPOSE = {
    ChargingProfilePurpose.CHARGING_STATION_MAX: "ChargePointMaxProfile",
    ChargingProfilePurpose.TX_DEFAULT: "TxDefaultProfile",
    ChargingProfilePurpose.TX: "TxProfile",
}

# The 2.0.1 name of DiagnosticsStatusNotification is the same message to a 1.6 station.
_TRIGGER = {message: message.value for message in TriggerableMessage} | {
    TriggerableMessage.LOG_STATUS_NOTIFICATION: "DiagnosticsStatusNotification"
}


# One case per command, checked exhaustive by mypy (assert_never): a new command in the union
# fails type checking until each version says how to carry it.
def encode_command(command: Command, unique_id: str = "") -> tuple[str, Payload]:  # noqa: PLR0912
    """Domain command -> (action, 1.6 request payload); CommandNotSupportedError if 1.6 can't."""
    match command:
        case StartChargingCommand():
            return "RemoteStartTransaction", _remote_start(command)
        case StopChargingCommand():
            return "RemoteStopTransaction", {"transactionId": _transaction_number(command)}
        case ResetCommand():
            if command.evse_id is not None:
                raise not_supported(command, VERSION, "1.6 Reset restarts the whole station")
            return "Reset", {"type": command.kind.value}
        case UnlockConnectorCommand():
            return "UnlockConnector", {"connectorId": _connector(command, command.evse_id)}
        case ChangeAvailabilityCommand():
            return "ChangeAvailability", {
                "connectorId": _connector(command, command.evse_id or 0),
                "type": command.availability.value,
            }
        case GetConfigurationCommand():
            keys = list(dict.fromkeys(_key(command, setting) for setting in command.settings))
            return "GetConfiguration", present(key=keys or None)
        case SetConfigurationCommand():
            if len(command.value) > VALUE_LENGTH:
                raise not_supported(
                    command, VERSION, f"1.6 values hold at most {VALUE_LENGTH} characters"
                )
            return "ChangeConfiguration", {
                "key": _key(command, command.setting),
                "value": command.value,
            }
        case TriggerMessageCommand():
            # connectorId 0 asks about the station itself (1.6 §5.17); left out, about all.
            return "TriggerMessage", present(
                requestedMessage=_TRIGGER[command.message], connectorId=command.evse_id
            )
        case ClearCacheCommand():
            return "ClearCache", {}
        case SendLocalListCommand():
            return "SendLocalList", _send_local_list(command)
        case GetLocalListVersionCommand():
            return "GetLocalListVersion", {}
        case ReserveNowCommand():
            return "ReserveNow", present(
                connectorId=command.evse_id or 0,
                expiryDate=command.expires_at,
                idTag=_id_tag(command, command.id_token),
                parentIdTag=_id_tag(command, command.group_id_token),
                reservationId=command.reservation_id_for(unique_id),
            )
        case CancelReservationCommand():
            return "CancelReservation", {"reservationId": command.reservation_id}
        case UpdateFirmwareCommand():
            return "UpdateFirmware", _update_firmware(command)
        case GetDiagnosticsCommand():
            if command.log_type is not LogType.DIAGNOSTICS:
                raise not_supported(
                    command, VERSION, "1.6 uploads diagnostics only, no security log"
                )
            return "GetDiagnostics", present(
                location=command.location,
                startTime=command.oldest,
                stopTime=command.latest,
                retries=command.retries,
                retryInterval=command.retry_interval,
            )
        case SetChargingProfileCommand():
            return "SetChargingProfile", {
                "connectorId": command.evse_id,
                "csChargingProfiles": _profile(command, command.profile),
            }
        case ClearChargingProfileCommand():
            return "ClearChargingProfile", present(
                id=command.profile_id,
                connectorId=command.evse_id,
                chargingProfilePurpose=None
                if command.purpose is None
                else _PURPOSE[command.purpose],
                stackLevel=command.stack_level,
            )
        case GetCompositeScheduleCommand():
            return "GetCompositeSchedule", present(
                connectorId=command.evse_id,
                duration=command.duration,
                chargingRateUnit=command.charging_rate_unit,
            )
        case _:  # pragma: no cover - the union is closed
            assert_never(command)


def _remote_start(command: StartChargingCommand) -> Payload:
    if command.group_id_token is not None:
        raise not_supported(command, VERSION, "1.6 RemoteStartTransaction carries no group token")
    profile = command.charging_profile
    # remoteStartId is 2.0.1's: a 1.6 station links the session to the call by its idTag.
    return present(
        connectorId=command.evse_id,
        idTag=_id_tag(command, command.id_token),
        chargingProfile=None if profile is None else _profile(command, profile),
    )


def _transaction_number(command: StopChargingCommand) -> int:
    if command.ocpp16_transaction_id is not None:
        return command.ocpp16_transaction_id
    if command.transaction_id is not None and command.transaction_id.isdigit():
        # 1.6 sessions keep the station's integer as their transaction id.
        return int(command.transaction_id)
    raise not_supported(command, VERSION, "the session has no 1.6 (integer) transaction id")


def _connector(command: Command, evse_id: int) -> int:
    connector_id = getattr(command, "connector_id", None)
    if connector_id not in (None, 1):
        raise not_supported(
            command, VERSION, "1.6 connectorId N is EVSE N's only connector: use connectorId 1"
        )
    return evse_id


def _id_tag(command: Command, value: str | None) -> str | None:
    if value is not None and len(value) > ID_TAG_LENGTH:
        raise not_supported(command, VERSION, f"1.6 idTags hold at most {ID_TAG_LENGTH} characters")
    return value


def _key(command: Command, setting: SettingRef) -> str:
    if isinstance(setting, ConfigurationName):
        return MAPPINGS[setting].ocpp16_key
    if isinstance(setting, RawKey):
        return setting.key
    raise not_supported(
        command, VERSION, f"{setting.label} is a 2.0.1 variable; 1.6 settings are keys"
    )


def _send_local_list(command: SendLocalListCommand) -> Payload:
    entries = []
    for entry in command.entries:
        info = None
        if entry.status is not None:
            # No idTagInfo in a differential update deletes the entry (1.6 §5.15).
            info = present(
                status=entry.status.value,
                expiryDate=entry.expires_at,
                parentIdTag=_id_tag(command, entry.group_id_token),
            )
        entries.append(present(idTag=_id_tag(command, entry.id_token), idTagInfo=info))
    return present(
        listVersion=command.version,
        updateType=command.update_type.value,
        localAuthorizationList=entries or None,
    )


def _update_firmware(command: UpdateFirmwareCommand) -> Payload:
    if command.install_at is not None:
        raise not_supported(command, VERSION, "1.6 installs when downloaded: no installAt")
    if command.signature is not None or command.signing_certificate is not None:
        raise not_supported(
            command,
            VERSION,
            "1.6 UpdateFirmware carries no signature (SignedUpdateFirmware is not sent)",
        )
    return present(
        location=command.location,
        retrieveDate=command.retrieve_at,
        retries=command.retries,
        retryInterval=command.retry_interval,
    )


def _profile(command: Command, profile: ChargingProfile) -> Payload:
    schedule = profile.schedule
    transaction: int | None = profile.ocpp16_transaction_id
    if transaction is None and profile.transaction_id is not None:
        if not profile.transaction_id.isdigit():
            raise not_supported(command, VERSION, "the profile's transaction has no 1.6 id")
        transaction = int(profile.transaction_id)
    periods = []
    for period in schedule.periods:
        if period.phase_to_use is not None:
            raise not_supported(command, VERSION, "1.6 schedules have no phaseToUse")
        periods.append(
            present(
                startPeriod=period.start_period,
                limit=_tenth(period.limit),
                numberPhases=period.number_phases,
            )
        )
    return present(
        chargingProfileId=profile.id,
        transactionId=transaction,
        stackLevel=profile.stack_level,
        chargingProfilePurpose=_PURPOSE[profile.purpose],
        chargingProfileKind=profile.kind.value,
        recurrencyKind=profile.recurrency,
        validFrom=profile.valid_from,
        validTo=profile.valid_to,
        chargingSchedule=present(
            duration=schedule.duration,
            startSchedule=schedule.start_schedule,
            chargingRateUnit=schedule.charging_rate_unit.value,
            chargingSchedulePeriod=periods,
            minChargingRate=None
            if schedule.min_charging_rate is None
            else _tenth(schedule.min_charging_rate),
        ),
    )


def _tenth(value: float) -> float:
    # 1.6 schedules say `multipleOf: 0.1`: one decimal, rounded rather than refused.
    return round(value, 1)


# --- results -------------------------------------------------------------------------------


def _get_configuration(request: Payload, response: Payload) -> CommandResult:
    settings = []
    for item in response.get("configurationKey", []):
        key = item["key"]
        mapping = mapping_of_key(key)
        value = item.get("value")
        settings.append(
            SettingValue(
                name=None if mapping is None else mapping.name,
                key=key,
                value=REDACTED if value is not None and is_sensitive(key) else value,
                readonly=item["readonly"],
                status=SettingStatus.ACCEPTED,
            )
        )
    return CommandResult(
        status=CommandStatus.ACCEPTED,
        configuration=ConfigurationResult(
            settings=tuple(settings), unknown=tuple(response.get("unknownKey", []))
        ),
    )


def _change_configuration(request: Payload, response: Payload) -> CommandResult:
    key = request.get("key")
    mapping = None if key is None else mapping_of_key(key)
    setting = SettingValue(
        name=None if mapping is None else mapping.name,
        key=key,
        status=SettingStatus(response["status"]),
    )
    return CommandResult(
        status=CommandStatus(response["status"]),
        configuration=ConfigurationResult(settings=(setting,)),
    )


def _get_local_list_version(request: Payload, response: Payload) -> CommandResult:
    return CommandResult(status=CommandStatus.ACCEPTED, list_version=response["listVersion"])


def _update_firmware_result(request: Payload, response: Payload) -> CommandResult:
    # UpdateFirmware.conf is empty: answering is accepting (1.6 §6.51).
    return CommandResult(status=CommandStatus.ACCEPTED)


def _get_diagnostics(request: Payload, response: Payload) -> CommandResult:
    file_name = response.get("fileName")
    if file_name is None:
        # 1.6 §6.33: no fileName when no diagnostic information is available.
        return CommandResult(
            status=CommandStatus.REJECTED, additional_info="no diagnostics available"
        )
    return CommandResult(status=CommandStatus.ACCEPTED, file_name=file_name)


def _get_composite_schedule(request: Payload, response: Payload) -> CommandResult:
    result = status_result(request, response)
    schedule = response.get("chargingSchedule")
    if schedule is None:
        return result
    start = response.get("scheduleStart") or schedule.get("startSchedule")
    composite = CompositeSchedule(
        evse_id=response.get("connectorId", request.get("connectorId", 0)),
        schedule_start=reported_timestamp(start),
        duration=schedule.get("duration"),
        charging_rate_unit=schedule["chargingRateUnit"],
        min_charging_rate=schedule.get("minChargingRate"),
        periods=tuple(
            ReportedPeriod(
                start_period=p["startPeriod"],
                limit=p["limit"],
                number_phases=p.get("numberPhases"),
            )
            for p in schedule["chargingSchedulePeriod"]
        ),
    )
    return result.model_copy(update={"schedule": composite})


RESULT_READERS: dict[str, ResultReader] = {
    **dict.fromkeys(
        (
            "RemoteStartTransaction",
            "RemoteStopTransaction",
            "Reset",
            "UnlockConnector",
            "ChangeAvailability",
            "TriggerMessage",
            "ClearCache",
            "SendLocalList",
            "ReserveNow",
            "CancelReservation",
            "SetChargingProfile",
            "ClearChargingProfile",
        ),
        status_result,
    ),
    "GetConfiguration": _get_configuration,
    "ChangeConfiguration": _change_configuration,
    "GetLocalListVersion": _get_local_list_version,
    "UpdateFirmware": _update_firmware_result,
    "GetDiagnostics": _get_diagnostics,
    "GetCompositeSchedule": _get_composite_schedule,
}

RESULT_DECODERS = status_decoders(RESULT_READERS)


# --- redaction -----------------------------------------------------------------------------


def redact_request(action: str, payload: Payload) -> Payload:
    """The request with a credential's value replaced by "***" (ChangeConfiguration)."""
    if action == "ChangeConfiguration" and is_sensitive(payload.get("key")):
        return {**payload, "value": REDACTED}
    return payload


def redact_response(action: str, payload: Payload) -> Payload:
    """The response with credentials' values replaced by "***" (GetConfiguration)."""
    if action != "GetConfiguration" or "configurationKey" not in payload:
        return payload
    keys = [
        {**item, "value": REDACTED} if "value" in item and is_sensitive(item.get("key")) else item
        for item in payload["configurationKey"]
    ]
    return {**payload, "configurationKey": keys}
