"""The command catalogue on the wire: each neutral command in 1.6 and 2.0.1, and back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from csms.domain.commands import (
    Availability,
    CancelReservationCommand,
    ChangeAvailabilityCommand,
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ClearCacheCommand,
    ClearChargingProfileCommand,
    Command,
    CommandStatus,
    GetCompositeScheduleCommand,
    GetConfigurationCommand,
    GetDiagnosticsCommand,
    GetLocalListVersionCommand,
    LocalListEntry,
    LocalListUpdate,
    LogType,
    RecurrencyKind,
    ReserveNowCommand,
    ResetCommand,
    ResetKind,
    SchedulePeriod,
    SendLocalListCommand,
    SetChargingProfileCommand,
    SetConfigurationCommand,
    StartChargingCommand,
    StopChargingCommand,
    TriggerableMessage,
    TriggerMessageCommand,
    UnlockConnectorCommand,
    UpdateFirmwareCommand,
    derived_id,
)
from csms.domain.configuration import (
    MAPPINGS,
    ConfigurationName,
    RawKey,
    RawVariable,
    SettingStatus,
)
from csms.domain.errors import CommandNotSupportedError
from csms.domain.station import ProtocolVersion
from csms.domain.tokens import AuthorizationStatus, IdTokenType
from csms.ocpp.dispatch import OcppCallEncoder
from csms.ocpp.v16 import commands as v16
from csms.ocpp.v201 import commands as v201

V16, V201 = ProtocolVersion.OCPP16, ProtocolVersion.OCPP201
T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TS = "2025-03-01T12:00:00.000Z"
T2 = datetime(2025, 3, 1, 13, 0, tzinfo=UTC)
TS2 = "2025-03-01T13:00:00.000Z"
CALL_ID = "01JCALL"
DERIVED = derived_id(CALL_ID)


def a_profile(**over: Any) -> ChargingProfile:
    fields: dict[str, Any] = {
        "id": 7,
        "stack_level": 1,
        "purpose": ChargingProfilePurpose.TX_DEFAULT,
        "kind": ChargingProfileKind.ABSOLUTE,
        "schedule": ChargingSchedule(
            start_schedule=T,
            duration=3600,
            charging_rate_unit=ChargingRateUnit.A,
            periods=(
                SchedulePeriod(start_period=0, limit=16.04, number_phases=3),
                SchedulePeriod(start_period=600, limit=6),
            ),
        ),
    }
    return ChargingProfile(**(fields | over))


PROFILE_16 = {
    "chargingProfileId": 7,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {
        "duration": 3600,
        "startSchedule": TS,
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
            {"startPeriod": 600, "limit": 6},
        ],
    },
}
PROFILE_201 = {
    "id": 7,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": [
        {
            "id": 7,
            "startSchedule": TS,
            "duration": 3600,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 16.04, "numberPhases": 3},
                {"startPeriod": 600, "limit": 6},
            ],
        }
    ],
}
TX_PROFILE = a_profile(purpose=ChargingProfilePurpose.TX)

# (command, its 1.6 CALL, its 2.0.1 CALL)
CATALOGUE: list[tuple[Command, tuple[str, dict[str, Any]], tuple[str, dict[str, Any]]]] = [
    (
        StartChargingCommand(id_token="TAG-1", evse_id=2),
        ("RemoteStartTransaction", {"idTag": "TAG-1", "connectorId": 2}),
        (
            "RequestStartTransaction",
            {
                "evseId": 2,
                "remoteStartId": DERIVED,
                "idToken": {"idToken": "TAG-1", "type": "Central"},
            },
        ),
    ),
    (
        StartChargingCommand(
            id_token="TAG-1",
            token_type=IdTokenType.ISO14443,
            remote_start_id=5,
            charging_profile=TX_PROFILE,
        ),
        (
            "RemoteStartTransaction",
            {
                "idTag": "TAG-1",
                "chargingProfile": PROFILE_16 | {"chargingProfilePurpose": "TxProfile"},
            },
        ),
        (
            "RequestStartTransaction",
            {
                "remoteStartId": 5,
                "idToken": {"idToken": "TAG-1", "type": "ISO14443"},
                "chargingProfile": PROFILE_201 | {"chargingProfilePurpose": "TxProfile"},
            },
        ),
    ),
    (
        StopChargingCommand(transaction_id="17", ocpp16_transaction_id=17),
        ("RemoteStopTransaction", {"transactionId": 17}),
        ("RequestStopTransaction", {"transactionId": "17"}),
    ),
    (
        StopChargingCommand(transaction_id="42"),
        ("RemoteStopTransaction", {"transactionId": 42}),
        ("RequestStopTransaction", {"transactionId": "42"}),
    ),
    (
        ResetCommand(kind=ResetKind.HARD),
        ("Reset", {"type": "Hard"}),
        ("Reset", {"type": "Immediate"}),
    ),
    (
        UnlockConnectorCommand(evse_id=3),
        ("UnlockConnector", {"connectorId": 3}),
        ("UnlockConnector", {"evseId": 3, "connectorId": 1}),
    ),
    (
        ChangeAvailabilityCommand(availability=Availability.INOPERATIVE),
        ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}),
        ("ChangeAvailability", {"operationalStatus": "Inoperative"}),
    ),
    (
        ChangeAvailabilityCommand(availability=Availability.OPERATIVE, evse_id=2, connector_id=1),
        ("ChangeAvailability", {"connectorId": 2, "type": "Operative"}),
        (
            "ChangeAvailability",
            {"operationalStatus": "Operative", "evse": {"id": 2, "connectorId": 1}},
        ),
    ),
    (
        GetConfigurationCommand(
            settings=(
                ConfigurationName.HEARTBEAT_INTERVAL,
                ConfigurationName.TRANSACTION_MESSAGE_ATTEMPTS,
                ConfigurationName.HEARTBEAT_INTERVAL,
            )
        ),
        ("GetConfiguration", {"key": ["HeartbeatInterval", "TransactionMessageAttempts"]}),
        (
            "GetVariables",
            {
                "getVariableData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    },
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "MessageAttempts", "instance": "TransactionEvent"},
                    },
                ]
            },
        ),
    ),
    (
        SetConfigurationCommand(setting=ConfigurationName.METER_VALUE_SAMPLE_INTERVAL, value="60"),
        ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "60"}),
        (
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "attributeValue": "60",
                        "component": {"name": "SampledDataCtrlr"},
                        "variable": {"name": "TxUpdatedInterval"},
                    }
                ]
            },
        ),
    ),
    (
        TriggerMessageCommand(message=TriggerableMessage.LOG_STATUS_NOTIFICATION),
        ("TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"}),
        ("TriggerMessage", {"requestedMessage": "LogStatusNotification"}),
    ),
    (ClearCacheCommand(), ("ClearCache", {}), ("ClearCache", {})),
    (
        SendLocalListCommand(
            update_type=LocalListUpdate.DIFFERENTIAL,
            version=4,
            entries=(
                LocalListEntry(
                    id_token="TAG-1",
                    status=AuthorizationStatus.ACCEPTED,
                    expires_at=T,
                    group_id_token="FLEET",
                ),
                LocalListEntry(id_token="TAG-2"),
            ),
        ),
        (
            "SendLocalList",
            {
                "listVersion": 4,
                "updateType": "Differential",
                "localAuthorizationList": [
                    {
                        "idTag": "TAG-1",
                        "idTagInfo": {
                            "status": "Accepted",
                            "expiryDate": TS,
                            "parentIdTag": "FLEET",
                        },
                    },
                    {"idTag": "TAG-2"},
                ],
            },
        ),
        (
            "SendLocalList",
            {
                "versionNumber": 4,
                "updateType": "Differential",
                "localAuthorizationList": [
                    {
                        "idToken": {"idToken": "TAG-1", "type": "ISO14443"},
                        "idTokenInfo": {
                            "status": "Accepted",
                            "cacheExpiryDateTime": TS,
                            "groupIdToken": {"idToken": "FLEET", "type": "Central"},
                        },
                    },
                    {"idToken": {"idToken": "TAG-2", "type": "ISO14443"}},
                ],
            },
        ),
    ),
    (
        SendLocalListCommand(update_type=LocalListUpdate.FULL, version=1),
        ("SendLocalList", {"listVersion": 1, "updateType": "Full"}),
        ("SendLocalList", {"versionNumber": 1, "updateType": "Full"}),
    ),
    (
        GetLocalListVersionCommand(),
        ("GetLocalListVersion", {}),
        ("GetLocalListVersion", {}),
    ),
    (
        ReserveNowCommand(expires_at=T, id_token="TAG-1", group_id_token="FLEET"),
        (
            "ReserveNow",
            {
                "connectorId": 0,
                "expiryDate": TS,
                "idTag": "TAG-1",
                "parentIdTag": "FLEET",
                "reservationId": DERIVED,
            },
        ),
        (
            "ReserveNow",
            {
                "id": DERIVED,
                "expiryDateTime": TS,
                "idToken": {"idToken": "TAG-1", "type": "Central"},
                "groupIdToken": {"idToken": "FLEET", "type": "Central"},
            },
        ),
    ),
    (
        ReserveNowCommand(expires_at=T, id_token="TAG-1", evse_id=2, reservation_id=9),
        (
            "ReserveNow",
            {"connectorId": 2, "expiryDate": TS, "idTag": "TAG-1", "reservationId": 9},
        ),
        (
            "ReserveNow",
            {
                "id": 9,
                "expiryDateTime": TS,
                "idToken": {"idToken": "TAG-1", "type": "Central"},
                "evseId": 2,
            },
        ),
    ),
    (
        CancelReservationCommand(reservation_id=9),
        ("CancelReservation", {"reservationId": 9}),
        ("CancelReservation", {"reservationId": 9}),
    ),
    (
        UpdateFirmwareCommand(
            location="https://fw.example/x.bin", retrieve_at=T, retries=3, retry_interval=60
        ),
        (
            "UpdateFirmware",
            {
                "location": "https://fw.example/x.bin",
                "retrieveDate": TS,
                "retries": 3,
                "retryInterval": 60,
            },
        ),
        (
            "UpdateFirmware",
            {
                "retries": 3,
                "retryInterval": 60,
                "requestId": DERIVED,
                "firmware": {"location": "https://fw.example/x.bin", "retrieveDateTime": TS},
            },
        ),
    ),
    (
        GetDiagnosticsCommand(location="ftp://logs.example/up", oldest=T, latest=T2, retries=1),
        (
            "GetDiagnostics",
            {
                "location": "ftp://logs.example/up",
                "startTime": TS,
                "stopTime": TS2,
                "retries": 1,
            },
        ),
        (
            "GetLog",
            {
                "log": {
                    "remoteLocation": "ftp://logs.example/up",
                    "oldestTimestamp": TS,
                    "latestTimestamp": TS2,
                },
                "logType": "DiagnosticsLog",
                "requestId": DERIVED,
                "retries": 1,
            },
        ),
    ),
    (
        SetChargingProfileCommand(evse_id=1, profile=a_profile()),
        ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": PROFILE_16}),
        ("SetChargingProfile", {"evseId": 1, "chargingProfile": PROFILE_201}),
    ),
    (
        ClearChargingProfileCommand(profile_id=7),
        ("ClearChargingProfile", {"id": 7}),
        ("ClearChargingProfile", {"chargingProfileId": 7}),
    ),
    (
        ClearChargingProfileCommand(
            evse_id=1, purpose=ChargingProfilePurpose.CHARGING_STATION_MAX, stack_level=0
        ),
        (
            "ClearChargingProfile",
            {"connectorId": 1, "chargingProfilePurpose": "ChargePointMaxProfile", "stackLevel": 0},
        ),
        (
            "ClearChargingProfile",
            {
                "chargingProfileCriteria": {
                    "evseId": 1,
                    "chargingProfilePurpose": "ChargingStationMaxProfile",
                    "stackLevel": 0,
                }
            },
        ),
    ),
    (
        GetCompositeScheduleCommand(duration=900, charging_rate_unit=ChargingRateUnit.W),
        ("GetCompositeSchedule", {"connectorId": 0, "duration": 900, "chargingRateUnit": "W"}),
        ("GetCompositeSchedule", {"duration": 900, "chargingRateUnit": "W", "evseId": 0}),
    ),
]


@pytest.mark.parametrize(("command", "wire"), [(c, w16) for c, w16, _ in CATALOGUE], ids=repr)
def test_encode_command_16_catalogue(command: Command, wire: tuple[str, dict[str, Any]]) -> None:
    # GIVEN a neutral command / WHEN encoded for 1.6 / THEN it is the 1.6 message
    assert v16.encode_command(command, CALL_ID) == wire


@pytest.mark.parametrize(("command", "wire"), [(c, w) for c, _, w in CATALOGUE], ids=repr)
def test_encode_command_201_catalogue(command: Command, wire: tuple[str, dict[str, Any]]) -> None:
    # GIVEN a neutral command / WHEN encoded for 2.0.1 / THEN it is the 2.0.1 message
    assert v201.encode_command(command, CALL_ID) == wire


def test_encode_command_16_rounds_limits_to_tenths() -> None:
    # GIVEN a schedule with a limit and a minimum rate of two decimals
    schedule = a_profile().schedule.model_copy(update={"min_charging_rate": 1.26})
    command = SetChargingProfileCommand(
        evse_id=1, profile=a_profile().model_copy(update={"schedule": schedule})
    )
    # WHEN encoded for 1.6
    _, payload = v16.encode_command(command)
    # THEN both carry one decimal, as the 1.6 schema's multipleOf 0.1 requires
    encoded = payload["csChargingProfiles"]["chargingSchedule"]
    assert encoded["chargingSchedulePeriod"][0]["limit"] == 16.0
    assert encoded["minChargingRate"] == 1.3


def test_encode_command_16_tx_profile_carries_integer_transaction() -> None:
    # GIVEN a TxProfile for a 1.6 session (string id "17", alias 17)
    profile = a_profile(
        purpose=ChargingProfilePurpose.TX, transaction_id="17", ocpp16_transaction_id=17
    )
    # WHEN encoded for both versions
    _, old = v16.encode_command(SetChargingProfileCommand(evse_id=1, profile=profile))
    _, new = v201.encode_command(SetChargingProfileCommand(evse_id=1, profile=profile))
    # THEN 1.6 names it by the integer, 2.0.1 by the string
    assert old["csChargingProfiles"]["transactionId"] == 17
    assert new["chargingProfile"]["transactionId"] == "17"


def test_encode_command_16_tx_profile_falls_back_to_numeric_transaction_id() -> None:
    # GIVEN a TxProfile naming only the session's transaction id, a number
    profile = a_profile(purpose=ChargingProfilePurpose.TX, transaction_id="23")
    # WHEN encoded for 1.6 / THEN the integer is read from it
    _, payload = v16.encode_command(SetChargingProfileCommand(evse_id=1, profile=profile))
    assert payload["csChargingProfiles"]["transactionId"] == 23


def test_encode_command_recurring_profile_carries_recurrency() -> None:
    # GIVEN a daily recurring profile with a validity window
    profile = a_profile(
        kind=ChargingProfileKind.RECURRING,
        recurrency=RecurrencyKind.DAILY,
        valid_from=T,
        valid_to=T2,
    )
    command = SetChargingProfileCommand(evse_id=0, profile=profile)
    # WHEN encoded for both versions
    _, old = v16.encode_command(command)
    _, new = v201.encode_command(command)
    # THEN both say Recurring/Daily within the window
    for encoded in (old["csChargingProfiles"], new["chargingProfile"]):
        assert encoded["chargingProfileKind"] == "Recurring"
        assert encoded["recurrencyKind"] == "Daily"
        assert (encoded["validFrom"], encoded["validTo"]) == (TS, TS2)


def test_encode_command_201_get_configuration_of_nothing_asks_for_every_mapped_setting() -> None:
    # GIVEN a read of "everything"
    command = GetConfigurationCommand()
    # WHEN encoded for both versions
    _, old = v16.encode_command(command)
    _, new = v201.encode_command(command)
    # THEN 1.6 asks for all keys (no key list), 2.0.1 for each mapped variable but the
    # write-only password
    assert old == {}
    assert len(new["getVariableData"]) == len(MAPPINGS) - 1
    assert {"name": "BasicAuthPassword"} not in [d["variable"] for d in new["getVariableData"]]


def test_encode_command_raw_settings_in_their_own_version() -> None:
    # GIVEN a raw 1.6 key and a raw 2.0.1 variable on EVSE 1, connector 2
    key = RawKey(key="VendorLedBrightness")
    variable = RawVariable(
        component="Connector",
        evse_id=1,
        connector_id=2,
        variable="Enabled",
        attribute_type="Target",
    )
    # WHEN each is read in its own version
    _, old = v16.encode_command(GetConfigurationCommand(settings=(key,)))
    _, new = v201.encode_command(SetConfigurationCommand(setting=variable, value="false"))
    # THEN they are addressed as given
    assert old == {"key": ["VendorLedBrightness"]}
    assert new["setVariableData"] == [
        {
            "attributeValue": "false",
            "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 2}},
            "variable": {"name": "Enabled"},
            "attributeType": "Target",
        }
    ]


NOT_ON_16: list[tuple[Command, str]] = [
    (ResetCommand(evse_id=1), "whole station"),
    (UnlockConnectorCommand(evse_id=1, connector_id=2), "only connector"),
    (
        ChangeAvailabilityCommand(availability=Availability.OPERATIVE, evse_id=1, connector_id=2),
        "only connector",
    ),
    (StartChargingCommand(id_token="T" * 21), "20 characters"),
    (StartChargingCommand(id_token="TAG", group_id_token="G"), "no group token"),
    (StopChargingCommand(transaction_id="abc-uuid"), "no 1.6 (integer) transaction id"),
    (
        GetConfigurationCommand(settings=(RawVariable(component="C", variable="V"),)),
        "C.V is a 2.0.1 variable",
    ),
    (SetConfigurationCommand(setting=RawKey(key="K"), value="x" * 501), "500 characters"),
    (
        ReserveNowCommand(expires_at=T, id_token="TAG", group_id_token="G" * 21),
        "20 characters",
    ),
    (
        SendLocalListCommand(
            update_type=LocalListUpdate.DIFFERENTIAL,
            version=2,
            entries=(LocalListEntry(id_token="T" * 30),),
        ),
        "20 characters",
    ),
    (
        UpdateFirmwareCommand(location="https://x/y", retrieve_at=T, install_at=T2),
        "no installAt",
    ),
    (
        UpdateFirmwareCommand(location="https://x/y", retrieve_at=T, signature="c2ln"),
        "no signature",
    ),
    (
        GetDiagnosticsCommand(location="https://x/y", log_type=LogType.SECURITY),
        "no security log",
    ),
    (
        SetChargingProfileCommand(
            evse_id=1,
            profile=a_profile(
                schedule=ChargingSchedule(
                    charging_rate_unit=ChargingRateUnit.A,
                    periods=(SchedulePeriod(start_period=0, limit=10, phase_to_use=2),),
                )
            ),
        ),
        "no phaseToUse",
    ),
    (
        SetChargingProfileCommand(
            evse_id=1, profile=a_profile(purpose=ChargingProfilePurpose.TX, transaction_id="x-1")
        ),
        "no 1.6 id",
    ),
]

NOT_ON_201: list[tuple[Command, str]] = [
    (GetConfigurationCommand(settings=(RawKey(key="VendorKey"),)), "'VendorKey' is a 1.6 key"),
    (StopChargingCommand(session_id="s-1"), "transaction id is not known"),
    (
        SetChargingProfileCommand(
            evse_id=1, profile=a_profile(purpose=ChargingProfilePurpose.TX, ocpp16_transaction_id=3)
        ),
        "not a 1.6 id",
    ),
]


@pytest.mark.parametrize(("command", "why"), NOT_ON_16, ids=repr)
def test_encode_command_16_refuses_what_16_cannot_say(command: Command, why: str) -> None:
    # GIVEN a command 1.6 cannot carry / WHEN encoded for 1.6 / THEN it is refused with why
    with pytest.raises(CommandNotSupportedError) as refused:
        v16.encode_command(command, CALL_ID)
    assert why in str(refused.value)
    assert (refused.value.action, refused.value.protocol) == (command.action, "ocpp1.6")


@pytest.mark.parametrize(("command", "why"), NOT_ON_201, ids=repr)
def test_encode_command_201_refuses_what_201_cannot_say(command: Command, why: str) -> None:
    # GIVEN a command 2.0.1 cannot carry / WHEN encoded for 2.0.1 / THEN it is refused with why
    with pytest.raises(CommandNotSupportedError) as refused:
        v201.encode_command(command, CALL_ID)
    assert why in str(refused.value)
    assert refused.value.protocol == "ocpp2.0.1"


def test_encode_command_ids_derive_from_the_call() -> None:
    # GIVEN a reservation with no id of its own
    command = ReserveNowCommand(expires_at=T, id_token="TAG")
    # WHEN encoded twice for one call, and once for another
    first = v16.encode_command(command, "call-1")[1]["reservationId"]
    again = v16.encode_command(command, "call-1")[1]["reservationId"]
    other = v16.encode_command(command, "call-2")[1]["reservationId"]
    # THEN one call gives one id, which the command can tell, and another call another id
    assert first == again == command.reservation_id_for("call-1")
    assert other != first


# --- results ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "response", "status"),
    [
        ("RemoteStartTransaction", {"status": "Accepted"}, CommandStatus.ACCEPTED),
        ("UnlockConnector", {"status": "NotSupported"}, CommandStatus.NOT_SUPPORTED),
        ("ReserveNow", {"status": "Occupied"}, CommandStatus.OCCUPIED),
        ("SendLocalList", {"status": "VersionMismatch"}, CommandStatus.VERSION_MISMATCH),
        ("ClearChargingProfile", {"status": "Unknown"}, CommandStatus.UNKNOWN),
        ("ChangeConfiguration", {"status": "RebootRequired"}, CommandStatus.REBOOT_REQUIRED),
        ("UpdateFirmware", {}, CommandStatus.ACCEPTED),
        ("GetDiagnostics", {"fileName": "diag.zip"}, CommandStatus.ACCEPTED),
        ("GetDiagnostics", {}, CommandStatus.REJECTED),
        ("GetLocalListVersion", {"listVersion": 3}, CommandStatus.ACCEPTED),
        ("GetConfiguration", {}, CommandStatus.ACCEPTED),
    ],
)
def test_result_decoders_16_read_status(
    action: str, response: dict[str, Any], status: CommandStatus
) -> None:
    # GIVEN a 1.6 answer / WHEN decoded / THEN its neutral status
    assert v16.RESULT_DECODERS[action](response) is status


@pytest.mark.parametrize(
    ("action", "response", "status"),
    [
        (
            "UnlockConnector",
            {"status": "OngoingAuthorizedTransaction"},
            CommandStatus.ONGOING_AUTHORIZED_TRANSACTION,
        ),
        ("UpdateFirmware", {"status": "InvalidCertificate"}, CommandStatus.INVALID_CERTIFICATE),
        ("GetLog", {"status": "AcceptedCanceled"}, CommandStatus.ACCEPTED_CANCELED),
        ("GetLocalListVersion", {"versionNumber": 0}, CommandStatus.ACCEPTED),
        (
            "SetVariables",
            {
                "setVariableResult": [
                    {
                        "attributeStatus": "UnknownVariable",
                        "component": {"name": "X"},
                        "variable": {"name": "Y"},
                    }
                ]
            },
            CommandStatus.UNKNOWN_VARIABLE,
        ),
    ],
)
def test_result_decoders_201_read_status(
    action: str, response: dict[str, Any], status: CommandStatus
) -> None:
    # GIVEN a 2.0.1 answer / WHEN decoded / THEN its neutral status
    assert v201.RESULT_DECODERS[action](response) is status


def test_result_reader_16_get_configuration_names_known_keys_and_hides_credentials() -> None:
    # GIVEN a 1.6 answer with a mapped key, a vendor key, a credential and an unknown key
    response = {
        "configurationKey": [
            {"key": "heartbeatinterval", "readonly": False, "value": "300"},
            {"key": "VendorMode", "readonly": True},
            {"key": "AuthorizationKey", "readonly": False, "value": "s3cr3t-s3cr3t-s3cr3t"},
        ],
        "unknownKey": ["Nope"],
    }
    # WHEN read
    result = v16.RESULT_READERS["GetConfiguration"]({}, response)
    # THEN each is a setting (named when mapped, whatever the case), the credential hidden
    assert result.configuration is not None
    heartbeat, vendor, key = result.configuration.settings
    assert (heartbeat.name, heartbeat.value, heartbeat.readonly) == (
        ConfigurationName.HEARTBEAT_INTERVAL,
        "300",
        False,
    )
    assert (vendor.name, vendor.key, vendor.value, vendor.readonly) == (
        None,
        "VendorMode",
        None,
        True,
    )
    assert (key.name, key.value) == (ConfigurationName.AUTHORIZATION_KEY, "***")
    assert result.configuration.unknown == ("Nope",)


def test_result_reader_16_change_configuration_names_the_setting_from_the_request() -> None:
    # GIVEN the answer to a ChangeConfiguration of the heartbeat interval
    request = {"key": "HeartbeatInterval", "value": "60"}
    # WHEN read with its request
    result = v16.RESULT_READERS["ChangeConfiguration"](request, {"status": "Rejected"})
    # THEN the one setting is named, with the station's status
    assert result.status is CommandStatus.REJECTED
    assert result.configuration is not None
    (setting,) = result.configuration.settings
    assert (setting.name, setting.key, setting.status) == (
        ConfigurationName.HEARTBEAT_INTERVAL,
        "HeartbeatInterval",
        SettingStatus.REJECTED,
    )


def test_result_reader_201_get_variables_maps_back_and_lists_unknowns() -> None:
    # GIVEN a 2.0.1 answer: a mapped variable, a credential, an unknown raw one
    response = {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "attributeValue": "60",
                "component": {"name": "SampledDataCtrlr"},
                "variable": {"name": "TxUpdatedInterval"},
            },
            {
                "attributeStatus": "Accepted",
                "attributeValue": "s3cr3t",
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
            },
            {
                "attributeStatus": "UnknownComponent",
                "attributeStatusInfo": {"reasonCode": "NoSuchThing"},
                "attributeType": "Target",
                "component": {"name": "Fan", "instance": "2", "evse": {"id": 1}},
                "variable": {"name": "Speed"},
            },
        ]
    }
    # WHEN read
    result = v201.RESULT_READERS["GetVariables"]({}, response)
    # THEN mapped names come back, the credential hidden, the unknown one listed by its address
    assert result.status is CommandStatus.ACCEPTED
    assert result.configuration is not None
    interval, password, fan = result.configuration.settings
    assert (interval.name, interval.value) == (ConfigurationName.METER_VALUE_SAMPLE_INTERVAL, "60")
    assert (password.name, password.value) == (ConfigurationName.AUTHORIZATION_KEY, "***")
    assert fan.name is None
    assert (fan.status, fan.reason) == (SettingStatus.UNKNOWN_COMPONENT, "NoSuchThing")
    assert fan.variable is not None
    assert fan.variable.evse_id == 1
    assert result.configuration.unknown == ("Fan[2].Speed",)


def test_result_reader_201_set_variables_unknown_mapped_setting_listed_by_name() -> None:
    # GIVEN a station that has no WebSocketPingInterval
    response = {
        "setVariableResult": [
            {
                "attributeStatus": "UnknownVariable",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "WebSocketPingInterval"},
            }
        ]
    }
    # WHEN read / THEN the refusal is the status and the neutral name is listed as unknown
    result = v201.RESULT_READERS["SetVariables"]({}, response)
    assert result.status is CommandStatus.UNKNOWN_VARIABLE
    assert result.configuration is not None
    assert result.configuration.unknown == ("WebSocketPingInterval",)


def test_result_reader_composite_schedule_same_in_both_versions() -> None:
    # GIVEN the same composite schedule as each version reports it
    period = {"startPeriod": 0, "limit": 11.0, "numberPhases": 3}
    old = {
        "status": "Accepted",
        "connectorId": 2,
        "scheduleStart": TS,
        "chargingSchedule": {
            "duration": 900,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [period],
        },
    }
    new = {
        "status": "Accepted",
        "schedule": {
            "evseId": 2,
            "duration": 900,
            "scheduleStart": TS,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [period],
        },
    }
    # WHEN each is read
    a = v16.RESULT_READERS["GetCompositeSchedule"]({"connectorId": 2}, old)
    b = v201.RESULT_READERS["GetCompositeSchedule"]({"evseId": 2}, new)
    # THEN they agree
    assert a == b
    assert a.schedule is not None
    assert (a.schedule.evse_id, a.schedule.schedule_start, a.schedule.periods[0].limit) == (
        2,
        T,
        11.0,
    )


def test_result_reader_composite_schedule_rejected_has_no_schedule() -> None:
    # GIVEN a refused GetCompositeSchedule in both versions / WHEN read / THEN no schedule
    a = v16.RESULT_READERS["GetCompositeSchedule"]({}, {"status": "Rejected"})
    b = v201.RESULT_READERS["GetCompositeSchedule"](
        {}, {"status": "Rejected", "statusInfo": {"reasonCode": "NoProfiles"}}
    )
    assert (a.status, a.schedule) == (CommandStatus.REJECTED, None)
    assert (b.status, b.reason, b.schedule) == (CommandStatus.REJECTED, "NoProfiles", None)


def test_result_reader_16_composite_schedule_unreadable_start_left_out() -> None:
    # GIVEN a schedule whose start is not a date-time (the schema's format is not enforced)
    response = {
        "status": "Accepted",
        "scheduleStart": "soon",
        "chargingSchedule": {
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400}],
        },
    }
    # WHEN read / THEN the schedule is kept without a start, for the requested connector
    result = v16.RESULT_READERS["GetCompositeSchedule"]({"connectorId": 1}, response)
    assert result.schedule is not None
    assert (result.schedule.schedule_start, result.schedule.evse_id) == (None, 1)


def test_result_reader_201_extras_of_start_and_log() -> None:
    # GIVEN a start refused for a running transaction, and a log upload with its file name
    start = v201.RESULT_READERS["RequestStartTransaction"](
        {}, {"status": "Rejected", "transactionId": "tx-9"}
    )
    log = v201.RESULT_READERS["GetLog"]({}, {"status": "Accepted", "filename": "log.tgz"})
    # WHEN / THEN both keep what the answer says beyond its status
    assert (start.status, start.transaction_id) == (CommandStatus.REJECTED, "tx-9")
    assert (log.status, log.file_name) == (CommandStatus.ACCEPTED, "log.tgz")


# --- redaction -------------------------------------------------------------------------------


def test_call_encoder_redacts_credentials_in_both_versions() -> None:
    # GIVEN a new station password
    command = SetConfigurationCommand(
        setting=ConfigurationName.AUTHORIZATION_KEY, value="0123456789abcdef0123"
    )
    encoder = OcppCallEncoder()
    # WHEN encoded for each version
    for version in (V16, V201):
        encoded = encoder.encode(version, CALL_ID, command)
        # THEN the wire carries it, the stored form never does, nor does the repr
        assert "0123456789abcdef0123" in encoded.frame
        assert "0123456789abcdef0123" not in str(encoded.redacted)
        assert "***" in str(encoded.redacted)
        assert "0123456789abcdef0123" not in repr(encoded)


def test_call_encoder_redacts_password_like_raw_settings() -> None:
    # GIVEN vendor settings whose names look like credentials
    old = SetConfigurationCommand(setting=RawKey(key="ModemApnPassword"), value="pw")
    new = SetConfigurationCommand(
        setting=RawVariable(component="VendorCtrlr", variable="CloudSecret"), value="pw"
    )
    encoder = OcppCallEncoder()
    # WHEN encoded / THEN their values are hidden in the stored form
    assert encoder.encode(V16, CALL_ID, old).redacted["value"] == "***"
    assert (
        encoder.encode(V201, CALL_ID, new).redacted["setVariableData"][0]["attributeValue"] == "***"
    )


def test_call_encoder_leaves_ordinary_payloads_as_they_are() -> None:
    # GIVEN an ordinary setting / WHEN encoded / THEN the stored form is the payload
    command = SetConfigurationCommand(setting=ConfigurationName.HEARTBEAT_INTERVAL, value="60")
    for version in (V16, V201):
        encoded = OcppCallEncoder().encode(version, CALL_ID, command)
        assert encoded.redacted == encoded.payload


def test_call_encoder_redacts_responses_with_credentials() -> None:
    # GIVEN answers that carry a credential's value
    old = {
        "configurationKey": [
            {"key": "AuthorizationKey", "readonly": False, "value": "k"},
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
        ]
    }
    new = {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "attributeValue": "k",
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
            }
        ]
    }
    encoder = OcppCallEncoder()
    # WHEN redacted for storing
    a = encoder.redact_response(V16, "GetConfiguration", old)
    b = encoder.redact_response(V201, "GetVariables", new)
    # THEN only the credential's value is hidden
    assert [item["value"] for item in a["configurationKey"]] == ["***", "300"]
    assert b["getVariableResult"][0]["attributeValue"] == "***"
    # AND other answers pass as they are
    assert encoder.redact_response(V16, "Reset", {"status": "Accepted"}) == {"status": "Accepted"}
    assert encoder.redact_response(V201, "Reset", {"status": "Accepted"}) == {"status": "Accepted"}
    assert encoder.redact_response(V16, "GetConfiguration", {}) == {}
    # AND a payload without the list (not valid, but never a crash) passes as it is
    assert encoder.redact_response(V201, "GetVariables", {}) == {}


def test_call_encoder_reads_results_in_the_station_version() -> None:
    # GIVEN answers to the same command in both versions
    encoder = OcppCallEncoder()
    # WHEN read through the encoder
    old = encoder.read_result(V16, "GetLocalListVersion", {}, {"listVersion": 4})
    new = encoder.read_result(V201, "GetLocalListVersion", {}, {"versionNumber": 4})
    # THEN they read alike; an action the CSMS never sends has no reading
    assert old == new
    assert old is not None
    assert old.list_version == 4
    assert encoder.read_result(V16, "DataTransfer", {}, {"status": "Accepted"}) is None
