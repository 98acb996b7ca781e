"""BillingQueries: what a caller may read of billing, within their tenant and their sites."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from tests.unit.services.test_billing_service import NOW, RESIDENTS, T, World

from csms.domain.access import Principal, Role
from csms.domain.billing.invoice import InvoiceKind, receipt_id, statement_id
from csms.domain.errors import InvalidCursorError, ResourceNotFoundError, SessionNotFoundError
from csms.services.billing_queries import BillingQueries

OTHER_TENANT = "t-2"
NOVEMBER = statement_id(T, RESIDENTS.id, "2026-11")


class FakeSessionSites:
    """Sessions' sites by (tenant, session id); an unknown session is absent."""

    def __init__(self, sites: dict[tuple[str, str], str | None]) -> None:
        self.sites = sites

    def site_of(self, tenant_id: str, session_id: str) -> str | None:
        if (tenant_id, session_id) not in self.sites:
            raise SessionNotFoundError(session_id)
        return self.sites[tenant_id, session_id]


class Billed:
    """A tenant's billing, oldest first (each billed a minute after the one before).

    - S1 at site-1, a public session: receipt and CDR at site-1;
    - S2 at site-2, a public session: receipt and CDR at site-2;
    - S3 at site-1, a resident's: a line on November's statement;
    - S4, a public session the sessions store no longer knows: its receipt;
    - S5 at site-1, an employee's (free): a CDR, no invoice;
    - S6 at site-1, ended but not billed yet.
    """

    def __init__(self) -> None:
        self.world = World()
        for n, (session_id, site, group) in enumerate(
            [
                ("S1", "site-1", None),
                ("S2", "site-2", None),
                ("S3", "site-1", "residents"),
                ("S4", "site-1", None),
                ("S5", "site-1", "staff"),
            ]
        ):
            ended = self.world.ends(session_id, group=group)
            self.world.pricer.sessions[T, session_id] = dataclasses.replace(
                ended, facts=ended.facts.model_copy(update={"site_id": site})
            )
            self.world.bill(session_id, now=NOW + timedelta(minutes=n))
        self.sites = FakeSessionSites(
            {
                (T, "S1"): "site-1",
                (T, "S2"): "site-2",
                (T, "S3"): "site-1",
                (T, "S5"): "site-1",
                (T, "S6"): "site-1",
                (T, "S7"): None,
            }
        )
        self.queries = BillingQueries(repository=self.world.repo, sites=self.sites)

    def cdr_of(self, session_id: str) -> str:
        return next(c.id for c in self.world.repo.cdrs.values() if c.session_id == session_id)


@pytest.fixture(scope="module")
def billed() -> Billed:
    return Billed()


def _principal(sites: set[str] | None = None, tenant_id: str = T) -> Principal:
    return Principal(
        subject="u-1",
        tenant_id=tenant_id,
        role=Role.VIEWER,
        sites=frozenset(sites) if sites is not None else None,
    )


EVERYWHERE = _principal()
SITE_1 = _principal({"site-1"})


# -- invoices ----------------------------------------------------------------------------------


def test_list_invoices_unrestricted_sees_all_of_its_tenant_newest_first(billed: Billed) -> None:
    # GIVEN a tenant with three receipts and a statement, and another tenant with none
    # WHEN an unrestricted user of each lists invoices
    mine = billed.queries.list_invoices(EVERYWHERE, 10)
    theirs = billed.queries.list_invoices(_principal(tenant_id=OTHER_TENANT), 10)

    # THEN the first sees the four, newest first; the other tenant's user sees nothing
    assert [i.session_id for i in mine.items] == ["S4", None, "S2", "S1"]
    assert mine.next_cursor is None
    assert theirs.items == []


def test_list_invoices_of_an_account_only(billed: Billed) -> None:
    # GIVEN the residents' account with one statement
    # WHEN its invoices are listed
    page = billed.queries.list_invoices(EVERYWHERE, 10, account_id=RESIDENTS.id)

    # THEN only the statement is listed
    assert [(i.id, i.kind) for i in page.items] == [(NOVEMBER, InvoiceKind.STATEMENT)]


def test_list_invoices_restricted_sees_receipts_of_its_sites_only(billed: Billed) -> None:
    # GIVEN a user restricted to site-1
    # WHEN they list invoices
    page = billed.queries.list_invoices(SITE_1, 10)

    # THEN they see the receipt of S1 only: not site-2's, not the statement (every site's
    # sessions), not a receipt whose session is gone (no site to check)
    assert [i.id for i in page.items] == [receipt_id(T, "S1")]


def test_list_invoices_restricted_page_may_be_short_and_its_cursor_leads_on(
    billed: Billed,
) -> None:
    # GIVEN a user restricted to site-1, listing one invoice a page
    # WHEN they follow the cursors to the end
    pages = [billed.queries.list_invoices(SITE_1, 1)]
    while pages[-1].next_cursor is not None:
        pages.append(billed.queries.list_invoices(SITE_1, 1, pages[-1].next_cursor))

    # THEN pages of invoices they may not see are empty but lead on, to the one they may
    assert [[i.session_id for i in p.items] for p in pages] == [[], [], [], ["S1"]]


def test_list_invoices_cursor_not_handed_out_is_refused(billed: Billed) -> None:
    # GIVEN a cursor no list handed out
    # WHEN it is used, by an unrestricted or a restricted user
    # THEN it is refused as invalid
    with pytest.raises(InvalidCursorError):
        billed.queries.list_invoices(EVERYWHERE, 10, "forged")
    with pytest.raises(InvalidCursorError):
        billed.queries.list_invoices(SITE_1, 10, "forged")


def test_invoice_document_has_header_and_lines(billed: Billed) -> None:
    # GIVEN the statement with S3's line
    # WHEN an unrestricted user reads it with its lines
    document = billed.queries.invoice_document(EVERYWHERE, NOVEMBER)

    # THEN header and line come back
    assert document.invoice.id == NOVEMBER
    assert [line.session_id for line in document.lines] == ["S3"]


@pytest.mark.parametrize(
    ("principal", "invoice_id"),
    [
        (SITE_1, NOVEMBER),  # a statement: sessions of every site
        (SITE_1, receipt_id(T, "S2")),  # a session at another site
        (SITE_1, receipt_id(T, "S4")),  # its session is gone: its site is unknown
        (EVERYWHERE, "rcp-unknown"),
        (_principal(tenant_id=OTHER_TENANT), receipt_id(T, "S1")),  # another tenant's
    ],
)
def test_invoice_beyond_the_caller_is_not_found(
    billed: Billed, principal: Principal, invoice_id: str
) -> None:
    # GIVEN an invoice the caller may not see, or none at all
    # WHEN they read it (or its document)
    # THEN it is answered like an absent one
    with pytest.raises(ResourceNotFoundError):
        billed.queries.invoice(principal, invoice_id)
    with pytest.raises(ResourceNotFoundError):
        billed.queries.invoice_document(principal, invoice_id)


def test_invoice_restricted_reads_a_receipt_of_its_site(billed: Billed) -> None:
    # GIVEN a user restricted to site-1
    # WHEN they read S1's receipt
    invoice = billed.queries.invoice(SITE_1, receipt_id(T, "S1"))

    # THEN they get it
    assert invoice.session_id == "S1"


# -- CDRs --------------------------------------------------------------------------------------


def test_list_cdrs_restricted_sees_its_sites_only(billed: Billed) -> None:
    # GIVEN CDRs at site-1 (S1, S3, S4, S5) and site-2 (S2)
    # WHEN an unrestricted and a site-1 user list them
    everything = billed.queries.list_cdrs(EVERYWHERE, 10)
    mine = billed.queries.list_cdrs(SITE_1, 10)

    # THEN the first sees all five, the second the four at site-1
    assert sorted(c.session_id for c in everything.items) == ["S1", "S2", "S3", "S4", "S5"]
    assert sorted(c.session_id for c in mine.items) == ["S1", "S3", "S4", "S5"]
    assert mine.next_cursor is None


def test_list_cdrs_restricted_page_may_be_short_and_its_cursor_leads_on(
    billed: Billed,
) -> None:
    # GIVEN a user restricted to site-2, listing two CDRs a page
    site_2 = _principal({"site-2"})

    # WHEN they follow the cursors to the end
    pages = [billed.queries.list_cdrs(site_2, 2)]
    while pages[-1].next_cursor is not None:
        pages.append(billed.queries.list_cdrs(site_2, 2, pages[-1].next_cursor))

    # THEN they see S2's CDR once, and only it
    assert [c.session_id for p in pages for c in p.items] == ["S2"]
    assert len(pages) == 3


def test_list_cdrs_cursor_not_handed_out_is_refused(billed: Billed) -> None:
    # GIVEN a cursor no list handed out
    # WHEN it is used
    # THEN it is refused as invalid
    with pytest.raises(InvalidCursorError):
        billed.queries.list_cdrs(SITE_1, 10, "forged")


def test_cdr_beyond_the_callers_sites_or_absent_is_not_found(billed: Billed) -> None:
    # GIVEN a user restricted to site-1
    # WHEN they read S1's CDR, S2's (site-2) and an unknown one
    mine = billed.queries.cdr(SITE_1, billed.cdr_of("S1"))

    # THEN they get their own; the others are not found
    assert mine.session_id == "S1"
    with pytest.raises(ResourceNotFoundError):
        billed.queries.cdr(SITE_1, billed.cdr_of("S2"))
    with pytest.raises(ResourceNotFoundError):
        billed.queries.cdr(EVERYWHERE, "cdr-unknown")


# -- a session's billing -----------------------------------------------------------------------


def test_session_billing_of_a_billed_session_has_its_ledger_and_invoice(billed: Billed) -> None:
    # GIVEN S3 billed on the statement
    # WHEN a site-1 user reads its billing
    billing = billed.queries.session_billing(SITE_1, "S3")

    # THEN the ledger (done) and the statement it went to
    assert billing.ledger is not None
    assert billing.ledger.done
    assert billing.invoice is not None
    assert billing.invoice.id == NOVEMBER


@pytest.mark.parametrize("session_id", ["S5", "S6"])
def test_session_billing_free_or_not_yet_billed_has_no_invoice(
    billed: Billed, session_id: str
) -> None:
    # GIVEN an employee's free session (billed: CDR only) and a session not billed yet
    # WHEN their billing is read
    billing = billed.queries.session_billing(SITE_1, session_id)

    # THEN neither has an invoice; only the billed one has a ledger
    assert billing.invoice is None
    assert (billing.ledger is not None) is (session_id == "S5")


@pytest.mark.parametrize(
    ("principal", "session_id"),
    [
        (SITE_1, "S2"),  # at another site
        (SITE_1, "S7"),  # at no site: only unrestricted users see it
        (EVERYWHERE, "S-unknown"),
    ],
)
def test_session_billing_beyond_the_caller_or_absent_is_not_found(
    billed: Billed, principal: Principal, session_id: str
) -> None:
    # GIVEN a session the caller may not see, or none
    # WHEN its billing is read
    # THEN it is answered like an absent session
    with pytest.raises(SessionNotFoundError):
        billed.queries.session_billing(principal, session_id)
