"""CallRepository on the single table: command records, each station's queue and its slot.

Items, all in the station's partition (`STATION#{id}`):
- `CMD#{command id}`: the record (the whole CommandRecord as JSON in `body`). Command ids sort by
  time, so the history is one Query, newest first.
- `QUEUE#{command id}`: a queued command, with its record as it was queued and the command to
  encode when it goes out. It leaves the queue in the same transaction that changes the record.
- `CALL#OUTSTANDING`: the slot naming the latest call sent. It is free when that call has ended
  (its record is no longer Pending) or is past its deadline, so closing a call writes only the
  record: the station's answer costs one read and one write.
- `LOCALLIST`: the counter of the station's local authorization list versions.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from csms.adapters.dynamo import (
    _epoch,
    _is_conditional_failure,
    decode_cursor,
    encode_cursor,
    station_pk,
)
from csms.adapters.dynamo_models import _Item
from csms.domain.command_records import CommandRecord, CommandState, QueuedCommand
from csms.domain.commands import Command
from csms.domain.errors import CallInProgressError
from csms.services.ports import Page

# Records stay readable this long after their time-to-live ended.
RECORD_RETENTION = timedelta(days=30)
# How many records one history page may read, per record it returns, to fill the page.
_SCAN_FACTOR = 10

SLOT = "CALL#OUTSTANDING"
_RECORD = "CMD#"
_QUEUE = "QUEUE#"
LOCAL_LIST = "LOCALLIST"

_COMMAND: TypeAdapter[Command] = TypeAdapter(cast(Any, Command))  # an Annotated union


class CallSlotItem(_Item):
    """The one outstanding CSMS-initiated call of a station."""

    unique_id = UnicodeAttribute()
    deadline = NumberAttribute()  # epoch milliseconds
    expires_at = NumberAttribute(null=True)


class CommandItem(_Item):
    """A command and what became of it."""

    state = UnicodeAttribute()
    action = UnicodeAttribute(null=True)
    body = UnicodeAttribute()
    expires_at = NumberAttribute(null=True)


class QueueItem(_Item):
    """A command waiting in its station's queue."""

    record = UnicodeAttribute()
    command = UnicodeAttribute()
    expires_at = NumberAttribute(null=True)


class LocalListItem(_Item):
    """A station's local authorization list version counter."""

    version = NumberAttribute(null=True)


def _epoch_ms(value: datetime) -> int:
    # Deadlines compare in milliseconds: whole seconds would end a 1 s call up to 1 s early.
    return int(value.timestamp() * 1000)


def _record_item(record: CommandRecord) -> CommandItem:
    return CommandItem(
        station_pk(record.station_id),
        f"{_RECORD}{record.id}",
        tenant_id=record.tenant_id,
        state=record.state.value,
        action=record.action,
        body=record.model_dump_json(),
        expires_at=_epoch(record.expires_at + RECORD_RETENTION),
    )


def _queue_item(record: CommandRecord, command: Command) -> QueueItem:
    return QueueItem(
        station_pk(record.station_id),
        f"{_QUEUE}{record.id}",
        tenant_id=record.tenant_id,
        record=record.model_dump_json(),
        command=_COMMAND.dump_json(command, by_alias=True).decode(),
        expires_at=_epoch(record.expires_at),
    )


def _transaction() -> TransactWrite:
    # The models share one table, hence one connection.
    return TransactWrite(connection=CommandItem._get_connection().connection)


class DynamoCallRepository:
    """CallRepository on the single table (see the module docstring for the items)."""

    def add(self, record: CommandRecord, command: Command | None = None) -> None:
        """Store a new record; a queued one with its queue entry, in one transaction."""
        if record.state is not CommandState.QUEUED or command is None:
            _record_item(record).save(condition=CommandItem.PK.does_not_exist())
            return
        with _transaction() as tx:
            tx.save(_record_item(record), condition=CommandItem.PK.does_not_exist())
            tx.save(_queue_item(record, command))

    def open(self, record: CommandRecord, now: datetime, *, from_queue: bool = False) -> bool:
        """Take the slot and store the pending record (leaving the queue), in one transaction."""
        pk = station_pk(record.station_id)
        deadline = record.deadline or now
        slot = CallSlotItem(
            pk,
            SLOT,
            tenant_id=record.tenant_id,
            unique_id=record.id,
            deadline=_epoch_ms(deadline),
            expires_at=_epoch(deadline) + 60,
        )
        holder = self._holder(pk)
        try:
            with _transaction() as tx:
                if holder is None:
                    tx.save(slot, condition=CallSlotItem.PK.does_not_exist())
                else:
                    if holder.deadline > _epoch_ms(now):
                        tx.condition_check(
                            CommandItem,
                            pk,
                            f"{_RECORD}{holder.unique_id}",
                            condition=CommandItem.PK.does_not_exist()
                            | (CommandItem.state != CommandState.PENDING.value),
                        )
                    # Unchanged since read: a concurrent open loses the race.
                    tx.save(slot, condition=CallSlotItem.unique_id == holder.unique_id)
                if from_queue:
                    tx.save(
                        _record_item(record),
                        condition=CommandItem.state == CommandState.QUEUED.value,
                    )
                    tx.delete(QueueItem(pk, f"{_QUEUE}{record.id}"))
                else:
                    tx.save(_record_item(record), condition=CommandItem.PK.does_not_exist())
        except TransactWriteError as exc:
            if not _is_conditional_failure(exc):
                raise
            if from_queue:
                current = self.get(record.station_id, record.id)
                if current is None or current.state is not CommandState.QUEUED:
                    return False
            latest = self._holder(pk)
            raise CallInProgressError(
                record.station_id, latest.unique_id if latest else None
            ) from None
        return True

    @staticmethod
    def _holder(pk: str) -> CallSlotItem | None:
        try:
            return CallSlotItem.get(pk, SLOT, consistent_read=True)
        except CallSlotItem.DoesNotExist:
            return None

    def requeue(self, record: CommandRecord, command: Command) -> bool:
        """Back to Queued, and into the queue under its old id (so at its old place)."""
        try:
            with _transaction() as tx:
                tx.save(
                    _record_item(record), condition=CommandItem.state == CommandState.PENDING.value
                )
                tx.save(_queue_item(record, command))
        except TransactWriteError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def close(self, record: CommandRecord) -> bool:
        """Store the outcome if the call was still pending; that alone frees the slot."""
        try:
            _record_item(record).save(condition=CommandItem.state == CommandState.PENDING.value)
        except PutError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def drop(self, record: CommandRecord) -> bool:
        """Store the final state of a queued record and delete its queue entry, atomically."""
        pk = station_pk(record.station_id)
        try:
            with _transaction() as tx:
                tx.save(
                    _record_item(record), condition=CommandItem.state == CommandState.QUEUED.value
                )
                tx.delete(QueueItem(pk, f"{_QUEUE}{record.id}"))
        except TransactWriteError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def get(self, station_id: str, command_id: str) -> CommandRecord | None:
        """Strongly consistent: replies can follow the call within milliseconds."""
        try:
            item = CommandItem.get(
                station_pk(station_id), f"{_RECORD}{command_id}", consistent_read=True
            )
        except CommandItem.DoesNotExist:
            return None
        return CommandRecord.model_validate_json(item.body)

    def head(self, station_id: str) -> QueuedCommand | None:
        """The queue entry with the smallest (oldest) id.

        An entry whose command no longer reads (the catalogue changed under it) fails, rather
        than blocking the queue behind it.
        """
        while True:
            item = self._first_queued(station_id, keys_only=False)
            if item is None:
                return None
            record = CommandRecord.model_validate_json(item.record)
            try:
                return QueuedCommand(record=record, command=_COMMAND.validate_json(item.command))
            except ValidationError:
                failed = record.ended(
                    CommandState.FAILED,
                    error_code="InvalidCommand",
                    error_description="the queued command could not be read back",
                )
                if not self.drop(failed):  # pragma: no cover - an entry without its record
                    QueueItem(item.PK, item.SK).delete()

    def has_queued(self, station_id: str) -> bool:
        """One small strongly consistent read of the first queue key."""
        return self._first_queued(station_id, keys_only=True) is not None

    @staticmethod
    def _first_queued(station_id: str, *, keys_only: bool) -> QueueItem | None:
        extra: dict[str, Any] = {"attributes_to_get": ["PK", "SK"]} if keys_only else {}
        for item in QueueItem.query(
            station_pk(station_id),
            QueueItem.SK.startswith(_QUEUE),
            limit=1,
            consistent_read=True,
            **extra,
        ):
            return item
        return None

    def history(
        self,
        station_id: str,
        limit: int,
        cursor: str | None = None,
        keep: Callable[[CommandRecord], bool] | None = None,
    ) -> Page[CommandRecord]:
        """Newest first; reads at most `_SCAN_FACTOR * limit` records for one page."""
        pk = station_pk(station_id)
        results = CommandItem.query(
            pk,
            CommandItem.SK.startswith(_RECORD),
            scan_index_forward=False,
            page_size=limit,
            last_evaluated_key=decode_cursor(cursor, pk, sort_prefix=_RECORD),
        )
        items: list[CommandRecord] = []
        for examined, item in enumerate(results, start=1):
            record = CommandRecord.model_validate_json(item.body)
            if keep is None or keep(record):
                items.append(record)
            if len(items) == limit or examined >= _SCAN_FACTOR * limit:
                return Page(items=items, next_cursor=_key_cursor(pk, item.SK))
        return Page(items=items)

    def next_list_version(self, station_id: str) -> int:
        """Atomic counter: concurrent lists get distinct versions."""
        item = LocalListItem(station_pk(station_id), LOCAL_LIST)
        item.update(actions=[LocalListItem.version.add(1)])
        return int(item.version or 0)


def _key_cursor(pk: str, sk: str) -> str | None:
    return encode_cursor({"PK": {"S": pk}, "SK": {"S": sk}})


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_last_id = [0]
_id_lock = threading.Lock()


def new_command_id() -> str:
    """A ULID (26 characters): 48 bits of milliseconds, then 80 random bits, in Crockford base32.

    Ids sort by time, so a station's history is its partition read backwards; it is the CALL's
    unique id too (OCPP allows 36 characters). Within one millisecond the next id is the last
    plus one (ULID's monotonic rule), so ids made in order sort in order.
    """
    now_ms = time.time_ns() // 1_000_000
    with _id_lock:
        value = now_ms << 80 | secrets.randbits(80)
        if value >> 80 <= _last_id[0] >> 80:
            value = _last_id[0] + 1
        _last_id[0] = value
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
