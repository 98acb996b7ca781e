"""The audit and message log use cases on in-memory fakes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from tests.fakes import T0, FixedClock, SequentialIds

from csms.domain.audit import Actor, AuditChange, AuditEntry, AuditOutcome, AuditRequest
from csms.domain.connection import ConnectionBinding
from csms.domain.errors import StationOfflineError, UnknownConnectionError
from csms.domain.frames import FrameDirection, FrameRecord
from csms.domain.station import ProtocolVersion
from csms.services.audit import AuditQuery, AuditService
from csms.services.message_log import FrameQuery, MessageLogService, TracingFrameSender
from csms.services.ports import Page


@dataclass
class InMemoryAudit:
    entries: list[AuditEntry] = field(default_factory=list)
    queries: list[AuditQuery] = field(default_factory=list)

    def append(self, entries: Sequence[AuditEntry]) -> None:
        self.entries.extend(entries)

    def find(
        self, tenant_id: str, query: AuditQuery, limit: int, cursor: str | None = None
    ) -> Page[AuditEntry]:
        del cursor
        self.queries.append(query)
        mine = [e for e in self.entries if e.tenant_id == tenant_id]
        return Page(items=sorted(mine, key=lambda e: e.id, reverse=True)[:limit])


@dataclass
class InMemoryFrames:
    records: list[FrameRecord] = field(default_factory=list)
    fail: bool = False

    def append(self, records: list[FrameRecord]) -> None:
        if self.fail:
            raise RuntimeError("table unavailable")
        self.records.extend(records)

    def list(
        self,
        station_id: str,
        tenant_id: str,
        query: FrameQuery,
        *,
        now: datetime,
        limit: int,
        cursor: str | None = None,
    ) -> Page[FrameRecord]:
        del now, cursor
        found = [
            r
            for r in reversed(self.records)
            if r.station_id == station_id
            and r.tenant_id == tenant_id
            and (query.direction is None or r.direction is query.direction)
        ]
        return Page(items=found[:limit])


def a_request(**over: Any) -> AuditRequest:
    values: dict[str, Any] = {
        "tenant_id": "t-1",
        "actor": Actor(subject="u-1", role="admin"),
        "method": "POST",
        "path": "/v1/sites",
        "status": 201,
    }
    return AuditRequest(**{**values, **over})


def a_binding(trace_until: datetime | None = None) -> ConnectionBinding:
    return ConnectionBinding(
        connection_id="c-1",
        station_id="CP-1",
        tenant_id="t-1",
        protocol=ProtocolVersion.OCPP201,
        connected_at=T0,
        trace_until=trace_until,
    )


# -- audit -------------------------------------------------------------------------------------


def test_audit_record_writes_one_entry_per_change_with_time_sortable_ids() -> None:
    # GIVEN a request that changed two resources
    store = InMemoryAudit()
    service = AuditService(entries=store, clock=FixedClock(), new_id=SequentialIds())
    changes = [
        AuditChange(kind="site", resource_id="s-1", after={"name": "A"}),
        AuditChange(kind="site", resource_id="s-2", after={"name": "B"}),
    ]
    # WHEN it is recorded
    entries = service.record(a_request(), changes)
    # THEN two entries are stored, at the clock's time, with distinct ids
    assert store.entries == entries
    assert [e.resource_id for e in entries] == ["s-1", "s-2"]
    assert {e.at for e in entries} == {T0}
    assert len({e.id for e in entries}) == 2


def test_audit_record_without_changes_writes_one_entry_for_the_request() -> None:
    store = InMemoryAudit()
    service = AuditService(entries=store, clock=FixedClock(), new_id=SequentialIds())
    [entry] = service.record(a_request(status=403), [])
    assert entry.outcome is AuditOutcome.DENIED
    assert store.entries == [entry]


def test_audit_find_with_an_empty_time_range_reads_nothing() -> None:
    store = InMemoryAudit()
    service = AuditService(entries=store, clock=FixedClock(), new_id=SequentialIds())
    page = service.find("t-1", AuditQuery(from_=T0, to=T0), 10)
    assert page.items == []
    assert store.queries == []


def test_audit_find_masks_a_full_token_value_like_the_log_keeps_it() -> None:
    # GIVEN a query for a token by its full value
    store = InMemoryAudit()
    service = AuditService(entries=store, clock=FixedClock(), new_id=SequentialIds())
    # WHEN the log is searched
    service.find("t-1", AuditQuery(resource_kind="token", resource_id="04A2B3C4D5E6F7"), 10)
    service.find("t-1", AuditQuery(resource_kind="site", resource_id="s-1"), 10)
    service.find("t-1", AuditQuery(resource_kind="token"), 10)
    # THEN the repository is asked for the masked value (other kinds as given)
    assert [q.resource_id for q in store.queries] == ["**********E6F7", "s-1", None]


# -- message log -------------------------------------------------------------------------------


def test_message_log_keeps_nothing_of_an_untraced_station() -> None:
    # GIVEN a station never traced, and one whose trace ended
    frames = InMemoryFrames()
    service = MessageLogService(frames=frames, clock=FixedClock(), new_id=SequentialIds())
    for binding in (a_binding(None), a_binding(T0)):
        # WHEN it sends a frame and gets a reply
        service.observe({"c-1": binding}.__getitem__, "c-1", '[2,"m","Hb",{}]', '[3,"m",{}]')
    # THEN nothing is written
    assert frames.records == []


def test_message_log_keeps_a_traced_stations_frame_and_reply_with_the_calls_action() -> None:
    frames = InMemoryFrames()
    clock = FixedClock()
    service = MessageLogService(frames=frames, clock=clock, new_id=SequentialIds())
    binding = a_binding(T0 + timedelta(hours=1))
    # WHEN a traced station sends a CALL and gets the reply
    service.observe(
        lambda _c: binding,
        "c-1",
        b'[2,"m-1","Authorize",{"idToken":{"idToken":"CARD1234"}}]',
        '[3,"m-1",{}]',
    )
    # THEN both are kept, in order, the reply filed under the CALL's action, the token masked
    inbound, reply = frames.records
    assert (inbound.direction, reply.direction) == (
        FrameDirection.INBOUND,
        FrameDirection.OUTBOUND,
    )
    assert (inbound.action, reply.action) == ("Authorize", "Authorize")
    assert inbound.seq < reply.seq
    assert "CARD1234" not in inbound.frame
    assert json.loads(inbound.frame)[3]["idToken"]["idToken"] == "****1234"
    # AND the list reads them back for the station's tenant
    page = service.list("CP-1", "t-1", FrameQuery(direction=FrameDirection.INBOUND), 10)
    assert page.items == [inbound]


def test_message_log_keeps_a_frame_without_reply_alone() -> None:
    frames = InMemoryFrames()
    service = MessageLogService(frames=frames, clock=FixedClock(), new_id=SequentialIds())
    binding = a_binding(T0 + timedelta(hours=1))
    service.observe(lambda _c: binding, "c-1", '[3,"x",{}]', None)
    assert [r.message_type for r in frames.records] == [3]


def test_message_log_never_breaks_the_message_path() -> None:
    # GIVEN a store that fails, and a connection nobody is bound to
    frames = InMemoryFrames(fail=True)
    service = MessageLogService(frames=frames, clock=FixedClock(), new_id=SequentialIds())
    binding = a_binding(T0 + timedelta(hours=1))

    def unbound(connection_id: str) -> ConnectionBinding:
        raise UnknownConnectionError(connection_id)

    # WHEN frames are observed and sent THEN nothing raises
    service.observe(lambda _c: binding, "c-1", "[2]", None)
    service.observe(unbound, "c-9", "[2]", None)
    service.sent(lambda _c: binding, "c-1", "[2]")
    service.sent(unbound, "c-9", "[2]")
    assert frames.records == []


def test_message_log_trace_window_is_capped_at_a_day() -> None:
    service = MessageLogService(frames=InMemoryFrames(), clock=FixedClock(), new_id=SequentialIds())
    assert service.trace_until(30) == T0 + timedelta(minutes=30)
    assert service.trace_until(10_000) == T0 + timedelta(days=1)


@dataclass
class RecordingSender:
    sent: list[tuple[str, str]] = field(default_factory=list)
    offline: bool = False

    def send(self, connection_id: str, frame: str) -> None:
        if self.offline:
            raise StationOfflineError(connection_id)
        self.sent.append((connection_id, frame))

    def last_active_at(self, connection_id: str) -> datetime | None:
        del connection_id
        return T0


def test_tracing_sender_logs_calls_to_traced_stations_only() -> None:
    # GIVEN a traced and an untraced connection behind the tracing sender
    frames = InMemoryFrames()
    inner = RecordingSender()
    log = MessageLogService(frames=frames, clock=FixedClock(), new_id=SequentialIds())
    bindings = {
        "c-1": a_binding(T0 + timedelta(hours=1)),
        "c-2": a_binding(None).model_copy(update={"connection_id": "c-2"}),
    }
    looked_up: list[str] = []

    def resolve(connection_id: str) -> ConnectionBinding:
        looked_up.append(connection_id)
        return bindings[connection_id]

    sender = TracingFrameSender(inner, resolve, log)
    # WHEN a CALL goes to each
    sender.send("c-1", '[2,"u-1","Reset",{"type":"Immediate"}]')
    sender.send("c-2", '[2,"u-2","Reset",{"type":"Immediate"}]')
    # THEN both are sent, and only the traced one is logged, as outbound with its action
    assert [c for c, _ in inner.sent] == ["c-1", "c-2"]
    [record] = frames.records
    assert (record.direction, record.action, record.unique_id) == (
        FrameDirection.OUTBOUND,
        "Reset",
        "u-1",
    )
    assert looked_up == ["c-1", "c-2"]
    assert sender.last_active_at("c-1") == T0


def test_tracing_sender_logs_nothing_when_the_send_fails() -> None:
    frames = InMemoryFrames()
    log = MessageLogService(frames=frames, clock=FixedClock(), new_id=SequentialIds())
    sender = TracingFrameSender(
        RecordingSender(offline=True), lambda _c: a_binding(T0 + timedelta(hours=1)), log
    )
    with pytest.raises(StationOfflineError):
        sender.send("c-1", "[2]")
    assert frames.records == []
