"""The session and token repository contract, run on the in-memory fakes and on DynamoDB (moto).

The port docstrings in `csms.services.ports` are the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.contract.test_repository_contract import _outbox_published
from tests.fakes import (
    T0,
    InMemoryEventPublisher,
    InMemorySessionRepository,
    InMemoryTokenRepository,
)

from csms.adapters.dynamo_sessions import (
    DynamoSessionRepository,
    DynamoTokenRepository,
    decode_readings,
    encode_readings,
)
from csms.adapters.outbox import OutboxEncoder
from csms.domain.connector import EvseRef
from csms.domain.errors import DuplicateChunkError, InvalidCursorError, StaleSessionError
from csms.domain.events import TransactionEnded, TransactionStarted, TransactionUpdated
from csms.domain.meter import Measurand, Reading, Sample
from csms.domain.sessions import (
    ChargingState,
    EventType,
    MeterChunk,
    MeterMark,
    Session,
    SessionState,
    chunk_key_seq,
    chunk_key_status,
    new_session,
)
from csms.domain.station import ProtocolVersion
from csms.domain.tokens import (
    Authorization,
    AuthorizationStatus,
    IdToken,
    IdTokenType,
    PresentedToken,
    TokenStatus,
)
from csms.services.ports import (
    AuthorizationRecord,
    SessionQuery,
    SessionRepository,
    TokenRepository,
)

MEMORY, DYNAMO = "memory", "dynamo"


@dataclass
class Repos:
    kind: str
    sessions: SessionRepository
    tokens: TokenRepository
    published: Callable[[], list[str]]


@pytest.fixture(params=[MEMORY, DYNAMO])
def repos(request: pytest.FixtureRequest) -> Iterator[Repos]:
    if request.param == MEMORY:
        bus = InMemoryEventPublisher()
        yield Repos(
            MEMORY,
            InMemorySessionRepository(bus),
            InMemoryTokenRepository(),
            lambda: [e.detail_type for e in bus.events],
        )
        return
    table: str = request.getfixturevalue("dynamo_table")
    counter = iter(range(1, 1_000_000))
    yield Repos(
        DYNAMO,
        DynamoSessionRepository(OutboxEncoder(lambda: f"evt-{next(counter)}")),
        DynamoTokenRepository(),
        lambda: _outbox_published(table),
    )


def a_session(**over: Any) -> Session:
    values: dict[str, Any] = {
        "tenant_id": "tenant-a",
        "station_id": "CP-1",
        "transaction_id": "tx-1",
        "protocol": ProtocolVersion.OCPP201,
        "now": T0,
    }
    extra = {k: over.pop(k) for k in list(over) if k not in values}
    values.update(over)
    session = new_session(**values)
    defaults: dict[str, Any] = {
        "started_at": T0,
        "evse": EvseRef(evse_id=1, connector_id=1),
        "id_token": "TAG-1",
        "meter_start": MeterMark(wh=Decimal(1000), at=T0),
    }
    defaults.update(extra)
    return session.model_copy(update=defaults)


def a_chunk(session: Session, seq: int, wh: int, **over: Any) -> MeterChunk:
    at = T0 + timedelta(minutes=seq)
    values: dict[str, Any] = {
        "session_id": session.id,
        "key": chunk_key_seq(seq),
        "seq_no": seq,
        "event_type": EventType.UPDATED,
        "readings": (
            Reading(
                timestamp=at,
                samples=(
                    Sample(measurand=Measurand.ENERGY, value=Decimal(wh)),
                    Sample(measurand=Measurand.POWER, value=Decimal("7400.5")),
                    Sample(measurand=Measurand.CURRENT, value=Decimal(16), phase="L1"),
                ),
            ),
        ),
    }
    values.update(over)
    return MeterChunk(**values)


def started(session: Session) -> TransactionStarted:
    return TransactionStarted(
        station_id=session.station_id,
        tenant_id=session.tenant_id,
        occurred_at=T0,
        session_id=session.id,
        transaction_id=session.transaction_id,
        protocol=session.protocol,
    )


def test_session_create_then_load_returns_it_with_version_one(repos: Repos) -> None:
    # GIVEN a new session
    session = a_session()
    # WHEN it is created with its start event
    assert repos.sessions.create(session, events=[started(session)])
    # THEN it loads back equal, at version 1, with no chunk, and the event is published
    snapshot = repos.sessions.load(session.id)
    assert snapshot.session == session.model_copy(update={"version": 1})
    assert snapshot.newest is None
    assert repos.published() == ["TransactionStarted"]


def test_session_create_twice_is_refused_and_changes_nothing(repos: Repos) -> None:
    # GIVEN a stored session
    session = a_session()
    assert repos.sessions.create(session)
    # WHEN the same id is created again with other data
    again = repos.sessions.create(session.model_copy(update={"id_token": "OTHER"}))
    # THEN it is refused and the first stays
    assert again is False
    stored = repos.sessions.get(session.id)
    assert stored is not None
    assert stored.id_token == "TAG-1"


def test_session_create_with_start_key_is_refused_when_the_key_exists(repos: Repos) -> None:
    # GIVEN a session created with a start key
    first = a_session(transaction_id="1", ocpp16_id=1, protocol=ProtocolVersion.OCPP16)
    assert repos.sessions.create(first, start_key="k-1")
    # WHEN another transaction id is created with the same start key (a concurrent resend)
    second = a_session(transaction_id="2", ocpp16_id=2, protocol=ProtocolVersion.OCPP16)
    created = repos.sessions.create(second, start_key="k-1")
    # THEN it is refused, nothing of it is stored, and the key names the first session
    assert created is False
    assert repos.sessions.get(second.id) is None
    assert repos.sessions.find_start("CP-1", "k-1") == first.id
    assert repos.sessions.find_start("CP-1", "k-2") is None


def test_session_create_with_existing_chunk_raises_duplicate(repos: Repos) -> None:
    # GIVEN a chunk stored before its session exists (an out-of-order 2.0.1 event)
    session = a_session()
    chunk = a_chunk(session, 3, 1500)
    assert repos.sessions.add_chunk("tenant-a", chunk)
    # WHEN the session is created with that same chunk
    # THEN the duplicate is reported and no session is stored
    with pytest.raises(DuplicateChunkError):
        repos.sessions.create(session, chunk=chunk)
    assert repos.sessions.get(session.id) is None


def test_session_save_on_the_read_version_bumps_it(repos: Repos) -> None:
    # GIVEN a stored session, read
    repos.sessions.create(a_session())
    read = repos.sessions.get(a_session().id)
    assert read is not None
    # WHEN it is saved with a change
    repos.sessions.save(read.model_copy(update={"charging_state": ChargingState.CHARGING}))
    # THEN the change is stored at the next version
    stored = repos.sessions.get(read.id)
    assert stored is not None
    assert stored.version == read.version + 1
    assert stored.charging_state == "Charging"


def test_session_save_on_a_stale_version_raises_and_keeps_the_newer(repos: Repos) -> None:
    # GIVEN a session read twice, and the first copy saved
    repos.sessions.create(a_session())
    first = repos.sessions.get(a_session().id)
    second = repos.sessions.get(a_session().id)
    assert first is not None
    assert second is not None
    repos.sessions.save(first.model_copy(update={"id_token": "WINNER"}))
    # WHEN the second copy is saved
    # THEN it is stale and the first write stays
    with pytest.raises(StaleSessionError):
        repos.sessions.save(second.model_copy(update={"id_token": "LOSER"}))
    stored = repos.sessions.get(first.id)
    assert stored is not None
    assert stored.id_token == "WINNER"


def test_session_save_with_chunk_is_atomic(repos: Repos) -> None:
    # GIVEN a stored session with one chunk
    session = a_session()
    repos.sessions.create(session)
    read = repos.sessions.get(session.id)
    assert read is not None
    chunk = a_chunk(session, 1, 1100)
    repos.sessions.save(read, chunk=chunk)
    # WHEN the session is saved again with the same chunk (a retransmission)
    again = repos.sessions.get(session.id)
    assert again is not None
    with pytest.raises(DuplicateChunkError):
        repos.sessions.save(again.model_copy(update={"id_token": "X"}), chunk=chunk)
    # THEN neither the session nor the chunk changed
    stored = repos.sessions.get(session.id)
    assert stored is not None
    assert stored.id_token == "TAG-1"
    assert stored.version == again.version
    # AND a stale save with a new chunk writes neither
    with pytest.raises(StaleSessionError):
        repos.sessions.save(read, chunk=a_chunk(session, 2, 1200))
    assert [c.key for c in repos.sessions.chunks(session.id, 10).items] == [chunk.key]


def test_session_load_returns_the_newest_chunk_and_chunks_page_oldest_first(repos: Repos) -> None:
    # GIVEN a session and chunks written out of order
    session = a_session()
    repos.sessions.create(session)
    for seq, wh in ((3, 1300), (1, 1100), (2, 1200)):
        assert repos.sessions.add_chunk("tenant-a", a_chunk(session, seq, wh))
    # WHEN loading and paging through the chunks
    snapshot = repos.sessions.load(session.id)
    first = repos.sessions.chunks(session.id, 2)
    assert first.next_cursor is not None
    second = repos.sessions.chunks(session.id, 2, first.next_cursor)
    # THEN the newest chunk comes with the session, readings intact, and pages are in order
    assert snapshot.newest == a_chunk(session, 3, 1300)
    assert snapshot.newest is not None
    assert snapshot.newest.register == MeterMark(wh=Decimal(1300), at=T0 + timedelta(minutes=3))
    assert [c.seq_no for c in first.items + second.items] == [1, 2, 3]


def test_session_chunks_keep_their_charging_state_and_status_chunks_are_never_newest(
    repos: Repos,
) -> None:
    # GIVEN a session, a 2.0.1 chunk that reported SuspendedEV, and a 1.6 status chunk (no
    # readings) whose key sorts before the meter chunks
    session = a_session()
    repos.sessions.create(session)
    suspended = a_chunk(
        session,
        2,
        1200,
        charging_state=ChargingState.SUSPENDED_EV,
        state_at=T0 + timedelta(minutes=2),
    )
    status = MeterChunk(
        session_id=session.id,
        key=chunk_key_status(T0 + timedelta(minutes=5), ChargingState.CHARGING),
        charging_state=ChargingState.CHARGING,
        state_at=T0 + timedelta(minutes=5),
    )
    # WHEN stored and read back
    assert repos.sessions.add_chunk("tenant-a", suspended)
    assert repos.sessions.add_chunk("tenant-a", status)
    chunks = repos.sessions.chunks(session.id, 10).items
    # THEN both keep their state and its time, the status chunk first; the newest is the meter
    assert chunks == [status, suspended]
    assert repos.sessions.load(session.id).newest == suspended


def test_session_add_chunk_twice_is_refused_and_publishes_once(repos: Repos) -> None:
    # GIVEN a session
    session = a_session()
    repos.sessions.create(session)
    update = TransactionUpdated(
        station_id="CP-1",
        tenant_id="tenant-a",
        occurred_at=T0,
        session_id=session.id,
        transaction_id=session.transaction_id,
    )
    # WHEN one chunk is added twice, each time with an event
    assert repos.sessions.add_chunk("tenant-a", a_chunk(session, 1, 1100), events=[update])
    assert not repos.sessions.add_chunk("tenant-a", a_chunk(session, 1, 1100), events=[update])
    # THEN the event went out once
    assert repos.published() == ["TransactionUpdated"]


def test_session_counter_never_repeats(repos: Repos) -> None:
    # GIVEN / WHEN numbers are drawn
    numbers = [repos.sessions.next_transaction_number() for _ in range(5)]
    # THEN they are distinct and growing
    assert numbers == sorted(set(numbers))
    assert numbers[0] >= 1


def test_session_lists_filter_and_paginate_newest_first(repos: Repos) -> None:
    # GIVEN sessions of two tenants, stations, tokens and states
    made = []
    for n in range(6):
        session = a_session(
            transaction_id=f"tx-{n}",
            station_id="CP-1" if n % 2 else "CP-2",
            site_id="site-1",
            started_at=T0 + timedelta(minutes=n),
            id_token="tag-a" if n < 3 else "TAG-B",
            group_id="fleet" if n % 3 == 0 else None,
            state=SessionState.ENDED if n == 5 else SessionState.ACTIVE,
        )
        repos.sessions.create(session)
        made.append(session)
    repos.sessions.create(a_session(tenant_id="tenant-b", transaction_id="other"))
    ids = [s.id for s in made]

    def all_of(query: SessionQuery, limit: int = 2) -> list[str]:
        found: list[str] = []
        cursor = None
        while True:
            page = repos.sessions.list("tenant-a", query, limit, cursor)
            found += [s.id for s in page.items]
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    # WHEN listing with each filter, two at a time
    # THEN each list holds the tenant's matching sessions only, newest start first
    assert all_of(SessionQuery()) == ids[::-1]
    assert all_of(SessionQuery(station_id="CP-1")) == [ids[5], ids[3], ids[1]]
    assert all_of(SessionQuery(id_token="TAG-A")) == [ids[2], ids[1], ids[0]]
    assert all_of(SessionQuery(group_id="fleet")) == [ids[3], ids[0]]
    assert all_of(SessionQuery(state=SessionState.ENDED)) == [ids[5]]
    assert all_of(SessionQuery(site_id="site-2")) == []
    window = SessionQuery(
        started_from=T0 + timedelta(minutes=1), started_to=T0 + timedelta(minutes=4)
    )
    assert all_of(window, limit=10) == [ids[3], ids[2], ids[1]]
    assert all_of(SessionQuery(started_from=T0 + timedelta(minutes=4))) == [ids[5], ids[4]]
    assert all_of(SessionQuery(started_to=T0 + timedelta(minutes=1))) == [ids[0]]


def test_session_list_refuses_a_foreign_cursor(repos: Repos) -> None:
    # GIVEN a page of tenant-a's sessions
    for n in range(3):
        repos.sessions.create(a_session(transaction_id=f"tx-{n}"))
    page = repos.sessions.list("tenant-a", SessionQuery(), 1)
    assert page.next_cursor is not None
    # WHEN its cursor is used for another tenant, or garbled
    # THEN it is refused
    with pytest.raises(InvalidCursorError):
        repos.sessions.list("tenant-b", SessionQuery(), 1, page.next_cursor)
    with pytest.raises(InvalidCursorError):
        repos.sessions.list("tenant-a", SessionQuery(), 1, "not-a-cursor")


def test_session_active_for_token_and_open_sessions(repos: Repos) -> None:
    # GIVEN an active and an ended session of one token, and another tenant's
    active = a_session(transaction_id="a", id_token="Tag-1")
    ended = a_session(transaction_id="b", id_token="TAG-1", state=SessionState.ENDED)
    other = a_session(transaction_id="c", tenant_id="tenant-b", id_token="TAG-1")
    for session in (active, ended, other):
        repos.sessions.create(session)
    # WHEN asking for the token's active sessions and for every open session
    busy = repos.sessions.active_for_token("tenant-a", "tag-1")
    open_ids = {s.id for s in repos.sessions.open_sessions(10).items}
    # THEN only the active one of the tenant is busy; open sessions span tenants
    assert [s.id for s in busy] == [active.id]
    assert open_ids == {active.id, other.id}
    # AND ending it takes it out of both
    read = repos.sessions.get(active.id)
    assert read is not None
    repos.sessions.save(read.model_copy(update={"state": SessionState.ENDED}))
    assert repos.sessions.active_for_token("tenant-a", "TAG-1") == []
    assert {s.id for s in repos.sessions.open_sessions(10).items} == {other.id}


def test_session_record_authorization_once_per_message(repos: Repos) -> None:
    # GIVEN an Authorize message record
    record = AuthorizationRecord(
        tenant_id="tenant-a",
        station_id="CP-1",
        unique_id="u-1",
        token=PresentedToken(value="TAG-1", type=IdTokenType.ISO14443),
        authorization=Authorization(status=AuthorizationStatus.ACCEPTED),
        at=T0,
    )
    ended = TransactionEnded(
        station_id="CP-1",
        tenant_id="tenant-a",
        occurred_at=T0,
        session_id="s",
        transaction_id="t",
        revision=1,
    )
    # WHEN it is recorded twice
    # THEN the second time is recognised and nothing is published again
    assert repos.sessions.record_authorization(record, events=[ended])
    assert not repos.sessions.record_authorization(record, events=[ended])
    assert repos.published() == ["TransactionEnded"]


def test_session_station_readings_are_kept_idempotently(repos: Repos) -> None:
    # GIVEN / WHEN the same connector-0 readings are stored twice
    reading = a_chunk(a_session(), 1, 5000).readings[0]
    evse = EvseRef(evse_id=0, connector_id=0)
    repos.sessions.put_station_readings("tenant-a", "CP-1", evse, [reading])
    repos.sessions.put_station_readings("tenant-a", "CP-1", evse, [reading])
    # THEN nothing breaks (the memory fake keeps one copy; DynamoDB overwrites one item)
    if isinstance(repos.sessions, InMemorySessionRepository):
        assert len(repos.sessions.station_readings) == 1


def test_token_create_get_replace_list(repos: Repos) -> None:
    # GIVEN a token
    token = IdToken(
        id_token="Tag-1",
        type=IdTokenType.ISO14443,
        expires_at=T0 + timedelta(days=30),
        group_id="fleet",
        parent_id_token="PARENT-1",
    )
    # WHEN created, created again in another case, read in any case, replaced, listed
    assert repos.tokens.create("tenant-a", token, T0)
    assert not repos.tokens.create("tenant-a", token.model_copy(update={"id_token": "TAG-1"}), T0)
    stored = token.model_copy(update={"version": 1})
    assert repos.tokens.get("tenant-a", "tag-1") == stored
    assert repos.tokens.get("tenant-b", "TAG-1") is None
    blocked = stored.model_copy(update={"status": TokenStatus.BLOCKED})
    assert repos.tokens.replace("tenant-a", blocked, T0)
    # (a replacement over a version no longer stored changes nothing)
    assert not repos.tokens.replace("tenant-a", token.model_copy(update={"version": 1}), T0)
    repos.tokens.create("tenant-a", IdToken(id_token="TAG-0"), T0)
    repos.tokens.create("tenant-b", IdToken(id_token="TAG-9"), T0)
    first = repos.tokens.list("tenant-a", 1)
    assert first.next_cursor is not None
    second = repos.tokens.list("tenant-a", 1, first.next_cursor)
    # THEN the token keeps its case, the replacement wins, and lists stay in their tenant
    assert repos.tokens.get("tenant-a", "TAG-1") == blocked.model_copy(update={"version": 2})
    assert [t.id_token for t in first.items + second.items] == ["TAG-0", "Tag-1"]
    assert (
        second.next_cursor is None or not repos.tokens.list("tenant-a", 1, second.next_cursor).items
    )


def test_readings_round_trip_through_the_compact_encoding() -> None:
    # GIVEN readings with phases, contexts and decimals
    readings = a_chunk(a_session(), 1, 1234).readings
    # WHEN encoded and decoded
    encoded = encode_readings(readings)
    # THEN they come back equal and the encoding is small
    assert decode_readings(encoded) == readings
    assert decode_readings(None) == ()
    assert len(encoded) < 200
