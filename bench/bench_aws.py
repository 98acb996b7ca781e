"""Record the AWS calls a handler makes, by hooking every botocore client it creates.

pynamodb creates its DynamoDB client with `botocore.session.Session.create_client` (see
`pynamodb.connection.base.Connection.client`), and boto3 does the same underneath, so wrapping
that one method reaches every client: EventBridge and the API Gateway management API too.
On each client two botocore events are hooked:

- `before-parameter-build`: the request as the handler made it; before a write, the item it
  targets is read from the table by a separate, unhooked probe client (the "before" image);
- `after-call`: the parsed response (items read); after a write, the item is read again (the
  "after" image).

Sizes and capacity units then come from `bench_cost`: measured items, DynamoDB's rules.
Probing only happens while a capture is active; outside it the hooks return at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.session

from bench_cost import (
    Item,
    TableSpec,
    item_size,
    read_units,
    write_cost,
)

_CONTEXT_KEY = "bench_recorder"
_PAYLOAD_KEY = "bench_payload"
# PutEvents entry size (EventBridge User Guide, "Calculating PutEvents event entry size"):
# Time counts 14 bytes when present; Source, DetailType, Detail and each resource by UTF-8 length.
_EVENT_TIME_BYTES = 14


def event_entry_size(entry: Mapping[str, Any]) -> int:
    """Bytes EventBridge meters for one PutEvents entry."""
    size = _EVENT_TIME_BYTES if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        value = entry.get(name)
        if value is not None:
            size += len(str(value).encode("utf-8"))
    size += sum(len(str(r).encode("utf-8")) for r in entry.get("Resources") or ())
    return size


def outbox_events(before: Item | None, after: Item | None) -> int:
    """Events a write put in an item's outbox: a new `outbox_id`, as the relay reads it."""
    if not after or "outbox_id" not in after or "outbox" not in after:
        return 0
    if before and before.get("outbox_id") == after["outbox_id"]:
        return 0
    return len(json.loads(after["outbox"]["S"]))


@dataclass(frozen=True)
class ItemCost:
    """One item read or written by a call."""

    key: str
    size: int
    units: float  # RCU or WCU in the table
    index_units: int = 0  # WCU in global secondary indexes
    index_detail: str = ""
    events: int = 0  # domain events the write put in the item's outbox (published by the relay)


@dataclass(frozen=True)
class DynamoCall:
    """One DynamoDB request and what it cost."""

    operation: str
    consistent: bool
    reads: tuple[ItemCost, ...]
    writes: tuple[ItemCost, ...]
    succeeded: bool
    # (before, after) image of each item written, in the order of `writes`.
    images: tuple[tuple[Item | None, Item | None], ...] = ()

    @property
    def rcu(self) -> float:
        """Read capacity units."""
        return sum(r.units for r in self.reads)

    @property
    def wcu(self) -> float:
        """Write capacity units in the table."""
        return sum(w.units for w in self.writes)

    @property
    def index_wcu(self) -> int:
        """Write capacity units in global secondary indexes."""
        return sum(w.index_units for w in self.writes)


@dataclass
class Capture:
    """Everything recorded while a capture was active."""

    dynamodb: list[DynamoCall] = field(default_factory=list)
    # Other services: (service, operation, entries) - entries is PutEvents' event count, else 1.
    other: list[tuple[str, str, int]] = field(default_factory=list)
    # Billed payload sizes: PutEvents entry sizes, PostToConnection data size.
    payloads: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    # Time the recorder's own probe reads took (inside the handler's call: subtract it).
    probe_wall_s: float = 0.0
    probe_cpu_s: float = 0.0


@dataclass
class _Pending:
    operation: str
    params: Mapping[str, Any]
    keys: list[tuple[str, dict[str, Any]]]  # (kind, key) of each item a write targets
    before: list[Item | None]


_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


class AwsRecorder:
    """Hooks botocore clients and turns their DynamoDB calls into costs."""

    def __init__(self, table_name: str, table: TableSpec, probe: Any) -> None:
        self._table_name = table_name
        self._table = table
        self._probe = probe  # an unhooked botocore DynamoDB client
        self._capture: Capture | None = None

    @contextmanager
    def capture(self) -> Iterator[Capture]:
        """Record the calls made inside the block."""
        capture = Capture()
        self._capture = capture
        try:
            yield capture
        finally:
            self._capture = None

    def attach(self, client: Any) -> None:
        """Hook one botocore client."""
        client.meta.events.register("before-parameter-build", self._before)
        client.meta.events.register("after-call", self._after)

    # -- hooks --------------------------------------------------------------------------------
    def _before(self, params: Mapping[str, Any], model: Any, context: Any, **_: Any) -> None:
        if self._capture is None:
            return
        if model.service_model.service_name != "dynamodb":
            if model.name == "PutEvents":
                context[_PAYLOAD_KEY] = tuple(
                    event_entry_size(e) for e in params.get("Entries", ())
                )
            elif model.name == "PostToConnection":
                data = params.get("Data", b"")
                context[_PAYLOAD_KEY] = (len(data.encode() if isinstance(data, str) else data),)
            return
        keys = self._write_targets(model.name, params) if model.name in _WRITES else []
        context[_CONTEXT_KEY] = _Pending(
            operation=model.name,
            params=params,
            keys=keys,
            before=[self._read(key) for _, key in keys],
        )

    def _after(
        self, http_response: Any, parsed: Mapping[str, Any], model: Any, context: Any, **_: Any
    ) -> None:
        capture = self._capture
        if capture is None:
            return
        service = model.service_model.service_name
        if service != "dynamodb":
            entries = len(parsed.get("Entries", ())) if model.name == "PutEvents" else 1
            capture.other.append((service, model.name, entries))
            payload = context.pop(_PAYLOAD_KEY, None)
            if payload is not None:
                capture.payloads.append((model.name, payload))
            return
        pending: _Pending | None = context.pop(_CONTEXT_KEY, None)
        if pending is None:
            return
        succeeded = http_response.status_code < 300
        capture.dynamodb.append(self._cost(pending, parsed, succeeded=succeeded))

    # -- costing ------------------------------------------------------------------------------
    def _cost(self, pending: _Pending, parsed: Mapping[str, Any], *, succeeded: bool) -> DynamoCall:
        params = pending.params
        operation = pending.operation
        consistent = bool(params.get("ConsistentRead"))
        reads: list[ItemCost] = []
        writes: list[ItemCost] = []
        if operation == "GetItem":
            item = parsed.get("Item")
            size = item_size(item)
            reads.append(
                ItemCost(
                    self._table.key_label(params["Key"]),
                    size,
                    read_units(size, consistent=consistent),
                )
            )
        elif operation in ("Query", "Scan"):
            size = sum(item_size(i) for i in parsed.get("Items", ()))
            label = f"{operation} -> {len(parsed.get('Items', ()))} items"
            reads.append(ItemCost(label, size, read_units(size, consistent=consistent)))
        elif operation == "BatchGetItem":
            for table, items in parsed.get("Responses", {}).items():
                consistent = bool(params["RequestItems"][table].get("ConsistentRead"))
                for item in items:
                    label = self._table.key_label(self._table.key_of(item))
                    size = item_size(item)
                    reads.append(ItemCost(label, size, read_units(size, consistent=consistent)))
        elif operation == "TransactGetItems":
            consistent = True
            for response in parsed.get("Responses", ()):
                item = response.get("Item")
                label = self._table.key_label(self._table.key_of(item)) if item else "(absent)"
                size = item_size(item)
                units = read_units(size, consistent=True, transactional=True)
                reads.append(ItemCost(label, size, units))
        transactional = operation == "TransactWriteItems"
        images: list[tuple[Item | None, Item | None]] = []
        for (kind, key), before in zip(pending.keys, pending.before, strict=True):
            after = self._read(key)
            images.append((before, after))
            cost = write_cost(self._table, before, after, transactional=transactional)
            detail = ", ".join(f"{w.index} {w.kind} {w.size} B" for w in cost.index)
            label = self._table.key_label(key)
            if transactional:
                label = f"{kind} {label}"
            events = outbox_events(before, after) if succeeded else 0
            writes.append(ItemCost(label, cost.size, cost.units, cost.index_units, detail, events))
        return DynamoCall(
            operation=operation,
            consistent=consistent,
            reads=tuple(reads),
            writes=tuple(writes),
            succeeded=succeeded,
            images=tuple(images),
        )

    def _write_targets(
        self, operation: str, params: Mapping[str, Any]
    ) -> list[tuple[str, dict[str, Any]]]:
        table = self._table
        if operation == "PutItem":
            return [("Put", table.key_of(params["Item"]))]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(operation.removesuffix("Item"), dict(params["Key"]))]
        targets: list[tuple[str, dict[str, Any]]] = []
        if operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                ((kind, body),) = entry.items()
                key = body["Key"] if "Key" in body else table.key_of(body["Item"])
                targets.append((kind, dict(key)))
        elif operation == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for request in requests:
                    if "PutRequest" in request:
                        targets.append(("Put", table.key_of(request["PutRequest"]["Item"])))
                    else:
                        targets.append(("Delete", dict(request["DeleteRequest"]["Key"])))
        return targets

    def _read(self, key: Mapping[str, Any]) -> Item | None:
        wall, cpu = time.perf_counter(), time.process_time()
        response = self._probe.get_item(TableName=self._table_name, Key=key, ConsistentRead=True)
        if self._capture is not None:
            self._capture.probe_wall_s += time.perf_counter() - wall
            self._capture.probe_cpu_s += time.process_time() - cpu
        item: Item | None = response.get("Item")
        return item


def install(recorder: AwsRecorder) -> Callable[[], None]:
    """Hook every botocore client created from now on; return the function that undoes it."""
    original = botocore.session.Session.create_client

    def create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        recorder.attach(client)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]

    def uninstall() -> None:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]

    return uninstall
