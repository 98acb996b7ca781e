"""The command catalogue against the official schemas.

Every CALL the CSMS encodes, for every command in both versions, passes the official Request
schema (or the command is refused as not supported in that version); every Response the schema
allows is read by the decoders and readers without failing; the version-neutral statuses are
exactly the statuses the Response schemas spell.

The official schemas use a small part of JSON Schema (Draft 4: objects, arrays, enums, string
lengths, $ref to definitions), so the responses are drawn by a small strategy built from them.
"""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import ocpp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

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
)
from csms.domain.configuration import (
    AttributeType,
    ConfigurationName,
    RawKey,
    RawVariable,
    SettingRef,
    SettingStatus,
)
from csms.domain.errors import CommandNotSupportedError
from csms.domain.station import ProtocolVersion
from csms.domain.tokens import AuthorizationStatus, IdTokenType
from csms.ocpp.common.frames import CALL, CALL_RESULT, Call, parse_frame
from csms.ocpp.common.schemas import known_actions, validate
from csms.ocpp.dispatch import PROTOCOLS, OcppCallEncoder

V16, V201 = ProtocolVersion.OCPP16, ProtocolVersion.OCPP201
BOTH = [V16, V201]
SCHEMAS = Path(ocpp.__file__).parent
T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
M = TypeVar("M", bound=BaseModel)
FAST = settings(
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def a_profile(**over: Any) -> ChargingProfile:
    fields: dict[str, Any] = {
        "id": 1,
        "stack_level": 0,
        "purpose": ChargingProfilePurpose.TX_DEFAULT,
        "kind": ChargingProfileKind.ABSOLUTE,
        "schedule": ChargingSchedule(
            charging_rate_unit=ChargingRateUnit.W,
            periods=(SchedulePeriod(start_period=0, limit=7400.55),),
        ),
    }
    return ChargingProfile(**(fields | over))


SAMPLES: list[Command] = [
    StartChargingCommand(id_token="TAG"),
    StartChargingCommand(
        id_token="A" * 36,
        token_type=IdTokenType.EMAID,
        evse_id=3,
        group_id_token="G",
        charging_profile=a_profile(purpose=ChargingProfilePurpose.TX),
    ),
    StopChargingCommand(transaction_id="12", ocpp16_transaction_id=12),
    StopChargingCommand(transaction_id="f81d4fae-7dec-11d0-a765-00a0c91e6bf6"),
    *(ResetCommand(kind=kind) for kind in ResetKind),
    ResetCommand(kind=ResetKind.HARD, evse_id=2),
    UnlockConnectorCommand(evse_id=1),
    UnlockConnectorCommand(evse_id=1, connector_id=2),
    *(ChangeAvailabilityCommand(availability=a) for a in Availability),
    ChangeAvailabilityCommand(availability=Availability.INOPERATIVE, evse_id=2, connector_id=1),
    GetConfigurationCommand(),
    GetConfigurationCommand(settings=tuple(ConfigurationName)),
    GetConfigurationCommand(settings=(RawKey(key="Vendor"),)),
    GetConfigurationCommand(
        settings=(
            RawVariable(
                component="EVSE",
                component_instance="x",
                evse_id=1,
                connector_id=1,
                variable="Power",
                variable_instance="y",
                attribute_type=AttributeType.MAX_SET,
            ),
        )
    ),
    *(SetConfigurationCommand(setting=name, value="1") for name in ConfigurationName),
    SetConfigurationCommand(setting=RawKey(key="K"), value="v" * 500),
    SetConfigurationCommand(setting=RawVariable(component="C", variable="V"), value="v" * 1000),
    *(
        TriggerMessageCommand(message=m, evse_id=e)
        for m in TriggerableMessage
        for e in (None, 0, 2)
    ),
    ClearCacheCommand(),
    SendLocalListCommand(update_type=LocalListUpdate.FULL, version=1),
    SendLocalListCommand(
        update_type=LocalListUpdate.FULL,
        version=2,
        entries=tuple(
            LocalListEntry(id_token=f"T{i}", status=s, expires_at=T, group_id_token="G")
            for i, s in enumerate(AuthorizationStatus)
        ),
    ),
    SendLocalListCommand(
        update_type=LocalListUpdate.DIFFERENTIAL,
        version=3,
        entries=(LocalListEntry(id_token="X", token_type=IdTokenType.KEY_CODE),),
    ),
    GetLocalListVersionCommand(),
    ReserveNowCommand(expires_at=T, id_token="TAG"),
    ReserveNowCommand(
        expires_at=T, id_token="TAG", evse_id=2, group_id_token="G", reservation_id=0
    ),
    CancelReservationCommand(reservation_id=5),
    UpdateFirmwareCommand(location="https://fw/x.bin", retrieve_at=T),
    UpdateFirmwareCommand(
        location="https://fw/x.bin",
        retrieve_at=T,
        retries=2,
        retry_interval=30,
        install_at=T,
        signing_certificate="-----BEGIN CERTIFICATE-----",
        signature="c2ln",
        request_id=4,
    ),
    *(GetDiagnosticsCommand(location="sftp://logs/up", log_type=t) for t in LogType),
    GetDiagnosticsCommand(
        location="https://logs/up", oldest=T, latest=T, retries=0, retry_interval=0, request_id=1
    ),
    SetChargingProfileCommand(evse_id=0, profile=a_profile()),
    SetChargingProfileCommand(
        evse_id=0, profile=a_profile(purpose=ChargingProfilePurpose.CHARGING_STATION_MAX)
    ),
    SetChargingProfileCommand(
        evse_id=1,
        profile=a_profile(
            purpose=ChargingProfilePurpose.TX,
            kind=ChargingProfileKind.RECURRING,
            recurrency=RecurrencyKind.WEEKLY,
            valid_from=T,
            valid_to=T + timedelta(days=1),
            transaction_id="7",
            ocpp16_transaction_id=7,
        ),
    ),
    ClearChargingProfileCommand(),
    ClearChargingProfileCommand(profile_id=1, evse_id=0, purpose=ChargingProfilePurpose.TX),
    GetCompositeScheduleCommand(duration=60),
    GetCompositeScheduleCommand(duration=86400, charging_rate_unit=ChargingRateUnit.A, evse_id=2),
]


def model(cls: type[M], **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[M]:
    """A pydantic model from field strategies (st.builds would also fill in its aliases)."""
    return st.fixed_dictionaries(fields).map(lambda values: cls(**values))


def _assert_valid_or_refused(version: ProtocolVersion, command: Command) -> str | None:
    """Encode; return the action when the CALL passes its schema, None when refused."""
    try:
        encoded = OcppCallEncoder().encode(version, "01JUNIQUE", command)
    except CommandNotSupportedError as refused:
        assert (refused.action, refused.protocol) == (command.action, version.value)  # noqa: PT017
        return None
    validate(PROTOCOLS[version].schema_version, CALL, encoded.action, encoded.payload)
    validate(PROTOCOLS[version].schema_version, CALL, encoded.action, encoded.redacted)
    assert parse_frame(encoded.frame) == Call("01JUNIQUE", encoded.action, encoded.payload)
    # The answer to it can be read, whatever it is.
    assert encoded.action in PROTOCOLS[version].result_readers
    return encoded.action


def test_command_samples_cover_every_command() -> None:
    # GIVEN the union of commands / WHEN compared with the samples / THEN none is left out
    (union, _) = typing.get_args(Command)
    assert {type(command) for command in SAMPLES} == set(typing.get_args(union))


@pytest.mark.parametrize("command", SAMPLES, ids=repr)
@pytest.mark.parametrize("version", BOTH, ids=["v16", "v201"])
def test_encoded_command_passes_official_request_schema(
    version: ProtocolVersion, command: Command
) -> None:
    # GIVEN a sample command / WHEN encoded for the version
    # THEN its CALL (and its redacted form) passes the official schema, or it is refused
    _assert_valid_or_refused(version, command)


@pytest.mark.parametrize("version", BOTH, ids=["v16", "v201"])
def test_every_command_is_carried_by_each_version(version: ProtocolVersion) -> None:
    # GIVEN the samples / WHEN encoded / THEN each command type is carried by some sample:
    # refusals are about options a version lacks, never about a whole command
    carried = {type(c) for c in SAMPLES if _assert_valid_or_refused(version, c) is not None}
    assert carried == {type(command) for command in SAMPLES}


@pytest.mark.parametrize("version", BOTH, ids=["v16", "v201"])
def test_result_readers_cover_only_known_actions(version: ProtocolVersion) -> None:
    # GIVEN the version's readers / WHEN compared with its schemas / THEN all are real actions
    protocol = PROTOCOLS[version]
    assert set(protocol.result_readers) <= known_actions(protocol.schema_version)
    assert set(protocol.result_decoders) == set(protocol.result_readers)


# --- hypothesis: the shapes where numbers and lists vary -----------------------------------

LIMITS = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
PERIODS = st.lists(
    st.tuples(st.integers(1, 3600), LIMITS, st.none() | st.integers(1, 3)), max_size=5
).map(
    lambda steps: (
        SchedulePeriod(start_period=0, limit=1.0),
        *(
            SchedulePeriod(
                start_period=sum(s for s, _, _ in steps[: i + 1]), limit=lim, number_phases=ph
            )
            for i, (_, lim, ph) in enumerate(steps)
        ),
    )
)
SCHEDULES = model(
    ChargingSchedule,
    id=st.none() | st.integers(0, 2**31 - 1),
    start_schedule=st.none() | st.just(T),
    duration=st.none() | st.integers(0, 2**31 - 1),
    charging_rate_unit=st.sampled_from(ChargingRateUnit),
    min_charging_rate=st.none() | LIMITS,
    periods=PERIODS,
)


@FAST
@given(
    schedule=SCHEDULES,
    evse_id=st.integers(1, 99),
    version=st.sampled_from(BOTH),
    start=st.booleans(),
)
def test_charging_profiles_pass_official_schema(
    schedule: ChargingSchedule, evse_id: int, version: ProtocolVersion, start: bool
) -> None:
    # GIVEN any schedule with any limits (1.6 wants tenths: multipleOf 0.1)
    profile = a_profile(purpose=ChargingProfilePurpose.TX, schedule=schedule)
    command: Command = (
        StartChargingCommand(id_token="TAG", charging_profile=profile)
        if start
        else SetChargingProfileCommand(evse_id=evse_id, profile=profile)
    )
    # WHEN encoded / THEN the CALL passes the official schema
    assert _assert_valid_or_refused(version, command) is not None


SETTING_REFS: st.SearchStrategy[SettingRef] = st.one_of(
    st.sampled_from(ConfigurationName),
    st.builds(RawKey, key=st.text(min_size=1, max_size=50)),
    model(
        RawVariable,
        component=st.text(min_size=1, max_size=50),
        variable=st.text(min_size=1, max_size=50),
        variable_instance=st.none() | st.text(min_size=1, max_size=50),
        attribute_type=st.sampled_from(AttributeType),
    ),
)


@FAST
@given(
    refs=st.lists(SETTING_REFS, max_size=6),
    value=st.text(max_size=1000),
    version=st.sampled_from(BOTH),
)
def test_configuration_commands_pass_official_schema(
    refs: list[SettingRef], value: str, version: ProtocolVersion
) -> None:
    # GIVEN any settings, named or raw, and any value
    commands: list[Command] = [GetConfigurationCommand(settings=tuple(refs))]
    commands += [SetConfigurationCommand(setting=ref, value=value) for ref in refs]
    # WHEN encoded / THEN each CALL passes its schema, or the version refuses it
    for command in commands:
        _assert_valid_or_refused(version, command)


@FAST
@given(
    entries=st.lists(
        model(
            LocalListEntry,
            id_token=st.text(min_size=1, max_size=36),
            token_type=st.sampled_from(IdTokenType),
            status=st.none() | st.sampled_from(AuthorizationStatus),
            expires_at=st.none() | st.just(T),
            group_id_token=st.none() | st.text(min_size=1, max_size=36),
        ),
        max_size=5,
    ),
    version=st.sampled_from(BOTH),
)
def test_local_lists_pass_official_schema(
    entries: list[LocalListEntry], version: ProtocolVersion
) -> None:
    # GIVEN any differential list / WHEN encoded / THEN it passes its schema, or is refused
    command = SendLocalListCommand(
        update_type=LocalListUpdate.DIFFERENTIAL, version=9, entries=tuple(entries)
    )
    _assert_valid_or_refused(version, command)


# --- responses: every valid one is read ------------------------------------------------------


@cache
def _response_schema(schema_version: str, action: str) -> dict[str, Any]:
    folder = SCHEMAS / ("v" + schema_version.replace(".", "")) / "schemas"
    document: dict[str, Any] = json.loads(
        (folder / f"{action}Response.json").read_text(encoding="utf-8-sig")
    )
    return document


def _from_schema(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid for the subset of JSON Schema the OCPP schemas use."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return st.deferred(lambda: _from_schema(root["definitions"][name], root))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        fields = {
            name: _from_schema(sub, root) for name, sub in properties.items() if name in required
        }
        optional = {
            name: _from_schema(sub, root)
            for name, sub in properties.items()
            if name not in required
        }
        return st.fixed_dictionaries(fields, optional=optional)
    if kind == "array":
        low = schema.get("minItems", 0)
        return st.lists(
            _from_schema(schema["items"], root),
            min_size=low,
            max_size=min(schema.get("maxItems", low + 3), low + 3),
        )
    if kind == "string":
        if schema.get("format") == "date-time":
            return st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat())
        return st.text(max_size=min(schema.get("maxLength", 20), 20))
    if kind == "integer":
        return st.integers(-(2**31), 2**31 - 1)
    if kind == "number":
        if "multipleOf" in schema:  # 1.6 schedules: tenths
            return st.integers(-100_000, 100_000).map(lambda n: n / 10)
        return st.floats(allow_nan=False, allow_infinity=False, width=32)
    if kind == "boolean":
        return st.booleans()
    raise AssertionError(f"schema shape not covered: {schema}")  # pragma: no cover


READ_ACTIONS = [
    (version, action) for version in BOTH for action in sorted(PROTOCOLS[version].result_readers)
]


@pytest.mark.parametrize(("version", "action"), READ_ACTIONS, ids=str)
@settings(
    database=None,
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_valid_response_is_read(
    version: ProtocolVersion, action: str, data: st.DataObject
) -> None:
    # GIVEN any response the official schema allows for the action
    protocol = PROTOCOLS[version]
    schema = _response_schema(protocol.schema_version, action)
    response = data.draw(_from_schema(schema, schema))
    validate(protocol.schema_version, CALL_RESULT, action, response)
    # WHEN decoded, read and redacted
    status = protocol.result_decoders[action](response)
    result = protocol.result_readers[action]({}, response)
    redacted = protocol.redact_response(action, response)
    # THEN nothing fails: the status is the reading's, and the stored form still validates
    assert status is result.status
    assert status is not None
    validate(protocol.schema_version, CALL_RESULT, action, redacted)


def _status_enum(schema: dict[str, Any]) -> set[str]:
    status = schema.get("properties", {}).get("status")
    if status is None:
        return set()
    if "$ref" in status:
        status = schema["definitions"][status["$ref"].rsplit("/", 1)[-1]]
    return set(status["enum"])


def test_command_status_is_every_status_the_responses_spell() -> None:
    # GIVEN the status enums of every response the CSMS reads, and the per-setting statuses
    spelled: set[str] = set()
    for version in BOTH:
        protocol = PROTOCOLS[version]
        for action in protocol.result_readers:
            spelled |= _status_enum(_response_schema(protocol.schema_version, action))
    # WHEN compared with the neutral statuses (a SetConfiguration's is its setting's status)
    # THEN they are the same set
    assert {s.value for s in CommandStatus} == spelled | {s.value for s in SettingStatus}
