"""OCPP 2.0.1: version-neutral commands -> CALL payloads, and CALLRESULTs -> neutral results.

Settings live in the device model: the mapping table's neutral names become component/variable
addresses, raw 2.0.1 variables pass as they are, and raw 1.6 keys are refused (a 2.0.1 station
has none). Ids the CSMS picks (remoteStartId, requestId, reservation id) are derived from the
call when the command leaves them out.
"""

from __future__ import annotations

from typing import assert_never

from csms.domain.commands import (
    CancelReservationCommand,
    ChangeAvailabilityCommand,
    ChargingProfile,
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
    ReportedPeriod,
    ReserveNowCommand,
    ResetCommand,
    ResetKind,
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
    AttributeType,
    ConfigurationName,
    ConfigurationResult,
    RawVariable,
    ReportedVariable,
    SettingRef,
    SettingStatus,
    SettingValue,
    VariableAddress,
    is_sensitive,
    mapping_of_variable,
)
from csms.domain.station import ProtocolVersion
from csms.domain.tokens import IdTokenType
from csms.ocpp.common.commands import (
    not_supported,
    present,
    reported_timestamp,
    status_decoders,
    status_result,
)
from csms.ocpp.common.protocol import Payload, ResultReader

VERSION = ProtocolVersion.OCPP201

# Reset Hard/Soft (1.6) is Immediate/OnIdle in 2.0.1.
_RESET_TYPE = {ResetKind.HARD: "Immediate", ResetKind.SOFT: "OnIdle"}

# 1.6 DiagnosticsStatusNotification became LogStatusNotification.
_TRIGGER = {message: message.value for message in TriggerableMessage} | {
    TriggerableMessage.DIAGNOSTICS_STATUS_NOTIFICATION: "LogStatusNotification"
}

# GetVariables/SetVariables answers that say the station has no such setting.
_UNKNOWN = {SettingStatus.UNKNOWN_COMPONENT, SettingStatus.UNKNOWN_VARIABLE}


# One case per command, checked exhaustive by mypy (assert_never): a new command in the union
# fails type checking until each version says how to carry it.
def encode_command(command: Command, unique_id: str = "") -> tuple[str, Payload]:  # noqa: PLR0912
    """Domain command -> (action, 2.0.1 request payload); CommandNotSupportedError if it can't."""
    match command:
        case StartChargingCommand():
            profile = command.charging_profile
            return "RequestStartTransaction", present(
                evseId=command.evse_id,
                remoteStartId=command.remote_start_id_for(unique_id),
                idToken=_id_token(command.id_token, command.token_type),
                groupIdToken=_group_token(command.group_id_token),
                chargingProfile=None if profile is None else _profile(command, profile),
            )
        case StopChargingCommand():
            if command.transaction_id is None:
                raise not_supported(command, VERSION, "the session's transaction id is not known")
            return "RequestStopTransaction", {"transactionId": command.transaction_id}
        case ResetCommand():
            return "Reset", present(type=_RESET_TYPE[command.kind], evseId=command.evse_id)
        case UnlockConnectorCommand():
            return "UnlockConnector", {
                "evseId": command.evse_id,
                "connectorId": command.connector_id,
            }
        case ChangeAvailabilityCommand():
            evse = None
            if command.evse_id is not None:
                evse = present(id=command.evse_id, connectorId=command.connector_id)
            return "ChangeAvailability", present(operationalStatus=command.availability, evse=evse)
        case GetConfigurationCommand():
            return "GetVariables", {"getVariableData": _get_variable_data(command)}
        case SetConfigurationCommand():
            data = present(attributeValue=command.value, **_address(command, command.setting))
            return "SetVariables", {"setVariableData": [data]}
        case TriggerMessageCommand():
            evse = None if command.evse_id is None else {"id": command.evse_id}
            return "TriggerMessage", present(requestedMessage=_TRIGGER[command.message], evse=evse)
        case ClearCacheCommand():
            return "ClearCache", {}
        case SendLocalListCommand():
            return "SendLocalList", _send_local_list(command)
        case GetLocalListVersionCommand():
            return "GetLocalListVersion", {}
        case ReserveNowCommand():
            return "ReserveNow", present(
                id=command.reservation_id_for(unique_id),
                expiryDateTime=command.expires_at,
                idToken=_id_token(command.id_token, command.token_type),
                evseId=command.evse_id,
                groupIdToken=_group_token(command.group_id_token),
            )
        case CancelReservationCommand():
            return "CancelReservation", {"reservationId": command.reservation_id}
        case UpdateFirmwareCommand():
            return "UpdateFirmware", present(
                retries=command.retries,
                retryInterval=command.retry_interval,
                requestId=command.request_id_for(unique_id),
                firmware=present(
                    location=command.location,
                    retrieveDateTime=command.retrieve_at,
                    installDateTime=command.install_at,
                    signingCertificate=command.signing_certificate,
                    signature=command.signature,
                ),
            )
        case GetDiagnosticsCommand():
            return "GetLog", present(
                log=present(
                    remoteLocation=command.location,
                    oldestTimestamp=command.oldest,
                    latestTimestamp=command.latest,
                ),
                logType=command.log_type,
                requestId=command.request_id_for(unique_id),
                retries=command.retries,
                retryInterval=command.retry_interval,
            )
        case SetChargingProfileCommand():
            return "SetChargingProfile", {
                "evseId": command.evse_id,
                "chargingProfile": _profile(command, command.profile),
            }
        case ClearChargingProfileCommand():
            criteria = present(
                evseId=command.evse_id,
                chargingProfilePurpose=command.purpose,
                stackLevel=command.stack_level,
            )
            return "ClearChargingProfile", present(
                chargingProfileId=command.profile_id, chargingProfileCriteria=criteria or None
            )
        case GetCompositeScheduleCommand():
            return "GetCompositeSchedule", present(
                duration=command.duration,
                chargingRateUnit=command.charging_rate_unit,
                evseId=command.evse_id,
            )
        case _:  # pragma: no cover - the union is closed
            assert_never(command)


def _id_token(value: str, token_type: IdTokenType) -> Payload:
    return {"idToken": value, "type": token_type.value}


def _group_token(value: str | None) -> Payload | None:
    # Group ids are the CSMS's own (1.6 parentIdTag): Central tokens.
    return None if value is None else _id_token(value, IdTokenType.CENTRAL)


def _address(command: Command, setting: SettingRef) -> Payload:
    """The component/variable(/attributeType) fields of Get/SetVariableData."""
    if isinstance(setting, ConfigurationName):
        return _variable_fields(MAPPINGS[setting].ocpp201)
    if isinstance(setting, RawVariable):
        return _variable_fields(setting) | present(attributeType=setting.attribute_type)
    raise not_supported(
        command, VERSION, f"{setting.key!r} is a 1.6 key; 2.0.1 settings are component variables"
    )


def _variable_fields(address: VariableAddress) -> Payload:
    evse = None
    if address.evse_id is not None:
        evse = present(id=address.evse_id, connectorId=address.connector_id)
    return {
        "component": present(
            name=address.component, instance=address.component_instance, evse=evse
        ),
        "variable": present(name=address.variable, instance=address.variable_instance),
    }


def _get_variable_data(command: GetConfigurationCommand) -> list[Payload]:
    # GetVariables has no "all": asking for nothing asks for every mapped setting that can be
    # read (BasicAuthPassword is WriteOnly).
    settings = command.settings or tuple(name for name, m in MAPPINGS.items() if not m.sensitive)
    data: list[Payload] = []
    for setting in settings:
        item = _address(command, setting)
        if item not in data:
            data.append(item)
    return data


def _send_local_list(command: SendLocalListCommand) -> Payload:
    entries = []
    for entry in command.entries:
        info = None
        if entry.status is not None:
            # No idTokenInfo in a differential update deletes the entry (2.0.1 D01.FR.17).
            info = present(
                status=entry.status,
                cacheExpiryDateTime=entry.expires_at,
                groupIdToken=_group_token(entry.group_id_token),
            )
        entries.append(
            present(idToken=_id_token(entry.id_token, entry.token_type), idTokenInfo=info)
        )
    return present(
        versionNumber=command.version,
        updateType=command.update_type,
        localAuthorizationList=entries or None,
    )


def _profile(command: Command, profile: ChargingProfile) -> Payload:
    if profile.ocpp16_transaction_id is not None and profile.transaction_id is None:
        raise not_supported(
            command, VERSION, "a 2.0.1 TxProfile names the station's transactionId, not a 1.6 id"
        )
    schedule = profile.schedule
    return present(
        id=profile.id,
        stackLevel=profile.stack_level,
        chargingProfilePurpose=profile.purpose,
        chargingProfileKind=profile.kind,
        recurrencyKind=profile.recurrency,
        validFrom=profile.valid_from,
        validTo=profile.valid_to,
        transactionId=profile.transaction_id,
        chargingSchedule=[
            present(
                id=profile.id if schedule.id is None else schedule.id,
                startSchedule=schedule.start_schedule,
                duration=schedule.duration,
                chargingRateUnit=schedule.charging_rate_unit,
                minChargingRate=schedule.min_charging_rate,
                chargingSchedulePeriod=[
                    present(
                        startPeriod=period.start_period,
                        limit=period.limit,
                        numberPhases=period.number_phases,
                        phaseToUse=period.phase_to_use,
                    )
                    for period in schedule.periods
                ],
            )
        ],
    )


# --- results -------------------------------------------------------------------------------


def _reported(item: Payload) -> ReportedVariable:
    component, variable = item["component"], item["variable"]
    evse = component.get("evse") or {}
    return ReportedVariable(
        component=component["name"],
        component_instance=component.get("instance"),
        evse_id=evse.get("id"),
        connector_id=evse.get("connectorId"),
        variable=variable["name"],
        variable_instance=variable.get("instance"),
        attribute_type=item.get("attributeType", AttributeType.ACTUAL),
    )


def _setting(item: Payload, value: str | None) -> SettingValue:
    reported = _reported(item)
    mapping = mapping_of_variable(reported)
    info = item.get("attributeStatusInfo") or {}
    sensitive = is_sensitive(reported.component, reported.variable, reported.variable_instance)
    return SettingValue(
        name=None if mapping is None else mapping.name,
        variable=reported,
        value=REDACTED if value is not None and sensitive else value,
        status=SettingStatus(item["attributeStatus"]),
        reason=info.get("reasonCode"),
    )


def _unknown(settings: list[SettingValue]) -> tuple[str, ...]:
    return tuple(
        s.name.value if s.name is not None else s.variable.label
        for s in settings
        if s.status in _UNKNOWN and s.variable is not None
    )


def _get_variables(request: Payload, response: Payload) -> CommandResult:
    settings = [
        _setting(item, item.get("attributeValue")) for item in response["getVariableResult"]
    ]
    return CommandResult(
        status=CommandStatus.ACCEPTED,
        configuration=ConfigurationResult(settings=tuple(settings), unknown=_unknown(settings)),
    )


def _set_variables(request: Payload, response: Payload) -> CommandResult:
    settings = [_setting(item, None) for item in response["setVariableResult"]]
    # One setting per command; were there several, the first refusal speaks for them.
    refused = [s.status for s in settings if s.status is not SettingStatus.ACCEPTED]
    status = CommandStatus(refused[0].value) if refused else CommandStatus.ACCEPTED
    return CommandResult(
        status=status,
        configuration=ConfigurationResult(settings=tuple(settings), unknown=_unknown(settings)),
    )


def _request_start(request: Payload, response: Payload) -> CommandResult:
    return status_result(request, response).model_copy(
        update={"transaction_id": response.get("transactionId")}
    )


def _get_log(request: Payload, response: Payload) -> CommandResult:
    return status_result(request, response).model_copy(
        update={"file_name": response.get("filename")}
    )


def _get_local_list_version(request: Payload, response: Payload) -> CommandResult:
    return CommandResult(status=CommandStatus.ACCEPTED, list_version=response["versionNumber"])


def _get_composite_schedule(request: Payload, response: Payload) -> CommandResult:
    result = status_result(request, response)
    schedule = response.get("schedule")
    if schedule is None:
        return result
    composite = CompositeSchedule(
        evse_id=schedule["evseId"],
        schedule_start=reported_timestamp(schedule["scheduleStart"]),
        duration=schedule["duration"],
        charging_rate_unit=schedule["chargingRateUnit"],
        periods=tuple(
            ReportedPeriod(
                start_period=p["startPeriod"],
                limit=p["limit"],
                number_phases=p.get("numberPhases"),
                phase_to_use=p.get("phaseToUse"),
            )
            for p in schedule["chargingSchedulePeriod"]
        ),
    )
    return result.model_copy(update={"schedule": composite})


RESULT_READERS: dict[str, ResultReader] = {
    **dict.fromkeys(
        (
            "RequestStopTransaction",
            "Reset",
            "UnlockConnector",
            "ChangeAvailability",
            "TriggerMessage",
            "ClearCache",
            "SendLocalList",
            "ReserveNow",
            "CancelReservation",
            "UpdateFirmware",
            "SetChargingProfile",
            "ClearChargingProfile",
        ),
        status_result,
    ),
    "RequestStartTransaction": _request_start,
    "GetVariables": _get_variables,
    "SetVariables": _set_variables,
    "GetLog": _get_log,
    "GetLocalListVersion": _get_local_list_version,
    "GetCompositeSchedule": _get_composite_schedule,
}

RESULT_DECODERS = status_decoders(RESULT_READERS)


# --- redaction -----------------------------------------------------------------------------


def _sensitive(item: Payload) -> bool:
    component, variable = item.get("component") or {}, item.get("variable") or {}
    return is_sensitive(component.get("name"), variable.get("name"), variable.get("instance"))


def _redact_items(payload: Payload, field: str) -> Payload:
    if field not in payload:
        return payload
    items = [
        {**item, "attributeValue": REDACTED}
        if "attributeValue" in item and _sensitive(item)
        else item
        for item in payload[field]
    ]
    return {**payload, field: items}


def redact_request(action: str, payload: Payload) -> Payload:
    """The request with credentials' values replaced by "***" (SetVariables)."""
    if action == "SetVariables":
        return _redact_items(payload, "setVariableData")
    return payload


def redact_response(action: str, payload: Payload) -> Payload:
    """The response with credentials' values replaced by "***" (GetVariables)."""
    if action == "GetVariables":
        return _redact_items(payload, "getVariableResult")
    return payload
