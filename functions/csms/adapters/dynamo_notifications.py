"""DynamoDB implementations of the notification ports (pynamodb on the single table).

Items, all in the station's partition `STATION#{id}` and carrying `tenant_id`:
- a note per message: SK `NOTE#{kind}#{at}#{fingerprint}`, expiring `retention` (90 days by
  default) after it was received, so a station's clock cannot make it expire early or never;
- the latest note of each kind: SK `LASTNOTE#{kind}`, without the detail, never expiring (it is
  what an operator reads: "firmware: Installing since ...");
- the current charging needs of each EVSE: SK `NEEDS#{evse:05}`, the model as JSON.

A note and the latest of its kind are written in one transaction, conditioned on the latest not
being the same message (fingerprint) received within the retransmission window: a
retransmission changes nothing, in one request, with no read first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from csms.adapters.dynamo import (
    _epoch,
    _is_conditional_failure,
    decode_cursor,
    encode_cursor,
    station_pk,
)
from csms.adapters.dynamo_models import ChargingNeedsItem, StationNoteItem
from csms.domain.notifications import (
    RETRANSMISSION_WINDOW,
    ChargingNeeds,
    NoteKind,
    StationNote,
)
from csms.services.ports import Page

NOTE_RETENTION = timedelta(days=90)
# Charging needs stay a day past the vehicle's departure (or past their receipt when it gave
# none), and never longer than a month: a newer NotifyEVChargingNeeds replaces them anyway.
NEEDS_GRACE = timedelta(days=1)
NEEDS_MAX_AGE = timedelta(days=30)


def note_prefix(kind: NoteKind) -> str:
    """Sort-key prefix of a kind's notes (the `#` keeps `Event` from matching `EV...`)."""
    return f"NOTE#{kind.value}#"


def note_sk(note: StationNote) -> str:
    """Sort key of a note: by kind, then time (fixed-width UTC text sorts as time does)."""
    at = note.at.astimezone(UTC).isoformat(timespec="microseconds")
    return f"{note_prefix(note.kind)}{at}#{note.fingerprint}"


def latest_sk(kind: NoteKind) -> str:
    """Sort key of the latest note of a kind."""
    return f"LASTNOTE#{kind.value}"


def needs_sk(evse_id: int) -> str:
    """Sort key of an EVSE's charging needs, zero-padded to the domain's EVSE bound."""
    return f"NEEDS#{evse_id:05d}"


class DynamoStationNoteRepository:
    """StationNoteRepository on the single table."""

    def __init__(self, retention: timedelta = NOTE_RETENTION) -> None:
        self._retention = retention

    def record(self, station_id: str, tenant_id: str, note: StationNote) -> bool:
        """Note and latest-of-kind in one transaction; False for a retransmission."""
        pk = station_pk(station_id)
        latest = _item(pk, latest_sk(note.kind), tenant_id, note.without_detail())
        item = _item(pk, note_sk(note), tenant_id, note)
        item.expires_at = _epoch(note.received_at + self._retention)
        model = StationNoteItem
        new_message = (
            model.PK.does_not_exist()
            | (model.fingerprint != note.fingerprint)
            | (model.received_at < note.received_at - RETRANSMISSION_WINDOW)
        )
        try:
            with TransactWrite(connection=model._get_connection().connection) as tx:
                tx.save(latest, condition=new_message)
                tx.save(item)
        except TransactWriteError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def latest(self, station_id: str, kind: NoteKind) -> StationNote | None:
        """The latest note of a kind (strongly consistent: read right after a station wrote)."""
        try:
            item = StationNoteItem.get(
                station_pk(station_id), latest_sk(kind), consistent_read=True
            )
        except StationNoteItem.DoesNotExist:
            return None
        return _note(item)

    def list(
        self, station_id: str, kind: NoteKind, limit: int, cursor: str | None = None
    ) -> Page[StationNote]:
        """Newest first, one page at a time."""
        partition = station_pk(station_id)
        prefix = note_prefix(kind)
        result = StationNoteItem.query(
            partition,
            StationNoteItem.SK.startswith(prefix),
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=decode_cursor(cursor, partition, sort_prefix=prefix),
        )
        notes = [_note(item) for item in result]
        return Page(items=notes, next_cursor=encode_cursor(result.last_evaluated_key))


def _item(pk: str, sk: str, tenant_id: str, note: StationNote) -> StationNoteItem:
    return StationNoteItem(
        pk,
        sk,
        tenant_id=tenant_id,
        kind=note.kind.value,
        at=note.at,
        received_at=note.received_at,
        unique_id=note.unique_id,
        fingerprint=note.fingerprint,
        status=note.status,
        subject=note.subject,
        name=note.name,
        evse_id=note.evse_id,
        reference=note.reference,
        seq_no=note.seq_no,
        # Flags only when set: most notes are single messages with nothing cut.
        tbc=note.tbc or None,
        info=note.info,
        detail=note.detail,
        truncated=note.truncated or None,
    )


def _note(item: StationNoteItem) -> StationNote:
    return StationNote(
        kind=NoteKind(item.kind),
        at=item.at,
        received_at=item.received_at,
        unique_id=item.unique_id,
        fingerprint=item.fingerprint,
        status=item.status,
        subject=item.subject,
        name=item.name,
        evse_id=_int(item.evse_id),
        reference=_int(item.reference),
        seq_no=_int(item.seq_no),
        tbc=bool(item.tbc),
        info=item.info,
        detail=item.detail,
        truncated=bool(item.truncated),
    )


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


class DynamoChargingNeedsRepository:
    """ChargingNeedsRepository on the single table."""

    def put(self, station_id: str, tenant_id: str, needs: ChargingNeeds) -> bool:
        """One conditional put: replaces the EVSE's needs unless newer ones are held."""
        received = needs.received_at
        if received is None:
            raise ValueError("the needs need their received_at")
        item = ChargingNeedsItem(
            station_pk(station_id),
            needs_sk(needs.evse_id),
            tenant_id=tenant_id,
            evse_id=needs.evse_id,
            received_at=received,
            message_id=needs.message_id,
            body=needs.model_dump_json(),
            expires_at=_epoch(_needs_expiry(needs, received)),
        )
        condition = ChargingNeedsItem.PK.does_not_exist() | (
            ChargingNeedsItem.received_at <= received
        )
        if needs.message_id is not None:
            condition = condition & (
                ChargingNeedsItem.message_id.does_not_exist()
                | (ChargingNeedsItem.message_id != needs.message_id)
            )
        try:
            item.save(condition=condition)
        except PutError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def get(self, station_id: str, evse_id: int) -> ChargingNeeds | None:
        """Strongly consistent: smart charging reads right after the station told."""
        try:
            item = ChargingNeedsItem.get(
                station_pk(station_id), needs_sk(evse_id), consistent_read=True
            )
        except ChargingNeedsItem.DoesNotExist:
            return None
        return ChargingNeeds.model_validate_json(item.body)

    def list(self, station_id: str) -> list[ChargingNeeds]:
        """Every EVSE's needs, by EVSE id."""
        return [
            ChargingNeeds.model_validate_json(item.body)
            for item in ChargingNeedsItem.query(
                station_pk(station_id), ChargingNeedsItem.SK.startswith("NEEDS#")
            )
        ]


def _needs_expiry(needs: ChargingNeeds, received: datetime) -> datetime:
    departure = needs.departure_time or received
    # Capped before adding: a departure in year 9999 must not overflow.
    end = min(max(departure, received), received + NEEDS_MAX_AGE)
    return end + NEEDS_GRACE
