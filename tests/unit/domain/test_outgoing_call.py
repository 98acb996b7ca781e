"""Commands and the record of one CSMS-initiated call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError
from tests.fakes import T0

from csms.domain.commands import (
    CallState,
    Command,
    CommandStatus,
    OutgoingCall,
    ResetCommand,
    ResetKind,
    TriggerableMessage,
    TriggerMessageCommand,
)


def a_call(**over: object) -> OutgoingCall:
    values: dict[str, object] = {
        "unique_id": "u-1",
        "station_id": "CP-1",
        "tenant_id": "tenant-a",
        "action": "Reset",
        "request": {"type": "Soft"},
        "sent_at": T0,
        "deadline": T0 + timedelta(seconds=30),
    }
    values.update(over)
    return OutgoingCall.model_validate(values)


def test_outgoing_call_effective_state_pending_before_deadline() -> None:
    # GIVEN a pending call
    call = a_call()
    # WHEN looked at one second before its deadline
    state = call.effective_state(call.deadline - timedelta(seconds=1))
    # THEN it is still pending
    assert state is CallState.PENDING


@pytest.mark.parametrize("after_s", [0, 1, 3600])
def test_outgoing_call_effective_state_timed_out_from_deadline(after_s: int) -> None:
    # GIVEN a pending call nobody answered
    call = a_call()
    # WHEN looked at on or after its deadline
    state = call.effective_state(call.deadline + timedelta(seconds=after_s))
    # THEN it has timed out, though nothing recorded it
    assert state is CallState.TIMED_OUT
    assert call.state is CallState.PENDING


@pytest.mark.parametrize("final", [CallState.ANSWERED, CallState.FAILED, CallState.TIMED_OUT])
def test_outgoing_call_effective_state_final_states_stay(final: CallState) -> None:
    # GIVEN a call that already ended
    call = a_call(state=final)
    # WHEN looked at long after its deadline
    state = call.effective_state(call.deadline + timedelta(days=1))
    # THEN the recorded state stands
    assert state is final


def test_command_union_discriminates_by_action() -> None:
    # GIVEN the JSON of both commands
    class Holder(BaseModel):
        command: Command

    # WHEN parsed through the discriminated union
    reset = Holder.model_validate({"command": {"action": "Reset", "kind": "Hard"}}).command
    trigger = Holder.model_validate(
        {"command": {"action": "TriggerMessage", "message": "Heartbeat", "evse_id": 2}}
    ).command
    # THEN each becomes its own type
    assert reset == ResetCommand(kind=ResetKind.HARD)
    assert trigger == TriggerMessageCommand(message=TriggerableMessage.HEARTBEAT, evse_id=2)


def test_command_reset_defaults_to_soft() -> None:
    # GIVEN / WHEN a reset with no kind / THEN it is the gentle one
    assert ResetCommand().kind is ResetKind.SOFT


def test_command_trigger_rejects_negative_evse() -> None:
    # GIVEN a negative EVSE id
    # WHEN / THEN the command cannot be built
    with pytest.raises(ValidationError):
        TriggerMessageCommand(message=TriggerableMessage.HEARTBEAT, evse_id=-1)


def test_command_status_values_match_both_versions() -> None:
    # GIVEN / WHEN / THEN the version-neutral statuses are spelled as on the wire (the full set
    # is checked against every response schema in tests/contract/test_command_schemas.py)
    assert {s.value for s in CommandStatus} >= {
        "Accepted",
        "Rejected",
        "Scheduled",
        "NotImplemented",
    }
