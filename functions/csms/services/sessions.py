"""Use cases of charging sessions: authorize, start, meter values, stop, 2.0.1 events, cleanup.

Exactly once (DESIGN §4, ADR 0006): every message lands on a key of its own content, written
conditionally, so a retransmission (same unique id, or a queued message sent again under a new
one) finds its work done and gets the same answer:
- 1.6 StartTransaction: a start key (station, connector, token, time, meter) names the session;
- meter data: a chunk keyed by the 2.0.1 seqNo or by the 1.6 content;
- the session itself: written on its version, re-read and merged again when another invocation
  wrote first (`merge` is order-independent, so the retry cannot lose or double anything).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from csms.domain.connection import ConnectionBinding
from csms.domain.connector import EvseRef, StatusReport
from csms.domain.errors import DuplicateChunkError, SessionNotFoundError, StaleSessionError
from csms.domain.events import (
    DomainEvent,
    TokenAuthorized,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from csms.domain.meter import Anomaly, AnomalyKind, RawReading, Reading, TimeWindow, normalize
from csms.domain.sessions import (
    ChargingState,
    EventType,
    MeterChunk,
    MeterMark,
    Session,
    SessionState,
    SessionTotals,
    StopReason,
    TransactionFacts,
    abandon,
    charging_state_of,
    chunk_key_16,
    chunk_key_seq,
    chunk_key_status,
    consistency_anomalies,
    decreasing,
    merge,
    new_session,
    session_id,
    totals,
)
from csms.domain.station import ProtocolVersion
from csms.domain.tokens import Authorization, PresentedToken, authorize
from csms.services.ports import (
    AuthorizationRecord,
    Clock,
    Page,
    SessionQuery,
    SessionRepository,
    SessionSnapshot,
    TokenRepository,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartTransactionRequest:
    """1.6 StartTransaction.req, version-neutral."""

    evse: EvseRef
    token: PresentedToken
    meter_start_wh: Decimal
    timestamp: datetime
    reservation_id: int | None = None


@dataclass(frozen=True)
class StartTransactionResult:
    """The transactionId the CSMS assigned and the token's authorization."""

    transaction_id: int
    authorization: Authorization


@dataclass(frozen=True)
class StopTransactionRequest:
    """1.6 StopTransaction.req, version-neutral."""

    transaction_id: int
    meter_stop_wh: Decimal
    timestamp: datetime
    token: PresentedToken | None = None
    reason: StopReason | None = None
    readings: Sequence[RawReading] = ()


@dataclass(frozen=True)
class MeterValuesRequest:
    """MeterValues of either version (2.0.1 sends it only outside transactions)."""

    evse: EvseRef
    readings: Sequence[RawReading]
    transaction_id: str | None = None


@dataclass(frozen=True)
class TransactionEventRequest:
    """2.0.1 TransactionEventRequest, version-neutral."""

    event_type: EventType
    timestamp: datetime
    seq_no: int
    transaction_id: str
    trigger_reason: str
    offline: bool = False
    evse: EvseRef | None = None
    token: PresentedToken | None = None
    charging_state: ChargingState | None = None
    stopped_reason: StopReason | None = None
    remote_start_id: int | None = None
    reservation_id: int | None = None
    readings: Sequence[RawReading] = field(default_factory=tuple)


@dataclass(frozen=True)
class SessionView:
    """A session with its live totals (for the API)."""

    session: Session
    totals: SessionTotals


class SessionService:
    """Authorize, transactions and meter data of both versions, and the cleanup job."""

    # Conflicting writes to one session are rare (one station, one transaction); a few
    # retries settle them.
    _ATTEMPTS = 8

    def __init__(
        self,
        *,
        sessions: SessionRepository,
        tokens: TokenRepository,
        clock: Clock,
        window: TimeWindow | None = None,
        update_interval: timedelta = timedelta(minutes=5),
        abandon_after: timedelta = timedelta(hours=48),
        backoff: Callable[[int], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._tokens = tokens
        self._clock = clock
        self._window = window or TimeWindow()
        self._update_interval = update_interval
        self._abandon_after = abandon_after
        self._backoff = backoff or (lambda attempt: None)

    # -- Authorize -------------------------------------------------------------------------
    def authorize(
        self, binding: ConnectionBinding, unique_id: str, token: PresentedToken
    ) -> Authorization:
        """Decide on a token a station presents before charging, and keep the decision."""
        now = self._clock.now()
        authorization = self._decide(binding, token, now, exclude=None, same_station_ok=True)
        event = TokenAuthorized(
            station_id=binding.station_id,
            tenant_id=binding.tenant_id,
            occurred_at=now,
            id_token=token.value,
            token_type=token.type,
            status=authorization.status,
            group_id=authorization.group_id,
        )
        record = AuthorizationRecord(
            tenant_id=binding.tenant_id,
            station_id=binding.station_id,
            unique_id=unique_id,
            token=token,
            authorization=authorization,
            at=now,
        )
        self._sessions.record_authorization(record, events=[event])
        return authorization

    def _decide(
        self,
        binding: ConnectionBinding,
        token: PresentedToken,
        now: datetime,
        *,
        exclude: str | None,
        same_station_ok: bool = False,
    ) -> Authorization:
        record = self._tokens.get(binding.tenant_id, token.value)
        first = authorize(token, record, now)
        if not first.accepted or record is None:
            return first
        busy = [
            s
            for s in self._sessions.active_for_token(binding.tenant_id, token.value)
            if s.id != exclude and not (same_station_ok and s.station_id == binding.station_id)
        ]
        # Tapping the card that started a session at the same station stops it; only a
        # session elsewhere makes the token busy for Authorize.
        return authorize(token, record, now, busy_elsewhere=bool(busy))

    # -- 1.6 StartTransaction ----------------------------------------------------------------
    def start_transaction(
        self, binding: ConnectionBinding, request: StartTransactionRequest
    ) -> StartTransactionResult:
        """Start a 1.6 transaction: a new transactionId, or the same one for a resend."""
        now = self._clock.now()
        key = _start_key(binding.station_id, request)
        known = self._known_start(binding.station_id, key)
        if known is not None:
            return known
        authorization = self._decide(binding, request.token, now, exclude=None)
        number = self._sessions.next_transaction_number()
        timestamp, anomalies = self._believable(request.timestamp, now)
        session = new_session(
            tenant_id=binding.tenant_id,
            station_id=binding.station_id,
            transaction_id=str(number),
            protocol=binding.protocol,
            now=now,
            ocpp16_id=number,
            group_id=authorization.group_id,
            site_id=binding.site_id,
        )
        facts = TransactionFacts(
            event_type=EventType.STARTED,
            timestamp=timestamp,
            evse=request.evse,
            id_token=request.token.value,
            token_type=request.token.type,
            authorization=authorization,
            reservation_id=request.reservation_id,
            meter_start=MeterMark(wh=request.meter_start_wh, at=timestamp),
        )
        started = merge(session, facts, now).noting(*anomalies)
        if self._sessions.create(started, start_key=key, events=[_started(started, now)]):
            return StartTransactionResult(transaction_id=number, authorization=authorization)
        # A concurrent copy of this message got there first: answer what it answered.
        known = self._known_start(binding.station_id, key)
        if known is None:  # pragma: no cover - create() refuses only when the key exists
            raise StaleSessionError(started.id)
        return known

    def _known_start(self, station_id: str, key: str) -> StartTransactionResult | None:
        found = self._sessions.find_start(station_id, key)
        if found is None:
            return None
        session = self._sessions.get(found)
        if session is None or session.ocpp16_id is None or session.authorization is None:
            return None
        return StartTransactionResult(
            transaction_id=session.ocpp16_id, authorization=session.authorization
        )

    # -- 1.6 StopTransaction -----------------------------------------------------------------
    def stop_transaction(
        self, binding: ConnectionBinding, request: StopTransactionRequest
    ) -> Authorization | None:
        """End a 1.6 transaction; a stop whose start never arrived still makes a session."""
        now = self._clock.now()
        sid = session_id(binding.station_id, str(request.transaction_id))
        # The stop's idTag check: the token's own status; the session it ends does not count.
        authorization = (
            self._decide(binding, request.token, now, exclude=sid, same_station_ok=True)
            if request.token is not None
            else None
        )
        timestamp, readings, anomalies = self._incoming(request.timestamp, request.readings, now)
        facts = TransactionFacts(
            event_type=EventType.ENDED,
            timestamp=timestamp,
            id_token=request.token.value if request.token else None,
            token_type=request.token.type if request.token else None,
            stop_reason=request.reason,
            meter_stop=MeterMark(wh=request.meter_stop_wh, at=timestamp),
            readings=tuple(readings),
        )
        # Always a chunk, even without readings: its key makes a resent stop a duplicate.
        chunk = MeterChunk(
            session_id=sid,
            key=chunk_key_16(
                request.readings,
                request.timestamp,
                extra=f"stop|{request.meter_stop_wh}|{request.timestamp.isoformat()}",
            ),
            readings=tuple(readings),
            event_type=EventType.ENDED,
        )
        self._apply(
            binding,
            str(request.transaction_id),
            facts,
            chunk,
            anomalies,
            ocpp16_id=request.transaction_id,
        )
        return authorization

    # -- MeterValues -------------------------------------------------------------------------
    def meter_values(self, binding: ConnectionBinding, request: MeterValuesRequest) -> None:
        """Keep meter data: in its session's chunks, or with the station when it has none."""
        now = self._clock.now()
        readings, anomalies = normalize(request.readings, now, self._window)
        if request.transaction_id is None:
            if readings:
                self._sessions.put_station_readings(
                    binding.tenant_id, binding.station_id, request.evse, readings
                )
            if anomalies:
                logger.info(
                    "dropped station meter values",
                    extra={
                        "station_id": binding.station_id,
                        "anomalies": [a.kind.value for a in anomalies],
                    },
                )
            return
        if not readings and not anomalies:
            return
        sid = session_id(binding.station_id, request.transaction_id)
        # A chunk even when no value could be kept: its key makes a resend a duplicate.
        chunk = MeterChunk(
            session_id=sid,
            key=chunk_key_16(request.readings, now),
            readings=tuple(readings),
        )
        facts = TransactionFacts(
            event_type=EventType.UPDATED,
            timestamp=readings[0].timestamp if readings else now,
            evse=request.evse if not request.evse.is_station else None,
            readings=tuple(readings),
        )
        ocpp16_id = int(request.transaction_id) if request.transaction_id.isdigit() else None
        self._apply(binding, request.transaction_id, facts, chunk, anomalies, ocpp16_id=ocpp16_id)

    # -- 2.0.1 TransactionEvent --------------------------------------------------------------
    def transaction_event(
        self, binding: ConnectionBinding, request: TransactionEventRequest
    ) -> Authorization | None:
        """Apply a 2.0.1 TransactionEvent once per seqNo, in seqNo order whatever the arrival."""
        now = self._clock.now()
        sid = session_id(binding.station_id, request.transaction_id)
        authorization = (
            self._decide(binding, request.token, now, exclude=sid)
            if request.token is not None
            else None
        )
        timestamp, readings, anomalies = self._incoming(request.timestamp, request.readings, now)
        facts = TransactionFacts(
            event_type=request.event_type,
            timestamp=timestamp,
            seq_no=request.seq_no,
            evse=request.evse,
            id_token=request.token.value if request.token else None,
            token_type=request.token.type if request.token else None,
            authorization=authorization,
            charging_state=request.charging_state,
            stop_reason=request.stopped_reason,
            remote_start_id=request.remote_start_id,
            reservation_id=request.reservation_id,
            offline=request.offline,
            readings=tuple(readings),
        )
        # Every event leaves a chunk, even without readings: its key is the seqNo guard.
        chunk = MeterChunk(
            session_id=sid,
            key=chunk_key_seq(request.seq_no),
            readings=tuple(readings),
            seq_no=request.seq_no,
            event_type=request.event_type,
            charging_state=request.charging_state,
            state_at=timestamp if request.charging_state is not None else None,
        )
        self._apply(binding, request.transaction_id, facts, chunk, anomalies)
        return authorization

    # -- 1.6 StatusNotification -------------------------------------------------------------
    def connector_status(self, binding: ConnectionBinding, report: StatusReport) -> None:
        """Keep the charging state a 1.6 status change tells with the session on the connector.

        Only a change of status comes here (a few per session, never a Heartbeat or
        MeterValues): one index query for the station's open sessions and, when one is on the
        connector, one chunk (no session write). 2.0.1 says it in TransactionEvent instead.
        """
        state = charging_state_of(report)
        if binding.protocol is not ProtocolVersion.OCPP16 or state is None:
            return
        at = report.timestamp or self._clock.now()
        query = SessionQuery(
            station_id=binding.station_id,
            state=SessionState.ACTIVE,
            started_from=at - self._abandon_after,
        )
        page = self._sessions.list(binding.tenant_id, query, limit=10)
        session = next((s for s in page.items if s.evse == report.evse), None)
        if session is None:
            return
        chunk = MeterChunk(
            session_id=session.id,
            key=chunk_key_status(at, state),
            charging_state=state,
            state_at=at,
        )
        self._sessions.add_chunk(session.tenant_id, chunk)

    # -- the one write path of transaction messages -------------------------------------------
    def _apply(
        self,
        binding: ConnectionBinding,
        transaction_id: str,
        facts: TransactionFacts,
        chunk: MeterChunk | None,
        anomalies: list[Anomaly],
        *,
        ocpp16_id: int | None = None,
    ) -> None:
        sid = session_id(binding.station_id, transaction_id)
        for attempt in range(self._ATTEMPTS):
            snapshot = self._sessions.load(sid)
            try:
                if snapshot.session is None:
                    if self._create(
                        binding,
                        transaction_id,
                        facts,
                        chunk,
                        anomalies=anomalies,
                        ocpp16_id=ocpp16_id,
                    ):
                        return
                else:
                    self._update(snapshot, facts, chunk, anomalies)
                    return
            except StaleSessionError:
                pass
            except DuplicateChunkError:
                logger.info(
                    "transaction message seen before",
                    extra={"station_id": binding.station_id, "session_id": sid},
                )
                return
            self._backoff(attempt)
        raise StaleSessionError(sid)

    def _create(
        self,
        binding: ConnectionBinding,
        transaction_id: str,
        facts: TransactionFacts,
        chunk: MeterChunk | None,
        *,
        anomalies: list[Anomaly],
        ocpp16_id: int | None,
    ) -> bool:
        now = self._clock.now()
        empty = new_session(
            tenant_id=binding.tenant_id,
            station_id=binding.station_id,
            transaction_id=transaction_id,
            protocol=binding.protocol,
            now=now,
            ocpp16_id=ocpp16_id,
            site_id=binding.site_id,
        )
        found = list(anomalies)
        if binding.protocol is ProtocolVersion.OCPP16:
            # 1.6 transaction ids come from this CSMS: one it never handed out means the
            # StartTransaction was lost (the station made up the id, or the record is gone).
            kind = (
                AnomalyKind.START_MISSING
                if facts.event_type is EventType.ENDED
                else AnomalyKind.UNKNOWN_TRANSACTION
            )
            found.append(Anomaly(kind=kind, at=now, detail=f"transactionId {transaction_id}"))
        session = merge(empty, facts, now)
        if session.group_id is None and session.id_token is not None:
            token = self._tokens.get(binding.tenant_id, session.id_token)
            if token is not None and token.group_id:
                session = session.model_copy(update={"group_id": token.group_id})
        session = session.noting(*found, *consistency_anomalies(None, session))
        events: list[DomainEvent] = [_started(session, now)]
        if session.state is SessionState.ENDED:
            session = session.model_copy(update={"revision": 1})
            events.append(_ended(session, now, totals(session, chunk)))
        return self._sessions.create(session, chunk=chunk, events=events)

    def _update(
        self,
        snapshot: SessionSnapshot,
        facts: TransactionFacts,
        chunk: MeterChunk | None,
        anomalies: list[Anomaly],
    ) -> None:
        now = self._clock.now()
        before = snapshot.session
        assert before is not None  # noqa: S101 - the caller checked
        previous = _newest_mark(before, snapshot.newest)
        base = before
        if facts.event_type is EventType.ENDED and before.state is SessionState.ACTIVE:
            # The live figures were in the chunks; the ended session keeps them itself.
            base = self._absorb(before, snapshot.newest)
        if chunk is not None and facts.event_type is not EventType.STARTED:
            drop = decreasing(previous, chunk)
            if drop is not None:
                anomalies = [*anomalies, drop]
        after = merge(base, facts, now)
        after = after.noting(*anomalies, *consistency_anomalies(before, after))
        events: list[DomainEvent] = []
        ended_now = before.state is SessionState.ACTIVE and after.state is SessionState.ENDED
        reopened_by_stop = before.closed_by_cleanup and not after.closed_by_cleanup
        corrected = before.state is SessionState.ENDED and _final_changed(before, after)
        if ended_now or reopened_by_stop or corrected:
            after = after.model_copy(update={"revision": before.revision + 1})
            events.append(_ended(after, now, totals(after, None)))
        elif after.charging_state != before.charging_state:
            events.append(_updated(after, now, totals(after, chunk)))
        if events or anomalies or _changed(before, after):
            self._sessions.save(after, chunk=chunk, events=events)
            if ended_now and facts.meter_stop is None:
                self._reconcile(after.id)
            return
        if chunk is None:
            return
        progress = self._progress(after, previous, chunk, now)
        if not self._sessions.add_chunk(after.tenant_id, chunk, events=progress):
            raise DuplicateChunkError(after.id, chunk.key)

    def _reconcile(self, sid: str) -> None:
        """After an end taken from the chunks, take in a chunk another invocation added meanwhile.

        The meter-only write of a concurrent update does not touch the session (one write per
        MeterValues), so the end re-reads once and publishes a corrected end if it missed one.
        """
        for attempt in range(self._ATTEMPTS):
            snapshot = self._sessions.load(sid)
            session = snapshot.session
            newest = snapshot.newest
            if newest is not None and newest.register is None:
                newest = self._newest_with_register(sid)
            mark = newest.register if newest is not None else None
            if session is None or mark is None:
                return
            if session.meter_last is not None and mark.at <= session.meter_last.at:
                return
            now = self._clock.now()
            corrected = session.model_copy(
                update={
                    "meter_last": mark,
                    "meter_stop_wh": mark.wh,
                    "revision": session.revision + 1,
                    "updated_at": now,
                }
            )
            try:
                self._sessions.save(
                    corrected, events=[_ended(corrected, now, totals(corrected, None))]
                )
            except StaleSessionError:
                self._backoff(attempt)
                continue
            return

    def _absorb(self, session: Session, newest: MeterChunk | None) -> Session:
        """The session with the newest register, power and SoC of its chunks."""
        if newest is not None and newest.register is None:
            newest = self._newest_with_register(session.id) or newest
        live = totals(session, newest)
        return session.model_copy(
            update={"meter_last": live.meter_last, "power_w": live.power_w, "soc": live.soc}
        )

    def _newest_with_register(self, sid: str) -> MeterChunk | None:
        # The highest chunk key had no register (a 2.0.1 event without meter values): look
        # through the session's chunks, once, at its end.
        best: MeterChunk | None = None
        cursor: str | None = None
        while True:
            page = self._sessions.chunks(sid, 100, cursor)
            for chunk in page.items:
                mark = chunk.register
                if mark is not None and (best is None or mark.at >= (best.last_at or mark.at)):
                    best = chunk
            if page.next_cursor is None:
                return best
            cursor = page.next_cursor

    def _progress(
        self,
        session: Session,
        previous: MeterMark | None,
        chunk: MeterChunk,
        now: datetime,
    ) -> list[DomainEvent]:
        """A TransactionUpdated when the chunk is the newest and opens a new period."""
        mark = chunk.register
        if session.state is not SessionState.ACTIVE or mark is None:
            return []
        since = previous.at if previous is not None else session.started_at
        if since is not None and mark.at <= since:
            return []
        period = self._update_interval.total_seconds()
        if since is not None and int(mark.at.timestamp() // period) == int(
            since.timestamp() // period
        ):
            return []
        return [_updated(session, now, totals(session, chunk))]

    # -- cleanup -----------------------------------------------------------------------------
    def close_abandoned(self, limit: int = 100) -> list[str]:
        """Close active sessions whose station has not reported on them for too long.

        Returns the ids closed. Safe to run concurrently with the stations' own messages: a
        session written since it was read is left for the next run, and a real stop arriving
        after the cleanup replaces the cleanup's end (and publishes the correction).
        """
        now = self._clock.now()
        closed: list[str] = []
        cursor: str | None = None
        while True:
            page = self._sessions.open_sessions(limit, cursor)
            for session in page.items:
                snapshot = self._sessions.load(session.id)
                current = snapshot.session
                if current is None or current.state is not SessionState.ACTIVE:
                    continue
                last_seen = current.last_activity
                if snapshot.newest is not None and snapshot.newest.last_at is not None:
                    last_seen = max(last_seen, snapshot.newest.last_at)
                if now - last_seen < self._abandon_after:
                    continue
                ended = abandon(current, now, last_seen)
                ended = ended.model_copy(
                    update={
                        "meter_last": totals(current, snapshot.newest).meter_last,
                        "revision": current.revision + 1,
                    }
                )
                try:
                    self._sessions.save(ended, events=[_ended(ended, now, totals(ended, None))])
                except StaleSessionError:
                    continue
                closed.append(current.id)
            if page.next_cursor is None:
                return closed
            cursor = page.next_cursor

    # -- reading ---------------------------------------------------------------------------
    def view(self, tenant_id: str, sid: str) -> SessionView:
        """A session of the tenant with its live totals."""
        snapshot = self._sessions.load(sid)
        session = snapshot.session
        if session is None or session.tenant_id != tenant_id:
            raise SessionNotFoundError(sid)
        return SessionView(session=session, totals=totals(session, snapshot.newest))

    def find(
        self, tenant_id: str, query: SessionQuery, limit: int, cursor: str | None = None
    ) -> Page[Session]:
        """A tenant's sessions, filtered, newest first."""
        return self._sessions.list(tenant_id, query, limit, cursor)

    def chunks(
        self, tenant_id: str, sid: str, limit: int, cursor: str | None = None
    ) -> Page[MeterChunk]:
        """A tenant's session's meter data, oldest first."""
        session = self._sessions.get(sid)
        if session is None or session.tenant_id != tenant_id:
            raise SessionNotFoundError(sid)
        return self._sessions.chunks(sid, limit, cursor)

    # -- helpers -----------------------------------------------------------------------------
    def _incoming(
        self, at: datetime, raw: Sequence[RawReading], now: datetime
    ) -> tuple[datetime, list[Reading], list[Anomaly]]:
        """A transaction message's time and readings as believed, and what was wrong with them."""
        timestamp, anomalies = self._believable(at, now)
        readings, found = normalize(raw, now, self._window)
        return timestamp, readings, [*anomalies, *found]

    def _believable(self, at: datetime, now: datetime) -> tuple[datetime, list[Anomaly]]:
        """A message time, or now when the station's clock cannot be right (kept as anomaly)."""
        problem = self._window.check(at, now)
        if problem is None:
            return at, []
        return now, [Anomaly(kind=problem, at=now, detail=f"timestamp {at.isoformat()}")]


def _start_key(station_id: str, request: StartTransactionRequest) -> str:
    content = "|".join(
        (
            station_id,
            str(request.evse.evse_id),
            request.token.key,
            request.timestamp.isoformat(),
            str(request.meter_start_wh),
        )
    )
    return hashlib.sha256(content.encode()).hexdigest()[:32]


def _newest_mark(session: Session, newest: MeterChunk | None) -> MeterMark | None:
    marks = [session.meter_start, session.meter_last, newest.register if newest else None]
    known = [mark for mark in marks if mark is not None]
    return max(known, key=lambda mark: mark.at) if known else None


# What the session item is not rewritten for while active: the live figures (register, power,
# SoC) live in its chunks, and a higher seqNo that changes no value needs no write. (The price:
# a state change arriving late, below a same-value seqNo that was not written, can win.)
_LIVE_FIELDS = frozenset(
    {"updated_at", "version", "meter_last", "power_w", "soc", "seq_no", "charging_state_seq"}
)


def _changed(before: Session, after: Session) -> bool:
    skip = _LIVE_FIELDS if after.state is SessionState.ACTIVE else {"updated_at", "version"}
    return before.model_dump(exclude=set(skip)) != after.model_dump(exclude=set(skip))


def _final_changed(before: Session, after: Session) -> bool:
    return (before.energy_wh, before.stopped_at, before.started_at, before.meter_start) != (
        after.energy_wh,
        after.stopped_at,
        after.started_at,
        after.meter_start,
    )


def _started(session: Session, now: datetime) -> TransactionStarted:
    return TransactionStarted(
        station_id=session.station_id,
        tenant_id=session.tenant_id,
        occurred_at=session.started_at or now,
        session_id=session.id,
        transaction_id=session.transaction_id,
        evse=session.evse,
        protocol=session.protocol,
        site_id=session.site_id,
        id_token=session.id_token,
        group_id=session.group_id,
        authorization=session.authorization.status if session.authorization else None,
        started_at=session.started_at,
        meter_start_wh=session.meter_start.wh if session.meter_start else None,
        remote_start_id=session.remote_start_id,
    )


def _updated(session: Session, now: datetime, live: SessionTotals) -> TransactionUpdated:
    return TransactionUpdated(
        station_id=session.station_id,
        tenant_id=session.tenant_id,
        occurred_at=live.meter_last.at if live.meter_last else now,
        session_id=session.id,
        transaction_id=session.transaction_id,
        evse=session.evse,
        energy_wh=live.energy_wh,
        power_w=live.power_w,
        soc=live.soc,
        charging_state=session.charging_state,
        meter_at=live.meter_last.at if live.meter_last else None,
    )


def _ended(session: Session, now: datetime, final: SessionTotals) -> TransactionEnded:
    return TransactionEnded(
        station_id=session.station_id,
        tenant_id=session.tenant_id,
        occurred_at=session.stopped_at or now,
        session_id=session.id,
        transaction_id=session.transaction_id,
        evse=session.evse,
        revision=session.revision,
        site_id=session.site_id,
        id_token=session.id_token,
        group_id=session.group_id,
        started_at=session.started_at,
        stopped_at=session.stopped_at,
        duration_s=int(final.duration.total_seconds()) if final.duration is not None else None,
        energy_wh=final.energy_wh,
        meter_start_wh=session.meter_start.wh if session.meter_start else None,
        meter_stop_wh=session.meter_stop_wh,
        stop_reason=session.stop_reason,
        closed_by_cleanup=session.closed_by_cleanup,
        anomalies=[a.kind for a in session.anomalies],
    )
