"""moto's server for the bench, with the transaction memory fix of the local runtime.

moto also deep-copies a table once per item of a TransactWriteItems (its rollback backup);
here each table is copied once per transaction: the same backup, half the wall time of a
two-item transaction on a large table (moto's time, never the handler's CPU).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from moto.server import main

from csms_local.emulation import bound_moto_memory


class _OneBackupPerTable:
    """Stands in for the `copy` module inside moto's DynamoDB models."""

    def __init__(self) -> None:
        self.backups: dict[int, Any] | None = None

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        if self.backups is not None and isinstance(value, Table):
            if id(value) not in self.backups:
                self.backups[id(value)] = copy.deepcopy(value)
            return self.backups[id(value)]
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def one_backup_per_table() -> None:
    """Make each TransactWriteItems back each table up once (idempotent)."""
    from moto.dynamodb import models

    if isinstance(getattr(models, "copy", None), _OneBackupPerTable):
        return
    shim = _OneBackupPerTable()
    setattr(models, "copy", shim)  # noqa: B010 - the module moto's models use, replaced
    original: Callable[..., None] = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        shim.backups = {}
        try:
            original(self, transact_items)
        finally:
            shim.backups = None

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


if __name__ == "__main__":
    bound_moto_memory()
    one_backup_per_table()
    main()
