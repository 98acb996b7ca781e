"""What the API reads of billing: invoices with their lines, CDRs, a session's billing.

Every read is scoped by the caller's tenant through the repository's keys. A user restricted
to some sites sees the billing of sessions at those sites only:
- a CDR when its location (the session's site) is one of theirs;
- a receipt or a note (each is about one session) when its session is at one of their sites;
- never a monthly statement: it gathers an account's sessions from every site;
- a session's billing when they may see the session.
What they may not see is answered like what does not exist (404), and lists leave it out (a
page may then hold fewer items than asked, its cursor still leads on).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from csms.domain.access import Principal
from csms.domain.billing.cdr import Cdr
from csms.domain.billing.invoice import Invoice, InvoiceLine
from csms.domain.errors import ResourceNotFoundError, SessionNotFoundError
from csms.services.billing import INVOICE, BillingRepository, SessionLedger
from csms.services.ports import Page

CDR = "cdr"


class SessionSites(Protocol):
    """Where a session took place."""

    def site_of(self, tenant_id: str, session_id: str) -> str | None:
        """The session's site (None: at no site); SessionNotFoundError when it is absent."""
        ...


@dataclass(frozen=True)
class InvoiceDocument:
    """An invoice's header and its lines."""

    invoice: Invoice
    lines: list[InvoiceLine]


@dataclass(frozen=True)
class SessionBilling:
    """A session's billing as its ledger records it (None: not billed yet)."""

    session_id: str
    ledger: SessionLedger | None
    invoice: Invoice | None


class BillingQueries:
    """Reads of billing for the API, within the caller's tenant and sites."""

    def __init__(self, *, repository: BillingRepository, sites: SessionSites) -> None:
        self._repo = repository
        self._sites = sites

    # -- invoices -------------------------------------------------------------------------------

    def list_invoices(
        self,
        principal: Principal,
        limit: int,
        cursor: str | None = None,
        *,
        account_id: str | None = None,
    ) -> Page[Invoice]:
        """The tenant's invoices, newest first; a restricted user's: those they may see."""
        page = self._repo.list_invoices(principal.tenant_id, limit, cursor, account_id=account_id)
        if not principal.restricted:
            return page
        return Page(
            items=[i for i in page.items if self._reaches(principal, i)],
            next_cursor=page.next_cursor,
        )

    def invoice(self, principal: Principal, invoice_id: str) -> Invoice:
        """An invoice's header the caller may see; ResourceNotFoundError otherwise."""
        invoice = self._repo.get_invoice(principal.tenant_id, invoice_id)
        if invoice is None or not self._reaches(principal, invoice):
            raise ResourceNotFoundError(INVOICE, invoice_id)
        return invoice

    def invoice_document(self, principal: Principal, invoice_id: str) -> InvoiceDocument:
        """An invoice the caller may see, with its lines."""
        invoice = self.invoice(principal, invoice_id)
        return InvoiceDocument(
            invoice, self._repo.list_invoice_lines(principal.tenant_id, invoice_id)
        )

    def _reaches(self, principal: Principal, invoice: Invoice) -> bool:
        if not principal.restricted:
            return True
        if invoice.session_id is None:
            return False  # a statement: sessions from every site
        try:
            site = self._sites.site_of(principal.tenant_id, invoice.session_id)
        except SessionNotFoundError:
            return False
        return principal.reaches(site)

    # -- CDRs -----------------------------------------------------------------------------------

    def list_cdrs(
        self,
        principal: Principal,
        limit: int,
        cursor: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page[Cdr]:
        """The tenant's CDRs, newest end first; a restricted user's: those at their sites."""
        page = self._repo.list_cdrs(principal.tenant_id, limit, cursor, since=since, until=until)
        if not principal.restricted:
            return page
        return Page(
            items=[c for c in page.items if principal.reaches(c.location.id)],
            next_cursor=page.next_cursor,
        )

    def cdr(self, principal: Principal, cdr_id: str) -> Cdr:
        """A CDR the caller may see; ResourceNotFoundError otherwise."""
        cdr = self._repo.get_cdr(principal.tenant_id, cdr_id)
        if cdr is None or not principal.reaches(cdr.location.id):
            raise ResourceNotFoundError(CDR, cdr_id)
        return cdr

    # -- sessions -------------------------------------------------------------------------------

    def session_billing(self, principal: Principal, session_id: str) -> SessionBilling:
        """The session's ledger and the invoice its revision went to.

        SessionNotFoundError when the session is absent or beyond the caller's sites.
        """
        site = self._sites.site_of(principal.tenant_id, session_id)
        if not principal.reaches(site):
            raise SessionNotFoundError(session_id)
        ledger = self._repo.get_ledger(principal.tenant_id, session_id)
        invoice_id = ledger.current.invoice_id if ledger is not None else None
        invoice = (
            self._repo.get_invoice(principal.tenant_id, invoice_id)
            if invoice_id is not None
            else None
        )
        return SessionBilling(session_id=session_id, ledger=ledger, invoice=invoice)
