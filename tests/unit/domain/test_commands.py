"""The version-neutral command catalogue and the settings mapping table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from csms.domain.commands import (
    MAX_INT,
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    Command,
    GetConfigurationCommand,
    GetDiagnosticsCommand,
    LocalListEntry,
    LocalListUpdate,
    RecurrencyKind,
    ReserveNowCommand,
    SchedulePeriod,
    SendLocalListCommand,
    SetChargingProfileCommand,
    StartChargingCommand,
    StopChargingCommand,
    UpdateFirmwareCommand,
    derived_id,
)
from csms.domain.configuration import (
    MAPPINGS,
    ConfigurationName,
    RawKey,
    RawVariable,
    ReportedVariable,
    VariableAddress,
    is_sensitive,
    mapping_of_key,
    mapping_of_variable,
)
from csms.domain.tokens import AuthorizationStatus

COMMAND: TypeAdapter[Command] = TypeAdapter(cast(Any, Command))  # an Annotated union
T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def a_schedule(*starts: int) -> ChargingSchedule:
    return ChargingSchedule(
        charging_rate_unit=ChargingRateUnit.A,
        periods=tuple(SchedulePeriod(start_period=s, limit=10) for s in starts or (0,)),
    )


def a_profile(**over: Any) -> ChargingProfile:
    fields: dict[str, Any] = {
        "id": 1,
        "stack_level": 0,
        "purpose": ChargingProfilePurpose.TX_DEFAULT,
        "kind": ChargingProfileKind.ABSOLUTE,
        "schedule": a_schedule(),
    }
    return ChargingProfile(**(fields | over))


def test_command_union_reads_camel_case_json() -> None:
    # GIVEN an API body in camelCase
    body = {
        "action": "SetChargingProfile",
        "evseId": 1,
        "profile": {
            "id": 3,
            "stackLevel": 2,
            "purpose": "TxDefaultProfile",
            "kind": "Absolute",
            "schedule": {
                "chargingRateUnit": "W",
                "periods": [{"startPeriod": 0, "limit": 11000, "numberPhases": 3}],
            },
        },
    }
    # WHEN parsed through the union
    command = COMMAND.validate_python(body)
    # THEN it is the command, and it writes back as the same camelCase JSON
    assert isinstance(command, SetChargingProfileCommand)
    assert command.profile.schedule.periods[0].number_phases == 3
    dumped = command.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["profile"]["stackLevel"] == 2
    assert COMMAND.validate_python(dumped) == command


def test_command_union_refuses_unknown_fields_and_actions() -> None:
    # GIVEN a misspelt field, and an action that does not exist
    # WHEN / THEN neither parses
    with pytest.raises(ValidationError):
        COMMAND.validate_python({"action": "Reset", "kind": "Hard", "evse": 1})
    with pytest.raises(ValidationError):
        COMMAND.validate_python({"action": "RemoteStartTransaction", "idTag": "T"})


def test_command_union_json_schema_is_discriminated() -> None:
    # GIVEN / WHEN the union's JSON schema (what the OpenAPI document shows)
    class Holder(BaseModel):
        command: Command

    schema = Holder.model_json_schema()
    # THEN it is one object per action, told apart by `action`
    assert schema["properties"]["command"]["discriminator"]["propertyName"] == "action"
    assert len(schema["properties"]["command"]["oneOf"]) == 18


@pytest.mark.parametrize(
    "starts",
    [(5,), (0, 0), (0, 60, 30)],
)
def test_charging_schedule_periods_start_at_zero_and_increase(starts: tuple[int, ...]) -> None:
    # GIVEN periods not starting at 0 or not increasing / WHEN built / THEN refused
    with pytest.raises(ValidationError, match="start at 0 and increase"):
        a_schedule(*starts)


def test_charging_schedule_accepts_increasing_periods() -> None:
    # GIVEN / WHEN periods at 0, 60, 600 / THEN the schedule keeps them in order
    schedule = a_schedule(0, 60, 600)
    assert [p.start_period for p in schedule.periods] == [0, 60, 600]


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"kind": ChargingProfileKind.RECURRING}, "recurrency is required"),
        ({"recurrency": RecurrencyKind.DAILY}, "recurrency is required"),
        ({"transaction_id": "t-1"}, "only a TxProfile"),
        ({"ocpp16_transaction_id": 4}, "only a TxProfile"),
        ({"valid_from": T, "valid_to": T}, "validFrom must be before validTo"),
    ],
)
def test_charging_profile_refuses_inconsistent_fields(over: dict[str, Any], message: str) -> None:
    # GIVEN a profile whose fields contradict each other / WHEN built / THEN refused, with why
    with pytest.raises(ValidationError, match=message):
        a_profile(**over)


def test_charging_profile_recurring_tx_profile_for_a_transaction() -> None:
    # GIVEN / WHEN a weekly TxProfile for a transaction, valid for a day
    profile = a_profile(
        purpose=ChargingProfilePurpose.TX,
        kind=ChargingProfileKind.RECURRING,
        recurrency=RecurrencyKind.WEEKLY,
        transaction_id="t-1",
        valid_from=T,
        valid_to=T + timedelta(days=1),
    )
    # THEN it stands
    assert profile.recurrency is RecurrencyKind.WEEKLY


@pytest.mark.parametrize(
    ("evse_id", "purpose", "message"),
    [
        (1, ChargingProfilePurpose.CHARGING_STATION_MAX, "goes on evseId 0"),
        (0, ChargingProfilePurpose.TX, "goes on an EVSE"),
    ],
)
def test_set_charging_profile_purpose_fits_its_target(
    evse_id: int, purpose: ChargingProfilePurpose, message: str
) -> None:
    # GIVEN a station maximum on an EVSE, or a TxProfile on the station / THEN refused
    with pytest.raises(ValidationError, match=message):
        SetChargingProfileCommand(evse_id=evse_id, profile=a_profile(purpose=purpose))


@pytest.mark.parametrize(
    "profile",
    [
        a_profile(),
        a_profile(purpose=ChargingProfilePurpose.TX, transaction_id="t-1"),
    ],
)
def test_start_charging_profile_must_be_a_tx_profile_for_the_coming_transaction(
    profile: ChargingProfile,
) -> None:
    # GIVEN a remote start with a default profile, or one naming a transaction / THEN refused
    with pytest.raises(ValidationError, match="TxProfile without a transaction"):
        StartChargingCommand(id_token="TAG", charging_profile=profile)


def test_stop_charging_needs_a_session_or_a_transaction() -> None:
    # GIVEN / WHEN a stop naming nothing / THEN refused; naming the session is enough
    with pytest.raises(ValidationError, match="name the session"):
        StopChargingCommand()
    assert StopChargingCommand(session_id="s-1").transaction_id is None


def test_change_availability_connector_needs_its_evse() -> None:
    # GIVEN a connector without its EVSE / WHEN built / THEN refused
    with pytest.raises(ValidationError, match="connectorId needs an evseId"):
        COMMAND.validate_python(
            {"action": "ChangeAvailability", "availability": "Operative", "connectorId": 1}
        )


def test_send_local_list_full_list_entries_need_a_status() -> None:
    # GIVEN a full list with an entry without status (a deletion only a differential can say)
    entries = (LocalListEntry(id_token="A"),)
    # WHEN / THEN refused as full, accepted as differential
    with pytest.raises(ValidationError, match="needs a status"):
        SendLocalListCommand(update_type=LocalListUpdate.FULL, version=1, entries=entries)
    differential = SendLocalListCommand(
        update_type=LocalListUpdate.DIFFERENTIAL, version=2, entries=entries
    )
    assert differential.entries[0].status is None


def test_send_local_list_version_starts_at_one() -> None:
    # GIVEN version 0, which GetLocalListVersion reserves for "no list" / THEN refused
    with pytest.raises(ValidationError):
        SendLocalListCommand(
            update_type=LocalListUpdate.FULL,
            version=0,
            entries=(LocalListEntry(id_token="A", status=AuthorizationStatus.ACCEPTED),),
        )


def test_get_diagnostics_window_in_order() -> None:
    # GIVEN a window ending before it starts / WHEN built / THEN refused
    with pytest.raises(ValidationError, match="oldest must not be after latest"):
        GetDiagnosticsCommand(location="https://x/y", oldest=T, latest=T - timedelta(seconds=1))


@pytest.mark.parametrize("location", ["not a url", "/relative/path", "https://x/ y"])
def test_upload_locations_must_be_urls(location: str) -> None:
    # GIVEN something a station could not fetch from or upload to / THEN refused
    with pytest.raises(ValidationError):
        UpdateFirmwareCommand(location=location, retrieve_at=T)


def test_command_times_must_carry_a_timezone() -> None:
    # GIVEN a naive expiry / WHEN built / THEN refused (time is tz-aware UTC everywhere)
    with pytest.raises(ValidationError):
        ReserveNowCommand(expires_at=datetime(2025, 1, 1), id_token="TAG")  # noqa: DTZ001


@settings(database=None, deadline=None)
@given(st.text(max_size=64))
def test_derived_id_is_a_stable_positive_int32(unique_id: str) -> None:
    # GIVEN any call id / WHEN a number is derived twice / THEN the same, in 0..2^31-1
    number = derived_id(unique_id)
    assert number == derived_id(unique_id)
    assert 0 <= number <= MAX_INT


def test_ids_given_win_over_derived_ones() -> None:
    # GIVEN commands with their own ids / WHEN asked for the id of a call / THEN theirs
    assert (
        ReserveNowCommand(expires_at=T, id_token="T", reservation_id=3).reservation_id_for("c") == 3
    )
    assert StartChargingCommand(id_token="T", remote_start_id=4).remote_start_id_for("c") == 4
    firmware = UpdateFirmwareCommand(location="https://x/y", retrieve_at=T, request_id=5)
    assert firmware.request_id_for("c") == 5
    assert GetDiagnosticsCommand(location="https://x/y").request_id_for("c") == derived_id("c")


# --- configuration ---------------------------------------------------------------------------


def test_mapping_table_covers_every_name_once_per_version() -> None:
    # GIVEN / WHEN the table / THEN every neutral name has one 1.6 key and one 2.0.1 variable,
    # no two names share either
    assert set(MAPPINGS) == set(ConfigurationName)
    keys = [m.ocpp16_key for m in MAPPINGS.values()]
    variables = [m.ocpp201.label for m in MAPPINGS.values()]
    assert len(set(keys)) == len(keys) == len(set(variables)) == len(MAPPINGS)
    assert all(m.ocpp16_key == m.name.value for m in MAPPINGS.values())


@pytest.mark.parametrize(
    ("name", "label"),
    [
        (ConfigurationName.HEARTBEAT_INTERVAL, "OCPPCommCtrlr.HeartbeatInterval"),
        (ConfigurationName.METER_VALUE_SAMPLE_INTERVAL, "SampledDataCtrlr.TxUpdatedInterval"),
        (ConfigurationName.CLOCK_ALIGNED_DATA_INTERVAL, "AlignedDataCtrlr.Interval"),
        (ConfigurationName.METER_VALUES_SAMPLED_DATA, "SampledDataCtrlr.TxUpdatedMeasurands"),
        (ConfigurationName.CONNECTION_TIME_OUT, "TxCtrlr.EVConnectionTimeOut"),
        (ConfigurationName.AUTHORIZE_REMOTE_TX_REQUESTS, "AuthCtrlr.AuthorizeRemoteStart"),
        (
            ConfigurationName.TRANSACTION_MESSAGE_ATTEMPTS,
            "OCPPCommCtrlr.MessageAttempts[TransactionEvent]",
        ),
        (ConfigurationName.AUTHORIZATION_KEY, "SecurityCtrlr.BasicAuthPassword"),
    ],
)
def test_mapping_table_known_pairs(name: ConfigurationName, label: str) -> None:
    # GIVEN / WHEN a neutral name / THEN its 2.0.1 variable, as the issue lists them
    assert MAPPINGS[name].ocpp201.label == label


def test_mapping_lookups_by_key_and_by_variable() -> None:
    # GIVEN a key in another case, and variables on and off the table
    mapped = ReportedVariable(component="AuthCtrlr", variable="LocalPreAuthorize")
    on_an_evse = ReportedVariable(component="AuthCtrlr", variable="LocalPreAuthorize", evse_id=1)
    # WHEN looked up / THEN the table answers for station-wide variables and any-case keys
    found = mapping_of_key("LOCALPREAUTHORIZE")
    assert found is not None
    assert found.name is ConfigurationName.LOCAL_PRE_AUTHORIZE
    assert mapping_of_variable(mapped) is found
    assert mapping_of_variable(on_an_evse) is None
    assert mapping_of_key("VendorThing") is None


def test_only_credentials_are_sensitive() -> None:
    # GIVEN / WHEN the table's rows / THEN only the password pair is sensitive
    assert [m.name for m in MAPPINGS.values() if m.sensitive] == [
        ConfigurationName.AUTHORIZATION_KEY
    ]
    # AND password-like raw names are, ordinary ones are not
    assert is_sensitive("ModemPassword")
    assert is_sensitive(None, "CloudApiKey")
    assert not is_sensitive("HeartbeatInterval", None)


def test_setting_refs_read_names_keys_and_variables() -> None:
    # GIVEN a read of a neutral name, a raw key and a raw variable in JSON
    command = COMMAND.validate_python(
        {
            "action": "GetConfiguration",
            "settings": [
                "HeartbeatInterval",
                {"key": "VendorKey"},
                {"component": "EVSE", "evseId": 1, "variable": "Power", "attributeType": "MaxSet"},
            ],
        }
    )
    # WHEN parsed / THEN each is its own kind of reference
    assert isinstance(command, GetConfigurationCommand)
    name, key, variable = command.settings
    assert name is ConfigurationName.HEARTBEAT_INTERVAL
    assert key == RawKey(key="VendorKey")
    assert isinstance(variable, RawVariable)
    assert variable.label == "EVSE.Power"


def test_setting_refs_refuse_unknown_names_and_loose_connectors() -> None:
    # GIVEN a name off the table, and a connector without its EVSE / WHEN parsed / THEN refused
    with pytest.raises(ValidationError):
        COMMAND.validate_python({"action": "GetConfiguration", "settings": ["NoSuchSetting"]})
    with pytest.raises(ValidationError, match="connectorId needs an evseId"):
        VariableAddress(component="Connector", variable="Enabled", connector_id=1)


def test_variable_labels_show_instances() -> None:
    # GIVEN / WHEN a variable with both instances / THEN the 2.0.1 spelling
    variable = RawVariable(
        component="OCPPCommCtrlr", component_instance="a", variable="X", variable_instance="b"
    )
    assert variable.label == "OCPPCommCtrlr[a].X[b]"


def test_docs_mapping_table_matches_the_code() -> None:
    # GIVEN the mapping table as docs/commands.md shows it
    docs = Path(__file__).parents[3] / "docs" / "commands.md"
    rows = {
        line.split("|")[1].strip(): line.split("|")[2].strip()
        for line in docs.read_text(encoding="utf-8").splitlines()
        if line.startswith("| ") and line.count("|") == 4
    }
    # WHEN / THEN every neutral name is there, with its 2.0.1 variable
    for name, mapping in MAPPINGS.items():
        assert rows.get(name.value) == mapping.ocpp201.label, name
