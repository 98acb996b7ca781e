"""The CallRepository contract, run against the in-memory fake and DynamoCallRepository on moto.

The port docstrings in `csms.services.ports` are the contract: records, each station's queue
(first in first out) and its one outstanding call.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.fakes import T0, InMemoryCallRepository

from csms.adapters.dynamo_commands import DynamoCallRepository, new_command_id
from csms.domain.command_records import CommandRecord, CommandState
from csms.domain.commands import (
    CommandStatus,
    ResetCommand,
    ResetKind,
    TriggerableMessage,
    TriggerMessageCommand,
)
from csms.domain.errors import CallInProgressError, InvalidCursorError
from csms.domain.station import ProtocolVersion
from csms.services.ports import CallRepository

TIMEOUT = timedelta(seconds=30)
TTL = timedelta(minutes=10)
RESET = ResetCommand(kind=ResetKind.HARD)
TRIGGER = TriggerMessageCommand(message=TriggerableMessage.STATUS_NOTIFICATION, evse_id=2)


@pytest.fixture(params=["memory", "dynamo"])
def calls(request: pytest.FixtureRequest) -> CallRepository:
    if request.param == "dynamo":
        request.getfixturevalue("dynamo_table")
        return DynamoCallRepository()
    return InMemoryCallRepository()


def queued(command_id: str, station_id: str = "CP-1", at: int = 0) -> CommandRecord:
    """A record as the service queues it."""
    queued_at = T0 + timedelta(seconds=at)
    return CommandRecord(
        id=command_id,
        station_id=station_id,
        tenant_id="tenant-a",
        action="Reset",
        state=CommandState.QUEUED,
        queued_at=queued_at,
        expires_at=queued_at + TTL,
        request={"type": "Immediate"},
        protocol=ProtocolVersion.OCPP201,
        ocpp_action="Reset",
    )


def sent(command_id: str, at: int = 0, station_id: str = "CP-1") -> CommandRecord:
    """A record as it goes out at T0 + `at` seconds."""
    return queued(command_id, station_id, at).sent(
        T0 + timedelta(seconds=at),
        TIMEOUT,
        ProtocolVersion.OCPP201,
        "Reset",
        {"type": "Immediate"},
    )


def answered(record: CommandRecord) -> CommandRecord:
    return record.ended(
        CommandState.ANSWERED,
        answered_at=T0 + timedelta(seconds=1),
        status=CommandStatus.ACCEPTED,
        response={"status": "Accepted"},
    )


# -- the slot ---------------------------------------------------------------------------------


def test_call_repository_open_then_get_returns_the_pending_record(calls: CallRepository) -> None:
    # GIVEN no call in flight
    record = sent("A1")
    # WHEN a new record is opened
    opened = calls.open(record, T0)
    # THEN it reads back as opened; other ids and stations know nothing of it
    assert opened is True
    assert calls.get("CP-1", "A1") == record
    assert calls.get("CP-1", "A2") is None
    assert calls.get("CP-2", "A1") is None


def test_call_repository_second_open_before_deadline_is_refused(calls: CallRepository) -> None:
    # GIVEN a call in flight until T0+30s
    calls.open(sent("A1"), T0)
    # WHEN another is opened one second before that deadline
    with pytest.raises(CallInProgressError) as refused:
        calls.open(sent("A2", at=29), T0 + timedelta(seconds=29))
    # THEN it is refused, naming the outstanding call, and is not stored
    assert (refused.value.station_id, refused.value.outstanding_id) == ("CP-1", "A1")
    assert calls.get("CP-1", "A2") is None


def test_call_repository_open_after_deadline_or_answer_takes_the_slot(
    calls: CallRepository,
) -> None:
    # GIVEN a call never answered, and after its deadline a second one
    calls.open(sent("A1"), T0)
    second = sent("A2", at=30)
    calls.open(second, T0 + timedelta(seconds=30))
    # WHEN the second is answered and a third is opened at once
    assert calls.close(answered(second)) is True
    third = sent("A3", at=31)
    calls.open(third, T0 + timedelta(seconds=31))
    # THEN the third holds the slot: a fourth is refused because of it
    assert calls.get("CP-1", "A3") == third
    with pytest.raises(CallInProgressError) as refused:
        calls.open(sent("A4", at=32), T0 + timedelta(seconds=32))
    assert refused.value.outstanding_id == "A3"


def test_call_repository_slots_are_per_station(calls: CallRepository) -> None:
    # GIVEN a call in flight to CP-1
    calls.open(sent("A1"), T0)
    # WHEN a call is opened to CP-2 at the same time
    other = sent("A2", station_id="CP-2")
    # THEN both are in flight
    assert calls.open(other, T0) is True
    assert calls.get("CP-2", "A2") == other


def test_call_repository_close_stores_outcome_once(calls: CallRepository) -> None:
    # GIVEN a call in flight
    record = sent("A1")
    calls.open(record, T0)
    # WHEN it is closed, then closed again (a retransmitted answer), and an unknown one closed
    first = calls.close(answered(record))
    second = calls.close(record.ended(CommandState.FAILED, error_code="X"))
    ghost = calls.close(answered(sent("ghost")))
    # THEN only the first close counts
    assert (first, second, ghost) == (True, False, False)
    assert calls.get("CP-1", "A1") == answered(record)
    assert calls.get("CP-1", "ghost") is None


# -- the queue --------------------------------------------------------------------------------


def test_call_repository_queue_is_first_in_first_out(calls: CallRepository) -> None:
    # GIVEN an empty queue
    assert calls.head("CP-1") is None
    assert calls.has_queued("CP-1") is False
    # WHEN two commands are queued, in order
    first, second = queued("A1"), queued("A2", at=1)
    calls.add(first, RESET)
    calls.add(second, TRIGGER)
    # THEN the head is the first, with its command as given
    head = calls.head("CP-1")
    assert head is not None
    assert (head.record, head.command) == (first, RESET)
    assert calls.has_queued("CP-1") is True
    assert calls.has_queued("CP-2") is False
    # WHEN the first is sent (it leaves the queue as it takes the slot)
    assert calls.open(sent("A1", at=2), T0 + timedelta(seconds=2), from_queue=True) is True
    # THEN the second is the head, its command intact
    head = calls.head("CP-1")
    assert head is not None
    assert (head.record.id, head.command) == ("A2", TRIGGER)


def test_call_repository_open_from_queue_of_a_record_no_longer_queued_is_false(
    calls: CallRepository,
) -> None:
    # GIVEN a queued command that was cancelled
    calls.add(queued("A1"), RESET)
    assert calls.drop(queued("A1").ended(CommandState.CANCELLED)) is True
    # WHEN a delivery that read it earlier tries to send it
    taken = calls.open(sent("A1"), T0, from_queue=True)
    # THEN nothing is written: it stays cancelled, and the slot stays free
    assert taken is False
    stored = calls.get("CP-1", "A1")
    assert stored is not None
    assert stored.state is CommandState.CANCELLED
    assert calls.open(sent("A2"), T0) is True


def test_call_repository_open_from_queue_with_the_slot_taken_is_refused(
    calls: CallRepository,
) -> None:
    # GIVEN a call in flight and a queued command
    calls.open(sent("A1"), T0)
    calls.add(queued("A2"), RESET)
    # WHEN the queued command is sent before the first call ends
    with pytest.raises(CallInProgressError):
        calls.open(sent("A2"), T0, from_queue=True)
    # THEN it stays queued, at the head
    head = calls.head("CP-1")
    assert head is not None
    assert head.record == queued("A2")


def test_call_repository_requeue_puts_it_back_in_its_place(calls: CallRepository) -> None:
    # GIVEN two queued commands, the first taken for sending
    calls.add(queued("A1"), RESET)
    calls.add(queued("A2", at=1), TRIGGER)
    record = sent("A1", at=2)
    calls.open(record, T0 + timedelta(seconds=2), from_queue=True)
    # WHEN its connection turns out gone and it is requeued
    assert calls.requeue(record.requeued(), RESET) is True
    # THEN it is queued again, ahead of the second, and frees the slot
    head = calls.head("CP-1")
    assert head is not None
    assert (head.record.id, head.record.state, head.command) == ("A1", CommandState.QUEUED, RESET)
    assert calls.open(sent("A2", at=3), T0 + timedelta(seconds=3), from_queue=True) is True
    # AND a requeue of a record no longer pending is refused
    assert calls.requeue(record.requeued(), RESET) is False


def test_call_repository_drop_ends_a_queued_record_once(calls: CallRepository) -> None:
    # GIVEN a queued command
    record = queued("A1")
    calls.add(record, RESET)
    # WHEN it expires, then is cancelled
    expired = calls.drop(record.ended(CommandState.EXPIRED))
    cancelled = calls.drop(record.ended(CommandState.CANCELLED))
    # THEN only the first counts, and the queue is empty
    assert (expired, cancelled) == (True, False)
    stored = calls.get("CP-1", "A1")
    assert stored is not None
    assert stored.state is CommandState.EXPIRED
    assert calls.head("CP-1") is None


def test_call_repository_add_of_a_sent_record_does_not_queue_it(calls: CallRepository) -> None:
    # GIVEN nothing
    # WHEN a record that ended without being sent is added (no command to queue)
    failed = queued("A1").ended(CommandState.FAILED, error_code="NotSupported")
    calls.add(failed)
    # THEN it is stored, not queued
    assert calls.get("CP-1", "A1") == failed
    assert calls.has_queued("CP-1") is False


# -- history and list versions ----------------------------------------------------------------


def test_call_repository_history_is_newest_first_in_pages(calls: CallRepository) -> None:
    # GIVEN five records with time-ordered ids, one of another station
    ids = [new_command_id() for _ in range(5)]
    for n, command_id in enumerate(ids):
        calls.add(queued(command_id, station_id="CP-2" if n == 2 else "CP-1", at=n), RESET)
    # WHEN the station's history is read two at a time
    pages, cursor = [], None
    for _ in range(5):
        page = calls.history("CP-1", 2, cursor)
        pages.append([r.id for r in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    # THEN every record of the station comes once, newest first
    mine = [ids[4], ids[3], ids[1], ids[0]]
    assert [i for page in pages for i in page] == mine


def test_call_repository_history_leaves_out_what_keep_refuses(calls: CallRepository) -> None:
    # GIVEN records alternately queued and cancelled
    ids = [new_command_id() for _ in range(6)]
    for n, command_id in enumerate(ids):
        calls.add(queued(command_id, at=n), RESET)
        if n % 2:
            calls.drop(queued(command_id, at=n).ended(CommandState.CANCELLED))
    # WHEN only the cancelled ones are kept, two a page
    first = calls.history("CP-1", 2, keep=lambda r: r.state is CommandState.CANCELLED)
    rest = calls.history(
        "CP-1", 2, first.next_cursor, keep=lambda r: r.state is CommandState.CANCELLED
    )
    # THEN the cancelled ones come, newest first, across the pages
    assert [r.id for r in first.items + rest.items] == [ids[5], ids[3], ids[1]]


def test_call_repository_history_refuses_a_foreign_cursor(calls: CallRepository) -> None:
    # GIVEN a cursor of CP-1's history
    for n in range(3):
        calls.add(queued(new_command_id(), at=n), RESET)
    cursor = calls.history("CP-1", 1).next_cursor
    assert cursor is not None
    # WHEN it is used on CP-2's history, or made up
    # THEN it is refused
    with pytest.raises(InvalidCursorError):
        calls.history("CP-2", 1, cursor)
    with pytest.raises(InvalidCursorError):
        calls.history("CP-1", 1, "not-a-cursor")


def test_call_repository_list_versions_count_per_station(calls: CallRepository) -> None:
    # GIVEN no list sent yet
    # WHEN versions are drawn for two stations
    drawn = [calls.next_list_version("CP-1") for _ in range(3)]
    other = calls.next_list_version("CP-2")
    # THEN each station counts from 1
    assert (drawn, other) == ([1, 2, 3], 1)


def test_new_command_id_sorts_by_time_and_fits_a_unique_id() -> None:
    # GIVEN / WHEN ids made one after another
    ids = [new_command_id() for _ in range(50)]
    # THEN they are distinct, at most 36 characters (OCPP unique id), and sort by creation
    assert all(len(i) == 26 and i.isalnum() for i in ids)
    assert sorted(set(ids)) == ids
