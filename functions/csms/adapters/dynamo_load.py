"""LoadRepository on the single table: all of a site's load management in one partition.

Items under `TENANT#{t}#SITE#{s}#LOAD`, each carrying `tenant_id`:
- `CONFIG`: the SiteLoadConfig as JSON in `body`, its `version` beside it (writes conditional);
- `ALLOCATION`: the Allocation in force as JSON (zlib-compressed in `packed` when large: an
  allocation of 1,000 EVSEs with their deliveries comes near the 400 KB item limit), its
  revision in `version` (writes conditional on it);
- `READINGS#{kind}`: the newest LOAD_READINGS_KEPT readings of one kind as a JSON list, each
  with its own expiry; TTL `expires_at` = the latest of them. One item per kind rather than one
  per reading: TTL deletes late (hours to days), and a meter posting every 10 s would otherwise
  leave thousands of dead items for every rebalance's query to read;
- `NEEDS#{sessionId}`: needs declared through the API (TTL `expires_at`);
- `EVENT`: written only to carry the outbox of a change that leaves no item of its own (the
  configuration deleted; TTL one day).

A system index lists every managed site for the periodic rebalance: `LOADSITES#{shard}` /
`{tenant}#{site}` (10 shards by a CRC of the key, so no partition grows with the fleet), put and
deleted in the same transaction as `CONFIG`.

`state()` is one strongly consistent query of the partition (pynamodb follows the pages past
1 MB); expired readings and needs are dropped by the clock, since TTL deletes late.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from csms.adapters.dynamo import (
    _epoch,
    _is_conditional_failure,
    _outbox_values,
    decode_cursor,
    encode_cursor,
    tenant_pk,
)
from csms.adapters.dynamo_models import _Item
from csms.adapters.outbox import OutboxEncoder
from csms.domain.errors import InvalidCursorError
from csms.domain.events import DomainEvent
from csms.domain.load.allocation import Allocation
from csms.domain.load.config import SiteLoadConfig
from csms.domain.load.inputs import Reading as LoadReading
from csms.domain.load.needs import DeclaredNeeds
from csms.services.ports import LOAD_READINGS_KEPT, Clock, LoadState, ManagedSite, Page

CONFIG = "CONFIG"
ALLOCATION = "ALLOCATION"
READINGS = "READINGS#"
NEEDS = "NEEDS#"
EVENT = "EVENT"
SHARDS = 10
# An allocation's JSON above this is stored compressed (items are limited to 400 KB).
PACK_ABOVE = 64 * 1024
# Attempts at adding readings when another writer changed the kind's item meanwhile.
_READING_ATTEMPTS = 5
_EVENT_TTL = timedelta(days=1)
_NEEDS = TypeAdapter(DeclaredNeeds)


class LoadItem(_Item):
    """Any item of a site's load partition, or of the managed-site index."""

    version = NumberAttribute(null=True)
    body = UnicodeAttribute(null=True)
    packed = BinaryAttribute(null=True, legacy_encoding=False)
    site_id = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)


def load_pk(tenant_id: str, site_id: str) -> str:
    """Partition of a site's load management."""
    return f"{tenant_pk(tenant_id)}#SITE#{site_id}#LOAD"


def index_key(tenant_id: str, site_id: str) -> tuple[str, str]:
    """Key of a site in the managed-site index."""
    sk = f"{tenant_id}#{site_id}"
    return f"LOADSITES#{zlib.crc32(sk.encode()) % SHARDS}", sk


def _stored_reading(reading: LoadReading, expires_at: datetime) -> dict[str, Any]:
    return {"r": reading.model_dump(mode="json", by_alias=True), "x": _epoch(expires_at)}


class DynamoLoadRepository:
    """LoadRepository: see the module docstring for the items."""

    def __init__(self, clock: Clock, outbox: OutboxEncoder) -> None:
        self._clock = clock
        self._outbox = outbox
        # The model shares the table's Meta (configure_table sets it): no stale connection.
        LoadItem._connection = None

    def _with_outbox(self, item: LoadItem, events: Sequence[DomainEvent]) -> LoadItem:
        for name, value in _outbox_values(self._outbox, events).items():
            setattr(item, name, value)
        return item

    # -- reads --------------------------------------------------------------------------------

    def state(self, tenant_id: str, site_id: str) -> LoadState:
        """One strongly consistent query of the site's partition."""
        now = _epoch(self._clock.now())
        config: SiteLoadConfig | None = None
        allocation: Allocation | None = None
        revision = 0
        readings: list[LoadReading] = []
        needs: dict[str, DeclaredNeeds] = {}
        for item in LoadItem.query(load_pk(tenant_id, site_id), consistent_read=True):
            sk = item.SK
            if sk == CONFIG and item.body is not None:
                config = SiteLoadConfig.model_validate_json(item.body)
            elif sk == ALLOCATION:
                allocation = _allocation(item)
                revision = int(item.version or 0)
            elif sk.startswith(READINGS) and item.body is not None:
                readings.extend(_fresh_readings(item.body, now))
            elif sk.startswith(NEEDS) and item.body is not None and not _expired(item, now):
                declared = _NEEDS.validate_json(item.body)
                needs[declared.session_id] = declared
        readings.sort(key=lambda r: r.at, reverse=True)
        return LoadState(
            config=config,
            allocation=allocation,
            readings=tuple(readings),
            needs=needs,
            allocation_revision=revision,
        )

    def managed_sites(self, limit: int, cursor: str | None = None) -> Page[ManagedSite]:
        """Shard by shard; the cursor names the shard and the key to go on after."""
        shard, last_key = _decode_sites_cursor(cursor)
        found: list[ManagedSite] = []
        while shard < SHARDS:
            partition = f"LOADSITES#{shard}"
            result = LoadItem.query(
                partition, last_evaluated_key=last_key, limit=limit - len(found)
            )
            found.extend(
                ManagedSite(tenant_id=item.tenant_id or "", site_id=item.site_id or "")
                for item in result
            )
            last_key = result.last_evaluated_key
            if last_key is None:
                shard += 1
            if len(found) >= limit:
                break
        if shard >= SHARDS:
            return Page(items=found)
        return Page(items=found, next_cursor=f"{shard}.{encode_cursor(last_key) or ''}")

    # -- configuration ------------------------------------------------------------------------

    def put_config(
        self,
        tenant_id: str,
        config: SiteLoadConfig,
        expected_version: int | None,
        events: Sequence[DomainEvent] = (),
    ) -> bool:
        """The configuration and the site's index entry, in one transaction."""
        if config.version != (expected_version or 0) + 1:
            raise ValueError("the configuration's version must be the expected one + 1")
        site_id = config.site_id
        item = LoadItem(
            load_pk(tenant_id, site_id),
            CONFIG,
            tenant_id=tenant_id,
            site_id=site_id,
            version=config.version,
            body=config.model_dump_json(by_alias=True),
        )
        self._with_outbox(item, events)
        condition = (
            LoadItem.PK.does_not_exist()
            if expected_version is None
            else LoadItem.version == expected_version
        )
        try:
            with TransactWrite(connection=LoadItem._get_connection().connection) as tx:
                tx.save(item, condition=condition)
                tx.save(
                    LoadItem(*index_key(tenant_id, site_id), tenant_id=tenant_id, site_id=site_id)
                )
        except TransactWriteError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def delete_config(
        self,
        tenant_id: str,
        site_id: str,
        expected_version: int,
        events: Sequence[DomainEvent] = (),
    ) -> bool:
        """The configuration and the index entry; the events ride on an `EVENT` item."""
        partition = load_pk(tenant_id, site_id)
        try:
            with TransactWrite(connection=LoadItem._get_connection().connection) as tx:
                tx.delete(
                    LoadItem(partition, CONFIG), condition=LoadItem.version == expected_version
                )
                tx.delete(LoadItem(*index_key(tenant_id, site_id)))
                if events:
                    expires = self._clock.now() + _EVENT_TTL
                    carrier = LoadItem(
                        partition,
                        EVENT,
                        tenant_id=tenant_id,
                        site_id=site_id,
                        expires_at=_epoch(expires),
                    )
                    tx.save(self._with_outbox(carrier, events))
        except TransactWriteError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    # -- readings, needs, allocation ----------------------------------------------------------

    def add_readings(
        self,
        tenant_id: str,
        site_id: str,
        readings: Sequence[LoadReading],
        expires_at: datetime,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        """Merge into each kind's item, conditional on the revision read (retried on a race)."""
        pending = list(events)
        for kind in sorted({reading.kind for reading in readings}):
            of_kind = [reading for reading in readings if reading.kind is kind]
            self._merge_readings((tenant_id, site_id), of_kind, expires_at, pending)
            pending = []  # the events ride on the first item written

    def _merge_readings(
        self,
        site: tuple[str, str],
        readings: Sequence[LoadReading],
        expires_at: datetime,
        events: Sequence[DomainEvent],
    ) -> None:
        """Readings of one kind into that kind's item."""
        tenant_id, site_id = site
        key = (load_pk(tenant_id, site_id), f"{READINGS}{readings[0].kind}")
        for _ in range(_READING_ATTEMPTS):
            try:
                held = LoadItem.get(*key, consistent_read=True)
                revision, stored = int(held.version or 0), json.loads(held.body or "[]")
            except LoadItem.DoesNotExist:
                revision, stored = 0, []
            now = _epoch(self._clock.now())
            # By instant: the same time with another offset is the same reading.
            kept = {_instant(entry): entry for entry in stored if entry["x"] > now}
            for reading in readings:
                entry = _stored_reading(reading, expires_at)
                kept[_instant(entry)] = entry
            newest = [kept[at] for at in sorted(kept, reverse=True)[:LOAD_READINGS_KEPT]]
            item = LoadItem(
                *key,
                tenant_id=tenant_id,
                site_id=site_id,
                version=revision + 1,
                body=json.dumps(newest, separators=(",", ":")),
                expires_at=max(entry["x"] for entry in newest),
            )
            self._with_outbox(item, events)
            condition = (
                LoadItem.PK.does_not_exist() if revision == 0 else LoadItem.version == revision
            )
            try:
                item.save(condition=condition)
            except PutError as exc:
                if _is_conditional_failure(exc):
                    continue
                raise
            return
        raise RuntimeError(f"readings of site {site_id!r} kept changing: not stored")

    def put_needs(
        self,
        tenant_id: str,
        site_id: str,
        needs: DeclaredNeeds,
        expires_at: datetime,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        """One item per session, replaced whole."""
        item = LoadItem(
            load_pk(tenant_id, site_id),
            f"{NEEDS}{needs.session_id}",
            tenant_id=tenant_id,
            site_id=site_id,
            body=_NEEDS.dump_json(needs).decode(),
            expires_at=_epoch(expires_at),
        )
        self._with_outbox(item, events).save()

    def put_allocation(
        self, tenant_id: str, allocation: Allocation, expected_revision: int
    ) -> bool:
        """Replaced whole, conditional on the revision read (`version`; none on a new item).

        Several rebalances of one site may run at once (a session start, the schedule): the
        one whose state is stale loses here instead of overwriting the other's deliveries.
        """
        body = allocation.model_dump_json(by_alias=True)
        packed = zlib.compress(body.encode()) if len(body) > PACK_ABOVE else None
        item = LoadItem(
            load_pk(tenant_id, allocation.site_id),
            ALLOCATION,
            tenant_id=tenant_id,
            site_id=allocation.site_id,
            version=expected_revision + 1,
            body=None if packed is not None else body,
            packed=packed,
        )
        try:
            item.save(condition=_revision_is(expected_revision))
        except PutError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def delete_allocation(self, tenant_id: str, site_id: str, expected_revision: int) -> bool:
        """Deleted conditional on the revision read."""
        try:
            LoadItem(load_pk(tenant_id, site_id), ALLOCATION).delete(
                condition=_revision_is(expected_revision)
            )
        except DeleteError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True


def _revision_is(revision: int) -> Condition:
    # Revision 0 is "none stored": no item, or one written before allocations had revisions.
    return LoadItem.version.does_not_exist() if revision == 0 else LoadItem.version == revision


def _allocation(item: LoadItem) -> Allocation:
    raw = zlib.decompress(item.packed) if item.packed is not None else item.body or ""
    return Allocation.model_validate_json(raw)


def _instant(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(entry["r"]["at"]).timestamp()


def _expired(item: LoadItem, now: int) -> bool:
    return item.expires_at is not None and int(item.expires_at) <= now


def _fresh_readings(body: str, now: int) -> list[LoadReading]:
    return [LoadReading.model_validate(e["r"]) for e in json.loads(body) if e["x"] > now]


def _decode_sites_cursor(cursor: str | None) -> tuple[int, dict[str, Any] | None]:
    if cursor is None:
        return 0, None
    shard_text, dot, key_text = cursor.partition(".")
    if not dot or not shard_text.isdigit() or int(shard_text) >= SHARDS:
        raise InvalidCursorError
    shard = int(shard_text)
    if not key_text:
        return shard, None
    return shard, decode_cursor(key_text, f"LOADSITES#{shard}")
