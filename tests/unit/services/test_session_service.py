"""SessionService on the in-memory fakes: authorize, both versions' transactions, exactly once."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from tests.conftest import World
from tests.fakes import T0, a_binding

from csms.domain.connector import EvseRef
from csms.domain.errors import SessionNotFoundError, StaleSessionError
from csms.domain.events import (
    DomainEvent,
    TokenAuthorized,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from csms.domain.meter import AnomalyKind, Measurand, RawReading, RawSample
from csms.domain.sessions import (
    ChargingState,
    EventType,
    MeterMark,
    Session,
    SessionState,
    StopReason,
    session_id,
)
from csms.domain.station import ProtocolVersion
from csms.domain.tokens import AuthorizationStatus, IdToken, IdTokenType, PresentedToken
from csms.services.ports import SessionQuery
from csms.services.sessions import (
    MeterValuesRequest,
    SessionService,
    StartTransactionRequest,
    StopTransactionRequest,
    TransactionEventRequest,
)

E = TypeVar("E", bound=DomainEvent)

V16 = a_binding(protocol=ProtocolVersion.OCPP16, site_id="site-1")
V16_CP2 = a_binding(protocol=ProtocolVersion.OCPP16, station_id="CP-2", connection_id="conn-2")
V201 = a_binding(site_id="site-1")
EVSE1 = EvseRef(evse_id=1, connector_id=1)
EVSE2 = EvseRef(evse_id=2, connector_id=1)
CARD = PresentedToken(value="CARD-1")
CARD_201 = PresentedToken(value="CARD-1", type=IdTokenType.ISO14443)
TX = "TX-201"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def of_type(world: World, kind: type[E]) -> list[E]:
    return [e for e in world.events.events if isinstance(e, kind)]


def with_tokens(world: World, *values: str) -> None:
    for value in values or ("CARD-1",):
        world.tokens.create("tenant-a", IdToken(id_token=value, group_id="fleet"), T0)


def raw(minutes: float, wh: int | str, unit: str = "Wh", **extra: Any) -> RawReading:
    samples = [RawSample(value=str(wh), unit=unit)]
    if "power" in extra:
        samples.append(RawSample(value=str(extra["power"]), measurand="Power.Active.Import"))
    samples += extra.get("more", [])
    return RawReading(timestamp=at(minutes), samples=tuple(samples))


def a_start(**over: Any) -> StartTransactionRequest:
    values: dict[str, Any] = {
        "evse": EVSE1,
        "token": CARD,
        "meter_start_wh": Decimal(1000),
        "timestamp": T0,
    }
    values.update(over)
    return StartTransactionRequest(**values)


def a_stop(transaction_id: int, **over: Any) -> StopTransactionRequest:
    values: dict[str, Any] = {
        "transaction_id": transaction_id,
        "meter_stop_wh": Decimal(5000),
        "timestamp": at(90),
        "reason": StopReason.EV_DISCONNECTED,
    }
    values.update(over)
    return StopTransactionRequest(**values)


def meter(
    transaction_id: int | str | None, *readings: RawReading, evse: EvseRef = EVSE1
) -> MeterValuesRequest:
    return MeterValuesRequest(
        evse=evse,
        readings=readings,
        transaction_id=str(transaction_id) if transaction_id is not None else None,
    )


def event(kind: EventType, seq_no: int, minutes: float, **over: Any) -> TransactionEventRequest:
    values: dict[str, Any] = {
        "event_type": kind,
        "timestamp": at(minutes),
        "seq_no": seq_no,
        "transaction_id": TX,
        "trigger_reason": "MeterValuePeriodic",
    }
    values.update(over)
    return TransactionEventRequest(**values)


def stored(world: World, station_id: str, transaction_id: str) -> Session:
    session = world.sessions_repo.get(session_id(station_id, transaction_id))
    assert session is not None
    return session


def kinds(session: Session) -> list[AnomalyKind]:
    return [a.kind for a in session.anomalies]


def started_16(world: World, **over: Any) -> int:
    with_tokens(world)
    return world.sessions.start_transaction(V16, a_start(**over)).transaction_id


# -- Authorize ---------------------------------------------------------------------------------


def test_authorize_known_token_is_accepted_and_published_once_per_unique_id(world: World) -> None:
    # GIVEN a known token
    with_tokens(world)
    # WHEN a station asks twice under one unique id (a retransmission), then under another
    first = world.sessions.authorize(V16, "u-1", CARD)
    again = world.sessions.authorize(V16, "u-1", CARD)
    other = world.sessions.authorize(V16, "u-2", PresentedToken(value="card-1"))
    # THEN every answer is Accepted with the token's group
    assert first == again == other
    assert first.status is AuthorizationStatus.ACCEPTED
    assert first.group_id == "fleet"
    # AND TokenAuthorized is published once per unique id
    published = of_type(world, TokenAuthorized)
    assert [(e.id_token, e.status, e.group_id) for e in published] == [
        ("CARD-1", AuthorizationStatus.ACCEPTED, "fleet"),
        ("card-1", AuthorizationStatus.ACCEPTED, "fleet"),
    ]
    assert {r.unique_id for r in world.sessions_repo.authorizations.values()} == {"u-1", "u-2"}


def test_authorize_unknown_token_is_invalid(world: World) -> None:
    # GIVEN no tokens at all
    # WHEN a station asks
    decision = world.sessions.authorize(V201, "u-1", CARD_201)
    # THEN it is Invalid, and published as such
    assert decision.status is AuthorizationStatus.INVALID
    [published] = of_type(world, TokenAuthorized)
    assert published.status is AuthorizationStatus.INVALID
    assert published.token_type is IdTokenType.ISO14443


def test_authorize_token_active_at_another_station_is_concurrent_tx(world: World) -> None:
    # GIVEN CARD-1 charging at CP-2
    with_tokens(world)
    world.sessions.start_transaction(V16_CP2, a_start())
    # WHEN it is presented at CP-1, and at CP-2
    elsewhere = world.sessions.authorize(V16, "u-1", CARD)
    same_station = world.sessions.authorize(V16_CP2, "u-1", CARD)
    # THEN CP-1 hears ConcurrentTx; CP-2 hears Accepted (tapping the card there stops it)
    assert elsewhere.status is AuthorizationStatus.CONCURRENT_TX
    assert same_station.status is AuthorizationStatus.ACCEPTED


def test_authorize_token_of_an_ended_session_is_accepted_again(world: World) -> None:
    # GIVEN CARD-1's session at CP-2 ended
    with_tokens(world)
    tx = world.sessions.start_transaction(V16_CP2, a_start()).transaction_id
    world.sessions.stop_transaction(V16_CP2, a_stop(tx))
    # WHEN it is presented at CP-1
    # THEN it is Accepted
    assert world.sessions.authorize(V16, "u-1", CARD).status is AuthorizationStatus.ACCEPTED


# -- 1.6 StartTransaction ----------------------------------------------------------------------


def test_start_transaction_assigns_ids_from_the_counter(world: World) -> None:
    # GIVEN two tokens
    with_tokens(world, "CARD-1", "CARD-2")
    # WHEN two different transactions start
    first = world.sessions.start_transaction(V16, a_start())
    second = world.sessions.start_transaction(
        V16, a_start(evse=EVSE2, token=PresentedToken(value="CARD-2"), timestamp=at(1))
    )
    # THEN they get 1 and 2, both Accepted
    assert (first.transaction_id, second.transaction_id) == (1, 2)
    assert first.authorization.status is AuthorizationStatus.ACCEPTED
    # AND each is an active session keyed by station and id, the integer kept as alias
    session = stored(world, "CP-1", "1")
    assert session.ocpp16_id == 1
    assert session.protocol is ProtocolVersion.OCPP16
    assert session.state is SessionState.ACTIVE
    assert session.evse == EVSE1
    assert (session.id_token, session.group_id, session.site_id) == ("CARD-1", "fleet", "site-1")
    assert session.started_at == T0
    assert session.meter_start == MeterMark(wh=Decimal(1000), at=T0)
    assert session.start_known
    assert session.anomalies == ()
    # AND TransactionStarted is published for each
    started = of_type(world, TransactionStarted)
    assert [e.transaction_id for e in started] == ["1", "2"]
    assert started[0].meter_start_wh == Decimal(1000)
    assert started[0].authorization is AuthorizationStatus.ACCEPTED


def test_start_transaction_resend_gets_the_same_id(world: World) -> None:
    # GIVEN a started transaction
    with_tokens(world)
    first = world.sessions.start_transaction(V16, a_start())
    writes = world.sessions_repo.writes
    # WHEN the same StartTransaction comes again (lost reply; the token in another case)
    world.clock.advance(120)
    again = world.sessions.start_transaction(V16, a_start(token=PresentedToken(value="card-1")))
    # THEN it gets the same id and answer, and nothing is written or published
    assert again == first
    assert world.sessions_repo.writes == writes
    assert len(world.sessions_repo.sessions) == 1
    assert len(of_type(world, TransactionStarted)) == 1


def test_start_transaction_concurrent_duplicate_gets_the_winner_id(world: World) -> None:
    # GIVEN a copy of the same StartTransaction that another invocation writes first
    with_tokens(world)
    copies: list[int] = []

    def other_invocation() -> None:
        copies.append(world.sessions.start_transaction(V16, a_start()).transaction_id)

    world.sessions_repo.before_write = other_invocation
    # WHEN this invocation tries to write its own
    mine = world.sessions.start_transaction(V16, a_start())
    # THEN it answers the winner's id; one session, one TransactionStarted
    assert [mine.transaction_id] == copies
    assert mine.authorization.status is AuthorizationStatus.ACCEPTED
    assert len(world.sessions_repo.sessions) == 1
    assert len(of_type(world, TransactionStarted)) == 1


def test_start_transaction_with_token_busy_elsewhere_is_concurrent_tx(world: World) -> None:
    # GIVEN CARD-1 charging at CP-2
    with_tokens(world)
    world.sessions.start_transaction(V16_CP2, a_start())
    # WHEN a StartTransaction with CARD-1 comes from CP-1
    result = world.sessions.start_transaction(V16, a_start(timestamp=at(1)))
    # THEN it is ConcurrentTx (the session is still recorded: 1.6 stations start first)
    assert result.authorization.status is AuthorizationStatus.CONCURRENT_TX
    session = stored(world, "CP-1", str(result.transaction_id))
    assert session.authorization is not None
    assert session.authorization.status is AuthorizationStatus.CONCURRENT_TX


def test_start_transaction_unknown_token_is_invalid_but_recorded(world: World) -> None:
    # GIVEN no tokens
    # WHEN a station starts anyway (offline authorization)
    result = world.sessions.start_transaction(V16, a_start())
    # THEN the answer is Invalid and the session exists, for the station to stop
    assert result.authorization.status is AuthorizationStatus.INVALID
    assert stored(world, "CP-1", "1").group_id is None


@pytest.mark.parametrize(
    ("timestamp", "kind"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), AnomalyKind.PAST_TIMESTAMP),
        (at(60), AnomalyKind.FUTURE_TIMESTAMP),
    ],
)
def test_start_transaction_unbelievable_timestamp_is_replaced_by_now(
    world: World, timestamp: datetime, kind: AnomalyKind
) -> None:
    # GIVEN a station with its clock unset (1970) or an hour ahead
    # WHEN it starts a transaction
    tx = started_16(world, timestamp=timestamp)
    # THEN the session starts at the CSMS's now, and the anomaly is recorded
    session = stored(world, "CP-1", str(tx))
    assert session.started_at == T0
    assert session.meter_start == MeterMark(wh=Decimal(1000), at=T0)
    assert kinds(session) == [kind]
    assert timestamp.isoformat() in session.anomalies[0].detail


# -- 1.6 MeterValues ---------------------------------------------------------------------------


def test_meter_values_is_one_write_and_updates_at_most_once_per_period(world: World) -> None:
    # GIVEN a transaction started at 08:00
    tx = started_16(world)
    # WHEN the station sends a meter value every minute for 12 minutes
    writes: list[int] = []
    for minute in range(1, 13):
        world.clock.at = at(minute) + timedelta(seconds=2)
        before = world.sessions_repo.writes
        world.sessions.meter_values(V16, meter(tx, raw(minute, 1000 + 100 * minute, power=7000)))
        writes.append(world.sessions_repo.writes - before)
    # THEN each message is exactly one write (a chunk; the session item is not rewritten)
    assert writes == [1] * 12
    assert stored(world, "CP-1", str(tx)).version == 1
    assert len(world.sessions_repo.chunk_store[session_id("CP-1", str(tx))]) == 12
    # AND TransactionUpdated comes once per 5-minute period entered (08:05, 08:10)
    updates = of_type(world, TransactionUpdated)
    assert [u.meter_at for u in updates] == [at(5), at(10)]
    assert [u.energy_wh for u in updates] == [Decimal(500), Decimal(1000)]
    assert updates[0].power_w == Decimal(7000)


def test_meter_values_view_shows_live_totals(world: World) -> None:
    # GIVEN a transaction with a meter value at minute 3
    tx = started_16(world)
    world.clock.at = at(3)
    world.sessions.meter_values(V16, meter(tx, raw(3, "2.5", unit="kWh", power="11000")))
    # WHEN the session is viewed
    view = world.sessions.view("tenant-a", session_id("CP-1", str(tx)))
    # THEN the totals include the newest chunk
    assert view.totals.energy_wh == Decimal(1500)
    assert view.totals.power_w == Decimal(11000)
    assert view.totals.duration == timedelta(minutes=3)
    # AND the session item itself was not rewritten for it
    assert view.session.version == 1


def test_meter_values_retransmission_writes_nothing(world: World) -> None:
    # GIVEN a transaction with a meter value received
    tx = started_16(world)
    world.clock.at = at(6)
    world.sessions.meter_values(V16, meter(tx, raw(6, 1600)))
    writes, published = world.sessions_repo.writes, len(world.events.events)
    # WHEN the station sends it again (queued, under a new unique id)
    world.clock.at = at(7)
    world.sessions.meter_values(V16, meter(tx, raw(6, 1600)))
    # THEN nothing is written or published
    assert (world.sessions_repo.writes, len(world.events.events)) == (writes, published)


def test_meter_values_decreasing_register_is_recorded_on_the_session(world: World) -> None:
    # GIVEN a transaction at 3000 Wh at minute 5
    tx = started_16(world)
    world.clock.at = at(6)
    world.sessions.meter_values(V16, meter(tx, raw(5, 3000)))
    writes = world.sessions_repo.writes
    # WHEN the register reads 2000 Wh at minute 6
    world.sessions.meter_values(V16, meter(tx, raw(6, 2000)))
    # THEN one write keeps the chunk and records DecreasingEnergy on the session
    assert world.sessions_repo.writes == writes + 1
    session = stored(world, "CP-1", str(tx))
    assert kinds(session) == [AnomalyKind.DECREASING_ENERGY]
    assert session.anomalies[0].at == at(6)
    # AND the energy is never negative
    assert world.sessions.view("tenant-a", session.id).totals.energy_wh == Decimal(1000)


def test_meter_values_bad_unit_is_recorded_and_the_good_samples_kept(world: World) -> None:
    # GIVEN a transaction
    tx = started_16(world)
    world.clock.at = at(2)
    # WHEN a meter value says energy in A, next to a good power sample
    bad = RawSample(value="16", unit="A")
    power = RawSample(value="7.2", unit="kW", measurand="Power.Active.Import")
    world.sessions.meter_values(V16, meter(tx, RawReading(timestamp=at(2), samples=(bad, power))))
    # THEN the anomaly is on the session, the power kept in a chunk
    session = stored(world, "CP-1", str(tx))
    assert kinds(session) == [AnomalyKind.BAD_UNIT]
    [chunk] = world.sessions_repo.chunk_store[session.id].values()
    assert chunk.latest(Measurand.POWER) == Decimal(7200)
    assert chunk.register is None


def test_meter_values_only_bad_samples_recorded_once_under_retransmission(world: World) -> None:
    # GIVEN a transaction
    tx = started_16(world)
    world.clock.at = at(2)
    only_bad = meter(tx, RawReading(timestamp=at(2), samples=(RawSample(value="16", unit="A"),)))
    # WHEN a meter value with nothing but a bad sample arrives, and is retransmitted
    world.sessions.meter_values(V16, only_bad)
    writes = world.sessions_repo.writes
    world.sessions.meter_values(V16, only_bad)
    # THEN the anomaly is recorded once and the retransmission changes nothing
    session = stored(world, "CP-1", str(tx))
    assert kinds(session) == [AnomalyKind.BAD_UNIT]
    assert session.anomaly_count == 1
    assert world.sessions_repo.writes == writes


def test_meter_values_without_transaction_are_kept_with_the_station(world: World) -> None:
    # GIVEN a 1.6 station sending connector-0 meter values outside any transaction
    world.sessions.meter_values(
        V16, meter(None, raw(0, 123456), evse=EvseRef(evse_id=0, connector_id=0))
    )
    world.sessions.meter_values(
        V16, meter(None, raw(0, 123456), evse=EvseRef(evse_id=0, connector_id=0))
    )
    # AND one with only an unbelievable timestamp
    world.sessions.meter_values(V16, meter(None, raw(-60 * 24 * 90, 1)))
    # THEN the reading is kept once with the station, and no session is made
    [(tenant, station, evse, reading)] = world.sessions_repo.station_readings
    assert (tenant, station, evse.evse_id) == ("tenant-a", "CP-1", 0)
    assert reading.energy_wh == Decimal(123456)
    assert world.sessions_repo.sessions == {}
    assert world.sessions_repo.writes == 0


def test_meter_values_for_a_transaction_never_started_makes_a_session(world: World) -> None:
    # GIVEN no session 42
    # WHEN a 1.6 station sends meter values for transaction 42 on connector 0
    world.sessions.meter_values(
        V16, meter(42, raw(0, 500), evse=EvseRef(evse_id=0, connector_id=0))
    )
    # THEN an active session records the data and the unknown transaction
    session = stored(world, "CP-1", "42")
    assert session.state is SessionState.ACTIVE
    assert session.ocpp16_id == 42
    assert session.evse is None  # connector 0 says nothing of the EVSE
    assert kinds(session) == [AnomalyKind.UNKNOWN_TRANSACTION]
    assert session.meter_start == MeterMark(wh=Decimal(500), at=T0)


def test_meter_values_empty_message_writes_nothing(world: World) -> None:
    # GIVEN a transaction
    tx = started_16(world)
    writes = world.sessions_repo.writes
    # WHEN a meter value has only measurands the CSMS does not keep
    temp = RawReading(timestamp=T0, samples=(RawSample(value="30", measurand="Temperature"),))
    world.sessions.meter_values(V16, meter(tx, temp))
    # THEN nothing is written
    assert world.sessions_repo.writes == writes


# -- 1.6 StopTransaction -----------------------------------------------------------------------


def test_stop_transaction_ends_with_energy_and_duration(world: World) -> None:
    # GIVEN a transaction started at 1000 Wh with meter values on the way
    tx = started_16(world)
    world.clock.at = at(30)
    world.sessions.meter_values(V16, meter(tx, raw(30, 2500, power=7000)))
    # WHEN it stops 90 minutes later at 5000.4 Wh... the register says 5000 Wh
    world.clock.at = at(91)
    world.sessions.stop_transaction(V16, a_stop(tx))
    # THEN the session is ended with the right figures
    session = stored(world, "CP-1", str(tx))
    assert session.state is SessionState.ENDED
    assert session.stopped_at == at(90)
    assert session.stop_reason is StopReason.EV_DISCONNECTED
    assert session.meter_stop_wh == Decimal(5000)
    assert session.energy_wh == Decimal(4000)
    assert session.power_w is None
    assert session.revision == 1
    # AND TransactionEnded carries the final energy to the Wh and the duration
    [ended] = of_type(world, TransactionEnded)
    assert ended.energy_wh == Decimal(4000)
    assert ended.duration_s == 90 * 60
    assert (ended.meter_start_wh, ended.meter_stop_wh) == (Decimal(1000), Decimal(5000))
    assert ended.revision == 1
    assert ended.stop_reason is StopReason.EV_DISCONNECTED
    assert not ended.closed_by_cleanup
    assert ended.group_id == "fleet"


def test_stop_transaction_with_the_starting_token_is_accepted(world: World) -> None:
    # GIVEN a transaction started with CARD-1
    tx = started_16(world)
    # WHEN the driver stops it with the same card (StopTransaction.req idTag)
    decision = world.sessions.stop_transaction(V16, a_stop(tx, token=CARD))
    # THEN idTagInfo is Accepted: the card is busy in this very transaction, not another one
    assert decision is not None
    assert decision.status is AuthorizationStatus.ACCEPTED
    assert stored(world, "CP-1", str(tx)).stopped_by is None


def test_stop_transaction_by_another_token_records_who_stopped(world: World) -> None:
    # GIVEN a transaction started with CARD-1
    tx = started_16(world)
    with_tokens(world, "CARD-2")
    # WHEN CARD-2 stops it
    decision = world.sessions.stop_transaction(
        V16, a_stop(tx, token=PresentedToken(value="CARD-2"))
    )
    # THEN CARD-2 is Accepted and recorded as the one who stopped it
    assert decision is not None
    assert decision.status is AuthorizationStatus.ACCEPTED
    session = stored(world, "CP-1", str(tx))
    assert (session.id_token, session.stopped_by) == ("CARD-1", "CARD-2")


def test_stop_transaction_without_token_answers_nothing(world: World) -> None:
    # GIVEN a transaction
    tx = started_16(world)
    # WHEN it stops without idTag
    # THEN no idTagInfo is owed
    assert world.sessions.stop_transaction(V16, a_stop(tx)) is None


def test_stop_transaction_resend_changes_nothing(world: World) -> None:
    # GIVEN a stopped transaction (with transaction data)
    tx = started_16(world)
    world.clock.at = at(91)
    stop = a_stop(tx, readings=[raw(0, 1000), raw(90, 5000)])
    world.sessions.stop_transaction(V16, stop)
    writes, published = world.sessions_repo.writes, len(world.events.events)
    # WHEN the same StopTransaction comes again from the offline queue
    world.clock.advance(600)
    world.sessions.stop_transaction(V16, stop)
    # THEN nothing is written or published again
    assert (world.sessions_repo.writes, len(world.events.events)) == (writes, published)


def test_stop_transaction_resend_with_future_timestamp_changes_nothing(world: World) -> None:
    # GIVEN a transaction stopped with a timestamp an hour ahead (replaced by now, recorded)
    tx = started_16(world)
    world.clock.at = at(30)
    stop = a_stop(tx, timestamp=at(90))
    world.sessions.stop_transaction(V16, stop)
    session = stored(world, "CP-1", str(tx))
    assert session.stopped_at == at(30)
    assert kinds(session) == [AnomalyKind.FUTURE_TIMESTAMP]
    writes, published = world.sessions_repo.writes, len(world.events.events)
    # WHEN the station sends the same StopTransaction again
    world.sessions.stop_transaction(V16, stop)
    # THEN the retransmission changes nothing: one anomaly, no write, no event
    session = stored(world, "CP-1", str(tx))
    assert session.anomaly_count == 1
    assert (world.sessions_repo.writes, len(world.events.events)) == (writes, published)


def test_stop_transaction_for_lost_start_makes_an_ended_session(world: World) -> None:
    # GIVEN no session 77 (its StartTransaction was lost)
    world.clock.at = at(95)
    # WHEN its StopTransaction comes with transactionData from begin to end
    begin = raw(0, 1000, more=[RawSample(value="0", measurand="SoC", context="Transaction.Begin")])
    world.sessions.stop_transaction(V16, a_stop(77, readings=[raw(45, 3000), begin, raw(90, 5000)]))
    # THEN an ended session is recorded, started at the Transaction.Begin reading
    session = stored(world, "CP-1", "77")
    assert session.state is SessionState.ENDED
    assert session.ocpp16_id == 77
    assert session.started_at == T0
    assert session.meter_start == MeterMark(wh=Decimal(1000), at=T0)
    assert session.energy_wh == Decimal(4000)
    assert not session.start_known
    # AND the missing start is an anomaly
    assert kinds(session) == [AnomalyKind.START_MISSING]
    # AND it is published as started and ended (revision 1)
    assert [e.session_id for e in of_type(world, TransactionStarted)] == [session.id]
    [ended] = of_type(world, TransactionEnded)
    assert (ended.revision, ended.energy_wh, ended.duration_s) == (1, Decimal(4000), 90 * 60)
    assert ended.anomalies == [AnomalyKind.START_MISSING]
    # AND its transaction data is kept as a chunk
    [chunk] = world.sessions_repo.chunk_store[session.id].values()
    assert len(chunk.readings) == 3
    assert chunk.event_type is EventType.ENDED


def test_stop_transaction_for_lost_start_without_data_uses_the_stop(world: World) -> None:
    # GIVEN no session 78
    world.clock.at = at(95)
    # WHEN its StopTransaction comes without transactionData, with a token in a group
    with_tokens(world)
    world.sessions.stop_transaction(V16, a_stop(78, token=CARD))
    # THEN the session spans only the stop, with no energy to claim
    session = stored(world, "CP-1", "78")
    assert session.started_at == session.stopped_at == at(90)
    assert session.meter_start is None
    assert session.energy_wh is None
    assert session.group_id == "fleet"


def test_stop_transaction_meter_stop_below_start_is_recorded(world: World) -> None:
    # GIVEN a transaction started at 1000 Wh
    tx = started_16(world)
    # WHEN it stops at 900 Wh, before its start
    world.sessions.stop_transaction(
        V16, a_stop(tx, meter_stop_wh=Decimal(900), timestamp=T0 - timedelta(minutes=1))
    )
    # THEN both inconsistencies are recorded and the energy is zero
    session = stored(world, "CP-1", str(tx))
    assert set(kinds(session)) == {
        AnomalyKind.STOP_BEFORE_START,
        AnomalyKind.METER_STOP_BELOW_START,
    }
    [ended] = of_type(world, TransactionEnded)
    assert ended.energy_wh == Decimal(0)
    assert ended.duration_s == 0


def test_stop_transaction_races_a_concurrent_write_and_loses_nothing(world: World) -> None:
    # GIVEN a transaction
    tx = started_16(world)
    world.clock.at = at(91)

    def concurrent_meter_values() -> None:
        # another invocation records a meter value with an anomaly (a session write)
        bad = RawSample(value="1", unit="V")
        world.sessions.meter_values(
            V16, meter(tx, RawReading(timestamp=at(80), samples=(RawSample(value="4800"), bad)))
        )

    world.sessions_repo.before_write = concurrent_meter_values
    # WHEN the StopTransaction's write meets the other write (StaleSessionError) and retries
    world.sessions.stop_transaction(V16, a_stop(tx))
    # THEN both writes are in the session: the anomaly and the end
    session = stored(world, "CP-1", str(tx))
    assert kinds(session) == [AnomalyKind.BAD_UNIT]
    assert session.state is SessionState.ENDED
    assert session.energy_wh == Decimal(4000)
    assert session.version == 3
    assert len(of_type(world, TransactionEnded)) == 1


def test_apply_gives_up_after_repeated_conflicts(world: World) -> None:
    # GIVEN a service that backs off, and a session another writer keeps changing
    backoffs: list[int] = []
    service = SessionService(
        sessions=world.sessions_repo,
        tokens=world.tokens,
        clock=world.clock,
        backoff=backoffs.append,
    )
    tx = started_16(world)
    repo = world.sessions_repo

    def keep_changing() -> None:
        sid = session_id("CP-1", str(tx))
        repo.sessions[sid] = repo.sessions[sid].model_copy(
            update={"version": repo.sessions[sid].version + 1}
        )
        repo.before_write = keep_changing

    repo.before_write = keep_changing
    # WHEN a stop is applied
    # THEN after a bounded number of attempts it fails as stale, having backed off each time
    with pytest.raises(StaleSessionError):
        service.stop_transaction(V16, a_stop(tx))
    assert backoffs == list(range(8))


def test_stop_transaction_resend_without_data_writes_nothing(world: World) -> None:
    # GIVEN a transaction stopped without transactionData
    tx = started_16(world)
    world.clock.at = at(91)
    world.sessions.stop_transaction(V16, a_stop(tx))
    writes, published = world.sessions_repo.writes, len(world.events.events)
    # WHEN the same StopTransaction comes again
    world.sessions.stop_transaction(V16, a_stop(tx))
    # THEN nothing is written or published
    assert (world.sessions_repo.writes, len(world.events.events)) == (writes, published)


def test_stop_transaction_for_lost_start_racing_its_meter_values(world: World) -> None:
    # GIVEN no session 77, and its queued MeterValues handled by another invocation meanwhile
    world.clock.at = at(95)

    def concurrent_meter_values() -> None:
        world.sessions.meter_values(V16, meter(77, raw(45, 3000)))

    world.sessions_repo.before_write = concurrent_meter_values
    # WHEN the StopTransaction tries to create the session and finds it made
    world.sessions.stop_transaction(V16, a_stop(77, readings=[raw(0, 1000)]))
    # THEN it retries as an update: one ended session with both messages' data
    session = stored(world, "CP-1", "77")
    assert session.state is SessionState.ENDED
    assert session.meter_start == MeterMark(wh=Decimal(1000), at=T0)
    assert session.energy_wh == Decimal(4000)
    assert AnomalyKind.UNKNOWN_TRANSACTION in kinds(session)
    assert len(of_type(world, TransactionStarted)) == 1
    assert [e.revision for e in of_type(world, TransactionEnded)] == [1]


def test_stop_transaction_for_lost_start_with_token_without_group(world: World) -> None:
    # GIVEN a known token in no group, and no session 79
    world.tokens.create("tenant-a", IdToken(id_token="SOLO"), T0)
    world.clock.at = at(95)
    # WHEN session 79 is stopped with that token
    world.sessions.stop_transaction(V16, a_stop(79, token=PresentedToken(value="SOLO")))
    # THEN the session has the token and no group
    session = stored(world, "CP-1", "79")
    assert (session.id_token, session.group_id) == ("SOLO", None)


# -- 2.0.1 TransactionEvent --------------------------------------------------------------------

STARTED = event(
    EventType.STARTED,
    0,
    0,
    trigger_reason="Authorized",
    evse=EVSE1,
    token=CARD_201,
    charging_state=ChargingState.CHARGING,
    remote_start_id=12,
    readings=[raw(0, 1000)],
)
UPDATED = event(
    EventType.UPDATED,
    1,
    10,
    charging_state=ChargingState.SUSPENDED_EV,
    readings=[raw(10, "3.0", unit="kWh", power=0)],
)
ENDED = event(
    EventType.ENDED,
    2,
    20,
    trigger_reason="EVCommunicationLost",
    charging_state=ChargingState.EV_CONNECTED,
    stopped_reason=StopReason.EV_DISCONNECTED,
    readings=[raw(20, 5000)],
)


def apply_201(world: World, events: Sequence[TransactionEventRequest]) -> Session:
    with_tokens(world)
    world.clock.at = at(25)
    for request in events:
        world.sessions.transaction_event(V201, request)
    return stored(world, "CP-1", TX)


@pytest.mark.parametrize(
    "order",
    list(itertools.permutations([STARTED, UPDATED, ENDED])),
    ids=lambda order: "-".join(e.event_type.value for e in order),
)
def test_transaction_event_any_order_gives_the_in_order_session(
    world: World, order: tuple[TransactionEventRequest, ...]
) -> None:
    # GIVEN a 2.0.1 transaction's Started / Updated / Ended, delivered in some order
    # WHEN each is applied
    session = apply_201(world, order)
    # THEN the session is what in-order delivery gives
    assert session.state is SessionState.ENDED
    assert (session.started_at, session.stopped_at) == (at(0), at(20))
    assert session.meter_start == MeterMark(wh=Decimal(1000), at=at(0))
    assert session.meter_last == MeterMark(wh=Decimal(5000), at=at(20))
    assert session.energy_wh == Decimal(4000)
    assert session.stop_reason is StopReason.EV_DISCONNECTED
    assert session.charging_state is ChargingState.EV_CONNECTED
    assert (session.id_token, session.token_type) == ("CARD-1", IdTokenType.ISO14443)
    assert (session.evse, session.remote_start_id) == (EVSE1, 12)
    assert session.authorization is not None
    assert session.authorization.status is AuthorizationStatus.ACCEPTED
    assert session.seq_no == 2
    assert session.anomalies == ()
    # AND it was published started once, and its final TransactionEnded has the right energy
    assert len(of_type(world, TransactionStarted)) == 1
    ended = of_type(world, TransactionEnded)
    assert ended[-1].energy_wh == Decimal(4000)
    assert ended[-1].duration_s == 20 * 60
    assert [e.revision for e in ended] == list(range(1, len(ended) + 1))
    assert session.revision == len(ended)
    # AND every event left its chunk
    assert sorted(world.sessions_repo.chunk_store[session.id]) == [
        "0000000000",
        "0000000001",
        "0000000002",
    ]


@pytest.mark.parametrize(
    "order",
    [(STARTED, UPDATED, ENDED), (UPDATED, STARTED, ENDED), (ENDED, UPDATED, STARTED)],
    ids=["in-order", "updated-first", "ended-first"],
)
def test_transaction_event_group_is_kept_whatever_the_order(
    world: World, order: tuple[TransactionEventRequest, ...]
) -> None:
    # GIVEN CARD-1 in the group "fleet", and a transaction whose first event heard of carries
    # no token (only Started does)
    # WHEN its events are applied in that order
    session = apply_201(world, order)
    # THEN the session is filed under the token's group, as in-order delivery files it
    assert session.group_id == "fleet"
    assert of_type(world, TransactionEnded)[-1].group_id == "fleet"


def test_transaction_event_late_start_publishes_a_corrected_end(world: World) -> None:
    # GIVEN a transaction heard of by its Updated and Ended (Started still in a queue)
    apply_201(world, [UPDATED, ENDED])
    [first] = of_type(world, TransactionEnded)
    assert (first.revision, first.energy_wh) == (1, Decimal(2000))
    # WHEN the Started arrives and moves the start back
    world.sessions.transaction_event(V201, STARTED)
    # THEN TransactionEnded revision 2 carries the corrected energy
    ended = of_type(world, TransactionEnded)
    assert [(e.revision, e.energy_wh) for e in ended] == [(1, Decimal(2000)), (2, Decimal(4000))]
    assert ended[-1].started_at == at(0)
    assert stored(world, "CP-1", TX).revision == 2


def test_transaction_event_late_updated_after_end_changes_nothing_final(world: World) -> None:
    # GIVEN a transaction ended in order but for its Updated
    apply_201(world, [STARTED, ENDED])
    writes = world.sessions_repo.writes
    # WHEN the Updated arrives late
    world.sessions.transaction_event(V201, UPDATED)
    # THEN only its chunk is written: no correction, no update event
    assert world.sessions_repo.writes == writes + 1
    assert [e.revision for e in of_type(world, TransactionEnded)] == [1]
    assert of_type(world, TransactionUpdated) == []


def test_transaction_event_same_seq_no_twice_is_applied_once(world: World) -> None:
    # GIVEN each event applied once
    session = apply_201(world, [STARTED, UPDATED, ENDED])
    writes, published = world.sessions_repo.writes, len(world.events.events)
    # WHEN each is delivered again (reconnect, offline queue replay)
    for request in (STARTED, UPDATED, ENDED):
        world.sessions.transaction_event(V201, request)
    # THEN nothing is written or published, and the session is unchanged
    assert (world.sessions_repo.writes, len(world.events.events)) == (writes, published)
    assert stored(world, "CP-1", TX) == session


def test_transaction_event_same_seq_no_twice_with_anomaly_is_applied_once(world: World) -> None:
    # GIVEN an Updated with an unbelievable timestamp applied once
    apply_201(world, [STARTED])
    bad = event(EventType.UPDATED, 1, 60 * 24 * 7, readings=[raw(5, 1500)])
    world.sessions.transaction_event(V201, bad)
    session = stored(world, "CP-1", TX)
    assert kinds(session) == [AnomalyKind.FUTURE_TIMESTAMP]
    writes = world.sessions_repo.writes
    # WHEN it is delivered again
    world.sessions.transaction_event(V201, bad)
    # THEN it is not applied again
    assert world.sessions_repo.writes == writes
    assert stored(world, "CP-1", TX).anomaly_count == 1


def test_transaction_event_in_order_writes_little(world: World) -> None:
    # GIVEN a started 2.0.1 transaction
    apply_201(world, [STARTED])
    assert world.sessions_repo.writes == 1
    # WHEN an Updated without state change comes, then one that changes the charging state
    world.sessions.transaction_event(V201, event(EventType.UPDATED, 1, 4, readings=[raw(4, 1400)]))
    assert world.sessions_repo.writes == 2  # one chunk
    world.sessions.transaction_event(V201, replace(UPDATED, seq_no=2))
    # THEN the state change is a session write and publishes TransactionUpdated
    assert world.sessions_repo.writes == 3
    [update] = of_type(world, TransactionUpdated)
    assert update.charging_state is ChargingState.SUSPENDED_EV
    assert update.energy_wh == Decimal(2000)


def test_transaction_event_state_change_race_is_retried(world: World) -> None:
    # GIVEN a started transaction, and another invocation applying seqNo 2 at the same time
    apply_201(world, [STARTED])
    newer = event(EventType.UPDATED, 2, 12, charging_state=ChargingState.SUSPENDED_EVSE)

    def concurrent() -> None:
        world.sessions.transaction_event(V201, newer)

    world.sessions_repo.before_write = concurrent
    # WHEN seqNo 1 (SuspendedEV) is written and meets the other write
    world.sessions.transaction_event(V201, UPDATED)
    # THEN both are applied; the state of the higher seqNo stands; both chunks exist
    session = stored(world, "CP-1", TX)
    assert session.charging_state is ChargingState.SUSPENDED_EVSE
    assert session.seq_no == 2
    assert len(world.sessions_repo.chunk_store[session.id]) == 3


def test_transaction_event_end_racing_a_meter_update_keeps_its_energy(world: World) -> None:
    # GIVEN a transaction at 3000 Wh (seqNo 1)
    apply_201(world, [STARTED, UPDATED])
    later = event(EventType.UPDATED, 2, 15, readings=[raw(15, 4000)])

    def concurrent() -> None:
        # another invocation stores seqNo 2's register (a chunk write only)
        world.sessions.transaction_event(V201, later)

    world.sessions_repo.before_write = concurrent
    # WHEN the Ended (seqNo 3, without meter values) is written meanwhile
    world.sessions.transaction_event(V201, event(EventType.ENDED, 3, 20))
    # THEN the final energy includes seqNo 2's register
    session = stored(world, "CP-1", TX)
    assert session.meter_last == MeterMark(wh=Decimal(4000), at=at(15))
    assert session.energy_wh == Decimal(3000)
    assert of_type(world, TransactionEnded)[-1].energy_wh == Decimal(3000)


def test_transaction_event_end_without_meter_values_takes_the_newest_register(
    world: World,
) -> None:
    # GIVEN a transaction whose newest event (a state change) had no meter values
    apply_201(world, [STARTED, UPDATED])
    world.sessions.transaction_event(
        V201, event(EventType.UPDATED, 2, 15, charging_state=ChargingState.CHARGING)
    )
    # WHEN it ends without meter values
    world.sessions.transaction_event(V201, event(EventType.ENDED, 3, 20))
    # THEN the final energy runs to the newest register of its chunks
    [ended] = of_type(world, TransactionEnded)
    assert ended.energy_wh == Decimal(2000)
    assert stored(world, "CP-1", TX).meter_last == MeterMark(wh=Decimal(3000), at=at(10))


def test_transaction_event_end_finds_the_newest_register_among_many_chunks(world: World) -> None:
    # GIVEN a long 2.0.1 transaction: 120 Updated events with registers, then one without
    apply_201(world, [STARTED])
    world.clock.at = at(130)
    for seq in range(1, 121):
        world.sessions.transaction_event(
            V201, event(EventType.UPDATED, seq, seq, readings=[raw(seq, 1000 + 10 * seq)])
        )
    world.sessions.transaction_event(
        V201, event(EventType.UPDATED, 121, 121, charging_state=ChargingState.SUSPENDED_EV)
    )
    # WHEN it ends without meter values
    world.sessions.transaction_event(V201, event(EventType.ENDED, 122, 122))
    # THEN the final energy runs to the newest register, found through every page of chunks
    [ended] = of_type(world, TransactionEnded)
    assert ended.energy_wh == Decimal(1200)
    assert stored(world, "CP-1", TX).meter_last == MeterMark(wh=Decimal(2200), at=at(120))


def test_transaction_event_token_busy_elsewhere_is_concurrent_tx(world: World) -> None:
    # GIVEN CARD-1 charging at CP-2 (1.6)
    with_tokens(world)
    world.sessions.start_transaction(V16_CP2, a_start())
    # WHEN a 2.0.1 Started with CARD-1 comes from CP-1
    decision = world.sessions.transaction_event(V201, STARTED)
    # THEN idTokenInfo says ConcurrentTx
    assert decision is not None
    assert decision.status is AuthorizationStatus.CONCURRENT_TX


def test_transaction_event_token_of_its_own_session_is_accepted(world: World) -> None:
    # GIVEN a 2.0.1 transaction started with CARD-1
    apply_201(world, [STARTED])
    # WHEN its Ended carries CARD-1 again
    decision = world.sessions.transaction_event(
        V201, event(EventType.ENDED, 1, 20, token=CARD_201, readings=[raw(20, 2000)])
    )
    # THEN CARD-1 is Accepted (its own session does not make it busy)
    assert decision is not None
    assert decision.status is AuthorizationStatus.ACCEPTED


def test_transaction_event_unbelievable_timestamp_is_replaced_by_now(world: World) -> None:
    # GIVEN a station whose clock says 1970
    with_tokens(world)
    world.clock.at = at(3)
    # WHEN it sends Started
    old = datetime(1970, 1, 1, tzinfo=UTC)
    world.sessions.transaction_event(V201, event(EventType.STARTED, 0, 0, timestamp=old))
    # THEN the session starts now, and the anomaly is recorded
    session = stored(world, "CP-1", TX)
    assert session.started_at == at(3)
    assert kinds(session) == [AnomalyKind.PAST_TIMESTAMP]


def test_transaction_event_offline_flag_is_kept(world: World) -> None:
    # GIVEN a Started sent from the offline queue
    world.clock.at = at(1)
    world.sessions.transaction_event(
        V201, event(EventType.STARTED, 0, 0, offline=True, reservation_id=5)
    )
    # WHEN / THEN the session says so
    session = stored(world, "CP-1", TX)
    assert session.offline
    assert session.reservation_id == 5


# -- cleanup -----------------------------------------------------------------------------------


def test_close_abandoned_closes_only_silent_sessions(world: World) -> None:
    # GIVEN session 1 silent since its start at 08:00, and session 2 with a meter value at 10:00
    with_tokens(world, "CARD-1", "CARD-2")
    silent = world.sessions.start_transaction(V16, a_start()).transaction_id
    talking = world.sessions.start_transaction(
        V16, a_start(evse=EVSE2, token=PresentedToken(value="CARD-2"))
    ).transaction_id
    world.clock.at = at(120)
    world.sessions.meter_values(V16, meter(talking, raw(120, 2000), evse=EVSE2))
    # WHEN the cleanup job runs 49 hours after the start (pages of one)
    world.clock.at = at(49 * 60)
    closed = world.sessions.close_abandoned(limit=1)
    # THEN only the session silent for more than 48 hours is closed
    assert closed == [session_id("CP-1", str(silent))]
    assert stored(world, "CP-1", str(talking)).state is SessionState.ACTIVE
    session = stored(world, "CP-1", str(silent))
    assert session.state is SessionState.ENDED
    assert session.stop_reason is StopReason.ABANDONED
    assert session.closed_by_cleanup
    assert session.stopped_at == T0
    assert kinds(session) == [AnomalyKind.ABANDONED]
    assert session.revision == 1
    [ended] = of_type(world, TransactionEnded)
    assert (ended.revision, ended.closed_by_cleanup) == (1, True)
    assert ended.stop_reason is StopReason.ABANDONED
    # AND a second run closes nothing more
    assert world.sessions.close_abandoned() == []


def test_close_abandoned_keeps_the_newest_register(world: World) -> None:
    # GIVEN a session whose last meter value (a chunk) said 2500 Wh at 09:00
    tx = started_16(world)
    world.clock.at = at(60)
    world.sessions.meter_values(V16, meter(tx, raw(60, 2500)))
    # WHEN it is abandoned
    world.clock.at = at(60 + 48 * 60)
    world.sessions.close_abandoned()
    # THEN it is closed at its last sign of life with the energy delivered
    session = stored(world, "CP-1", str(tx))
    assert session.stopped_at == at(60)
    assert session.energy_wh == Decimal(1500)
    [ended] = of_type(world, TransactionEnded)
    assert ended.energy_wh == Decimal(1500)
    assert ended.duration_s == 3600


def test_close_abandoned_follows_the_configured_time(world: World) -> None:
    # GIVEN a cleanup after 1 hour of silence
    service = SessionService(
        sessions=world.sessions_repo,
        tokens=world.tokens,
        clock=world.clock,
        abandon_after=timedelta(hours=1),
    )
    tx = started_16(world)
    # WHEN it runs at 59 minutes and at 60 minutes
    world.clock.at = at(59)
    early = service.close_abandoned()
    world.clock.at = at(60)
    late = service.close_abandoned()
    # THEN it closes the session only at 60
    assert early == []
    assert late == [session_id("CP-1", str(tx))]


def test_close_abandoned_then_real_stop_replaces_the_end(world: World) -> None:
    # GIVEN a session closed by the cleanup job
    tx = started_16(world)
    world.clock.at = at(49 * 60)
    world.sessions.close_abandoned()
    # WHEN the station finally reports its StopTransaction (from its offline queue)
    world.sessions.stop_transaction(V16, a_stop(tx))
    # THEN the real stop replaces the cleanup's end, with the next revision
    session = stored(world, "CP-1", str(tx))
    assert not session.closed_by_cleanup
    assert session.stop_reason is StopReason.EV_DISCONNECTED
    assert session.stopped_at == at(90)
    assert session.energy_wh == Decimal(4000)
    assert session.revision == 2
    ended = of_type(world, TransactionEnded)
    assert [(e.revision, e.closed_by_cleanup) for e in ended] == [(1, True), (2, False)]
    assert ended[-1].energy_wh == Decimal(4000)
    assert ended[-1].stop_reason is StopReason.EV_DISCONNECTED


def test_close_abandoned_then_real_201_end_replaces_it(world: World) -> None:
    # GIVEN a 2.0.1 session closed by the cleanup job
    apply_201(world, [STARTED, UPDATED])  # written at 08:25
    world.clock.at = at(25 + 48 * 60)
    assert world.sessions.close_abandoned() == [session_id("CP-1", TX)]
    # WHEN its Ended arrives
    world.sessions.transaction_event(V201, ENDED)
    # THEN it is ended for real, revision 2
    session = stored(world, "CP-1", TX)
    assert (session.closed_by_cleanup, session.revision) == (False, 2)
    assert session.stop_reason is StopReason.EV_DISCONNECTED
    assert of_type(world, TransactionEnded)[-1].energy_wh == Decimal(4000)


def test_close_abandoned_leaves_a_session_written_meanwhile(world: World) -> None:
    # GIVEN a silent session, and the station reporting on it while the job runs
    tx = started_16(world)
    world.clock.at = at(49 * 60)
    sid = session_id("CP-1", str(tx))

    def station_writes() -> None:
        repo = world.sessions_repo
        repo.sessions[sid] = repo.sessions[sid].model_copy(
            update={"version": repo.sessions[sid].version + 1}
        )

    world.sessions_repo.before_write = station_writes
    # WHEN the job tries to close it
    closed = world.sessions.close_abandoned()
    # THEN it leaves it for the next run
    assert closed == []
    assert stored(world, "CP-1", str(tx)).state is SessionState.ACTIVE


def test_close_abandoned_skips_sessions_ended_since_the_list_was_read(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a session the open-sessions list still shows (an index lagging behind), though ended
    tx = started_16(world)
    listed = world.sessions_repo.open_sessions(10)
    world.sessions.stop_transaction(V16, a_stop(tx))
    monkeypatch.setattr(world.sessions_repo, "open_sessions", lambda limit, cursor=None: listed)
    # WHEN the cleanup job runs long after
    world.clock.at = at(72 * 60)
    closed = world.sessions.close_abandoned()
    # THEN it leaves the ended session as it is
    assert closed == []
    session = stored(world, "CP-1", str(tx))
    assert (session.stop_reason, session.revision) == (StopReason.EV_DISCONNECTED, 1)


# -- reading -----------------------------------------------------------------------------------


def test_view_of_another_tenant_session_is_not_found(world: World) -> None:
    # GIVEN a session of tenant-a
    tx = started_16(world)
    sid = session_id("CP-1", str(tx))
    # WHEN tenant-b asks for it, or anybody for an unknown id
    # THEN it is not found
    with pytest.raises(SessionNotFoundError):
        world.sessions.view("tenant-b", sid)
    with pytest.raises(SessionNotFoundError):
        world.sessions.view("tenant-a", "nope")
    with pytest.raises(SessionNotFoundError):
        world.sessions.chunks("tenant-b", sid, 10)
    assert world.sessions.view("tenant-a", sid).session.id == sid


def test_find_and_chunks_page_through_a_tenant_data(world: World) -> None:
    # GIVEN two sessions, one with three meter values
    with_tokens(world, "CARD-1", "CARD-2")
    tx = world.sessions.start_transaction(V16, a_start()).transaction_id
    world.sessions.start_transaction(V16_CP2, a_start(token=PresentedToken(value="CARD-2")))
    for minute in (1, 2, 3):
        world.clock.at = at(minute)
        world.sessions.meter_values(V16, meter(tx, raw(minute, 1000 + minute)))
    # WHEN the tenant lists sessions by token, and reads the chunks two at a time
    found = world.sessions.find("tenant-a", SessionQuery(id_token="card-1"), 10)
    sid = session_id("CP-1", str(tx))
    first = world.sessions.chunks("tenant-a", sid, 2)
    rest = world.sessions.chunks("tenant-a", sid, 2, first.next_cursor)
    # THEN the filter and the pages hold
    assert [s.id for s in found.items] == [sid]
    assert [c.register.wh if c.register else None for c in first.items + rest.items] == [
        Decimal(1001),
        Decimal(1002),
        Decimal(1003),
    ]
    assert rest.next_cursor is None
