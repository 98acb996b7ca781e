"""Billing reports: energy and cost allocated by who and where, and invoices as documents.

Cost allocation sums the CDRs of sessions that ENDED within a range of days (a session is
allocated to the day, and the month, it ended), in one timezone the caller names (UTC unless
told), by one key:
- `vehicle`: the tenant's vehicle whose id tokens hold the CDR's token (of the session's group
  first, when several vehicles name it; else the first by id), `unassigned` when none does;
- `department`: that vehicle's department, `unassigned` when it has none or there is no vehicle;
- `driver`: the id token (CDR token uid); `account`: the billing account charged (contract id);
- `group`: the session's driver group (`unassigned` for none, and for CDRs written before the
  group was kept on them); `site`: the session's site; `station`: its charging station;
- `month`: `YYYY-MM` of the session's end in that timezone.
Each row is one key and one currency (amounts of two currencies are never added). A credit CDR
nets out the CDR it cancels: it counts minus one session, minus its energy and its (negated)
cost, in the same row since it repeats the CDR's token, place and times. A corrected session
so counts once, with its corrected figures. Sums are Decimal, never rounded again.

A user restricted to sites sees only the CDRs of their sites. The vehicles are read once per
report (only when the key needs them), never once per CDR.

Invoices as documents: `invoice_document` gathers what a printed invoice states (the operator,
the account, number, kind, period, dates, each line with its session's date and station, taxes,
totals, payment status, the invoice a note refers to) for an `InvoiceRenderer` (the PDF adapter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from csms.domain.access import Principal
from csms.domain.billing.cdr import Cdr
from csms.domain.billing.invoice import Invoice, InvoiceLine, LineKind
from csms.domain.tenancy import TenantProfile, Vehicle
from csms.domain.tokens import token_key
from csms.services.billing import BillingRepository
from csms.services.billing_queries import BillingQueries, SessionSites
from csms.services.ports import Page

UNASSIGNED = "unassigned"
# A report covers at most a year (a leap year's days): longer ranges read too many CDRs for
# one API answer, and a year is what an operator reconciles.
MAX_DAYS = 366
_ZERO = Decimal(0)
_PAGE = 100
T = TypeVar("T")


class ReportBy(StrEnum):
    """What a cost report allocates by (module docstring)."""

    VEHICLE = "vehicle"
    DEPARTMENT = "department"
    DRIVER = "driver"
    ACCOUNT = "account"
    GROUP = "group"
    SITE = "site"
    STATION = "station"
    MONTH = "month"


class CdrReader(Protocol):
    """A tenant's CDRs by end time (BillingRepository.list_cdrs)."""

    def list_cdrs(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page[Cdr]:
        """CDRs with `since` <= end < `until`, a page at a time."""
        ...


class VehicleReader(Protocol):
    """A tenant's vehicles (VehicleRepository.list_vehicles)."""

    def list_vehicles(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        group_id: str | None = None,
    ) -> Page[Vehicle]:
        """By id, optionally only one group's."""
        ...


class TenantProfiles(Protocol):
    """How the operator presents itself (TenantProfileRepository.get_profile)."""

    def get_profile(self, tenant_id: str) -> TenantProfile | None:
        """The stored profile, None when the tenant never set one."""
        ...


# -- cost allocation --------------------------------------------------------------------------


def range_problem(first_day: date, last_day: date) -> str | None:
    """Why a report range of days (both included) is refused; None when it is fine."""
    if last_day < first_day:
        return "`to` is before `from`"
    if (last_day - first_day).days + 1 > MAX_DAYS:
        return f"a report covers at most {MAX_DAYS} days"
    return None


@dataclass(frozen=True)
class ReportRange:
    """Days `first_day` to `last_day` (both included) in `zone`."""

    first_day: date
    last_day: date
    zone: ZoneInfo

    @property
    def since(self) -> datetime:
        """The first instant of the range (midnight starting its first day)."""
        return datetime.combine(self.first_day, time(), self.zone)

    @property
    def until(self) -> datetime:
        """The first instant after the range (midnight ending its last day)."""
        return datetime.combine(self.last_day + timedelta(days=1), time(), self.zone)


@dataclass(frozen=True)
class ReportRow:
    """One key's sessions, energy and cost in one currency."""

    key: str
    currency: str
    sessions: int
    energy_kwh: Decimal
    cost_excl_tax: Decimal
    cost_incl_tax: Decimal


@dataclass(frozen=True)
class CostReport:
    """Rows by key (then currency) and the totals per currency of a range."""

    by: ReportBy
    range: ReportRange
    rows: tuple[ReportRow, ...]
    totals: tuple[ReportRow, ...]
    # CDRs read (credit CDRs included).
    cdrs: int
    # False when the range held more CDRs than one report reads (the rows are then partial).
    complete: bool = True


@dataclass
class _Sum:
    sessions: int = 0
    energy: Decimal = _ZERO
    excl: Decimal = _ZERO
    incl: Decimal = _ZERO

    def add(self, cdr: Cdr) -> None:
        sign = -1 if cdr.credit else 1
        self.sessions += sign
        self.energy += sign * cdr.total_energy
        # A credit CDR's costs are negated already.
        self.excl += cdr.total_cost.excl_vat
        self.incl += cdr.total_cost.incl_vat


def allocate_costs(
    cdrs: Iterable[Cdr], key_of: Callable[[Cdr], str]
) -> tuple[tuple[ReportRow, ...], tuple[ReportRow, ...]]:
    """Rows by (key, currency) sorted so, and totals by currency: Decimal sums of the CDRs."""
    rows: dict[tuple[str, str], _Sum] = {}
    totals: dict[str, _Sum] = {}
    for cdr in cdrs:
        rows.setdefault((key_of(cdr), cdr.currency), _Sum()).add(cdr)
        totals.setdefault(cdr.currency, _Sum()).add(cdr)
    return (
        tuple(_row(key, currency, rows[key, currency]) for key, currency in sorted(rows)),
        tuple(_row("total", currency, totals[currency]) for currency in sorted(totals)),
    )


def _row(key: str, currency: str, total: _Sum) -> ReportRow:
    return ReportRow(
        key=key,
        currency=currency,
        sessions=total.sessions,
        energy_kwh=total.energy,
        cost_excl_tax=total.excl,
        cost_incl_tax=total.incl,
    )


def station_of(cdr: Cdr) -> str:
    """The charging station of a CDR (its EVSE uid is `station*evse`, or the station alone)."""
    uid = cdr.location.evse_uid
    station, star, evse = uid.rpartition("*")
    # A station id may hold `*` itself: only a numeric tail is the EVSE.
    return station if star and evse.isdigit() else uid


class VehicleIndex:
    """The tenant's vehicles by the id tokens they name, read once for a report."""

    def __init__(self, vehicles: Iterable[Vehicle]) -> None:
        self._by_token: dict[str, list[Vehicle]] = {}
        for vehicle in vehicles:
            for token in vehicle.id_tokens:
                self._by_token.setdefault(token_key(token), []).append(vehicle)

    def of(self, cdr: Cdr) -> Vehicle | None:
        """The vehicle that carries the CDR's token (of the session's group first)."""
        named = self._by_token.get(token_key(cdr.cdr_token.uid), [])
        in_group = [v for v in named if v.group_id == cdr.group_id]
        candidates = in_group or named
        return candidates[0] if candidates else None


def key_function(by: ReportBy, zone: ZoneInfo, vehicles: VehicleIndex) -> Callable[[Cdr], str]:
    """How a CDR's key is found for `by`."""

    def vehicle(cdr: Cdr) -> str:
        found = vehicles.of(cdr)
        return found.id if found is not None else UNASSIGNED

    def department(cdr: Cdr) -> str:
        found = vehicles.of(cdr)
        return (found.department if found is not None else None) or UNASSIGNED

    keys: dict[ReportBy, Callable[[Cdr], str]] = {
        ReportBy.VEHICLE: vehicle,
        ReportBy.DEPARTMENT: department,
        ReportBy.DRIVER: lambda cdr: cdr.cdr_token.uid,
        ReportBy.ACCOUNT: lambda cdr: cdr.cdr_token.contract_id,
        ReportBy.GROUP: lambda cdr: cdr.group_id or UNASSIGNED,
        ReportBy.SITE: lambda cdr: cdr.location.id or UNASSIGNED,
        ReportBy.STATION: station_of,
        ReportBy.MONTH: lambda cdr: f"{cdr.end_date_time.astimezone(zone):%Y-%m}",
    }
    return keys[by]


# -- invoices as documents --------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentLine:
    """An invoice line as printed: when and where its session was, and its amounts."""

    kind: LineKind
    description: str
    # The session's start and station (None: a refund, or a line whose CDR is missing).
    started: datetime | None
    station: str | None
    energy_kwh: Decimal
    total_excl_tax: Decimal
    tax: Decimal
    total_incl_tax: Decimal


@dataclass(frozen=True)
class InvoiceDocument:
    """What a printed invoice states (module docstring)."""

    operator: str
    operator_contact: str | None
    # The operator's timezone: dates are printed in it.
    timezone: str
    invoice: Invoice
    lines: tuple[DocumentLine, ...]
    # The invoice a note refers to, as printed (its number, else its id).
    refers_to: str | None = None


@dataclass(frozen=True)
class RenderedDocument:
    """A rendered file: its name, media type and bytes."""

    filename: str
    media_type: str
    content: bytes = field(repr=False)


class InvoiceRenderer(Protocol):
    """Renders an invoice document into a file (the PDF adapter)."""

    media_type: str
    extension: str

    def render(self, document: InvoiceDocument) -> bytes:
        """The file's bytes."""
        ...


class BillingReports:
    """Cost reports and invoice documents, within the caller's tenant and sites."""

    def __init__(
        self,
        *,
        repository: BillingRepository,
        sites: SessionSites,
        vehicles: VehicleReader,
        profiles: TenantProfiles,
        renderer: Callable[[], InvoiceRenderer],
        max_cdrs: int = 50_000,
        max_vehicles: int = 10_000,
    ) -> None:
        self._repo = repository
        self._queries = BillingQueries(repository=repository, sites=sites)
        self._vehicles = vehicles
        self._profiles = profiles
        self._renderer = renderer
        self._max_cdrs = max_cdrs
        self._max_vehicles = max_vehicles

    def cost_report(self, principal: Principal, by: ReportBy, days: ReportRange) -> CostReport:
        """Sessions, energy and cost by `by` of the sessions that ended in `days`."""
        tenant = principal.tenant_id
        read: list[Cdr] = []
        complete = True
        for cdr in _all(
            lambda cursor: self._repo.list_cdrs(
                tenant, _PAGE, cursor, since=days.since, until=days.until
            )
        ):
            if len(read) == self._max_cdrs:
                complete = False
                break
            read.append(cdr)
        needs_vehicles = by in (ReportBy.VEHICLE, ReportBy.DEPARTMENT)
        index = VehicleIndex(self._read_vehicles(tenant) if needs_vehicles else ())
        seen = [cdr for cdr in read if principal.reaches(cdr.location.id)]
        rows, totals = allocate_costs(seen, key_function(by, days.zone, index))
        return CostReport(
            by=by, range=days, rows=rows, totals=totals, cdrs=len(seen), complete=complete
        )

    def _read_vehicles(self, tenant_id: str) -> list[Vehicle]:
        vehicles: list[Vehicle] = []
        for vehicle in _all(lambda cursor: self._vehicles.list_vehicles(tenant_id, _PAGE, cursor)):
            if len(vehicles) == self._max_vehicles:
                break
            vehicles.append(vehicle)
        return vehicles

    def invoice_document(self, principal: Principal, invoice_id: str) -> InvoiceDocument:
        """An invoice the caller may see, as printed; ResourceNotFoundError otherwise."""
        tenant = principal.tenant_id
        found = self._queries.invoice_document(principal, invoice_id)
        invoice = found.invoice
        profile = self._profiles.get_profile(tenant) or TenantProfile.default(tenant)
        # One read per CDR named (a reversal names the CDR of the line it takes off again).
        cdrs = {
            cdr_id: self._repo.get_cdr(tenant, cdr_id)
            for cdr_id in dict.fromkeys(line.cdr_id for line in found.lines if line.cdr_id)
        }
        refers_to: str | None = None
        if invoice.refers_to is not None:
            referred = self._repo.get_invoice(tenant, invoice.refers_to)
            refers_to = (referred.display_number if referred else None) or invoice.refers_to
        return InvoiceDocument(
            operator=profile.display_name,
            operator_contact=profile.contact_email,
            timezone=profile.default_timezone,
            invoice=invoice,
            lines=tuple(_document_line(line, cdrs.get(line.cdr_id or "")) for line in found.lines),
            refers_to=refers_to,
        )

    def render_invoice(self, principal: Principal, invoice_id: str) -> RenderedDocument:
        """An invoice the caller may see, rendered (`INV-000042.pdf`)."""
        document = self.invoice_document(principal, invoice_id)
        name = document.invoice.display_number or document.invoice.id
        # Built when first asked for: a renderer's library may be slow to load.
        renderer = self._renderer()
        return RenderedDocument(
            filename=f"{name}.{renderer.extension}",
            media_type=renderer.media_type,
            content=renderer.render(document),
        )


def _document_line(line: InvoiceLine, cdr: Cdr | None) -> DocumentLine:
    return DocumentLine(
        kind=line.kind,
        description=line.description,
        started=cdr.start_date_time if cdr is not None else None,
        station=station_of(cdr) if cdr is not None else None,
        energy_kwh=line.energy_kwh,
        total_excl_tax=line.total_excl_tax,
        tax=sum((t.amount for t in line.taxes), _ZERO),
        total_incl_tax=line.total_incl_tax,
    )


def _all(read: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a paged list, page after page."""
    cursor: str | None = None
    while True:
        page = read(cursor)
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return
