"""BillingRepository and BillingAccountStore on the single table.

Items under the tenant's partition `TENANT#{t}`, each carrying `tenant_id`, the model as JSON
in `body`:
- `CDR#{cdr id}`: a CDR, written once (conditional on its key) with its CdrCreated in the
  outbox; listed through GSI1 `TENANT#{t}#CDR` / `{end, UTC}#{cdr id}` (newest end first);
- `INVOICE#{invoice id}`: an invoice's header, `version` beside it (every write conditional on
  it); its events ride in its outbox. Listed through GSI1 `TENANT#{t}#INVOICE` /
  `{created, UTC}#{invoice id}`, and by account through GSI2 `TENANT#{t}#BILLACCOUNT#{a}` with
  the same sort key;
- `INVLINE#{invoice id}#{line id}`: one line, written once (conditional on its key), in the
  same transaction as the header it changes; `position` keeps the order it was added in;
- `INVCOUNTER`: the tenant's last invoice number; an issued invoice takes the next number in
  the transaction that writes it, conditional on the number read (no gaps, never twice);
- `BILLLEDGER#{session id}`: a session's billing ledger, `version` beside it;
- `BILLHOLD#{session id}`: the pre-authorisation made at the session's start (first write wins);
- `BILLACCT#{account id}`: a billing account, with its provider customer and payment method;
  listed by querying the tenant's partition for that key prefix (ids sort as the keys do).

Payment provider events are the operator's, not a tenant's: `PROVIDEREVENT#{event id}` /
`EVENT`, with no tenant, deleted by TTL (`expires_at`) once the provider has long stopped
redelivering it.

The monthly close reads across tenants, so each statement leaves a marker in its month's own
partition: `BILLMONTH#{YYYY-MM}` / `{tenant}#{statement id}`, carrying `tenant_id` and the
account in `body`, put in the transaction that creates the statement (no statement without its
marker). The marker is never updated: `statements_to_close` queries the month's partition (all
pages) and reads the statements' headers by key in batches (eventually consistent: a statement
only moves towards settled, so a stale header can list a settled one, which `finalize_month`
then leaves alone, never hide one left to close). A month costs one small read per statement
and no write beyond the marker, whereas marking it done would add a write to every settle.

All indexes are keys only: a list queries the index, then reads the items by key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
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
from csms.domain.billing.cdr import Cdr
from csms.domain.billing.invoice import BillingAccount, Invoice, InvoiceKind, InvoiceLine
from csms.domain.errors import ConcurrentModificationError
from csms.domain.events import DomainEvent
from csms.services.billing import EventsFor, Hold, SessionLedger
from csms.services.billing_month import StatementRef, still_to_close
from csms.services.billing_wiring import StoredAccount
from csms.services.ports import Page

CDR = "CDR#"
INVOICE = "INVOICE#"
LINE = "INVLINE#"
COUNTER = "INVCOUNTER"
LEDGER = "BILLLEDGER#"
HOLD = "BILLHOLD#"
ACCOUNT = "BILLACCT#"
PROVIDER_EVENT = "PROVIDEREVENT#"
STATEMENT_MONTH = "BILLMONTH#"
# Stripe redelivers an event for up to three days; a claim outlives that by far.
PROVIDER_EVENT_TTL = timedelta(days=30)
# Keys per BatchGetItem (DynamoDB's limit).
_BATCH_GET = 100
# Attempts at numbering an invoice while other invoices of the tenant take numbers.
_NUMBER_ATTEMPTS = 8

M = TypeVar("M", bound=BaseModel)
_HOLD = TypeAdapter(Hold)


class _BillingIndex(GlobalSecondaryIndex[Any]):  # type: ignore[no-untyped-call]
    class Meta:
        projection = KeysOnlyProjection()


class BillingGsi1(_BillingIndex):  # type: ignore[no-untyped-call]
    """CDRs and invoices of a tenant, by time (its own class: an index is bound to one model)."""

    class Meta(_BillingIndex.Meta):  # noqa: D106 - pynamodb's configuration class
        index_name = "GSI1"

    GSI1PK = UnicodeAttribute(hash_key=True)
    GSI1SK = UnicodeAttribute(range_key=True)


class BillingGsi2(_BillingIndex):  # type: ignore[no-untyped-call]
    """Invoices of one billing account, by time."""

    class Meta(_BillingIndex.Meta):  # noqa: D106 - pynamodb's configuration class
        index_name = "GSI2"

    GSI2PK = UnicodeAttribute(hash_key=True)
    GSI2SK = UnicodeAttribute(range_key=True)


class BillingItem(_Item):
    """Any billing item (see the module docstring)."""

    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    GSI2PK = UnicodeAttribute(null=True)
    GSI2SK = UnicodeAttribute(null=True)
    by_time = BillingGsi1()
    by_account = BillingGsi2()
    body = UnicodeAttribute(null=True)
    version = NumberAttribute(null=True)
    position = NumberAttribute(null=True)
    value = NumberAttribute(null=True)
    expires_at = NumberAttribute(null=True)


def _sort_time(moment: datetime) -> str:
    # Fixed width, so that the keys sort as the moments do.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _cdr_list(tenant_id: str) -> str:
    return f"{tenant_pk(tenant_id)}#CDR"


def _invoice_list(tenant_id: str) -> str:
    return f"{tenant_pk(tenant_id)}#INVOICE"


def _account_list(tenant_id: str, account_id: str) -> str:
    return f"{tenant_pk(tenant_id)}#BILLACCOUNT#{account_id}"


def _load(model: type[M], item: BillingItem, **extra: Any) -> M:
    # Bodies are written from these very models; `extra` are the attributes kept beside them.
    return model.model_validate_json(item.body or "{}").model_copy(update=extra)


def _failed_at(exc: TransactWriteError, index: int) -> bool:
    reasons = exc.cancellation_reasons
    reason = reasons[index] if index < len(reasons) else None
    return reason is not None and reason.code == "ConditionalCheckFailed"


class DynamoBillingRepository:
    """BillingRepository (csms.services.billing): see the module docstring for the items."""

    def __init__(self, outbox: OutboxEncoder) -> None:
        self._outbox = outbox
        # The model shares the table's Meta (configure_table sets it): no stale connection.
        BillingItem._connection = None

    @staticmethod
    def _transaction() -> TransactWrite:
        return TransactWrite(connection=BillingItem._get_connection().connection)

    def _with_outbox(self, item: BillingItem, events: Sequence[DomainEvent]) -> BillingItem:
        for name, value in _outbox_values(self._outbox, events).items():
            setattr(item, name, value)
        return item

    # -- CDRs ---------------------------------------------------------------------------------

    def add_cdr(self, tenant_id: str, cdr: Cdr, events: Sequence[DomainEvent]) -> Cdr:
        """Put the CDR (its events in its outbox) unless its key exists; the stored one."""
        item = BillingItem(
            tenant_pk(tenant_id),
            f"{CDR}{cdr.id}",
            tenant_id=tenant_id,
            body=cdr.model_dump_json(),
            GSI1PK=_cdr_list(tenant_id),
            GSI1SK=f"{_sort_time(cdr.end_date_time)}#{cdr.id}",
        )
        if self._put_new(self._with_outbox(item, events)):
            return cdr
        stored = self.get_cdr(tenant_id, cdr.id)
        if stored is None:  # pragma: no cover - a CDR is never deleted
            raise ConcurrentModificationError("cdr", cdr.id)
        return stored

    def get_cdr(self, tenant_id: str, cdr_id: str) -> Cdr | None:
        """Strongly consistent."""
        item = self._get(tenant_pk(tenant_id), f"{CDR}{cdr_id}")
        return _load(Cdr, item) if item is not None else None

    def list_cdrs(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page[Cdr]:
        """GSI1 newest end first; `since`/`until` bound the sort key."""
        sort = BillingItem.GSI1SK
        condition: Condition | None = None
        low = _sort_time(since) if since is not None else None
        high = _sort_time(until) if until is not None else None
        # `{end}#{id}` sorts after `{end}`: between(since, until) is since <= end < until.
        if low is not None and high is not None:
            condition = sort.between(low, high)
        elif low is not None:
            condition = sort >= low
        elif high is not None:
            condition = sort < high
        return self._index_page(
            BillingItem.by_time,
            "GSI1",
            _cdr_list(tenant_id),
            sort_prefix=CDR,
            condition=condition,
            limit=limit,
            cursor=cursor,
            convert=lambda item: _load(Cdr, item),
        )

    # -- ledgers ------------------------------------------------------------------------------

    def get_ledger(self, tenant_id: str, session_id: str) -> SessionLedger | None:
        """Strongly consistent."""
        item = self._get(tenant_pk(tenant_id), f"{LEDGER}{session_id}")
        if item is None:
            return None
        return _load(SessionLedger, item, version=int(item.version or 0))

    def save_ledger(self, tenant_id: str, ledger: SessionLedger, expected_version: int) -> bool:
        """Put conditional on the stored version (on no item for version 0)."""
        item = BillingItem(
            tenant_pk(tenant_id),
            f"{LEDGER}{ledger.session_id}",
            tenant_id=tenant_id,
            body=ledger.model_dump_json(exclude={"version"}),
            version=expected_version + 1,
        )
        return self._put(item, self._version_condition(expected_version))

    # -- invoices -----------------------------------------------------------------------------

    def get_invoice(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        """The header, strongly consistent."""
        item = self._get(tenant_pk(tenant_id), f"{INVOICE}{invoice_id}")
        return _invoice(item) if item is not None else None

    def create_invoice(
        self, tenant_id: str, invoice: Invoice, lines: Sequence[InvoiceLine], events: EventsFor
    ) -> Invoice:
        """Header, lines and (when issued) the tenant's counter in one transaction."""
        for _ in range(_NUMBER_ATTEMPTS):
            number = self._next_number(tenant_id, invoice)
            stored = invoice.model_copy(update={"version": 1, **_number_update(number)})
            header = self._header(tenant_id, stored, events(stored))
            marked = stored.kind is InvoiceKind.STATEMENT and stored.period is not None
            try:
                with self._transaction() as tx:
                    tx.save(header, condition=BillingItem.PK.does_not_exist())
                    if number is not None:
                        self._take_number(tx, tenant_id, number)
                    for position, line in enumerate(lines):
                        tx.save(
                            self._line(tenant_id, invoice.id, line, position),
                            condition=BillingItem.PK.does_not_exist(),
                        )
                    if marked:
                        # With the header's condition: no marker for a statement not written.
                        tx.save(_statement_marker(tenant_id, stored))
            except TransactWriteError as exc:
                if not _is_conditional_failure(exc):
                    raise
                existing = self.get_invoice(tenant_id, invoice.id)
                if existing is not None:
                    return existing
                # pynamodb sends the puts (header, lines, marker) before the counter's update.
                counter = 1 + len(lines) + (1 if marked else 0)
                if number is not None and _failed_at(exc, counter):
                    continue  # another invoice took the number: draw again
                raise
            return stored
        raise ConcurrentModificationError("invoice-number", tenant_id)

    def update_invoice(
        self, tenant_id: str, invoice: Invoice, expected_version: int, events: EventsFor
    ) -> Invoice | None:
        """The header put conditional on its version (and numbered like `create_invoice`)."""
        for _ in range(_NUMBER_ATTEMPTS):
            number = self._next_number(tenant_id, invoice)
            stored = invoice.model_copy(
                update={"version": expected_version + 1, **_number_update(number)}
            )
            header = self._header(tenant_id, stored, events(stored))
            condition = BillingItem.version == expected_version
            if number is None:
                return stored if self._put(header, condition) else None
            try:
                with self._transaction() as tx:
                    tx.save(header, condition=condition)
                    self._take_number(tx, tenant_id, number)
            except TransactWriteError as exc:
                if not _is_conditional_failure(exc):
                    raise
                if _failed_at(exc, 0):
                    return None
                continue  # another invoice took the number: draw again
            return stored
        raise ConcurrentModificationError("invoice-number", tenant_id)

    def add_lines(
        self,
        tenant_id: str,
        invoice: Invoice,
        lines: Sequence[InvoiceLine],
        expected_version: int,
    ) -> bool:
        """The header (at the next version) and the new lines in one transaction."""
        first = invoice.line_count - len(lines)
        try:
            with self._transaction() as tx:
                tx.save(
                    self._header(
                        tenant_id, invoice.model_copy(update={"version": expected_version + 1}), ()
                    ),
                    condition=BillingItem.version == expected_version,
                )
                for offset, line in enumerate(lines):
                    tx.save(
                        self._line(tenant_id, invoice.id, line, first + offset),
                        condition=BillingItem.PK.does_not_exist(),
                    )
        except TransactWriteError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def get_line(self, tenant_id: str, invoice_id: str, line_id: str) -> InvoiceLine | None:
        """Strongly consistent."""
        item = self._get(tenant_pk(tenant_id), f"{LINE}{invoice_id}#{line_id}")
        return _load(InvoiceLine, item) if item is not None else None

    def list_invoice_lines(self, tenant_id: str, invoice_id: str) -> list[InvoiceLine]:
        """One query of the invoice's line items (pynamodb follows the pages), by position."""
        items = BillingItem.query(
            tenant_pk(tenant_id),
            BillingItem.SK.startswith(f"{LINE}{invoice_id}#"),
            consistent_read=True,
        )
        ordered = sorted(items, key=lambda item: int(item.position or 0))
        return [_load(InvoiceLine, item) for item in ordered]

    def list_invoices(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        *,
        account_id: str | None = None,
    ) -> Page[Invoice]:
        """GSI1 (all) or GSI2 (one account), newest first."""
        if account_id is None:
            index: Any = BillingItem.by_time
            name, partition = "GSI1", _invoice_list(tenant_id)
        else:
            index, name, partition = (
                BillingItem.by_account,
                "GSI2",
                _account_list(tenant_id, account_id),
            )
        return self._index_page(
            index,
            name,
            partition,
            sort_prefix=INVOICE,
            condition=None,
            limit=limit,
            cursor=cursor,
            convert=_invoice,
        )

    # -- holds --------------------------------------------------------------------------------

    def get_hold(self, tenant_id: str, session_id: str) -> Hold | None:
        """Strongly consistent."""
        item = self._get(tenant_pk(tenant_id), f"{HOLD}{session_id}")
        if item is None:
            return None
        return _HOLD.validate_json(item.body or "{}")

    def put_hold(self, tenant_id: str, session_id: str, hold: Hold) -> bool:
        """Record the pre-authorisation of a session's start; False when one is recorded."""
        item = BillingItem(
            tenant_pk(tenant_id),
            f"{HOLD}{session_id}",
            tenant_id=tenant_id,
            body=_HOLD.dump_json(hold).decode(),
        )
        return self._put_new(item)

    # -- the monthly close ---------------------------------------------------------------------

    def statements_to_close(self, month: str) -> Iterator[StatementRef]:
        """The month's markers, all pages, kept while their statement is `still_to_close`."""
        markers: Iterator[BillingItem] = iter(BillingItem.query(f"{STATEMENT_MONTH}{month}"))
        while chunk := list(islice(markers, _BATCH_GET)):
            refs: dict[tuple[str, str], StatementRef] = {}
            for marker in chunk:
                tenant_id = marker.tenant_id or ""
                statement = marker.SK[len(tenant_id) + 1 :]
                refs[tenant_pk(tenant_id), f"{INVOICE}{statement}"] = StatementRef(
                    tenant_id, marker.body or ""
                )
            headers = {
                (item.PK, item.SK): _invoice(item) for item in BillingItem.batch_get(list(refs))
            }
            for key, ref in refs.items():
                header = headers.get(key)
                if header is not None and still_to_close(header):
                    yield ref

    # -- provider events ----------------------------------------------------------------------

    def claim_provider_event(self, event_id: str, received_at: datetime) -> bool:
        """Put `PROVIDEREVENT#{id}` unless it exists (see the module docstring)."""
        item = BillingItem(
            f"{PROVIDER_EVENT}{event_id}",
            "EVENT",
            expires_at=_epoch(received_at + PROVIDER_EVENT_TTL),
        )
        return self._put_new(item)

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _get(partition: str, sort_key: str) -> BillingItem | None:
        try:
            return BillingItem.get(partition, sort_key, consistent_read=True)
        except BillingItem.DoesNotExist:
            return None

    @staticmethod
    def _put(item: BillingItem, condition: Condition) -> bool:
        try:
            item.save(condition=condition)
        except PutError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def _put_new(self, item: BillingItem) -> bool:
        return self._put(item, BillingItem.PK.does_not_exist())

    @staticmethod
    def _version_condition(expected_version: int) -> Condition:
        if expected_version == 0:
            return BillingItem.PK.does_not_exist()
        return BillingItem.version == expected_version

    def _header(
        self, tenant_id: str, invoice: Invoice, events: Sequence[DomainEvent]
    ) -> BillingItem:
        sort = f"{_sort_time(invoice.created_at)}#{invoice.id}"
        item = BillingItem(
            tenant_pk(tenant_id),
            f"{INVOICE}{invoice.id}",
            tenant_id=tenant_id,
            body=invoice.model_dump_json(exclude={"version"}),
            version=invoice.version,
            GSI1PK=_invoice_list(tenant_id),
            GSI1SK=sort,
        )
        if invoice.account_id is not None:
            item.GSI2PK = _account_list(tenant_id, invoice.account_id)
            item.GSI2SK = sort
        return self._with_outbox(item, events)

    @staticmethod
    def _line(tenant_id: str, invoice_id: str, line: InvoiceLine, position: int) -> BillingItem:
        return BillingItem(
            tenant_pk(tenant_id),
            f"{LINE}{invoice_id}#{line.id}",
            tenant_id=tenant_id,
            body=line.model_dump_json(),
            position=position,
        )

    def _next_number(self, tenant_id: str, invoice: Invoice) -> int | None:
        """The number an issued invoice without one takes; None when it takes none."""
        if not invoice.state.issued or invoice.number is not None:
            return None
        counter = self._get(tenant_pk(tenant_id), COUNTER)
        return int(counter.value or 0) + 1 if counter is not None else 1

    @staticmethod
    def _take_number(tx: TransactWrite, tenant_id: str, number: int) -> None:
        # Conditional on the number read: a concurrent issue makes this transaction fail.
        last = BillingItem.value
        tx.update(
            BillingItem(tenant_pk(tenant_id), COUNTER),
            actions=[last.set(number), BillingItem.tenant_id.set(tenant_id)],
            condition=last.does_not_exist() if number == 1 else last == number - 1,
        )

    @staticmethod
    def _index_page(
        index: Any,
        name: str,
        partition: str,
        *,
        sort_prefix: str,
        condition: Condition | None,
        limit: int,
        cursor: str | None,
        convert: Callable[[BillingItem], M],
    ) -> Page[M]:
        """A page of the index, newest first; the cursor names the last item returned."""
        start = decode_cursor(cursor, partition, f"{name}PK", sort_prefix=sort_prefix)
        result = index.query(
            partition,
            condition,
            scan_index_forward=False,
            limit=limit + 1,
            last_evaluated_key=start,
        )
        keys = [(item.PK, item.SK, getattr(item, f"{name}SK")) for item in result]
        page, more = keys[:limit], len(keys) > limit
        found = {
            (item.PK, item.SK): item
            for item in BillingItem.batch_get([(pk, sk) for pk, sk, _ in page])
        }
        items = [convert(found[pk, sk]) for pk, sk, _ in page if (pk, sk) in found]
        next_cursor = None
        if more:
            pk, sk, index_sk = page[-1]
            next_cursor = encode_cursor(
                {
                    "PK": {"S": pk},
                    "SK": {"S": sk},
                    f"{name}PK": {"S": partition},
                    f"{name}SK": {"S": index_sk},
                }
            )
        return Page(items=items, next_cursor=next_cursor)


def _invoice(item: BillingItem) -> Invoice:
    return _load(Invoice, item, version=int(item.version or 0))


def _statement_marker(tenant_id: str, statement: Invoice) -> BillingItem:
    return BillingItem(
        f"{STATEMENT_MONTH}{statement.period}",
        f"{tenant_id}#{statement.id}",
        tenant_id=tenant_id,
        body=statement.account_id or "",
    )


def _number_update(number: int | None) -> dict[str, Any]:
    return {} if number is None else {"number": number}


class DynamoBillingAccountStore:
    """BillingAccountStore (csms.services.billing_wiring): `BILLACCT#{id}` items, versioned."""

    def __init__(self) -> None:
        BillingItem._connection = None

    def get_account(self, tenant_id: str, account_id: str) -> StoredAccount | None:
        """Strongly consistent."""
        item = DynamoBillingRepository._get(tenant_pk(tenant_id), f"{ACCOUNT}{account_id}")
        if item is None:
            return None
        return StoredAccount(_load(BillingAccount, item), int(item.version or 0))

    def save_account(self, tenant_id: str, account: BillingAccount, expected_version: int) -> bool:
        """Put as version `expected_version + 1` while the stored one is at `expected_version`."""
        item = BillingItem(
            tenant_pk(tenant_id),
            f"{ACCOUNT}{account.id}",
            tenant_id=tenant_id,
            body=account.model_dump_json(),
            version=expected_version + 1,
        )
        return DynamoBillingRepository._put(
            item, DynamoBillingRepository._version_condition(expected_version)
        )

    def list_accounts(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[StoredAccount]:
        """One query of the tenant's partition (`BILLACCT#` keys), by account id."""
        partition = tenant_pk(tenant_id)
        result = BillingItem.query(
            partition,
            BillingItem.SK.startswith(ACCOUNT),
            limit=limit,
            consistent_read=True,
            last_evaluated_key=decode_cursor(cursor, partition, sort_prefix=ACCOUNT),
        )
        accounts = [
            StoredAccount(_load(BillingAccount, item), int(item.version or 0)) for item in result
        ]
        return Page(items=accounts, next_cursor=encode_cursor(result.last_evaluated_key))
