"""One contract suite for the notification ports, run against the in-memory fakes and against the
DynamoDB adapters on moto (table from the synthesized template). The port docstrings in
`csms.services.ports` are the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pynamodb.exceptions import PutError, TransactWriteError
from tests.fakes import T0, InMemoryChargingNeedsRepository, InMemoryStationNoteRepository

from csms.adapters.dynamo import station_pk
from csms.adapters.dynamo_models import ChargingNeedsItem, StationNoteItem, configure_table
from csms.adapters.dynamo_notifications import (
    NOTE_RETENTION,
    DynamoChargingNeedsRepository,
    DynamoStationNoteRepository,
    latest_sk,
    needs_sk,
    note_sk,
)
from csms.domain.errors import InvalidCursorError
from csms.domain.notifications import (
    RETRANSMISSION_WINDOW,
    ChargingNeeds,
    EnergyTransferMode,
    NoteKind,
    StationNote,
    fingerprint,
)
from csms.services.ports import ChargingNeedsRepository, Page, StationNoteRepository
from csms_local import emulation

MEMORY, DYNAMO = "memory", "dynamo"


@dataclass
class Repos:
    """One implementation of each notification port, and a probe of the stored tenant."""

    kind: str
    notes: StationNoteRepository
    needs: ChargingNeedsRepository
    # (station, which item: "note" sort key or "needs" EVSE) -> tenant id stored with it
    tenant_of: Callable[[str, str], str | None]


def _memory() -> Repos:
    notes = InMemoryStationNoteRepository()
    needs = InMemoryChargingNeedsRepository()
    return Repos(
        kind=MEMORY,
        notes=notes,
        needs=needs,
        tenant_of=lambda station, _: notes.tenants.get(station) or needs.tenants.get(station),
    )


def _dynamo_tenant(station_id: str, sort_key: str) -> str | None:
    model = ChargingNeedsItem if sort_key.startswith("NEEDS#") else StationNoteItem
    return model.get(station_pk(station_id), sort_key, consistent_read=True).tenant_id


def _dynamo() -> Repos:
    return Repos(
        kind=DYNAMO,
        notes=DynamoStationNoteRepository(),
        needs=DynamoChargingNeedsRepository(),
        tenant_of=_dynamo_tenant,
    )


@pytest.fixture(params=[MEMORY, DYNAMO])
def repos(request: pytest.FixtureRequest) -> Repos:
    if request.param == DYNAMO:
        request.getfixturevalue("dynamo_table")
        return _dynamo()
    return _memory()


def a_note(**over: Any) -> StationNote:
    values: dict[str, Any] = {
        "kind": NoteKind.FIRMWARE_STATUS,
        "at": T0,
        "received_at": T0,
        "unique_id": "u-1",
        "status": "Installing",
    }
    values.update(over)
    values.setdefault("fingerprint", fingerprint(values["unique_id"], values.get("status")))
    return StationNote(**values)


def _all_pages(fetch: Callable[[str | None], Page[Any]], limit: int) -> list[list[Any]]:
    pages: list[list[Any]] = []
    cursor: str | None = None
    for _ in range(50):
        page = fetch(cursor)
        assert len(page.items) <= limit
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return pages
    pytest.fail("paging did not end")


# -- StationNoteRepository ----------------------------------------------------------------------


def test_note_repository_empty_has_no_latest_and_no_notes(repos: Repos) -> None:
    # GIVEN an empty repository
    # WHEN a station's notes are read
    # THEN there are none
    assert repos.notes.latest("CP-1", NoteKind.FIRMWARE_STATUS) is None
    assert repos.notes.list("CP-1", NoteKind.FIRMWARE_STATUS, 10) == Page(items=[])


def test_note_repository_record_keeps_every_field_and_the_latest_without_detail(
    repos: Repos,
) -> None:
    # GIVEN a note with every field set
    note = a_note(
        kind=NoteKind.CHARGING_PROFILES,
        at=T0 - timedelta(seconds=5),
        subject="CSO",
        name="n",
        evse_id=99_999,
        reference=-(2**31),
        seq_no=2**31 - 1,
        tbc=True,
        info="Café ⚡",
        detail='[{"id":1}]',
        truncated=True,
    )
    # WHEN it is recorded
    recorded = repos.notes.record("CP-1", "tenant-a", note)
    # THEN it is in the log as it was, and is the latest of its kind, less the detail
    assert recorded
    assert repos.notes.list("CP-1", NoteKind.CHARGING_PROFILES, 10).items == [note]
    assert repos.notes.latest("CP-1", NoteKind.CHARGING_PROFILES) == note.without_detail()
    assert repos.tenant_of("CP-1", note_sk(note)) == "tenant-a"
    assert repos.tenant_of("CP-1", latest_sk(note.kind)) == "tenant-a"


def test_note_repository_keeps_a_minimal_note_and_empty_strings(repos: Repos) -> None:
    # GIVEN a note with nothing optional, and one whose strings are empty (1.6 allows "")
    bare = StationNote(
        kind=NoteKind.DATA_TRANSFER,
        at=T0,
        received_at=T0,
        unique_id="1",
        fingerprint="f1",
    )
    empty = bare.model_copy(
        update={
            "fingerprint": "f2",
            "subject": "",
            "name": "",
            "detail": '""',
            "at": T0 + timedelta(1),
        }
    )
    # WHEN both are recorded
    assert repos.notes.record("CP-1", "tenant-a", bare)
    assert repos.notes.record("CP-1", "tenant-a", empty)
    # THEN both read back exactly
    assert repos.notes.list("CP-1", NoteKind.DATA_TRANSFER, 10).items == [empty, bare]


def test_note_repository_retransmission_changes_nothing(repos: Repos) -> None:
    # GIVEN a recorded note
    first = a_note()
    repos.notes.record("CP-1", "tenant-a", first)
    # WHEN the same message arrives again within the window (received later, same fingerprint)
    again = a_note(received_at=T0 + RETRANSMISSION_WINDOW, at=T0 + RETRANSMISSION_WINDOW)
    recorded = repos.notes.record("CP-1", "tenant-a", again)
    # THEN it is refused, and the log and the latest are as before
    assert not recorded
    assert repos.notes.list("CP-1", NoteKind.FIRMWARE_STATUS, 10).items == [first]
    assert repos.notes.latest("CP-1", NoteKind.FIRMWARE_STATUS) == first.without_detail()


def test_note_repository_same_message_after_the_window_is_a_new_note(repos: Repos) -> None:
    # GIVEN a recorded note
    repos.notes.record("CP-1", "tenant-a", a_note())
    # WHEN the same id and content arrive after the window (an id reused on a later connection)
    later = T0 + RETRANSMISSION_WINDOW + timedelta(microseconds=1)
    recorded = repos.notes.record("CP-1", "tenant-a", a_note(received_at=later, at=later))
    # THEN it is a note of its own, and the latest
    assert recorded
    assert len(repos.notes.list("CP-1", NoteKind.FIRMWARE_STATUS, 10).items) == 2
    latest = repos.notes.latest("CP-1", NoteKind.FIRMWARE_STATUS)
    assert latest is not None
    assert latest.received_at == later


def test_note_repository_a_retransmission_of_an_older_message_is_a_new_note(repos: Repos) -> None:
    # GIVEN two messages recorded, A then B
    repos.notes.record("CP-1", "tenant-a", a_note(unique_id="A"))
    repos.notes.record("CP-1", "tenant-a", a_note(unique_id="B", at=T0 + timedelta(seconds=1)))
    # WHEN A arrives again (only the latest of a kind is compared: stations send one CALL at a
    # time, so a retransmission always follows its original directly)
    recorded = repos.notes.record(
        "CP-1", "tenant-a", a_note(unique_id="A", at=T0 + timedelta(seconds=2))
    )
    # THEN it is recorded
    assert recorded


def test_note_repository_latest_is_per_kind_and_per_station(repos: Repos) -> None:
    # GIVEN firmware, log and event notes of two stations; Event and EVChargingSchedule share a
    # prefix
    repos.notes.record("CP-1", "tenant-a", a_note(status="Installing"))
    repos.notes.record("CP-1", "tenant-a", a_note(kind=NoteKind.LOG_STATUS, status="Uploading"))
    repos.notes.record("CP-2", "tenant-b", a_note(status="Installed"))
    repos.notes.record("CP-1", "tenant-a", a_note(kind=NoteKind.EVENT, status=None))
    repos.notes.record(
        "CP-1", "tenant-a", a_note(kind=NoteKind.EV_CHARGING_SCHEDULE, status=None, unique_id="2")
    )
    # WHEN the latest of each is read
    firmware = repos.notes.latest("CP-1", NoteKind.FIRMWARE_STATUS)
    log = repos.notes.latest("CP-1", NoteKind.LOG_STATUS)
    other = repos.notes.latest("CP-2", NoteKind.FIRMWARE_STATUS)
    # THEN each is its own; each list holds its kind only
    assert (firmware and firmware.status, log and log.status, other and other.status) == (
        "Installing",
        "Uploading",
        "Installed",
    )
    events = repos.notes.list("CP-1", NoteKind.EVENT, 10).items
    assert [note.kind for note in events] == [NoteKind.EVENT]
    assert repos.tenant_of("CP-2", latest_sk(NoteKind.FIRMWARE_STATUS)) == "tenant-b"


def test_note_repository_lists_newest_first_across_pages(repos: Repos) -> None:
    # GIVEN seven notes, recorded out of order, at times from year 1 to year 9999
    times = [
        datetime(2026, 11, 24, 8, 0, 0, 500_000, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 11, 24, 8, 0, 0, tzinfo=UTC),
        datetime(999, 5, 1, tzinfo=UTC),
        datetime(2026, 11, 24, 9, tzinfo=UTC),
        datetime(2026, 11, 23, tzinfo=UTC),
    ]
    for number, at in enumerate(times):
        repos.notes.record(
            "CP-1", "tenant-a", a_note(kind=NoteKind.SECURITY_EVENT, at=at, unique_id=str(number))
        )
    # WHEN they are listed three at a time, following the cursors
    pages = _all_pages(
        lambda cursor: repos.notes.list("CP-1", NoteKind.SECURITY_EVENT, 3, cursor), 3
    )
    # THEN every note comes once, newest first
    listed = [note.at for page in pages for note in page]
    assert listed == sorted(times, reverse=True)


def test_note_repository_cursor_of_another_station_or_kind_is_invalid(repos: Repos) -> None:
    # GIVEN a cursor handed out while listing CP-1's firmware notes
    for number in range(3):
        for station in ("CP-1", "CP-2"):
            repos.notes.record(
                station, "tenant-a", a_note(unique_id=str(number), at=T0 + timedelta(number))
            )
    cursor = repos.notes.list("CP-1", NoteKind.FIRMWARE_STATUS, 1).next_cursor
    assert cursor is not None
    # WHEN it is used for another station or another kind
    # THEN it is refused
    with pytest.raises(InvalidCursorError):
        repos.notes.list("CP-2", NoteKind.FIRMWARE_STATUS, 1, cursor)
    with pytest.raises(InvalidCursorError):
        repos.notes.list("CP-1", NoteKind.LOG_STATUS, 1, cursor)


def test_dynamo_note_expires_after_retention_and_latest_never(dynamo_table: str) -> None:
    # GIVEN a note of a station whose clock says year 1
    notes = DynamoStationNoteRepository()
    note = a_note(at=datetime(1, 1, 1, tzinfo=UTC))
    # WHEN it is recorded
    notes.record("CP-1", "tenant-a", note)
    # THEN the note expires by the time it was received, the latest of its kind never
    item = StationNoteItem.get(station_pk("CP-1"), note_sk(note))
    assert item.expires_at == int((T0 + NOTE_RETENTION).timestamp())
    assert StationNoteItem.get(station_pk("CP-1"), latest_sk(note.kind)).expires_at is None
    assert NOTE_RETENTION.days == 90


# -- ChargingNeedsRepository --------------------------------------------------------------------


def a_needs(**over: Any) -> ChargingNeeds:
    values: dict[str, Any] = {
        "evse_id": 1,
        "requested_transfer": EnergyTransferMode.AC_THREE_PHASE,
        "departure_time": T0 + timedelta(hours=8),
        "energy_amount_wh": 30_000,
        "ev_max_current_a": 16,
        "received_at": T0,
    }
    values.update(over)
    return ChargingNeeds(**values)


def test_needs_repository_put_then_get_returns_them(repos: Repos) -> None:
    # GIVEN needs of EVSE 1
    needs = a_needs()
    # WHEN they are put
    stored = repos.needs.put("CP-1", "tenant-a", needs)
    # THEN they read back as put, with the tenant
    assert stored
    assert repos.needs.get("CP-1", 1) == needs
    assert repos.needs.get("CP-1", 2) is None
    assert repos.needs.get("CP-2", 1) is None
    assert repos.tenant_of("CP-1", needs_sk(1)) == "tenant-a"


def test_needs_repository_newer_replace_older_never_the_reverse(repos: Repos) -> None:
    # GIVEN needs received at T0 + 1 min
    newer = a_needs(received_at=T0 + timedelta(minutes=1), energy_amount_wh=1)
    repos.needs.put("CP-1", "tenant-a", newer)
    # WHEN older needs arrive late, then needs of the same instant, then later ones
    older = repos.needs.put("CP-1", "tenant-a", a_needs(energy_amount_wh=2))
    same = repos.needs.put("CP-1", "tenant-a", newer.model_copy(update={"energy_amount_wh": 3}))
    # THEN the older change nothing; the same instant replaces (a retransmission is harmless)
    assert not older
    assert same
    held = repos.needs.get("CP-1", 1)
    assert held is not None
    assert held.energy_amount_wh == 3


def test_needs_repository_refuses_a_retransmission_of_the_same_call(repos: Repos) -> None:
    # GIVEN needs told in CALL n-1
    first = a_needs(message_id="n-1")
    assert repos.needs.put("CP-1", "tenant-a", first)
    # WHEN the same CALL is handled again a moment later, then a new CALL arrives
    again = repos.needs.put(
        "CP-1", "tenant-a", first.model_copy(update={"received_at": T0 + timedelta(seconds=30)})
    )
    new = a_needs(message_id="n-2", received_at=T0 + timedelta(minutes=1), energy_amount_wh=9)
    # THEN the retransmission changes nothing, the new CALL replaces the needs
    assert not again
    assert repos.needs.get("CP-1", 1) == first
    assert repos.needs.put("CP-1", "tenant-a", new)
    assert repos.needs.get("CP-1", 1) == new


def test_needs_repository_lists_every_evse_by_id(repos: Repos) -> None:
    # GIVEN needs of EVSEs 10, 2 and 1 of CP-1, and of CP-2
    for evse in (10, 2, 1):
        repos.needs.put("CP-1", "tenant-a", a_needs(evse_id=evse, departure_time=None))
    repos.needs.put("CP-2", "tenant-a", a_needs())
    # WHEN CP-1's are listed
    listed = repos.needs.list("CP-1")
    # THEN they come by EVSE id, only CP-1's
    assert [needs.evse_id for needs in listed] == [1, 2, 10]
    assert repos.needs.list("CP-3") == []


def test_needs_repository_refuses_needs_without_their_receipt_time(repos: Repos) -> None:
    # GIVEN / WHEN needs without received_at are put / THEN it is a programming error
    with pytest.raises(ValueError, match="received_at"):
        repos.needs.put("CP-1", "tenant-a", a_needs(received_at=None))


@pytest.mark.parametrize(
    ("departure", "expires"),
    [
        (None, T0 + timedelta(days=1)),
        (T0 - timedelta(hours=1), T0 + timedelta(days=1)),
        (T0 + timedelta(hours=30), T0 + timedelta(hours=54)),
        (datetime(9999, 12, 31, tzinfo=UTC), T0 + timedelta(days=31)),
    ],
    ids=["no-departure", "departure-passed", "departure-ahead", "departure-absurd"],
)
def test_dynamo_needs_expire_a_day_after_departure_at_most_a_month_on(
    dynamo_table: str, departure: datetime | None, expires: datetime
) -> None:
    # GIVEN needs with this departure time
    # WHEN they are put
    DynamoChargingNeedsRepository().put("CP-1", "t", a_needs(departure_time=departure))
    # THEN they expire a day after departure (or receipt), never more than a month on
    item = ChargingNeedsItem.get(station_pk("CP-1"), needs_sk(1))
    assert item.expires_at == int(expires.timestamp())


def test_dynamo_failures_other_than_a_condition_are_raised(dynamo_table: str) -> None:
    # GIVEN adapters pointed at a table that does not exist
    configure_table("no-such-table", emulation.REGION)
    try:
        # WHEN they write
        # THEN DynamoDB's error reaches the caller (the station gets InternalError and retries)
        with pytest.raises(TransactWriteError):
            DynamoStationNoteRepository().record("CP-1", "t", a_note())
        with pytest.raises(PutError):
            DynamoChargingNeedsRepository().put("CP-1", "t", a_needs())
    finally:
        configure_table(dynamo_table, emulation.REGION)
