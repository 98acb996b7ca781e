"""OcppCallEncoder: every command, in both versions, is a CALL the official schema accepts."""

from __future__ import annotations

import pytest

from csms.domain.commands import (
    Command,
    ResetCommand,
    ResetKind,
    TriggerableMessage,
    TriggerMessageCommand,
)
from csms.domain.station import ProtocolVersion
from csms.ocpp.common.frames import CALL, Call, parse_frame
from csms.ocpp.common.schemas import validate
from csms.ocpp.dispatch import PROTOCOLS, OcppCallEncoder

COMMANDS: list[Command] = [
    *(ResetCommand(kind=kind) for kind in ResetKind),
    *(TriggerMessageCommand(message=message) for message in TriggerableMessage),
    *(TriggerMessageCommand(message=message, evse_id=1) for message in TriggerableMessage),
]


@pytest.mark.parametrize("protocol", list(ProtocolVersion))
@pytest.mark.parametrize("command", COMMANDS, ids=repr)
def test_call_encoder_frames_validate_against_official_schema(
    protocol: ProtocolVersion, command: Command
) -> None:
    # GIVEN a domain command and a station version
    # WHEN encoded
    encoded = OcppCallEncoder().encode(protocol, "u-1", command)
    # THEN the payload satisfies the official request schema
    validate(PROTOCOLS[protocol].schema_version, CALL, encoded.action, encoded.payload)
    # AND the frame is that CALL, under the given id
    assert parse_frame(encoded.frame) == Call("u-1", encoded.action, encoded.payload)
    assert encoded.action == command.action


def test_call_encoder_frame_is_not_in_repr() -> None:
    # GIVEN an encoded call / WHEN printed / THEN the (possibly large) frame is left out
    encoded = OcppCallEncoder().encode(ProtocolVersion.OCPP16, "u-1", ResetCommand())
    assert "frame" not in repr(encoded)


def test_call_encoder_16_trigger_for_connector_zero_asks_for_the_station() -> None:
    # GIVEN a trigger addressed to EVSE 0, the whole station
    command = TriggerMessageCommand(message=TriggerableMessage.STATUS_NOTIFICATION, evse_id=0)
    # WHEN encoded for 1.6
    encoded = OcppCallEncoder().encode(ProtocolVersion.OCPP16, "u-1", command)
    # THEN connectorId 0 is sent: 1.6 §5.17 reads it as "the status of the Charge Point",
    # whereas leaving it out would ask for every connector's status
    assert encoded.payload == {"requestedMessage": "StatusNotification", "connectorId": 0}
