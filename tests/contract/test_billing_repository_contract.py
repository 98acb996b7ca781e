"""One contract suite for BillingRepository (and the billing account store), run against the
in-memory fakes and against the DynamoDB adapters on moto (table from the synthesized template).
The port docstrings in `csms.services.billing` and `csms.services.billing_wiring` are the
contract; events count as published when the table's stream carries them to the outbox relay.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from tests.fakes_billing import InMemoryBillingAccountStore, InMemoryBillingRepository
from tests.unit.domain.billing.builders import T0, a_tariff, a_usage

from csms.adapters.dynamo_billing import DynamoBillingAccountStore, DynamoBillingRepository
from csms.adapters.outbox import OutboxEncoder, entries_of
from csms.domain.billing.cdr import Cdr, SessionFacts, build_cdr, credit_cdr
from csms.domain.billing.invoice import (
    BillingAccount,
    BillingMode,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceState,
    Payment,
    session_line,
    with_lines,
)
from csms.domain.billing.pricing import price
from csms.domain.errors import InvalidCursorError
from csms.domain.events import CdrCreated, DomainEvent, InvoiceFinalized
from csms.services.billing import BilledRevision, BillingRepository, Hold, SessionLedger
from csms.services.billing_month import StatementRef, StatementsToClose
from csms.services.billing_wiring import BillingAccountStore
from csms_local import emulation

T, OTHER = "t-1", "t-2"
MEMORY, DYNAMO = "memory", "dynamo"


@dataclass
class Repo:
    """One implementation of the port and the detail types its writes published, in order."""

    kind: str
    repo: Any
    accounts: BillingAccountStore
    published: Callable[[], list[str]]

    @property
    def billing(self) -> BillingRepository:
        port: BillingRepository = self.repo
        return port


def _outbox_published(table_name: str) -> list[str]:
    arn = boto3.client("dynamodb", region_name=emulation.REGION).describe_table(
        TableName=table_name
    )["Table"]["LatestStreamArn"]
    streams = boto3.client(
        "dynamodbstreams",
        region_name=emulation.REGION,
        endpoint_url=f"https://streams.dynamodb.{emulation.REGION}.amazonaws.com",
    )
    found: list[str] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]:
            for entry in entries_of(record, "csms-events"):
                assert entry["Source"] == "csms.billing"
                found.append(entry["DetailType"])
    return found


@pytest.fixture(params=[MEMORY, DYNAMO])
def repo(request: pytest.FixtureRequest) -> Repo:
    if request.param == DYNAMO:
        table = request.getfixturevalue("dynamo_table")
        return Repo(
            DYNAMO,
            DynamoBillingRepository(OutboxEncoder(lambda: str(uuid.uuid4()))),
            DynamoBillingAccountStore(),
            lambda: _outbox_published(table),
        )
    memory = InMemoryBillingRepository()
    return Repo(
        MEMORY,
        memory,
        InMemoryBillingAccountStore(),
        lambda: [event.detail_type for event in memory.events],
    )


# -- builders ----------------------------------------------------------------------------------


def a_cdr(session_id: str = "S1", revision: int = 1, *, hours: float = 0, kwh: int = 10) -> Cdr:
    usage = a_usage(start=T0 + timedelta(hours=hours), kwh=kwh, session_id=session_id)
    tariff = a_tariff()
    facts = SessionFacts(
        tenant_id=T, session_id=session_id, revision=revision, station_id="CP-1", id_token="A1"
    )
    return build_cdr(facts, tariff, usage, price(tariff, usage), T0 + timedelta(hours=5))


def created(cdr: Cdr) -> CdrCreated:
    return CdrCreated(
        tenant_id=T,
        occurred_at=T0,
        cdr_id=cdr.id,
        session_id=cdr.session_id,
        revision=cdr.revision,
        currency=cdr.currency,
        total_excl_tax=cdr.total_cost.excl_vat,
        total_incl_tax=cdr.total_cost.incl_vat,
        energy_kwh=cdr.total_energy,
    )


def a_line(session_id: str = "S1", revision: int = 1, kwh: int = 10) -> InvoiceLine:
    usage = a_usage(kwh=kwh, session_id=session_id)
    return session_line(
        session_id, revision, f"cdr-{session_id}", price(a_tariff(), usage), "Charging"
    )


def an_invoice(
    invoice_id: str = "rcp-1",
    *,
    state: InvoiceState = InvoiceState.FINALIZED,
    kind: InvoiceKind = InvoiceKind.RECEIPT,
    account_id: str | None = "token:A1",
    minutes: int = 0,
    lines: tuple[InvoiceLine, ...] = (),
) -> Invoice:
    at = T0 + timedelta(minutes=minutes)
    invoice = Invoice(
        id=invoice_id,
        tenant_id=T,
        kind=kind,
        state=state,
        account_id=account_id,
        currency="EUR",
        period="2026-11" if kind is InvoiceKind.STATEMENT else None,
        created_at=at,
        updated_at=at,
    )
    return with_lines(invoice, lines)


def finalized(invoice: Invoice) -> list[DomainEvent]:
    return [
        InvoiceFinalized(
            tenant_id=invoice.tenant_id,
            occurred_at=invoice.updated_at,
            invoice_id=invoice.id,
            number=invoice.number or 0,
            kind=invoice.kind.value,
            currency=invoice.currency,
            total_excl_tax=invoice.total_excl_tax,
            total_incl_tax=invoice.total_incl_tax,
        )
    ]


def no_events(invoice: Invoice) -> list[DomainEvent]:
    return []


def a_ledger(session_id: str = "S1", revision: int = 1, **over: Any) -> SessionLedger:
    fields: dict[str, Any] = {
        "tenant_id": T,
        "session_id": session_id,
        "account": BillingAccount(id="token:A1", mode=BillingMode.AD_HOC, customer="cus-1"),
        "current": BilledRevision(
            revision=revision,
            cdr_id="cdr-1",
            currency="EUR",
            total_incl_tax=Decimal("3.00"),
            invoice_id="rcp-1",
            line=a_line(session_id, revision),
        ),
        "month": "2026-11",
    }
    return SessionLedger(**(fields | over))


def _walk(page_of: Callable[[str | None], Any]) -> list[list[Any]]:
    pages: list[list[Any]] = []
    cursor: str | None = None
    while True:
        page = page_of(cursor)
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return pages


# -- CDRs ----------------------------------------------------------------------------------------


def test_add_cdr_first_write_wins_and_publishes_once(repo: Repo) -> None:
    # GIVEN a CDR stored with its event
    first = a_cdr()
    assert repo.billing.add_cdr(T, first, [created(first)]) == first

    # WHEN a replay stores a CDR under the same id with other figures
    replay = a_cdr(kwh=20)
    stored = repo.billing.add_cdr(T, replay, [created(replay)])

    # THEN the first one stays, read back exactly, and its event was published once
    assert stored == first
    assert repo.billing.get_cdr(T, first.id) == first
    assert repo.published() == ["CdrCreated"]
    assert repo.billing.get_cdr(OTHER, first.id) is None
    assert repo.billing.get_cdr(T, "cdr-absent") is None


def test_list_cdrs_newest_end_first_within_since_until_in_pages(repo: Repo) -> None:
    # GIVEN five CDRs ending an hour apart (and a credit CDR), and one of another tenant
    cdrs = [a_cdr(f"S{n}", hours=n) for n in range(5)]
    for cdr in cdrs:
        repo.billing.add_cdr(T, cdr, [])
    credit = credit_cdr(cdrs[0], 2, T0 + timedelta(hours=9))
    repo.billing.add_cdr(T, credit, [])
    repo.billing.add_cdr(OTHER, a_cdr("S9").model_copy(update={"tenant_id": OTHER}), [])

    # WHEN they are listed two at a time, and between the second and the fourth end
    pages = _walk(lambda cursor: repo.billing.list_cdrs(T, 2, cursor))
    since, until = cdrs[1].end_date_time, cdrs[3].end_date_time
    window = repo.billing.list_cdrs(T, 10, since=since, until=until)
    later = repo.billing.list_cdrs(T, 10, since=cdrs[3].end_date_time)
    earlier = repo.billing.list_cdrs(T, 10, until=cdrs[1].end_date_time)

    # THEN newest end first (the credit ends with its original), none twice, none of the other
    listed = [cdr.id for page in pages for cdr in page]
    assert [len(page) for page in pages] == [2, 2, 2]
    assert listed[:4] == [cdrs[4].id, cdrs[3].id, cdrs[2].id, cdrs[1].id]
    assert set(listed[4:]) == {cdrs[0].id, credit.id}
    assert [cdr.id for cdr in window.items] == [cdrs[2].id, cdrs[1].id]
    assert [cdr.id for cdr in later.items] == [cdrs[4].id, cdrs[3].id]
    assert {cdr.id for cdr in earlier.items} == {cdrs[0].id, credit.id}
    assert window.next_cursor is None


def test_list_cdrs_refuses_a_cursor_it_did_not_hand_out(repo: Repo) -> None:
    # GIVEN three CDRs and a cursor of the invoice list
    for n in range(3):
        repo.billing.add_cdr(T, a_cdr(f"S{n}", hours=n), [])
        repo.billing.create_invoice(T, an_invoice(f"rcp-{n}", minutes=n), [], no_events)
    invoice_cursor = repo.billing.list_invoices(T, 1).next_cursor
    assert invoice_cursor is not None

    # WHEN / THEN a made-up cursor or one of another list is refused
    for cursor in ("garbage", invoice_cursor):
        with pytest.raises(InvalidCursorError):
            repo.billing.list_cdrs(T, 1, cursor)


# -- ledgers -------------------------------------------------------------------------------------


def test_save_ledger_is_conditional_on_the_version(repo: Repo) -> None:
    # GIVEN no ledger
    assert repo.billing.get_ledger(T, "S1") is None

    # WHEN it is saved from version 0, then again from 0, then from 1
    first = repo.billing.save_ledger(T, a_ledger(), 0)
    again = repo.billing.save_ledger(T, a_ledger(receipt_id="x"), 0)
    done = repo.billing.save_ledger(T, a_ledger(done=True), 1)
    stale = repo.billing.save_ledger(T, a_ledger(done=False), 1)

    # THEN only the writes at the stored version took effect, each one version further
    assert (first, again, done, stale) == (True, False, True, False)
    stored = repo.billing.get_ledger(T, "S1")
    assert stored == a_ledger(done=True, version=2)
    assert repo.billing.get_ledger(OTHER, "S1") is None


# -- invoices ------------------------------------------------------------------------------------


def test_create_invoice_numbers_issued_invoices_per_tenant_once(repo: Repo) -> None:
    # GIVEN an open statement, two receipts and a receipt of another tenant
    line = a_line()
    statement = repo.billing.create_invoice(
        T, an_invoice("stm-1", state=InvoiceState.OPEN, kind=InvoiceKind.STATEMENT), [], no_events
    )
    first = repo.billing.create_invoice(T, an_invoice("rcp-1", lines=(line,)), [line], finalized)
    second = repo.billing.create_invoice(T, an_invoice("rcp-2"), [], finalized)
    other = repo.billing.create_invoice(
        OTHER, an_invoice("rcp-1").model_copy(update={"tenant_id": OTHER}), [], no_events
    )

    # WHEN the first receipt is created again
    replay = repo.billing.create_invoice(T, an_invoice("rcp-1", minutes=5), [], finalized)

    # THEN issued invoices have consecutive numbers per tenant, open ones none; a replay
    # returns the stored invoice and publishes nothing
    assert (statement.number, first.number, second.number, other.number) == (None, 1, 2, 1)
    assert replay == first
    assert first.version == 1
    assert repo.billing.get_invoice(T, "rcp-1") == first
    assert repo.billing.list_invoice_lines(T, "rcp-1") == [line]
    assert repo.billing.get_line(T, "rcp-1", line.id) == line
    assert repo.billing.get_line(T, "rcp-2", line.id) is None
    assert repo.published() == ["InvoiceFinalized", "InvoiceFinalized"]


def test_update_invoice_is_conditional_and_numbers_when_issued(repo: Repo) -> None:
    # GIVEN an open statement and a receipt that took number 1
    opened = repo.billing.create_invoice(
        T, an_invoice("stm-1", state=InvoiceState.OPEN, kind=InvoiceKind.STATEMENT), [], no_events
    )
    repo.billing.create_invoice(T, an_invoice("rcp-1"), [], no_events)

    # WHEN the statement is finalized at its version, then again at the old version
    closed = repo.billing.update_invoice(
        T, opened.model_copy(update={"state": InvoiceState.FINALIZED}), 1, finalized
    )
    stale = repo.billing.update_invoice(
        T, opened.model_copy(update={"state": InvoiceState.VOID}), 1, finalized
    )

    # THEN the first write numbered it next and moved its version; the stale one wrote nothing
    assert closed is not None
    assert (closed.number, closed.version, closed.state) == (2, 2, InvoiceState.FINALIZED)
    assert stale is None
    assert repo.billing.get_invoice(T, "stm-1") == closed
    assert repo.published() == ["InvoiceFinalized"]
    # AND an update of an issued, numbered invoice keeps its number
    paid = repo.billing.update_invoice(
        T, closed.model_copy(update={"state": InvoiceState.PAID}), 2, no_events
    )
    assert paid is not None
    assert (paid.number, paid.version) == (2, 3)
    assert repo.billing.update_invoice(T, an_invoice("rcp-absent"), 1, no_events) is None


def test_add_lines_once_with_the_header_at_its_version(repo: Repo) -> None:
    # GIVEN an open statement
    opened = repo.billing.create_invoice(
        T, an_invoice("stm-1", state=InvoiceState.OPEN, kind=InvoiceKind.STATEMENT), [], no_events
    )
    one, two, three = a_line("S1"), a_line("S2", kwh=5), a_line("S3", kwh=7)

    # WHEN lines are added at its version, again at a stale version, and a line twice
    added = repo.billing.add_lines(T, with_lines(opened, [one, two]), [one, two], 1)
    header = repo.billing.get_invoice(T, "stm-1")
    assert header is not None
    stale = repo.billing.add_lines(T, with_lines(opened, [three]), [three], 1)
    duplicate = repo.billing.add_lines(T, with_lines(header, [one]), [one], 2)
    more = repo.billing.add_lines(T, with_lines(header, [three]), [three], 2)

    # THEN only the writes at the stored version without an existing line took effect
    assert (added, stale, duplicate, more) == (True, False, False, True)
    stored = repo.billing.get_invoice(T, "stm-1")
    assert stored is not None
    assert (stored.version, stored.line_count) == (3, 3)
    assert stored.total_incl_tax == one.total_incl_tax + two.total_incl_tax + three.total_incl_tax
    assert repo.billing.list_invoice_lines(T, "stm-1") == [one, two, three]
    assert repo.billing.list_invoice_lines(OTHER, "stm-1") == []
    assert not repo.billing.add_lines(T, an_invoice("stm-absent"), [one], 1)


def test_list_invoices_newest_first_by_account_in_pages(repo: Repo) -> None:
    # GIVEN five invoices a minute apart, alternating two accounts, one without an account
    for n in range(5):
        account = "token:A1" if n % 2 == 0 else "group:fleet"
        repo.billing.create_invoice(
            T, an_invoice(f"inv-{n}", minutes=n, account_id=account), [], no_events
        )
    repo.billing.create_invoice(T, an_invoice("inv-x", minutes=9, account_id=None), [], no_events)
    repo.billing.create_invoice(
        OTHER, an_invoice("inv-o").model_copy(update={"tenant_id": OTHER}), [], no_events
    )

    # WHEN all are listed two at a time, and one account's
    pages = _walk(lambda cursor: repo.billing.list_invoices(T, 2, cursor))
    fleet = _walk(lambda cursor: repo.billing.list_invoices(T, 1, cursor, account_id="group:fleet"))

    # THEN newest first, every one once, with its version; the account's only theirs
    assert [[i.id for i in page] for page in pages] == [
        ["inv-x", "inv-4"],
        ["inv-3", "inv-2"],
        ["inv-1", "inv-0"],
    ]
    assert all(i.version == 1 for page in pages for i in page)
    assert [[i.id for i in page] for page in fleet] == [["inv-3"], ["inv-1"]]
    assert repo.billing.list_invoices(T, 5, account_id="nobody").items == []
    with pytest.raises(InvalidCursorError):
        repo.billing.list_invoices(T, 2, "garbage")


# -- holds and provider events -------------------------------------------------------------------


def test_put_hold_first_write_wins(repo: Repo) -> None:
    # GIVEN a hold made at a session's start
    hold = Hold(reference="pi_1", amount_minor=5000, currency="EUR")
    assert repo.repo.put_hold(T, "S1", hold)

    # WHEN another is recorded for the same session
    again = repo.repo.put_hold(T, "S1", Hold(reference="pi_2", amount_minor=1, currency="EUR"))

    # THEN the first stays, within its tenant
    assert not again
    assert repo.billing.get_hold(T, "S1") == hold
    assert repo.billing.get_hold(OTHER, "S1") is None


def test_claim_provider_event_true_only_the_first_time(repo: Repo) -> None:
    # GIVEN / WHEN an event id is claimed twice, and another once
    first = repo.billing.claim_provider_event("evt_1", T0)
    again = repo.billing.claim_provider_event("evt_1", T0 + timedelta(minutes=1))
    other = repo.billing.claim_provider_event("evt_2", T0)

    # THEN only the first claim of each id wins
    assert (first, again, other) == (True, False, True)


# -- the monthly close ---------------------------------------------------------------------------


def a_statement(
    invoice_id: str,
    account_id: str,
    *,
    tenant_id: str = T,
    state: InvoiceState = InvoiceState.OPEN,
    period: str = "2026-11",
    lines: tuple[InvoiceLine, ...] = (),
    **update: Any,
) -> Invoice:
    statement = an_invoice(
        invoice_id, state=state, kind=InvoiceKind.STATEMENT, account_id=account_id, lines=lines
    )
    return statement.model_copy(update={"tenant_id": tenant_id, "period": period, **update})


def test_statements_to_close_are_the_months_open_and_uncollected_across_tenants(
    repo: Repo,
) -> None:
    # GIVEN November statements of two tenants in every state, an October one and a receipt
    line = a_line()
    invoiced = Payment(reference="inv_1", kind="invoice", amount=Decimal("3.00"), status="due")
    for tenant_id, statement in [
        (T, a_statement("stm-open", "acct-open")),
        (
            OTHER,
            a_statement(
                "stm-due", "acct-due", tenant_id=OTHER, state=InvoiceState.FINALIZED, lines=(line,)
            ),
        ),
        (T, a_statement("stm-paid", "acct-paid", state=InvoiceState.PAID, lines=(line,))),
        (
            T,
            a_statement(
                "stm-invoiced",
                "acct-inv",
                state=InvoiceState.FINALIZED,
                lines=(line,),
                payments=(invoiced,),
            ),
        ),
        (T, a_statement("stm-nothing", "acct-zero", state=InvoiceState.FINALIZED)),
        (T, a_statement("stm-october", "acct-open", period="2026-10")),
    ]:
        repo.billing.create_invoice(tenant_id, statement, [], no_events)
    repo.billing.create_invoice(T, an_invoice("rcp-1", lines=(line,)), [line], no_events)
    close: StatementsToClose = repo.repo

    # WHEN November's statements to close are listed
    listed = list(close.statements_to_close("2026-11"))

    # THEN the open one and the one finalized with nothing collected, of both tenants, are
    # listed; the settled, the empty, October's and the receipt are not
    assert sorted(listed, key=lambda r: r.account_id) == [
        StatementRef(OTHER, "acct-due"),
        StatementRef(T, "acct-open"),
    ]
    assert list(close.statements_to_close("2026-10")) == [StatementRef(T, "acct-open")]
    assert list(close.statements_to_close("2026-09")) == []

    # AND once the open one is settled, it is no longer listed
    opened = repo.billing.get_invoice(T, "stm-open")
    assert opened is not None
    repo.billing.update_invoice(
        T, opened.model_copy(update={"state": InvoiceState.VOID}), opened.version, no_events
    )
    assert list(close.statements_to_close("2026-11")) == [StatementRef(OTHER, "acct-due")]


# -- billing accounts ----------------------------------------------------------------------------


def test_save_account_is_conditional_on_the_version(repo: Repo) -> None:
    # GIVEN no account
    account = BillingAccount(id="token:A1", mode=BillingMode.AD_HOC, customer="cus-1")
    assert repo.accounts.get_account(T, account.id) is None

    # WHEN it is saved from 0, again from 0, then with a payment method from 1
    first = repo.accounts.save_account(T, account, 0)
    again = repo.accounts.save_account(T, account.model_copy(update={"customer": "x"}), 0)
    with_method = account.model_copy(update={"payment_method": "pm_1"})
    changed = repo.accounts.save_account(T, with_method, 1)

    # THEN the writes at the stored version took effect
    assert (first, again, changed) == (True, False, True)
    stored = repo.accounts.get_account(T, account.id)
    assert stored is not None
    assert (stored.account, stored.version) == (with_method, 2)
    assert repo.accounts.get_account(OTHER, account.id) is None


def test_dynamo_items_carry_the_tenant(dynamo_table: str) -> None:
    # GIVEN one of each tenant item written through the adapters
    repo = DynamoBillingRepository(OutboxEncoder(lambda: str(uuid.uuid4())))
    cdr = a_cdr()
    repo.add_cdr(T, cdr, [created(cdr)])
    repo.save_ledger(T, a_ledger(), 0)
    line = a_line()
    repo.create_invoice(T, an_invoice(lines=(line,)), [line], finalized)
    repo.put_hold(T, "S1", Hold(reference="pi_1", amount_minor=1, currency="EUR"))
    DynamoBillingAccountStore().save_account(T, BillingAccount(id="a", mode=BillingMode.FREE), 0)

    # WHEN the table is read whole
    items = boto3.client("dynamodb", region_name=emulation.REGION).scan(TableName=dynamo_table)[
        "Items"
    ]

    # THEN every item is in the tenant's partition and names the tenant
    assert len(items) == 7  # CDR, ledger, invoice, line, counter, hold, account
    for item in items:
        assert item["PK"]["S"] == f"TENANT#{T}"
        assert item["tenant_id"]["S"] == T
    stored = next(i for i in items if i["SK"]["S"].startswith("CDR#"))
    assert json.loads(stored["body"]["S"])["id"] == cdr.id


def test_dynamo_invoice_number_drawn_again_after_a_concurrent_issue(
    dynamo_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a receipt that took number 1, and a writer that read the counter before it did
    repo = DynamoBillingRepository(OutboxEncoder(lambda: str(uuid.uuid4())))
    repo.create_invoice(T, an_invoice("rcp-1"), [], no_events)
    opened = repo.create_invoice(
        T, an_invoice("stm-1", state=InvoiceState.OPEN, kind=InvoiceKind.STATEMENT), [], no_events
    )
    real = repo._next_number
    # A number already taken on each first draw (None: read the counter).
    draws = iter([1, None, 2, None])

    def next_number(tenant_id: str, invoice: Invoice) -> int | None:
        drawn = next(draws)
        return drawn if drawn is not None else real(tenant_id, invoice)

    monkeypatch.setattr(repo, "_next_number", next_number)

    # WHEN that writer issues a receipt, then finalizes the statement
    second = repo.create_invoice(T, an_invoice("rcp-2"), [], finalized)
    closed = repo.update_invoice(
        T, opened.model_copy(update={"state": InvoiceState.FINALIZED}), 1, finalized
    )

    # THEN each drew again and took the next free number: no gap, none twice
    assert second.number == 2
    assert closed is not None
    assert closed.number == 3
    assert repo.get_invoice(T, "stm-1") == closed


def test_dynamo_statements_to_close_reads_beyond_one_batch(dynamo_table: str) -> None:
    # GIVEN more statements in one month than one batch read takes (100), half of them paid
    repo = DynamoBillingRepository(OutboxEncoder(lambda: str(uuid.uuid4())))
    line = a_line()
    for n in range(130):
        state = InvoiceState.OPEN if n % 2 == 0 else InvoiceState.PAID
        repo.create_invoice(
            T,
            a_statement(f"stm-{n:03d}", f"acct-{n:03d}", state=state, lines=(line,)),
            [],
            no_events,
        )

    # WHEN the month's statements to close are listed
    listed = list(repo.statements_to_close("2026-11"))

    # THEN every open one is there, once
    assert sorted(ref.account_id for ref in listed) == [f"acct-{n:03d}" for n in range(0, 130, 2)]
    assert {ref.tenant_id for ref in listed} == {T}


def test_dynamo_statement_marker_written_with_its_statement_only(dynamo_table: str) -> None:
    # GIVEN a statement created, then created again (a retry), and a receipt
    repo = DynamoBillingRepository(OutboxEncoder(lambda: str(uuid.uuid4())))
    repo.create_invoice(T, a_statement("stm-1", "acct-1"), [], no_events)
    repo.create_invoice(
        T, a_statement("stm-1", "acct-1", created_at=T0 + timedelta(minutes=5)), [], no_events
    )
    repo.create_invoice(T, an_invoice("rcp-1"), [], no_events)

    # WHEN the table is read whole
    items = boto3.client("dynamodb", region_name=emulation.REGION).scan(TableName=dynamo_table)[
        "Items"
    ]

    # THEN one marker in November's partition names the tenant and the statement
    markers = [i for i in items if i["PK"]["S"].startswith("BILLMONTH#")]
    assert [(m["PK"]["S"], m["SK"]["S"], m["tenant_id"]["S"]) for m in markers] == [
        ("BILLMONTH#2026-11", f"{T}#stm-1", T)
    ]


def test_dynamo_invoice_with_lines_or_marker_draws_its_number_again(
    dynamo_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a receipt that took number 1, and a writer that read the counter before it did
    repo = DynamoBillingRepository(OutboxEncoder(lambda: str(uuid.uuid4())))
    repo.create_invoice(T, an_invoice("rcp-1"), [], no_events)
    real = repo._next_number
    draws = iter([1, None, 2, None])

    def next_number(tenant_id: str, invoice: Invoice) -> int | None:
        drawn = next(draws)
        return drawn if drawn is not None else real(tenant_id, invoice)

    monkeypatch.setattr(repo, "_next_number", next_number)
    lines = (a_line("S1"), a_line("S2"))

    # WHEN that writer issues a receipt with two lines, then a statement issued at once
    receipt = repo.create_invoice(T, an_invoice("rcp-2", lines=lines), list(lines), no_events)
    statement = repo.create_invoice(
        T, a_statement("stm-1", "acct-1", state=InvoiceState.FINALIZED), [], no_events
    )

    # THEN each drew again past its lines and marker, and took the next free number
    assert (receipt.number, statement.number) == (2, 3)
    assert list(repo.statements_to_close("2026-11")) == []
