"""DynamoDB item sizes and capacity units, by the rules of the DynamoDB Developer Guide.

Pure functions on items in DynamoDB's wire form (`{"PK": {"S": "..."}, ...}`), as botocore
sends and receives them. The rules ("Item sizes and formats", "Read/write capacity mode"):

- an item's size is the sum over its attributes of the UTF-8 length of the name plus the size
  of the value: strings by UTF-8 length, binary by length, numbers about one byte per two
  significant digits plus one, booleans and nulls one byte, sets the sum of their elements,
  lists and maps 3 bytes plus their elements, each element one more byte (a map element also
  its key's length);
- a write costs 1 WCU per started KB of the larger of the item before and after (PutItem,
  UpdateItem), or of the deleted item (DeleteItem); at least 1;
- a strongly consistent read costs 1 RCU per started 4 KB (eventually consistent half of it);
  a Query adds up the sizes of all items it returns before rounding; at least 1;
- transactions cost twice: 2 WCU per started KB, 2 RCU per started 4 KB;
- a write to an item that is in a global secondary index also writes the index: one write of
  the projected entry when a projected attribute changes, a delete when the item leaves the
  index, and a delete plus a put when the index key changes (1x, not doubled in a transaction).

Storage overhead (100 bytes per item and per index entry) counts for storage, not for
throughput, so it is left out here.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

AttributeValue = Mapping[str, Any]
Item = Mapping[str, AttributeValue]

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
# Lists and maps: fixed overhead, plus one byte per element.
_CONTAINER_OVERHEAD = 3
_ELEMENT_OVERHEAD = 1


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _binary_len(value: bytes | bytearray | str) -> int:
    if isinstance(value, str):  # base64 text, as in JSON documents
        return len(base64.b64decode(value))
    return len(value)


def number_size(text: str) -> int:
    """Bytes of a number: one per two significant digits (leading/trailing zeros trimmed) + 1."""
    mantissa = text.strip().lstrip("+-").lower().partition("e")[0]
    significant = mantissa.replace(".", "").strip("0")
    return math.ceil(len(significant) / 2) + 1


def value_size(value: AttributeValue) -> int:
    """Bytes of one attribute value (without its name)."""
    if len(value) != 1:
        msg = f"an attribute value has exactly one type: {value!r}"
        raise ValueError(msg)
    ((kind, data),) = value.items()
    match kind:
        case "S":
            return _utf8_len(data)
        case "N":
            return number_size(data)
        case "B":
            return _binary_len(data)
        case "BOOL" | "NULL":
            return 1
        case "SS":
            return sum(_utf8_len(e) for e in data)
        case "NS":
            return sum(number_size(e) for e in data)
        case "BS":
            return sum(_binary_len(e) for e in data)
        case "L":
            return _CONTAINER_OVERHEAD + sum(value_size(e) + _ELEMENT_OVERHEAD for e in data)
        case "M":
            return _CONTAINER_OVERHEAD + sum(
                _utf8_len(k) + value_size(v) + _ELEMENT_OVERHEAD for k, v in data.items()
            )
    msg = f"unknown attribute type {kind!r}"
    raise ValueError(msg)


def item_size(item: Item | None) -> int:
    """Bytes of an item: names plus values; 0 for no item."""
    if not item:
        return 0
    return sum(_utf8_len(name) + value_size(value) for name, value in item.items())


def write_units(size: int, *, transactional: bool = False) -> int:
    """WCU of writing `size` bytes: 1 per started KB, at least 1; doubled in a transaction."""
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return units * 2 if transactional else units


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    """RCU of reading `size` bytes: 1 per started 4 KB (strongly consistent), at least 1."""
    units = float(max(1, math.ceil(size / READ_UNIT_BYTES)))
    if transactional:
        return units * 2
    return units if consistent else units / 2


class Projection(StrEnum):
    """What a secondary index copies of an item."""

    ALL = "ALL"
    KEYS_ONLY = "KEYS_ONLY"
    INCLUDE = "INCLUDE"


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index: its keys and projection."""

    name: str
    hash_key: str
    range_key: str | None
    projection: Projection
    non_key_attributes: tuple[str, ...] = ()

    @property
    def key_names(self) -> tuple[str, ...]:
        """The index's own key attributes."""
        return (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)


@dataclass(frozen=True)
class TableSpec:
    """A table's primary key and global secondary indexes."""

    hash_key: str
    range_key: str | None
    indexes: tuple[IndexSpec, ...] = ()

    @property
    def key_names(self) -> tuple[str, ...]:
        """The table's primary key attributes."""
        return (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any]) -> TableSpec:
        """From CreateTable arguments (or a CloudFormation table's properties)."""
        hash_key, range_key = _keys(definition["KeySchema"])
        indexes = tuple(
            IndexSpec(
                name=index["IndexName"],
                hash_key=_keys(index["KeySchema"])[0],
                range_key=_keys(index["KeySchema"])[1],
                projection=Projection(index["Projection"].get("ProjectionType", "ALL")),
                non_key_attributes=tuple(index["Projection"].get("NonKeyAttributes", ())),
            )
            for index in definition.get("GlobalSecondaryIndexes", ())
        )
        return cls(hash_key=hash_key, range_key=range_key, indexes=indexes)

    def key_of(self, item: Item) -> dict[str, AttributeValue]:
        """The primary key of an item."""
        return {name: item[name] for name in self.key_names}

    def key_label(self, key: Item) -> str:
        """`PK/SK` as text, for reports."""
        return "/".join(_scalar_text(key[name]) for name in self.key_names if name in key)


def _keys(schema: Iterable[Mapping[str, str]]) -> tuple[str, str | None]:
    by_type = {k["KeyType"]: k["AttributeName"] for k in schema}
    return by_type["HASH"], by_type.get("RANGE")


def _scalar_text(value: AttributeValue) -> str:
    ((_, data),) = value.items()
    return str(data)


def index_entry(table: TableSpec, index: IndexSpec, item: Item | None) -> dict[str, Any] | None:
    """The entry `item` has in `index`, or None when it lacks the index keys (sparse index)."""
    if item is None or any(name not in item for name in index.key_names):
        return None
    if index.projection is Projection.ALL:
        return dict(item)
    names = set(table.key_names) | set(index.key_names)
    if index.projection is Projection.INCLUDE:
        names |= set(index.non_key_attributes)
    return {name: value for name, value in item.items() if name in names}


@dataclass(frozen=True)
class IndexWrite:
    """One write a table write caused in a global secondary index."""

    index: str
    kind: str  # "put", "update" or "delete"
    size: int

    @property
    def units(self) -> int:
        """WCU of this index write."""
        return write_units(self.size)


def index_writes(table: TableSpec, before: Item | None, after: Item | None) -> list[IndexWrite]:
    """The index writes caused by changing an item from `before` to `after` (None: absent)."""
    writes: list[IndexWrite] = []
    for index in table.indexes:
        old = index_entry(table, index, before)
        new = index_entry(table, index, after)
        if old is None and new is None:
            continue
        if old is None:
            writes.append(IndexWrite(index.name, "put", item_size(new)))
        elif new is None:
            writes.append(IndexWrite(index.name, "delete", item_size(old)))
        elif any(old[name] != new[name] for name in index.key_names):
            writes.append(IndexWrite(index.name, "delete", item_size(old)))
            writes.append(IndexWrite(index.name, "put", item_size(new)))
        elif old != new:
            writes.append(IndexWrite(index.name, "update", max(item_size(old), item_size(new))))
    return writes


@dataclass(frozen=True)
class WriteCost:
    """What one item write costs in the table and its indexes."""

    size: int  # bytes the table write is charged for
    units: int  # WCU in the table
    index: tuple[IndexWrite, ...]

    @property
    def index_units(self) -> int:
        """WCU in the global secondary indexes."""
        return sum(w.units for w in self.index)


def write_cost(
    table: TableSpec, before: Item | None, after: Item | None, *, transactional: bool = False
) -> WriteCost:
    """Cost of a write that changed an item from `before` to `after` (None: absent).

    PutItem and UpdateItem are charged for the larger of the two images; a DeleteItem for the
    item it deleted; a write that changed nothing (a failed condition) still for the item.
    """
    size = max(item_size(before), item_size(after))
    return WriteCost(
        size=size,
        units=write_units(size, transactional=transactional),
        index=tuple(index_writes(table, before, after)),
    )
