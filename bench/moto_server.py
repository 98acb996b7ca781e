"""moto's server for the bench, with its DynamoDB transactions kept from exhausting memory.

moto backs up every table a transaction touches with `copy.deepcopy`; the copies form
reference cycles that only a full collection frees, and the bench runs thousands of
transactions against a growing table (over 10 GB seen). Collecting after each transaction keeps
the server small; it costs the server wall time only, never the handlers' CPU that is measured.
"""

from __future__ import annotations

import gc
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_transact = DynamoDBBackend.transact_write_items


def _transact_and_collect(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    try:
        _transact(self, transact_items)
    finally:
        gc.collect()


DynamoDBBackend.transact_write_items = _transact_and_collect  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
