"""moto's server for the bench, with its DynamoDB transactions kept from exhausting memory.

moto backs up every table a transaction touches with `copy.deepcopy`; the copies form
reference cycles that only a full collection frees, and the bench runs thousands of
transactions against a growing table (over 10 GB seen). A full collection every few
transactions keeps the server small; it costs the server wall time only, never the handlers'
CPU that is measured.
"""

from __future__ import annotations

import gc
import itertools
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_transact = DynamoDBBackend.transact_write_items
_COLLECT_EVERY = 25
_count = itertools.count(1)


def _transact_and_collect(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    try:
        _transact(self, transact_items)
    finally:
        if next(_count) % _COLLECT_EVERY == 0:
            gc.collect()


DynamoDBBackend.transact_write_items = _transact_and_collect  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
