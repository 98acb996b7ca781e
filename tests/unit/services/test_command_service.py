"""CommandService: one outstanding call per station, answers matched, timeouts reported."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from tests.conftest import World
from tests.fakes import (
    T0,
    InMemoryCallRepository,
    SequentialIds,
    StubEncoder,
    a_binding,
    a_station,
)

from csms.domain.commands import (
    CallState,
    CommandStatus,
    OutgoingCall,
    ResetCommand,
    ResetKind,
    TriggerableMessage,
    TriggerMessageCommand,
)
from csms.domain.errors import (
    CallInProgressError,
    CallNotFoundError,
    StationNotFoundError,
    StationOfflineError,
)
from csms.domain.station import ProtocolVersion
from csms.services.commands import CommandService

RESET = ResetCommand(kind=ResetKind.HARD)


def online(world: World, protocol: ProtocolVersion = ProtocolVersion.OCPP201) -> None:
    world.stations_repo.register(a_station())
    world.stations_repo.bind(a_binding(protocol=protocol))


def command_service(world: World, calls: InMemoryCallRepository) -> CommandService:
    """The world's CommandService on another call repository, with the stub encoder."""
    return CommandService(
        stations=world.stations_repo,
        calls=calls,
        encoder=StubEncoder(),
        sender=world.sender,
        clock=world.clock,
        new_id=SequentialIds("u"),
        timeout_s=30,
        sleep=world.clock.advance,
    )


# -- send -------------------------------------------------------------------------------------


def test_send_online_station_opens_call_and_sends_frame(world: World) -> None:
    # GIVEN a station online over 2.0.1
    online(world)
    # WHEN the CSMS sends a hard reset
    call = world.commands.send("tenant-a", "CP-1", RESET)
    # THEN a pending call with a 30 s deadline is stored
    assert call.unique_id == "call-1"
    assert call.action == "Reset"
    assert call.request == {"type": "Immediate"}
    assert call.state is CallState.PENDING
    assert (call.sent_at, call.deadline) == (T0, T0 + timedelta(seconds=30))
    assert world.calls.get("CP-1", "call-1") == call
    # AND the 2.0.1 CALL went out on the station's connection
    [(connection_id, frame)] = world.sender.sent
    assert connection_id == "conn-1"
    assert json.loads(frame) == [2, "call-1", "Reset", {"type": "Immediate"}]


def test_send_uses_the_station_protocol(world: World) -> None:
    # GIVEN a station online over 1.6
    online(world, ProtocolVersion.OCPP16)
    # WHEN the CSMS sends a hard reset
    call = world.commands.send("tenant-a", "CP-1", RESET)
    # THEN the 1.6 shape goes out
    assert call.request == {"type": "Hard"}
    assert json.loads(world.sender.sent[0][1]) == [2, "call-1", "Reset", {"type": "Hard"}]


@pytest.mark.parametrize(("tenant_id", "station_id"), [("tenant-a", "CP-9"), ("tenant-b", "CP-1")])
def test_send_unknown_or_foreign_station_is_not_found(
    world: World, tenant_id: str, station_id: str
) -> None:
    # GIVEN CP-1 online in tenant-a
    online(world)
    # WHEN a command goes to a station that does not exist in the caller's tenant
    with pytest.raises(StationNotFoundError) as caught:
        world.commands.send(tenant_id, station_id, RESET)
    # THEN it is not found (another tenant's station is indistinguishable from none)
    assert caught.value.station_id == station_id
    assert world.sender.sent == []
    assert world.calls.calls == {}


def test_send_offline_station_raises(world: World) -> None:
    # GIVEN a registered station that is not connected
    world.stations_repo.register(a_station())
    # WHEN a command is sent
    # THEN it is refused and nothing is stored
    with pytest.raises(StationOfflineError):
        world.commands.send("tenant-a", "CP-1", RESET)
    assert world.calls.calls == {}


def test_send_after_disconnect_raises_offline(world: World) -> None:
    # GIVEN a station that was online and disconnected
    online(world)
    world.stations.disconnect("conn-1")
    # WHEN / THEN a command is refused as offline
    with pytest.raises(StationOfflineError):
        world.commands.send("tenant-a", "CP-1", RESET)


def test_send_while_a_call_is_outstanding_raises(world: World) -> None:
    # GIVEN an outstanding call
    online(world)
    first = world.commands.send("tenant-a", "CP-1", RESET)
    world.clock.advance(29)
    # WHEN a second command is sent before the first's deadline
    with pytest.raises(CallInProgressError) as caught:
        world.commands.send("tenant-a", "CP-1", ResetCommand())
    # THEN it is refused, naming the call in the way; only one frame went out
    assert caught.value.outstanding_id == first.unique_id
    assert len(world.sender.sent) == 1


def test_send_after_deadline_takes_the_slot(world: World) -> None:
    # GIVEN an outstanding call nobody answered
    online(world)
    first = world.commands.send("tenant-a", "CP-1", RESET)
    # WHEN its deadline passes and another command is sent
    world.clock.advance(30)
    second = world.commands.send("tenant-a", "CP-1", ResetCommand())
    # THEN the new call goes out, and the old one reads as timed out
    assert second.unique_id != first.unique_id
    assert len(world.sender.sent) == 2
    assert world.commands.result("tenant-a", "CP-1", first.unique_id).state is CallState.TIMED_OUT
    # AND closing the old call did not free the new call's slot
    with pytest.raises(CallInProgressError):
        world.commands.send("tenant-a", "CP-1", RESET)


def test_send_after_answer_takes_the_slot(world: World) -> None:
    # GIVEN a call that was answered
    online(world)
    first = world.commands.send("tenant-a", "CP-1", RESET)
    world.commands.answer(first, CommandStatus.ACCEPTED, {"status": "Accepted"})
    # WHEN another command is sent at once
    second = world.commands.send("tenant-a", "CP-1", ResetCommand())
    # THEN it is accepted
    assert second.state is CallState.PENDING


def test_send_connection_gone_fails_call_and_raises_offline(world: World) -> None:
    # GIVEN a station whose connection vanished without a $disconnect yet
    online(world)
    world.sender.gone.add("conn-1")
    # WHEN a command is sent
    with pytest.raises(StationOfflineError):
        world.commands.send("tenant-a", "CP-1", RESET)
    # THEN the call is closed as failed with the reason
    call = world.calls.get("CP-1", "call-1")
    assert call is not None
    assert call.state is CallState.FAILED
    assert call.error_code == "StationOffline"
    assert call.answered_at == T0
    # AND the slot is free again
    world.sender.gone.clear()
    assert world.commands.send("tenant-a", "CP-1", RESET).unique_id == "call-2"


# -- pending / answer / fail --------------------------------------------------------------------


def test_pending_returns_waiting_call_only(world: World) -> None:
    # GIVEN an outstanding call
    online(world)
    call = world.commands.send("tenant-a", "CP-1", RESET)
    # WHEN / THEN it is pending until its deadline, and unknown ids are not
    assert world.commands.pending("CP-1", call.unique_id) == call
    assert world.commands.pending("CP-1", "nope") is None
    assert world.commands.pending("CP-2", call.unique_id) is None
    world.clock.advance(30)
    assert world.commands.pending("CP-1", call.unique_id) is None


def test_answer_closes_call_with_status(world: World) -> None:
    # GIVEN an outstanding call
    online(world)
    call = world.commands.send("tenant-a", "CP-1", RESET)
    world.clock.advance(2)
    # WHEN the station answers
    closed = world.commands.answer(call, CommandStatus.ACCEPTED, {"status": "Accepted"})
    # THEN the call is answered with the status and the raw response
    assert closed is True
    stored = world.commands.result("tenant-a", "CP-1", call.unique_id)
    assert stored.state is CallState.ANSWERED
    assert stored.status is CommandStatus.ACCEPTED
    assert stored.response == {"status": "Accepted"}
    assert stored.answered_at == T0 + timedelta(seconds=2)
    assert world.commands.pending("CP-1", call.unique_id) is None


def test_answer_twice_is_refused(world: World) -> None:
    # GIVEN an answered call
    online(world)
    call = world.commands.send("tenant-a", "CP-1", RESET)
    world.commands.answer(call, CommandStatus.ACCEPTED, {"status": "Accepted"})
    # WHEN a second answer (or an error) is recorded
    again = world.commands.answer(call, CommandStatus.REJECTED, {"status": "Rejected"})
    failed = world.commands.fail(call, "InternalError", "x")
    # THEN both are refused and the first answer stands
    assert (again, failed) == (False, False)
    assert (
        world.commands.result("tenant-a", "CP-1", call.unique_id).status is CommandStatus.ACCEPTED
    )


def test_fail_closes_call_with_error(world: World) -> None:
    # GIVEN an outstanding call
    online(world)
    call = world.commands.send("tenant-a", "CP-1", RESET)
    # WHEN the station answers with a CALLERROR
    closed = world.commands.fail(call, "NotSupported", "no reset here")
    # THEN the call is failed with the code and description
    assert closed is True
    stored = world.commands.result("tenant-a", "CP-1", call.unique_id)
    assert stored.state is CallState.FAILED
    assert (stored.error_code, stored.error_description) == ("NotSupported", "no reset here")
    assert stored.answered_at == T0
    assert stored.status is None


# -- result / wait ----------------------------------------------------------------------------


@pytest.mark.parametrize(("tenant_id", "unique_id"), [("tenant-a", "nope"), ("tenant-b", "call-1")])
def test_result_unknown_or_foreign_call_is_not_found(
    world: World, tenant_id: str, unique_id: str
) -> None:
    # GIVEN one call of tenant-a
    online(world)
    world.commands.send("tenant-a", "CP-1", RESET)
    # WHEN asked for an unknown call, or by another tenant
    with pytest.raises(CallNotFoundError) as caught:
        world.commands.result(tenant_id, "CP-1", unique_id)
    # THEN it is not found
    assert caught.value.unique_id == unique_id


def test_result_pending_call_before_deadline_stays_pending(world: World) -> None:
    # GIVEN an outstanding call
    online(world)
    call = world.commands.send("tenant-a", "CP-1", RESET)
    world.clock.advance(29)
    # WHEN its result is read
    # THEN it is still pending and nothing was closed
    assert world.commands.result("tenant-a", "CP-1", call.unique_id) == call


def test_result_after_deadline_closes_call_as_timed_out(world: World) -> None:
    # GIVEN a call nobody answered
    online(world)
    call = world.commands.send("tenant-a", "CP-1", RESET)
    world.clock.advance(31)
    # WHEN its result is read
    result = world.commands.result("tenant-a", "CP-1", call.unique_id)
    # THEN it is reported as timed out, and stored so
    assert result.state is CallState.TIMED_OUT
    stored = world.calls.get("CP-1", call.unique_id)
    assert stored is not None
    assert stored.state is CallState.TIMED_OUT
    # AND the slot is free: the next call goes
    world.commands.send("tenant-a", "CP-1", RESET)
    # AND a late answer cannot change it
    assert world.commands.answer(call, CommandStatus.ACCEPTED, {"status": "Accepted"}) is False


class AnswerRacesTimeout(InMemoryCallRepository):
    """The station's answer is stored just before the timeout is."""

    def close(self, call: OutgoingCall) -> bool:
        if call.state is CallState.TIMED_OUT:
            super().close(
                call.model_copy(
                    update={"state": CallState.ANSWERED, "status": CommandStatus.REJECTED}
                )
            )
        return super().close(call)


def test_result_timeout_loses_to_a_concurrent_answer(world: World) -> None:
    # GIVEN a call past its deadline whose answer lands while the timeout is being recorded
    online(world)
    calls = AnswerRacesTimeout()
    service = command_service(world, calls)
    call = service.send("tenant-a", "CP-1", RESET)
    world.clock.advance(60)
    # WHEN its result is read
    result = service.result("tenant-a", "CP-1", call.unique_id)
    # THEN the answer is reported, not a timeout
    assert result.state is CallState.ANSWERED
    assert result.status is CommandStatus.REJECTED


def test_wait_returns_at_once_when_already_answered(world: World) -> None:
    # GIVEN an answered call
    online(world)
    call = world.commands.send("tenant-a", "CP-1", RESET)
    world.commands.answer(call, CommandStatus.ACCEPTED, {"status": "Accepted"})
    # WHEN the API waits for it
    result = world.commands.wait("tenant-a", "CP-1", call.unique_id, wait_s=10)
    # THEN it returns without sleeping
    assert result.state is CallState.ANSWERED
    assert world.clock.now() == T0


def test_wait_returns_when_the_answer_arrives(world: World) -> None:
    # GIVEN a service whose third poll finds the station's answer
    online(world)
    calls = InMemoryCallRepository()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        world.clock.advance(seconds)
        if len(sleeps) == 2:
            pending = calls.get("CP-1", "u-1")
            assert pending is not None
            service.answer(pending, CommandStatus.ACCEPTED, {"status": "Accepted"})

    service = CommandService(
        stations=world.stations_repo,
        calls=calls,
        encoder=StubEncoder(),
        sender=world.sender,
        clock=world.clock,
        new_id=SequentialIds("u"),
        sleep=sleep,
    )
    call = service.send("tenant-a", "CP-1", RESET)
    # WHEN the API waits up to 10 s, polling every 0.5 s
    result = service.wait("tenant-a", "CP-1", call.unique_id, wait_s=10, poll_s=0.5)
    # THEN it returns as soon as the call is answered
    assert result.state is CallState.ANSWERED
    assert sleeps == [0.5, 0.5]


def test_wait_gives_up_after_wait_s_with_call_pending(world: World) -> None:
    # GIVEN an outstanding call nobody answers
    online(world)
    call = world.commands.send("tenant-a", "CP-1", RESET)
    # WHEN the API waits 2 s
    result = world.commands.wait("tenant-a", "CP-1", call.unique_id, wait_s=2, poll_s=0.5)
    # THEN it returns the still-pending call once 2 s have passed
    assert result.state is CallState.PENDING
    assert world.clock.now() == T0 + timedelta(seconds=2)


def test_wait_beyond_the_deadline_reports_timeout(world: World) -> None:
    # GIVEN an outstanding call nobody answers (30 s timeout)
    online(world)
    call = world.commands.send("tenant-a", "CP-1", RESET)
    # WHEN the API waits longer than the timeout
    result = world.commands.wait("tenant-a", "CP-1", call.unique_id, wait_s=60, poll_s=5)
    # THEN the call ends as timed out at its deadline
    assert result.state is CallState.TIMED_OUT
    assert world.clock.now() == T0 + timedelta(seconds=30)


def test_wait_unknown_call_raises(world: World) -> None:
    # GIVEN no call
    # WHEN / THEN waiting for one fails at once
    with pytest.raises(CallNotFoundError):
        world.commands.wait("tenant-a", "CP-1", "nope", wait_s=5)


def test_send_trigger_message_records_request(world: World) -> None:
    # GIVEN a station online over 2.0.1
    online(world)
    # WHEN the CSMS triggers a status notification on EVSE 2
    command = TriggerMessageCommand(message=TriggerableMessage.STATUS_NOTIFICATION, evse_id=2)
    call = world.commands.send("tenant-a", "CP-1", command)
    # THEN the stored request is the 2.0.1 payload
    assert call.action == "TriggerMessage"
    assert call.request == {"requestedMessage": "StatusNotification", "evse": {"id": 2}}
