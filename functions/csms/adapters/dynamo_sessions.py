"""DynamoDB implementations of the session and token ports (pynamodb on the single table).

Writes per message (what `make bench` measures):
- MeterValues / TransactionEvent(Updated) with meter data only: one PutItem of a chunk;
- 1.6 StartTransaction: the counter, then the session and its start key in one transaction;
- 2.0.1 TransactionEvent(Started): the session and its chunk in one transaction.

A session and its chunks share a partition, and the session's sort key ("SESSION") sorts after
every chunk's ("MV#..."): one reverse Query of two items reads the session and its newest chunk.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from csms.adapters.dynamo import (
    _epoch,
    _is_conditional_failure,
    _outbox_values,
    _token_item,
    decode_cursor,
    encode_cursor,
    station_pk,
    tenant_pk,
)
from csms.adapters.dynamo_models import (
    AuthorizationItem,
    ChunkItem,
    CounterItem,
    SessionItem,
    StartKeyItem,
    StationReadingItem,
    TokenItem,
)
from csms.adapters.outbox import OutboxEncoder
from csms.domain.connector import EvseRef
from csms.domain.errors import DuplicateChunkError, StaleSessionError
from csms.domain.events import DomainEvent
from csms.domain.meter import Measurand, Reading, Sample
from csms.domain.sessions import ChargingState, EventType, MeterChunk, Session, SessionState
from csms.domain.tokens import IdToken, IdTokenType, TokenStatus, token_key
from csms.services.ports import AuthorizationRecord, Page, SessionQuery, SessionSnapshot

SESSION_SK = "SESSION"
CHUNK_PREFIX = "MV#"
OPEN_PARTITION = "OPEN"
# Start keys only need to outlive a station's retries of one StartTransaction.
START_KEY_TTL = timedelta(days=30)
AUTHORIZATION_TTL = timedelta(days=90)
STATION_READINGS_TTL = timedelta(days=90)

# Measurand <-> one-letter code in stored chunks: a chunk stays well under 1 KB.
_CODES = {
    Measurand.ENERGY: "E",
    Measurand.POWER: "P",
    Measurand.CURRENT: "I",
    Measurand.VOLTAGE: "U",
    Measurand.SOC: "S",
}
_MEASURANDS = {code: measurand for measurand, code in _CODES.items()}


def session_pk(session_id: str) -> str:
    """Partition of a session and its chunks."""
    return f"SESSION#{session_id}"


def encode_readings(readings: Sequence[Reading]) -> str:
    """Readings as compact JSON: `[[time, [[code, phase, value, context], ...]], ...]`."""
    return json.dumps(
        [
            [
                r.timestamp.astimezone(UTC).isoformat(),
                [[_CODES[s.measurand], s.phase, str(s.value), s.context] for s in r.samples],
            ]
            for r in readings
        ],
        separators=(",", ":"),
    )


def decode_readings(raw: str | None) -> tuple[Reading, ...]:
    """Readings back from `encode_readings`."""
    if not raw:
        return ()
    return tuple(
        Reading(
            timestamp=datetime.fromisoformat(at),
            samples=tuple(
                Sample(
                    measurand=_MEASURANDS[code],
                    phase=phase,
                    value=Decimal(value),
                    context=context,
                )
                for code, phase, value, context in samples
            ),
        )
        for at, samples in json.loads(raw)
    )


def _chunk_item(tenant_id: str, chunk: MeterChunk) -> ChunkItem:
    return ChunkItem(
        session_pk(chunk.session_id),
        CHUNK_PREFIX + chunk.key,
        tenant_id=tenant_id,
        readings=encode_readings(chunk.readings) if chunk.readings else None,
        seq_no=chunk.seq_no,
        event_type=chunk.event_type.value if chunk.event_type else None,
        charging_state=chunk.charging_state.value if chunk.charging_state else None,
        state_at=chunk.state_at.astimezone(UTC).isoformat() if chunk.state_at else None,
    )


def _chunk(item: ChunkItem) -> MeterChunk:
    return MeterChunk(
        session_id=item.PK.removeprefix("SESSION#"),
        key=item.SK.removeprefix(CHUNK_PREFIX),
        readings=decode_readings(item.readings),
        seq_no=int(item.seq_no) if item.seq_no is not None else None,
        event_type=EventType(item.event_type) if item.event_type else None,
        charging_state=ChargingState(item.charging_state) if item.charging_state else None,
        state_at=datetime.fromisoformat(item.state_at) if item.state_at else None,
    )


def _start_sort(session: Session) -> str:
    at = session.started_at or session.updated_at
    return f"{at.astimezone(UTC).isoformat()}#{session.id}"


def _session_item(session: Session, version: int) -> SessionItem:
    sort = _start_sort(session)
    tenant = tenant_pk(session.tenant_id)
    item = SessionItem(
        session_pk(session.id),
        SESSION_SK,
        tenant_id=session.tenant_id,
        GSI1PK=f"{tenant}#SESSION",
        GSI1SK=sort,
        GSI3PK=f"{tenant}#STATION#{session.station_id}",
        GSI3SK=sort,
        state=session.state.value,
        version=version,
        body=session.model_dump_json(exclude={"version"}),
    )
    if session.id_token is not None:
        item.GSI2PK = f"{tenant}#TOKEN#{token_key(session.id_token)}"
        item.GSI2SK = sort
    if session.state is SessionState.ACTIVE:
        item.GSI4PK = OPEN_PARTITION
        item.GSI4SK = sort
    return item


def _session(item: SessionItem) -> Session:
    return Session.model_validate_json(item.body).model_copy(update={"version": int(item.version)})


def _cancelled_by(exc: TransactWriteError) -> list[bool]:
    """Which items of a cancelled transaction failed their condition."""
    return [
        reason is not None and reason.code == "ConditionalCheckFailed"
        for reason in exc.cancellation_reasons
    ]


class DynamoSessionRepository:
    """SessionRepository on the single table."""

    def __init__(self, outbox: OutboxEncoder) -> None:
        self._outbox = outbox

    def _with_outbox(self, item: Any, events: Sequence[DomainEvent]) -> Any:
        for name, value in _outbox_values(self._outbox, events).items():
            setattr(item, name, value)
        return item

    def load(self, session_id: str) -> SessionSnapshot:
        """The session and its newest chunk: one strongly consistent Query of two items."""
        session: Session | None = None
        newest: MeterChunk | None = None
        # Two item types in one query: read them raw, then each with its own model.
        response = SessionItem._get_connection().query(
            session_pk(session_id), scan_index_forward=False, limit=2, consistent_read=True
        )
        for raw in response.get("Items", []):
            sort_key = raw["SK"]["S"]
            if sort_key == SESSION_SK:
                session = _session(SessionItem.from_raw_data(raw))
            elif sort_key.startswith(CHUNK_PREFIX) and newest is None:
                newest = _chunk(ChunkItem.from_raw_data(raw))
        return SessionSnapshot(session=session, newest=newest)

    def next_transaction_number(self) -> int:
        """ADD 1 to the counter and return the new value (atomic)."""
        counter = CounterItem("COUNTER", "TRANSACTION")
        counter.update(actions=[CounterItem.value.add(1)])
        return int(counter.value)

    def find_start(self, station_id: str, start_key: str) -> str | None:
        """The session a StartTransaction with this content started."""
        try:
            item = StartKeyItem.get(
                station_pk(station_id), f"START#{start_key}", consistent_read=True
            )
        except StartKeyItem.DoesNotExist:
            return None
        return item.session_id

    def create(
        self,
        session: Session,
        *,
        chunk: MeterChunk | None = None,
        start_key: str | None = None,
        events: Sequence[DomainEvent] = (),
    ) -> bool:
        """Put the session (and its start key and first chunk) if none of them exists."""
        item = self._with_outbox(_session_item(session, 1), events)
        if chunk is None and start_key is None:
            try:
                item.save(condition=SessionItem.PK.does_not_exist())
            except PutError as exc:
                if _is_conditional_failure(exc):
                    return False
                raise
            return True
        try:
            with TransactWrite(connection=SessionItem._get_connection().connection) as tx:
                tx.save(item, condition=SessionItem.PK.does_not_exist())
                if start_key is not None:
                    tx.save(
                        StartKeyItem(
                            station_pk(session.station_id),
                            f"START#{start_key}",
                            tenant_id=session.tenant_id,
                            session_id=session.id,
                            expires_at=_epoch(session.updated_at + START_KEY_TTL),
                        ),
                        condition=StartKeyItem.PK.does_not_exist(),
                    )
                if chunk is not None:
                    tx.save(
                        _chunk_item(session.tenant_id, chunk),
                        condition=ChunkItem.PK.does_not_exist(),
                    )
        except TransactWriteError as exc:
            if not _is_conditional_failure(exc):
                raise
            failed = _cancelled_by(exc)
            if chunk is not None and failed[-1] and not any(failed[:-1]):
                raise DuplicateChunkError(session.id, chunk.key) from None
            return False
        return True

    def save(
        self,
        session: Session,
        *,
        chunk: MeterChunk | None = None,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        """Put the session over the version read (and a new chunk), atomically."""
        item = self._with_outbox(_session_item(session, session.version + 1), events)
        condition = SessionItem.version == session.version
        if chunk is None:
            try:
                item.save(condition=condition)
            except PutError as exc:
                if _is_conditional_failure(exc):
                    raise StaleSessionError(session.id) from None
                raise
            return
        try:
            with TransactWrite(connection=SessionItem._get_connection().connection) as tx:
                tx.save(item, condition=condition)
                tx.save(
                    _chunk_item(session.tenant_id, chunk), condition=ChunkItem.PK.does_not_exist()
                )
        except TransactWriteError as exc:
            if not _is_conditional_failure(exc):
                raise
            stale, duplicate = _cancelled_by(exc)
            if duplicate and not stale:
                raise DuplicateChunkError(session.id, chunk.key) from None
            raise StaleSessionError(session.id) from None

    def add_chunk(
        self, tenant_id: str, chunk: MeterChunk, events: Sequence[DomainEvent] = ()
    ) -> bool:
        """One conditional PutItem: the only write of a plain meter values message."""
        item = self._with_outbox(_chunk_item(tenant_id, chunk), events)
        try:
            item.save(condition=ChunkItem.PK.does_not_exist())
        except PutError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def chunks(self, session_id: str, limit: int, cursor: str | None = None) -> Page[MeterChunk]:
        """Oldest first."""
        partition = session_pk(session_id)
        result = ChunkItem.query(
            partition,
            ChunkItem.SK.startswith(CHUNK_PREFIX),
            limit=limit,
            consistent_read=True,
            last_evaluated_key=decode_cursor(cursor, partition, sort_prefix=CHUNK_PREFIX),
        )
        items = [_chunk(item) for item in result]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))

    def get(self, session_id: str) -> Session | None:
        """The session item (strongly consistent)."""
        try:
            return _session(
                SessionItem.get(session_pk(session_id), SESSION_SK, consistent_read=True)
            )
        except SessionItem.DoesNotExist:
            return None

    def active_for_token(self, tenant_id: str, token_value: str) -> list[Session]:
        """The token's newest sessions, read through the token index, kept if active."""
        partition = f"{tenant_pk(tenant_id)}#TOKEN#{token_key(token_value)}"
        keys = [
            (item.PK, item.SK)
            for item in SessionItem.by_token.query(partition, scan_index_forward=False, limit=10)
        ]
        return [s for s in self._batch(keys) if s.state is SessionState.ACTIVE]

    def _batch(self, keys: list[tuple[str, str]]) -> list[Session]:
        if not keys:
            return []
        found = {item.PK: _session(item) for item in SessionItem.batch_get(keys)}
        return [found[pk] for pk, _ in keys if pk in found]

    def list(
        self, tenant_id: str, query: SessionQuery, limit: int, cursor: str | None = None
    ) -> Page[Session]:
        """Newest start first, through the narrowest index; other filters on the items.

        The cursor is the index key of the last session returned, so a page that stops in
        the middle of an index page resumes right after it.
        """
        tenant = tenant_pk(tenant_id)
        index: Any
        if query.station_id is not None:
            index, name, partition = (
                SessionItem.by_station,
                "GSI3",
                f"{tenant}#STATION#{query.station_id}",
            )
        elif query.id_token is not None:
            index, name, partition = (
                SessionItem.by_token,
                "GSI2",
                f"{tenant}#TOKEN#{token_key(query.id_token)}",
            )
        else:
            index, name, partition = SessionItem.by_tenant, "GSI1", f"{tenant}#SESSION"
        sort_attribute = getattr(SessionItem, f"{name}SK")
        condition = None
        if query.started_from is not None and query.started_to is not None:
            condition = sort_attribute.between(
                query.started_from.astimezone(UTC).isoformat(),
                query.started_to.astimezone(UTC).isoformat(),
            )
        elif query.started_from is not None:
            condition = sort_attribute >= query.started_from.astimezone(UTC).isoformat()
        elif query.started_to is not None:
            condition = sort_attribute < query.started_to.astimezone(UTC).isoformat()
        start = _decode_index_cursor(cursor, name, partition)
        found: list[Session] = []
        while True:
            result = index.query(
                partition,
                condition,
                scan_index_forward=False,
                limit=limit,
                last_evaluated_key=start,
            )
            keys = [(item.PK, item.SK) for item in result]
            for session in self._batch(keys):
                if _matches(session, query):
                    found.append(session)
                if len(found) == limit:
                    # Resume right after the last session returned, even mid-page.
                    cursor_key = _index_key(session, name, partition)
                    return Page(items=found, next_cursor=encode_cursor(cursor_key))
            start = result.last_evaluated_key
            if start is None:
                return Page(items=found)

    def open_sessions(self, limit: int, cursor: str | None = None) -> Page[Session]:
        """Active sessions, oldest start first."""
        result = SessionItem.open_sessions.query(
            OPEN_PARTITION,
            limit=limit,
            last_evaluated_key=decode_cursor(cursor, OPEN_PARTITION, "GSI4PK"),
        )
        keys = [(item.PK, item.SK) for item in result]
        return Page(items=self._batch(keys), next_cursor=encode_cursor(result.last_evaluated_key))

    def record_authorization(
        self, record: AuthorizationRecord, events: Sequence[DomainEvent] = ()
    ) -> bool:
        """One item per Authorize message; a retransmission finds it and publishes nothing."""
        item = AuthorizationItem(
            station_pk(record.station_id),
            # The token too: stations may number messages from 1 again after a reboot.
            f"AUTH#{record.unique_id}#{record.token.key}",
            tenant_id=record.tenant_id,
            id_token=record.token.value,
            token_type=record.token.type.value if record.token.type else None,
            status=record.authorization.status.value,
            at=record.at,
            expires_at=_epoch(record.at + AUTHORIZATION_TTL),
        )
        try:
            self._with_outbox(item, events).save(condition=AuthorizationItem.PK.does_not_exist())
        except PutError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def put_station_readings(
        self, tenant_id: str, station_id: str, evse: EvseRef, readings: Sequence[Reading]
    ) -> None:
        """One item per reading time and connector; a retransmission overwrites itself."""
        now = datetime.now(UTC)
        for reading in readings:
            StationReadingItem(
                f"{station_pk(station_id)}#METER",
                f"{reading.timestamp.astimezone(UTC).isoformat()}"
                f"#{evse.evse_id:05d}#{evse.connector_id:05d}",
                tenant_id=tenant_id,
                evse_id=evse.evse_id,
                connector_id=evse.connector_id,
                readings=encode_readings([reading]),
                expires_at=_epoch(max(reading.timestamp, now) + STATION_READINGS_TTL),
            ).save()


def _matches(session: Session, query: SessionQuery) -> bool:
    if query.station_id is not None and session.station_id != query.station_id:
        return False
    if query.site_id is not None and session.site_id != query.site_id:
        return False
    if query.group_id is not None and session.group_id != query.group_id:
        return False
    if query.state is not None and session.state is not query.state:
        return False
    wanted = query.id_token
    return wanted is None or (
        session.id_token is not None and token_key(session.id_token) == token_key(wanted)
    )


def _index_key(session: Session, name: str, partition: str) -> dict[str, Any]:
    return {
        "PK": {"S": session_pk(session.id)},
        "SK": {"S": SESSION_SK},
        f"{name}PK": {"S": partition},
        f"{name}SK": {"S": _start_sort(session)},
    }


def _decode_index_cursor(cursor: str | None, name: str, partition: str) -> dict[str, Any] | None:
    if cursor is None:
        return None
    return decode_cursor(cursor, partition, f"{name}PK", sort_prefix=SESSION_SK)


class DynamoTokenRepository:
    """TokenRepository on the single table: a tenant's tokens in its partition."""

    def get(self, tenant_id: str, value: str) -> IdToken | None:
        """Strongly consistent: a token just blocked must not charge."""
        try:
            item = TokenItem.get(
                tenant_pk(tenant_id), f"TOKEN#{token_key(value)}", consistent_read=True
            )
        except TokenItem.DoesNotExist:
            return None
        return _token(item)

    def create(self, tenant_id: str, token: IdToken, at: datetime) -> bool:
        """Put the token if its value is new in the tenant."""
        try:
            _token_item(tenant_id, token, at).save(condition=TokenItem.PK.does_not_exist())
        except PutError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def replace(self, tenant_id: str, token: IdToken, at: datetime) -> bool:
        """Put the token over the version read (tokens without one are version 1)."""
        condition = TokenItem.version == token.version
        if token.version == 1:
            condition = condition | TokenItem.version.does_not_exist()
        item = _token_item(tenant_id, token, at, version=token.version + 1)
        try:
            item.save(condition=TokenItem.PK.exists() & condition)
        except PutError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> Page[IdToken]:
        """By value (upper-cased)."""
        partition = tenant_pk(tenant_id)
        result = TokenItem.query(
            partition,
            TokenItem.SK.startswith("TOKEN#"),
            limit=limit,
            last_evaluated_key=decode_cursor(cursor, partition, sort_prefix="TOKEN#"),
        )
        items = [_token(item) for item in result]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))


def _token(item: TokenItem) -> IdToken:
    return IdToken(
        id_token=item.id_token or item.SK.removeprefix("TOKEN#"),
        status=TokenStatus(item.status),
        type=IdTokenType(item.type) if item.type else None,
        expires_at=item.expires_at_time,
        group_id=item.group_id,
        parent_id_token=item.parent_id_token,
        version=int(item.version) if item.version is not None else 1,
    )
