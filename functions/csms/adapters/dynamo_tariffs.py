"""TariffRepository on the single table: a tenant's tariffs and assignments in its partition.

Items under `TENANT#{t}`, each carrying `tenant_id`:
- `TARIFF#{id}`: the tariff's head: its current version as JSON in `body`, `version`,
  `valid_from`, `deleted` once deleted, and `refs`, how many assignments name it. Writes are
  conditional on `version`; an assignment is created and deleted in one transaction with an
  increment of `refs`, and deleting the tariff is conditional on `refs` being zero, so no
  assignment can ever name a deleted tariff, whatever runs concurrently;
- `TARIFFV#{id}#{version:08}`: every version, immutable (written once, with the head that makes
  it current); sorted by version, which is also the order of `valid_from`;
- `TARIFFASSIGN#{assignment id}`: an assignment as JSON in `body`, its site beside it (a
  restricted user's listing keeps only their sites') and, once it ended, `valid_until` (kept:
  sessions that started under it still price with it). The id derives from the slot and
  `valid_from` (csms.domain.billing.assignment), so a slot's history never reuses a key;
- `TARIFFSLOT#{slot id}`: the claim of a slot by its assignment in force (its id in `body`).
  Creating an assignment puts the claim conditional on its absence, deleting one removes it,
  each in the transaction that writes the assignment and moves the tariff's `refs`: one
  assignment in force per slot, whatever runs concurrently. Assignments stored before the
  claims existed (no `valid_from`) sit at the slot's own id, `TARIFFASSIGN#{slot id}`: a create
  also checks, in its transaction, that no such assignment is in force.

Lists are queries on the partition by sort-key prefix, never scans; `TARIFF#` does not prefix
`TARIFFV#`, `TARIFFASSIGN#` or `TARIFFSLOT#`, so the heads list apart from the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from csms.adapters.dynamo import _is_conditional_failure, decode_cursor, encode_cursor, tenant_pk
from csms.adapters.dynamo_models import _Item
from csms.domain.billing.assignment import TariffAssignment, assignment_id
from csms.domain.billing.tariff import Tariff
from csms.domain.errors import InvalidReferenceError, ResourceInUseError
from csms.services.ports import Page
from csms.services.tariffs import TariffVersion

HEAD = "TARIFF#"
VERSION = "TARIFFV#"
ASSIGNMENT = "TARIFFASSIGN#"
SLOT = "TARIFFSLOT#"

T = TypeVar("T")


class TariffItem(_Item):
    """A tariff head, a tariff version or a tariff assignment."""

    version = NumberAttribute(null=True)
    body = UnicodeAttribute(null=True)
    valid_from = UTCDateTimeAttribute(null=True)
    deleted = BooleanAttribute(null=True)
    refs = NumberAttribute(null=True)
    site_id = UnicodeAttribute(null=True)
    valid_until = UTCDateTimeAttribute(null=True)


def _version_sk(tariff_id: str, version: int) -> str:
    return f"{VERSION}{tariff_id}#{version:08d}"


def _tariff_version(item: TariffItem) -> TariffVersion:
    # Heads and versions are always written with both; validation refuses a missing body.
    tariff = Tariff.model_validate_json(item.body or "")
    return TariffVersion(tariff, item.valid_from or datetime.min.replace(tzinfo=UTC))


def _assignment(item: TariffItem) -> TariffAssignment:
    return TariffAssignment.model_validate_json(item.body or "")


def _failed(exc: TransactWriteError, index: int) -> bool:
    reasons = exc.cancellation_reasons
    reason = reasons[index] if index < len(reasons) else None
    return reason is not None and reason.code == "ConditionalCheckFailed"


class DynamoTariffRepository:
    """TariffRepository (see the module docstring for the items)."""

    def __init__(self) -> None:
        # The model shares the table's Meta (configure_table sets it); a connection cached for
        # an earlier configuration must not outlive it.
        TariffItem._connection = None

    @staticmethod
    def _transaction() -> TransactWrite:
        return TransactWrite(connection=TariffItem._get_connection().connection)

    # -- tariffs ------------------------------------------------------------------------------

    def get_tariff(self, tenant_id: str, tariff_id: str) -> TariffVersion | None:
        """The head, strongly consistent."""
        item = self._get(tenant_id, f"{HEAD}{tariff_id}")
        if item is None or item.deleted:
            return None
        return _tariff_version(item)

    def create_tariff(self, tenant_id: str, first: TariffVersion) -> bool:
        """Head and version 1 in one transaction, if the id is new."""
        partition = tenant_pk(tenant_id)
        tariff = first.tariff
        head = self._item(partition, f"{HEAD}{tariff.id}", tenant_id, first)
        head.refs = 0
        try:
            with self._transaction() as tx:
                tx.save(head, condition=TariffItem.PK.does_not_exist())
                tx.save(
                    self._item(partition, _version_sk(tariff.id, 1), tenant_id, first),
                    condition=TariffItem.PK.does_not_exist(),
                )
        except TransactWriteError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def add_version(self, tenant_id: str, new: TariffVersion, expected_version: int) -> bool:
        """The head moved on and the new version put, in one transaction."""
        partition = tenant_pk(tenant_id)
        tariff = new.tariff
        body = tariff.model_dump_json()
        try:
            with self._transaction() as tx:
                tx.update(
                    TariffItem(partition, f"{HEAD}{tariff.id}"),
                    actions=[
                        TariffItem.version.set(tariff.version),
                        TariffItem.body.set(body),
                        TariffItem.valid_from.set(new.valid_from),
                    ],
                    condition=(TariffItem.version == expected_version)
                    & TariffItem.deleted.does_not_exist(),
                )
                tx.save(
                    self._item(partition, _version_sk(tariff.id, tariff.version), tenant_id, new),
                    condition=TariffItem.PK.does_not_exist(),
                )
        except TransactWriteError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def delete_tariff(self, tenant_id: str, tariff_id: str, expected_version: int) -> bool:
        """Mark the head deleted if at the version and named by no assignment."""
        head = TariffItem(tenant_pk(tenant_id), f"{HEAD}{tariff_id}")
        try:
            head.update(
                actions=[TariffItem.deleted.set(True)],
                condition=(TariffItem.version == expected_version)
                & TariffItem.deleted.does_not_exist()
                & (TariffItem.refs.does_not_exist() | (TariffItem.refs == 0)),
            )
        except UpdateError as exc:
            if not _is_conditional_failure(exc):
                raise
            # Why it failed, for the caller: only still in use at this version is an error.
            now = self._get(tenant_id, f"{HEAD}{tariff_id}")
            if (
                now is not None
                and not now.deleted
                and now.version == expected_version
                and (now.refs or 0) > 0
            ):
                raise ResourceInUseError(
                    "tariff", tariff_id, "tariff assignments name it"
                ) from None
            return False
        return True

    def list_tariffs(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[TariffVersion]:
        """Heads by id, the deleted left out (full pages all the same)."""
        return self._page(
            tenant_id, HEAD, limit, cursor, _tariff_version, keep=lambda item: not item.deleted
        )

    def get_version(self, tenant_id: str, tariff_id: str, version: int) -> TariffVersion | None:
        """One version item."""
        item = self._get(tenant_id, _version_sk(tariff_id, version))
        return _tariff_version(item) if item is not None else None

    def list_versions(
        self, tenant_id: str, tariff_id: str, limit: int, cursor: str | None = None
    ) -> Page[TariffVersion]:
        """Version items, oldest first."""
        return self._page(tenant_id, f"{VERSION}{tariff_id}#", limit, cursor, _tariff_version)

    def version_at(self, tenant_id: str, tariff_id: str, moment: datetime) -> TariffVersion | None:
        """Version items newest first, up to the first in force (usually the newest)."""
        items = TariffItem.query(
            tenant_pk(tenant_id),
            TariffItem.SK.startswith(f"{VERSION}{tariff_id}#"),
            scan_index_forward=False,
            consistent_read=True,
            page_size=4,
        )
        for item in items:
            if item.valid_from is not None and item.valid_from <= moment:
                return _tariff_version(item)
        return None

    # -- assignments --------------------------------------------------------------------------

    def create_assignment(self, tenant_id: str, assignment: TariffAssignment) -> bool:
        """The assignment and its slot's claim put, its tariff's `refs` raised, in one write."""
        partition = tenant_pk(tenant_id)
        item = self._assignment_item(tenant_id, assignment)
        slot_id = assignment_id(assignment.slot)
        try:
            with self._transaction() as tx:
                tx.save(item, condition=TariffItem.PK.does_not_exist())
                tx.update(
                    TariffItem(partition, f"{HEAD}{assignment.tariff_id}"),
                    actions=[TariffItem.refs.add(1)],
                    condition=TariffItem.PK.exists() & TariffItem.deleted.does_not_exist(),
                )
                tx.save(
                    TariffItem(
                        partition, f"{SLOT}{slot_id}", tenant_id=tenant_id, body=assignment.id
                    ),
                    condition=TariffItem.PK.does_not_exist(),
                )
                if assignment.id != slot_id:
                    # An assignment from before the claims, in force, holds the slot as well.
                    tx.condition_check(
                        TariffItem,
                        partition,
                        f"{ASSIGNMENT}{slot_id}",
                        condition=TariffItem.PK.does_not_exist() | TariffItem.valid_until.exists(),
                    )
        except TransactWriteError as exc:
            if not _is_conditional_failure(exc):
                raise
            # pynamodb sends condition checks, then deletes, puts and updates: the head's
            # update comes after the check (if any) and the two puts.
            head = 3 if assignment.id != slot_id else 2
            if _failed(exc, head):
                raise InvalidReferenceError("tariffId", "tariff", assignment.tariff_id) from None
            return False
        return True

    def get_assignment(self, tenant_id: str, assignment_id: str) -> TariffAssignment | None:
        """Strongly consistent."""
        item = self._get(tenant_id, f"{ASSIGNMENT}{assignment_id}")
        return _assignment(item) if item is not None else None

    def end_assignment(self, tenant_id: str, ended: TariffAssignment) -> bool:
        """The assignment ended, its slot's claim removed, its tariff's `refs` lowered, at once."""
        partition = tenant_pk(tenant_id)
        try:
            with self._transaction() as tx:
                tx.save(
                    self._assignment_item(tenant_id, ended),
                    condition=TariffItem.PK.exists() & TariffItem.valid_until.does_not_exist(),
                )
                tx.update(
                    TariffItem(partition, f"{HEAD}{ended.tariff_id}"),
                    actions=[TariffItem.refs.add(-1)],
                    condition=TariffItem.PK.exists(),
                )
                # Absent for an assignment from before the claims: deleting nothing is fine.
                tx.delete(TariffItem(partition, f"{SLOT}{assignment_id(ended.slot)}"))
        except TransactWriteError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def list_assignments(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        only: frozenset[str] | None = None,
        include_ended: bool = False,
    ) -> Page[TariffAssignment]:
        """By id; `only` and `include_ended` filter as the partition is read."""

        def keep(item: TariffItem) -> bool:
            reached = only is None or item.site_id in only
            return reached and (include_ended or item.valid_until is None)

        return self._page(tenant_id, ASSIGNMENT, limit, cursor, _assignment, keep=keep)

    def all_assignments(self, tenant_id: str) -> list[TariffAssignment]:
        """One query of the partition's assignment items (pynamodb follows the pages)."""
        items: Iterable[TariffItem] = TariffItem.query(
            tenant_pk(tenant_id), TariffItem.SK.startswith(ASSIGNMENT), consistent_read=True
        )
        return [_assignment(item) for item in items]

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _assignment_item(tenant_id: str, assignment: TariffAssignment) -> TariffItem:
        return TariffItem(
            tenant_pk(tenant_id),
            f"{ASSIGNMENT}{assignment.id}",
            tenant_id=tenant_id,
            body=assignment.model_dump_json(exclude={"id"}),
            site_id=assignment.site_id,
            valid_until=assignment.valid_until,
        )

    @staticmethod
    def _get(tenant_id: str, sort_key: str) -> TariffItem | None:
        try:
            return TariffItem.get(tenant_pk(tenant_id), sort_key, consistent_read=True)
        except TariffItem.DoesNotExist:
            return None

    @staticmethod
    def _item(partition: str, sort_key: str, tenant_id: str, version: TariffVersion) -> TariffItem:
        return TariffItem(
            partition,
            sort_key,
            tenant_id=tenant_id,
            version=version.tariff.version,
            body=version.tariff.model_dump_json(),
            valid_from=version.valid_from,
        )

    @staticmethod
    def _page(
        tenant_id: str,
        prefix: str,
        limit: int,
        cursor: str | None,
        convert: Callable[[TariffItem], T],
        *,
        keep: Callable[[TariffItem], bool] | None = None,
    ) -> Page[T]:
        """Full pages even when filtering; the cursor names the last item returned."""
        partition = tenant_pk(tenant_id)
        result = TariffItem.query(
            partition,
            TariffItem.SK.startswith(prefix),
            last_evaluated_key=decode_cursor(cursor, partition, sort_prefix=prefix),
            page_size=limit + 1,
        )
        found: list[tuple[str, Any]] = []
        for item in result:
            if keep is None or keep(item):
                found.append((item.SK, item))
                if len(found) > limit:
                    break
        next_cursor = None
        if len(found) > limit:
            last_sk = found[limit - 1][0]
            next_cursor = encode_cursor({"PK": {"S": partition}, "SK": {"S": last_sk}})
        return Page(items=[convert(item) for _, item in found[:limit]], next_cursor=next_cursor)
