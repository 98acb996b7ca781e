"""CommandService: send or queue, deliver in order, match answers, report ends."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from tests.conftest import World
from tests.fakes import (
    T0,
    InMemoryCallRepository,
    SequentialIds,
    a_binding,
    a_station,
)

from csms.domain.command_records import MAX_COMMAND_TTL, CommandRecord, CommandState
from csms.domain.commands import (
    Command,
    CommandStatus,
    LocalListEntry,
    LocalListUpdate,
    ResetCommand,
    ResetKind,
    SendLocalListCommand,
    SetConfigurationCommand,
    StopChargingCommand,
    TriggerableMessage,
    TriggerMessageCommand,
    UpdateFirmwareCommand,
)
from csms.domain.configuration import ConfigurationName
from csms.domain.errors import (
    CallNotFoundError,
    CommandNotSupportedError,
    InvalidReferenceError,
    ResourceInUseError,
    StationNotFoundError,
)
from csms.domain.notifications import NoteKind, StationNote
from csms.domain.sessions import Session
from csms.domain.station import ProtocolVersion
from csms.domain.tokens import AuthorizationStatus, IdToken, TokenStatus
from csms.services.commands import CommandService
from csms.services.stations import ConnectRequest, Credentials

RESET = ResetCommand(kind=ResetKind.HARD)
TRIGGER = TriggerMessageCommand(message=TriggerableMessage.HEARTBEAT)
TTL = timedelta(minutes=10)
V16 = ProtocolVersion.OCPP16
V201 = ProtocolVersion.OCPP201


def online(world: World, protocol: ProtocolVersion = V201, connection_id: str = "conn-1") -> None:
    """CP-1 registered (if it is not yet) and bound on a connection."""
    if world.stations_repo.get("CP-1") is None:
        world.stations_repo.register(a_station())
    world.stations_repo.bind(a_binding(protocol=protocol, connection_id=connection_id))


def offline_after(world: World, protocol: ProtocolVersion = V201) -> None:
    """CP-1 was online once (its version is known) and disconnected."""
    online(world, protocol)
    world.stations.disconnect("conn-1")


def reconnect(world: World, connection_id: str = "conn-2") -> Any:
    """CP-1 connects through $connect (which looks at the queue) and sends its first message."""
    decision = world.stations.connect(
        ConnectRequest(
            station_id="CP-1",
            connection_id=connection_id,
            credentials=Credentials("CP-1", "secret-password"),
            offered_protocols=("ocpp2.0.1",),
        )
    )
    assert decision.accepted
    binding = world.stations.resolve(connection_id)
    world.commands.deliver_on_connect(binding)
    return binding


def frames(world: World) -> list[tuple[str, list[Any]]]:
    return [(conn, json.loads(frame)) for conn, frame in world.sender.sent]


def answer(world: World, command_id: str, connection_id: str = "conn-1") -> None:
    """The station's CALLRESULT Accepted, through the dispatcher."""
    reply = world.dispatcher.handle(
        connection_id, json.dumps([3, command_id, {"status": "Accepted"}])
    )
    assert reply is None


def state(world: World, command_id: str) -> CommandState:
    return world.commands.result("tenant-a", "CP-1", command_id).state


# -- send now -------------------------------------------------------------------------------------


def test_send_online_free_station_sends_at_once(world: World) -> None:
    # GIVEN a station online over 2.0.1, nothing outstanding
    online(world)
    # WHEN the CSMS sends a hard reset with a 10 min time-to-live
    record = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    # THEN the call is pending with a 30 s deadline, stored as sent
    assert record.state is CommandState.PENDING
    assert (record.action, record.ocpp_action, record.protocol) == ("Reset", "Reset", V201)
    assert record.request == {"type": "Immediate"}
    assert (record.queued_at, record.sent_at) == (T0, T0)
    assert (record.deadline, record.expires_at) == (T0 + timedelta(seconds=30), T0 + TTL)
    assert world.calls.get("CP-1", record.id) == record
    # AND the 2.0.1 CALL went out on the station's connection, the record id its unique id
    assert frames(world) == [("conn-1", [2, "call-1", "Reset", {"type": "Immediate"}])]


def test_send_uses_the_station_protocol(world: World) -> None:
    # GIVEN a station online over 1.6
    online(world, V16)
    # WHEN the CSMS sends a hard reset
    record = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    # THEN the 1.6 shape goes out and is stored
    assert record.request == {"type": "Hard"}
    assert frames(world)[0][1] == [2, "call-1", "Reset", {"type": "Hard"}]


@pytest.mark.parametrize(("tenant_id", "station_id"), [("tenant-a", "CP-9"), ("tenant-b", "CP-1")])
def test_send_unknown_or_foreign_station_is_not_found(
    world: World, tenant_id: str, station_id: str
) -> None:
    # GIVEN CP-1 online in tenant-a
    online(world)
    # WHEN a command goes to a station that does not exist in the caller's tenant
    with pytest.raises(StationNotFoundError) as caught:
        world.commands.send(tenant_id, station_id, RESET, TTL)
    # THEN it is not found, and nothing is stored or sent
    assert caught.value.station_id == station_id
    assert world.sender.sent == []
    assert world.calls.calls == {}


def test_send_command_the_version_cannot_carry_stores_nothing(world: World) -> None:
    # GIVEN a 1.6 station (1.6 cannot reset a single EVSE)
    online(world, V16)
    # WHEN an EVSE reset is sent
    with pytest.raises(CommandNotSupportedError):
        world.commands.send("tenant-a", "CP-1", ResetCommand(evse_id=1), TTL)
    # THEN nothing is stored, queued or sent
    assert world.calls.calls == {}
    assert world.calls.queue == {}
    assert world.sender.sent == []


def test_send_to_offline_station_checks_its_last_version(world: World) -> None:
    # GIVEN a 1.6 station that went offline
    offline_after(world, V16)
    # WHEN an EVSE reset is sent
    # THEN it is refused at once, not queued to fail later
    with pytest.raises(CommandNotSupportedError):
        world.commands.send("tenant-a", "CP-1", ResetCommand(evse_id=1), TTL)
    assert world.calls.calls == {}


# -- queueing -------------------------------------------------------------------------------------


def test_send_to_offline_station_queues_it(world: World) -> None:
    # GIVEN a 2.0.1 station that went offline
    offline_after(world)
    # WHEN a command is sent with a 10 min time-to-live
    record = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    # THEN it is queued, not sent; its request as the station's last version would take it
    assert record.state is CommandState.QUEUED
    assert (record.queued_at, record.expires_at, record.sent_at) == (T0, T0 + TTL, None)
    assert record.request == {"type": "Immediate"}
    assert world.sender.sent == []
    assert world.calls.has_queued("CP-1")


def test_send_to_never_connected_station_queues_it_unencoded(world: World) -> None:
    # GIVEN a station that never connected and is not pinned to a version
    world.stations_repo.register(a_station())
    # WHEN a command is sent
    record = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    # THEN it waits without a version; it is encoded when it goes out
    assert record.state is CommandState.QUEUED
    assert (record.protocol, record.request) == (None, None)


def test_send_ttl_is_capped_at_seven_days(world: World) -> None:
    # GIVEN an offline station
    offline_after(world)
    # WHEN a command asks for 30 days
    record = world.commands.send("tenant-a", "CP-1", RESET, timedelta(days=30))
    # THEN it waits at most 7 days
    assert record.expires_at == T0 + MAX_COMMAND_TTL


def test_send_while_a_call_is_outstanding_queues_in_order(world: World) -> None:
    # GIVEN an outstanding call
    online(world)
    first = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    # WHEN two more commands are sent
    second = world.commands.send("tenant-a", "CP-1", TRIGGER, TTL)
    third = world.commands.send("tenant-a", "CP-1", ResetCommand(), TTL)
    # THEN they wait, and only the first went out
    assert (second.state, third.state) == (CommandState.QUEUED, CommandState.QUEUED)
    assert [f[1][1] for f in frames(world)] == [first.id]
    # WHEN the station answers each outstanding call in turn
    answer(world, first.id)
    answer(world, second.id)
    # THEN the queue went out first in first out, one call at a time
    assert [f[1][1] for f in frames(world)] == [first.id, second.id, third.id]
    assert state(world, first.id) is CommandState.ANSWERED
    assert state(world, second.id) is CommandState.ANSWERED
    assert state(world, third.id) is CommandState.PENDING


def test_send_connection_gone_requeues_for_the_next_connection(world: World) -> None:
    # GIVEN a station whose connection vanished without a $disconnect yet (a reconnect gap)
    online(world)
    world.sender.gone.add("conn-1")
    # WHEN a command is sent
    record = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    # THEN it waits in the queue, as never sent
    assert record.state is CommandState.QUEUED
    assert (record.sent_at, record.deadline) == (None, None)
    assert world.sender.sent == []
    # WHEN the station comes back on a new connection and sends its first message
    world.stations.disconnect("conn-1")
    binding = reconnect(world)
    # THEN the connection was flagged at connect, and the command went out on it
    assert binding.deliver_queue is True
    assert frames(world) == [("conn-2", [2, record.id, "Reset", {"type": "Immediate"}])]
    assert state(world, record.id) is CommandState.PENDING


def test_send_gone_delivers_on_a_connection_opened_meanwhile(world: World) -> None:
    # GIVEN a station that reconnected (conn-2) while the old connection still looks current to
    # the send: the send finds conn-1 gone
    online(world)
    world.sender.gone.add("conn-1")
    station = world.stations_repo.get("CP-1")
    assert station is not None

    class Reconnects(InMemoryCallRepository):
        def requeue(self, record: CommandRecord, command: Command) -> bool:
            online(world, connection_id="conn-2")
            return super().requeue(record, command)

    calls = Reconnects()
    service = service_on(world, calls)
    # WHEN a command is sent
    record = service.send("tenant-a", "CP-1", RESET, TTL)
    # THEN it went out on the new connection
    assert record.state is CommandState.PENDING
    assert frames(world) == [("conn-2", [2, record.id, "Reset", {"type": "Immediate"}])]


def service_on(world: World, calls: InMemoryCallRepository, **over: Any) -> CommandService:
    """A CommandService over the world's station store, with its own call repository."""
    values: dict[str, Any] = {
        "stations": world.stations_repo,
        "calls": calls,
        "encoder": world.commands._encoder,
        "sender": world.sender,
        "clock": world.clock,
        "new_id": SequentialIds("u"),
        "sleep": world.clock.advance,
    }
    values.update(over)
    return CommandService(**values)


# -- delivery on reconnect ------------------------------------------------------------------------


def test_reconnect_delivers_queue_one_at_a_time(world: World) -> None:
    # GIVEN two commands queued for an offline station
    offline_after(world)
    first = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    second = world.commands.send("tenant-a", "CP-1", TRIGGER, TTL)
    # WHEN it reconnects and sends its first message
    reconnect(world)
    # THEN the first goes out; the second waits for its answer
    assert [f[1][1] for f in frames(world)] == [first.id]
    # WHEN the station answers
    answer(world, first.id, "conn-2")
    # THEN the second goes out
    assert [f[1][1] for f in frames(world)] == [first.id, second.id]


def test_reconnect_delivers_in_the_new_connections_version(world: World) -> None:
    # GIVEN a command queued for a station last seen on 1.6
    offline_after(world, V16)
    record = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    assert record.request == {"type": "Hard"}
    # WHEN it comes back speaking 2.0.1
    reconnect(world)
    # THEN the command goes out in 2.0.1, and the record says so
    assert frames(world)[0][1] == [2, record.id, "Reset", {"type": "Immediate"}]
    sent = world.commands.result("tenant-a", "CP-1", record.id)
    assert (sent.protocol, sent.request) == (V201, {"type": "Immediate"})


def test_reconnect_with_empty_queue_reads_nothing_more(world: World) -> None:
    # GIVEN a station with nothing queued
    offline_after(world)
    # WHEN it reconnects and sends messages
    binding = reconnect(world)
    world.commands.deliver_on_connect(binding)
    # THEN the binding says there is nothing to deliver, and the queue was never read
    assert binding.deliver_queue is False
    assert world.calls.heads_read == 0
    assert world.sender.sent == []


def test_deliver_on_connect_happens_once_per_connection(world: World) -> None:
    # GIVEN a reconnected station whose queued command went out and was answered
    offline_after(world)
    first = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    binding = reconnect(world)
    answer(world, first.id, "conn-2")
    reads = world.calls.heads_read
    # WHEN its next messages arrive (the cached binding still says "deliver")
    world.commands.deliver_on_connect(binding)
    world.commands.deliver_on_connect(binding)
    # THEN the queue is not read again, and nothing is sent twice
    assert world.calls.heads_read == reads
    assert [f[1][1] for f in frames(world)] == [first.id]


def test_deliver_twice_never_sends_a_command_twice(world: World) -> None:
    # GIVEN a queued command and an online station
    offline_after(world)
    record = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    online(world, connection_id="conn-2")
    # WHEN two deliveries run (two containers, say)
    world.commands.deliver("CP-1", "conn-2", V201)
    world.commands.deliver("CP-1", "conn-2", V201)
    # THEN the command went out once
    assert [f[1][1] for f in frames(world)] == [record.id]


def test_deliver_of_a_command_taken_meanwhile_sends_nothing(world: World) -> None:
    # GIVEN two queued commands; another container takes the first between our reading the
    # head of the queue and our taking it
    offline_after(world)

    class TakenMeanwhile(InMemoryCallRepository):
        def open(self, record: CommandRecord, now: Any, *, from_queue: bool = False) -> bool:
            if from_queue and not self.slots:
                super().open(record, now, from_queue=True)  # the other container's send
                return False
            return super().open(record, now, from_queue=from_queue)

    calls = TakenMeanwhile()
    service = service_on(world, calls)
    first = service.send("tenant-a", "CP-1", RESET, TTL)
    service.send("tenant-a", "CP-1", TRIGGER, TTL)
    # WHEN this container delivers
    online(world, connection_id="conn-2")
    service.deliver("CP-1", "conn-2", V201)
    # THEN it sends nothing: the first is the other's, and its call holds the slot
    assert world.sender.sent == []
    assert calls.slots["CP-1"].id == first.id


def test_deliver_drops_expired_commands_and_sends_the_next(world: World) -> None:
    # GIVEN a command with a 1 min time-to-live queued before one with 10 min
    offline_after(world)
    short = world.commands.send("tenant-a", "CP-1", RESET, timedelta(minutes=1))
    long = world.commands.send("tenant-a", "CP-1", TRIGGER, TTL)
    # WHEN the station reconnects after 2 minutes
    world.clock.advance(120)
    reconnect(world)
    # THEN the expired one is never sent and is reported Expired; the other goes out
    assert [f[1][1] for f in frames(world)] == [long.id]
    expired = world.calls.get("CP-1", short.id)
    assert expired is not None
    assert expired.state is CommandState.EXPIRED
    assert expired.sent_at is None


def test_deliver_fails_a_command_the_new_version_cannot_carry(world: World) -> None:
    # GIVEN an EVSE reset queued for a 2.0.1 station, then a trigger
    offline_after(world)
    evse_reset = world.commands.send("tenant-a", "CP-1", ResetCommand(evse_id=1), TTL)
    trigger = world.commands.send("tenant-a", "CP-1", TRIGGER, TTL)
    # WHEN the station comes back speaking 1.6
    world.stations.connect(
        ConnectRequest(
            station_id="CP-1",
            connection_id="conn-2",
            credentials=Credentials("CP-1", "secret-password"),
            offered_protocols=("ocpp1.6",),
        )
    )
    world.commands.deliver_on_connect(world.stations.resolve("conn-2"))
    # THEN the reset fails as not supported, and the trigger goes out in 1.6
    failed = world.commands.result("tenant-a", "CP-1", evse_reset.id)
    assert (failed.state, failed.error_code) == (CommandState.FAILED, "NotSupported")
    assert failed.sent_at is None
    assert frames(world) == [
        ("conn-2", [2, trigger.id, "TriggerMessage", {"requestedMessage": "Heartbeat"}])
    ]


# -- answers --------------------------------------------------------------------------------------


def test_answer_closes_call_with_status_and_response(world: World) -> None:
    # GIVEN an outstanding call
    online(world)
    record = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    world.clock.advance(2)
    # WHEN the station answers Rejected
    closed = world.commands.answer(record, CommandStatus.REJECTED, {"status": "Rejected"})
    # THEN the call is answered (a rejection is an answer) with the status and raw response
    assert closed is True
    stored = world.commands.result("tenant-a", "CP-1", record.id)
    assert (stored.state, stored.status) == (CommandState.ANSWERED, CommandStatus.REJECTED)
    assert stored.response == {"status": "Rejected"}
    assert stored.answered_at == T0 + timedelta(seconds=2)
    assert world.commands.pending("CP-1", record.id) is None


def test_answer_twice_is_refused(world: World) -> None:
    # GIVEN an answered call
    online(world)
    record = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    world.commands.answer(record, CommandStatus.ACCEPTED, {"status": "Accepted"})
    # WHEN a second answer (or an error) is recorded
    again = world.commands.answer(record, CommandStatus.REJECTED, {"status": "Rejected"})
    failed = world.commands.fail(record, "InternalError", "x")
    # THEN both are refused and the first answer stands
    assert (again, failed) == (False, False)
    assert world.commands.result("tenant-a", "CP-1", record.id).status is CommandStatus.ACCEPTED


def test_fail_closes_call_with_error_and_delivers_next(world: World) -> None:
    # GIVEN an outstanding call and a queued one
    online(world)
    first = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    second = world.commands.send("tenant-a", "CP-1", TRIGGER, TTL)
    # WHEN the station answers the first with a CALLERROR
    world.dispatcher.handle("conn-1", json.dumps([4, first.id, "NotSupported", "no reset", {}]))
    # THEN it failed with the code, and the next command went out
    stored = world.commands.result("tenant-a", "CP-1", first.id)
    assert (stored.state, stored.error_code, stored.error_description) == (
        CommandState.FAILED,
        "NotSupported",
        "no reset",
    )
    assert stored.status is None
    assert [f[1][1] for f in frames(world)] == [first.id, second.id]


def test_pending_returns_waiting_call_only(world: World) -> None:
    # GIVEN an outstanding call
    online(world)
    record = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    # WHEN / THEN it is pending until its deadline; unknown ids and other stations are not
    assert world.commands.pending("CP-1", record.id) == record
    assert world.commands.pending("CP-1", "nope") is None
    assert world.commands.pending("CP-2", record.id) is None
    world.clock.advance(30)
    assert world.commands.pending("CP-1", record.id) is None


def test_late_answer_after_deadline_frees_the_queue(world: World) -> None:
    # GIVEN a call past its deadline and a command queued behind it
    online(world)
    first = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    second = world.commands.send("tenant-a", "CP-1", TRIGGER, TTL)
    world.clock.advance(31)
    # WHEN the station's answer finally arrives
    answer(world, first.id)
    # THEN the first stays timed out, and the queued command goes out
    assert state(world, first.id) is CommandState.TIMED_OUT
    assert [f[1][1] for f in frames(world)] == [first.id, second.id]


# -- result, timeouts, expiry ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tenant_id", "command_id"), [("tenant-a", "nope"), ("tenant-b", "call-1")]
)
def test_result_unknown_or_foreign_command_is_not_found(
    world: World, tenant_id: str, command_id: str
) -> None:
    # GIVEN one command of tenant-a
    online(world)
    world.commands.send("tenant-a", "CP-1", RESET, TTL)
    # WHEN asked for an unknown command, or by another tenant
    with pytest.raises(CallNotFoundError) as caught:
        world.commands.result(tenant_id, "CP-1", command_id)
    # THEN it is not found
    assert caught.value.unique_id == command_id


def test_result_after_deadline_times_out_and_delivers_next(world: World) -> None:
    # GIVEN an unanswered call and a command queued behind it
    online(world)
    first = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    second = world.commands.send("tenant-a", "CP-1", TRIGGER, TTL)
    world.clock.advance(30)
    # WHEN anyone reads the first past its deadline
    result = world.commands.result("tenant-a", "CP-1", first.id)
    # THEN it is recorded as timed out, and the queued command goes out
    assert result.state is CommandState.TIMED_OUT
    stored = world.calls.get("CP-1", first.id)
    assert stored is not None
    assert stored.state is CommandState.TIMED_OUT
    assert [f[1][1] for f in frames(world)] == [first.id, second.id]
    # AND a late answer cannot change it
    assert world.commands.answer(first, CommandStatus.ACCEPTED, {"status": "Accepted"}) is False


def test_result_of_queued_command_past_ttl_records_expiry(world: World) -> None:
    # GIVEN a command queued for an offline station for 1 minute
    offline_after(world)
    record = world.commands.send("tenant-a", "CP-1", RESET, timedelta(minutes=1))
    # WHEN it is read after its time-to-live
    world.clock.advance(60)
    result = world.commands.result("tenant-a", "CP-1", record.id)
    # THEN it is Expired, stored so, and out of the queue
    assert result.state is CommandState.EXPIRED
    assert not world.calls.has_queued("CP-1")
    # AND the station's return does not send it
    reconnect(world)
    assert world.sender.sent == []


class AnswerRacesTimeout(InMemoryCallRepository):
    """The station's answer is stored just before the timeout is."""

    def close(self, record: CommandRecord) -> bool:
        if record.state is CommandState.TIMED_OUT:
            super().close(
                record.ended(CommandState.ANSWERED, status=CommandStatus.REJECTED, answered_at=T0)
            )
        return super().close(record)


def test_result_timeout_loses_to_a_concurrent_answer(world: World) -> None:
    # GIVEN a call past its deadline whose answer lands while the timeout is being recorded
    online(world)
    service = service_on(world, AnswerRacesTimeout())
    record = service.send("tenant-a", "CP-1", RESET, TTL)
    world.clock.advance(60)
    # WHEN its result is read
    result = service.result("tenant-a", "CP-1", record.id)
    # THEN the answer is reported, not a timeout
    assert (result.state, result.status) == (CommandState.ANSWERED, CommandStatus.REJECTED)


def test_wait_returns_when_the_answer_arrives(world: World) -> None:
    # GIVEN a service whose second poll finds the station's answer
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

    service = service_on(world, calls, sleep=sleep)
    record = service.send("tenant-a", "CP-1", RESET, TTL)
    # WHEN the API waits up to 10 s, polling every 0.5 s
    result = service.wait("tenant-a", "CP-1", record.id, wait_s=10, poll_s=0.5)
    # THEN it returns as soon as the call is answered
    assert result.state is CommandState.ANSWERED
    assert sleeps == [0.5, 0.5]


def test_wait_gives_up_with_the_command_still_queued(world: World) -> None:
    # GIVEN a command queued for an offline station
    offline_after(world)
    record = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    # WHEN the API waits 2 s
    result = world.commands.wait("tenant-a", "CP-1", record.id, wait_s=2, poll_s=0.5)
    # THEN it returns the still-queued command once 2 s have passed
    assert result.state is CommandState.QUEUED
    assert world.clock.now() == T0 + timedelta(seconds=2)


def test_wait_beyond_the_deadline_reports_timeout(world: World) -> None:
    # GIVEN an outstanding call nobody answers (30 s timeout)
    online(world)
    record = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    # WHEN the API waits longer than the timeout
    result = world.commands.wait("tenant-a", "CP-1", record.id, wait_s=60, poll_s=5)
    # THEN the call ends as timed out at its deadline
    assert result.state is CommandState.TIMED_OUT
    assert world.clock.now() == T0 + timedelta(seconds=30)


# -- cancel ---------------------------------------------------------------------------------------


def test_cancel_queued_command_is_never_sent(world: World) -> None:
    # GIVEN a command queued for an offline station
    offline_after(world)
    record = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    # WHEN an operator cancels it
    cancelled = world.commands.cancel("tenant-a", "CP-1", record.id)
    # THEN it is Cancelled, out of the queue, and the station's return sends nothing
    assert cancelled.state is CommandState.CANCELLED
    assert state(world, record.id) is CommandState.CANCELLED
    reconnect(world)
    assert world.sender.sent == []


def test_cancel_sent_or_ended_command_is_refused(world: World) -> None:
    # GIVEN one command sent and one cancelled
    online(world)
    sent = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    queued = world.commands.send("tenant-a", "CP-1", TRIGGER, TTL)
    world.commands.cancel("tenant-a", "CP-1", queued.id)
    # WHEN either is cancelled
    # THEN it is refused as in use, saying why
    with pytest.raises(ResourceInUseError, match="sent already"):
        world.commands.cancel("tenant-a", "CP-1", sent.id)
    with pytest.raises(ResourceInUseError, match="has ended"):
        world.commands.cancel("tenant-a", "CP-1", queued.id)


def test_cancel_loses_to_a_concurrent_delivery(world: World) -> None:
    # GIVEN a queued command that goes out while the cancel is being recorded
    offline_after(world)

    class DeliveredMeanwhile(InMemoryCallRepository):
        def drop(self, record: CommandRecord) -> bool:
            online(world, connection_id="conn-2")
            service.deliver("CP-1", "conn-2", V201)
            return super().drop(record)

    service = service_on(world, DeliveredMeanwhile())
    record = service.send("tenant-a", "CP-1", RESET, TTL)
    # WHEN the cancel runs
    # THEN it is refused: the command was sent
    with pytest.raises(ResourceInUseError, match="sent already"):
        service.cancel("tenant-a", "CP-1", record.id)
    assert [f[1][1] for f in frames(world)] == [record.id]


# -- history and progress -------------------------------------------------------------------------


def test_history_is_newest_first_and_filters(world: World) -> None:
    # GIVEN an answered reset, a pending trigger... (an online station)
    online(world)
    first = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    answer(world, first.id)
    second = world.commands.send("tenant-a", "CP-1", TRIGGER, TTL)
    third = world.commands.send("tenant-a", "CP-1", ResetCommand(), timedelta(seconds=10))
    world.clock.advance(20)
    # WHEN the history is read, whole and filtered
    every = world.commands.history("tenant-a", "CP-1", 10)
    resets = world.commands.history("tenant-a", "CP-1", 10, action="Reset")
    expired = world.commands.history("tenant-a", "CP-1", 10, states=[CommandState.EXPIRED])
    # THEN it is newest first, as things stand now (the third expired in the queue)
    assert [r.id for r in every.items] == [third.id, second.id, first.id]
    assert [r.state for r in every.items] == [
        CommandState.EXPIRED,
        CommandState.PENDING,
        CommandState.ANSWERED,
    ]
    assert [r.id for r in resets.items] == [third.id, first.id]
    assert [r.id for r in expired.items] == [third.id]


def test_history_pages_with_a_cursor(world: World) -> None:
    # GIVEN three queued commands
    offline_after(world)
    ids = [world.commands.send("tenant-a", "CP-1", RESET, TTL).id for _ in range(3)]
    # WHEN read two at a time
    first = world.commands.history("tenant-a", "CP-1", 2)
    second = world.commands.history("tenant-a", "CP-1", 2, first.next_cursor)
    # THEN every command comes once, newest first
    assert [r.id for r in first.items + second.items] == ids[::-1]
    assert second.next_cursor is None


def test_history_of_foreign_station_is_not_found(world: World) -> None:
    # GIVEN CP-1 in tenant-a
    online(world)
    # WHEN another tenant reads its history
    # THEN the station is not found
    with pytest.raises(StationNotFoundError):
        world.commands.history("tenant-b", "CP-1", 10)


def _firmware_note(status: str, at_s: int, reference: int | None = None) -> StationNote:
    at = T0 + timedelta(seconds=at_s)
    return StationNote(
        kind=NoteKind.FIRMWARE_STATUS,
        at=at,
        received_at=at,
        unique_id=f"m-{at_s}",
        fingerprint=f"f-{at_s}",
        status=status,
        reference=reference,
    )


def test_progress_shows_firmware_notifications_since_the_answer(world: World) -> None:
    # GIVEN an UpdateFirmware the station accepted at T0+1s, and firmware notes around it
    online(world)
    command = UpdateFirmwareCommand(location="https://fw.example/1.2.bin", retrieve_at=T0)
    record = world.commands.send("tenant-a", "CP-1", command, TTL)
    world.notes.record("CP-1", "tenant-a", _firmware_note("Idle", 0))
    world.clock.advance(1)
    answer(world, record.id)
    request_id = record.request["requestId"] if record.request else None
    world.notes.record("CP-1", "tenant-a", _firmware_note("Downloading", 5, request_id))
    world.notes.record("CP-1", "tenant-a", _firmware_note("Downloaded", 9, 999))
    world.notes.record("CP-1", "tenant-a", _firmware_note("Installed", 20, request_id))
    # WHEN its progress is read
    progress = world.commands.progress(world.commands.result("tenant-a", "CP-1", record.id))
    # THEN the notes since the answer, of this request, oldest first
    assert [n.status for n in progress] == ["Downloading", "Installed"]


def test_progress_is_empty_for_other_commands(world: World) -> None:
    # GIVEN an answered reset
    online(world)
    record = world.commands.send("tenant-a", "CP-1", RESET, TTL)
    answer(world, record.id)
    world.notes.record("CP-1", "tenant-a", _firmware_note("Downloading", 5))
    # WHEN / THEN it has no progress
    assert world.commands.progress(world.commands.result("tenant-a", "CP-1", record.id)) == []


# -- resolving what the API names -----------------------------------------------------------------


def _session(**over: Any) -> Session:
    values: dict[str, Any] = {
        "id": "s-1",
        "tenant_id": "tenant-a",
        "station_id": "CP-1",
        "transaction_id": "42",
        "protocol": V16,
        "ocpp16_id": 42,
        "updated_at": T0,
    }
    values.update(over)
    return Session(**values)


def test_stop_charging_by_session_id_fills_the_transaction(world: World) -> None:
    # GIVEN a 1.6 session on CP-1
    online(world, V16)
    world.sessions_repo.sessions["s-1"] = _session()
    # WHEN StopCharging names the session
    record = world.commands.send("tenant-a", "CP-1", StopChargingCommand(session_id="s-1"), TTL)
    # THEN the 1.6 integer transaction id goes out
    assert record.request == {"transactionId": 42}


@pytest.mark.parametrize(
    "session", [None, {"station_id": "CP-2"}, {"tenant_id": "tenant-b"}], ids=str
)
def test_stop_charging_of_a_session_elsewhere_is_an_invalid_reference(
    world: World, session: dict[str, Any] | None
) -> None:
    # GIVEN no such session on this station of the tenant
    online(world, V16)
    if session is not None:
        world.sessions_repo.sessions["s-1"] = _session(**session)
    # WHEN StopCharging names it
    # THEN it is refused, nothing stored
    with pytest.raises(InvalidReferenceError):
        world.commands.send("tenant-a", "CP-1", StopChargingCommand(session_id="s-1"), TTL)
    assert world.calls.calls == {}


def test_send_local_list_fills_known_tokens_statuses(world: World) -> None:
    # GIVEN a blocked token in the tenant
    online(world)
    world.tokens.create("tenant-a", IdToken(id_token="CARD-1", status=TokenStatus.BLOCKED), T0)
    # WHEN a differential list names it and an unknown token without statuses, and another
    # token with one
    command = SendLocalListCommand(
        update_type=LocalListUpdate.DIFFERENTIAL,
        version=3,
        entries=(
            LocalListEntry(id_token="CARD-1"),
            LocalListEntry(id_token="GONE"),
            LocalListEntry(id_token="CARD-2", status=AuthorizationStatus.INVALID),
        ),
    )
    record = world.commands.send("tenant-a", "CP-1", command, TTL)
    # THEN the known token carries its stored status, the unknown one is deleted, the given
    # status stands
    assert record.request is not None
    entries = {e["idToken"]["idToken"]: e for e in record.request["localAuthorizationList"]}
    assert entries["CARD-1"]["idTokenInfo"]["status"] == AuthorizationStatus.BLOCKED.value
    assert "idTokenInfo" not in entries["GONE"]
    assert entries["CARD-2"]["idTokenInfo"]["status"] == "Invalid"
    assert record.request["versionNumber"] == 3


def test_stop_charging_by_unknown_transaction_goes_as_given(world: World) -> None:
    # GIVEN a 2.0.1 station and a transaction the CSMS has not heard of
    online(world)
    # WHEN StopCharging names the transaction
    command = StopChargingCommand(transaction_id="tx-unknown")
    record = world.commands.send("tenant-a", "CP-1", command, TTL)
    # THEN it goes out as given: the station may know it
    assert record.request == {"transactionId": "tx-unknown"}


def test_stop_charging_without_sessions_store_goes_as_given(world: World) -> None:
    # GIVEN a service that cannot look sessions up
    online(world)
    service = service_on(world, InMemoryCallRepository())
    # WHEN StopCharging names a transaction
    record = service.send("tenant-a", "CP-1", StopChargingCommand(transaction_id="tx-1"), TTL)
    # THEN it goes out unchanged
    assert record.request == {"transactionId": "tx-1"}


def test_send_local_list_without_version_gets_the_stations_next(world: World) -> None:
    # GIVEN a station that was sent list version 1 already
    online(world)
    world.calls.next_list_version("CP-1")
    full = SendLocalListCommand(
        update_type=LocalListUpdate.FULL,
        version=1,
        entries=(LocalListEntry(id_token="CARD-1", status=AuthorizationStatus.ACCEPTED),),
    )
    # WHEN a list is sent without a version
    unversioned = full.model_copy(update={"version": None})
    record = world.commands.send("tenant-a", "CP-1", unversioned, TTL)
    # THEN it carries the station's next version; a Full list's statuses are left alone
    assert record.request is not None
    assert record.request["versionNumber"] == 2
    assert record.request["localAuthorizationList"][0]["idTokenInfo"]["status"] == "Accepted"


def test_has_queued_tells_a_connecting_station(world: World) -> None:
    # GIVEN an offline station, first with nothing queued, then with one command
    offline_after(world)
    before = world.commands.has_queued("CP-1")
    world.commands.send("tenant-a", "CP-1", RESET, TTL)
    # WHEN / THEN the connect-time check tells them apart
    assert (before, world.commands.has_queued("CP-1")) == (False, True)


def test_deliver_on_connect_forgets_connections_beyond_its_bound(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a container that remembers at most one drained connection
    monkeypatch.setattr(CommandService, "_DRAINED_CAP", 1)
    offline_after(world)
    flagged = [a_binding(connection_id=c, deliver_queue=True) for c in ("c-1", "c-2", "c-3")]
    # WHEN three connections deliver in turn
    for binding in flagged:
        world.commands.deliver_on_connect(binding)
    # THEN only the latest is remembered; each delivered once
    assert world.commands._drained == {"c-3"}
    assert world.calls.heads_read == 3


def test_deliver_is_bounded_when_the_queue_does_not_move(world: World) -> None:
    # GIVEN a queue whose expired head cannot be dropped (a store that misbehaves)
    offline_after(world)

    class Stuck(InMemoryCallRepository):
        def drop(self, record: CommandRecord) -> bool:
            return False

    calls = Stuck()
    service = service_on(world, calls)
    service.send("tenant-a", "CP-1", RESET, timedelta(seconds=1))
    world.clock.advance(2)
    # WHEN delivery runs
    service.deliver("CP-1", "conn-2", V201)
    # THEN it gives up after a bounded number of turns, having sent nothing
    assert 1 < calls.heads_read <= 100
    assert world.sender.sent == []


@pytest.mark.parametrize("protocol", [V16, V201], ids=["1.6", "2.0.1"])
def test_send_stores_a_secret_setting_redacted(world: World, protocol: ProtocolVersion) -> None:
    # GIVEN a station online
    online(world, protocol)
    # WHEN the operator sets the station's password (AuthorizationKey / BasicAuthPassword)
    command = SetConfigurationCommand(
        setting=ConfigurationName.AUTHORIZATION_KEY, value="s3cret-key-0123456789"
    )
    record = world.commands.send("tenant-a", "CP-1", command, TTL)
    # THEN the station gets the value, but the record keeps only "***"
    assert "s3cret-key-0123456789" in world.sender.sent[0][1]
    assert "s3cret-key-0123456789" not in record.model_dump_json()
    assert "***" in json.dumps(record.request)
