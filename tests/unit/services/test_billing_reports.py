"""Cost allocation reports and invoice documents (csms.services.billing_reports)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.fakes_billing import InMemoryBillingRepository
from tests.unit.domain.billing.builders import a_tariff, a_usage

from csms.domain.access import Principal, Role
from csms.domain.billing.cdr import Cdr, SessionFacts, build_cdr, credit_cdr
from csms.domain.billing.invoice import (
    Invoice,
    InvoiceKind,
    InvoiceState,
    LineKind,
    refund_line,
    reversal_line,
    session_line,
    with_lines,
)
from csms.domain.billing.pricing import price
from csms.domain.errors import ResourceNotFoundError, SessionNotFoundError
from csms.domain.tenancy import TenantProfile, Vehicle
from csms.services.billing_reports import (
    UNASSIGNED,
    BillingReports,
    InvoiceDocument,
    ReportBy,
    ReportRange,
    VehicleIndex,
    allocate_costs,
    range_problem,
    station_of,
)
from csms.services.ports import Page

TENANT = "t1"
OWNER = Principal(subject="u", tenant_id=TENANT, role=Role.OWNER)
ENDED = datetime(2026, 3, 10, 12, tzinfo=UTC)
MARCH = ReportRange(date(2026, 3, 1), date(2026, 3, 31), ZoneInfo("UTC"))


def a_cdr(session: str = "S1", *, revision: int = 1, **over: Any) -> Cdr:
    """A billed session: 10 kWh at 0.30 EUR incl. 19 % VAT (3.00 EUR) unless told otherwise."""
    ended: datetime = over.pop("ended", ENDED)
    kwh = over.pop("kwh", "10")
    tariff = a_tariff(**over.pop("tariff", {}))
    usage = a_usage(ended - timedelta(hours=1), 1, kwh, sessionId=session, idToken="TOK")
    facts: dict[str, Any] = {
        "tenant_id": TENANT,
        "session_id": session,
        "revision": revision,
        "station_id": "CS-1",
        "site_id": "site-1",
        "evse_id": 1,
        "connector_id": 1,
        "id_token": "TOK-1",
        "account_id": "acct-1",
    }
    facts.update(over)
    return build_cdr(
        SessionFacts.model_validate(facts), tariff, usage, price(tariff, usage), usage.stop
    )


def a_vehicle(vehicle_id: str, tokens: tuple[str, ...], **over: Any) -> Vehicle:
    fields: dict[str, Any] = {
        "id": vehicle_id,
        "name": vehicle_id,
        "group_id": "fleet",
        "battery_kwh": Decimal(60),
        "id_tokens": tokens,
    }
    fields.update(over)
    return Vehicle.model_validate(fields)


class Vehicles:
    """VehicleReader over a list, pages of `page` by id."""

    def __init__(self, vehicles: list[Vehicle], page: int = 100) -> None:
        self.vehicles = sorted(vehicles, key=lambda v: v.id)
        self.reads = 0

    def list_vehicles(
        self, tenant_id: str, limit: int, cursor: str | None = None, group_id: str | None = None
    ) -> Page[Vehicle]:
        self.reads += 1
        start = int(cursor or 0)
        chunk = self.vehicles[start : start + limit]
        more = start + limit < len(self.vehicles)
        return Page(items=chunk, next_cursor=str(start + limit) if more else None)


class Profiles:
    def __init__(self, profile: TenantProfile | None = None) -> None:
        self.profile = profile

    def get_profile(self, tenant_id: str) -> TenantProfile | None:
        return self.profile


class Sites:
    """SessionSites: sessions at site-1, except `S9` at site-9; `gone` is absent."""

    def site_of(self, tenant_id: str, session_id: str) -> str | None:
        if session_id == "gone":
            raise SessionNotFoundError(session_id)
        return "site-9" if session_id == "S9" else "site-1"


class Renderer:
    media_type = "text/plain"
    extension = "txt"

    def __init__(self) -> None:
        self.rendered: list[InvoiceDocument] = []

    def render(self, document: InvoiceDocument) -> bytes:
        self.rendered.append(document)
        return f"{document.invoice.display_number}".encode()


def reports(
    repo: InvoiceDocumentsRepo | None = None,
    *,
    vehicles: Vehicles | None = None,
    profiles: Profiles | None = None,
    renderer: Renderer | None = None,
    **limits: int,
) -> BillingReports:
    chosen = renderer or Renderer()
    return BillingReports(
        repository=repo or InvoiceDocumentsRepo(),
        sites=Sites(),
        vehicles=vehicles or Vehicles([]),
        profiles=profiles or Profiles(),
        renderer=lambda: chosen,
        **limits,
    )


class InvoiceDocumentsRepo(InMemoryBillingRepository):
    def with_cdrs(self, *cdrs: Cdr) -> InvoiceDocumentsRepo:
        for cdr in cdrs:
            self.add_cdr(TENANT, cdr, [])
        return self


def rows_of(report: Any) -> dict[str, tuple[int, Decimal, Decimal, Decimal]]:
    return {
        row.key: (row.sessions, row.energy_kwh, row.cost_excl_tax, row.cost_incl_tax)
        for row in report.rows
    }


# -- ranges ---------------------------------------------------------------------------------


def test_range_problem_refuses_reversed_and_too_long_ranges() -> None:
    # GIVEN ranges of days (both included)
    # WHEN checked
    # THEN a year of 366 days passes; a reversed or a 367-day range is refused, saying why
    assert range_problem(date(2024, 1, 1), date(2024, 12, 31)) is None
    assert range_problem(date(2026, 1, 1), date(2026, 1, 1)) is None
    assert range_problem(date(2026, 1, 2), date(2026, 1, 1)) == "`to` is before `from`"
    assert "366" in (range_problem(date(2026, 1, 1), date(2027, 1, 2)) or "")


def test_report_range_spans_whole_days_in_its_timezone() -> None:
    # GIVEN March 2026 in Berlin (DST starts on the 29th)
    days = ReportRange(date(2026, 3, 1), date(2026, 3, 31), ZoneInfo("Europe/Berlin"))

    # WHEN its instants are asked for
    # THEN from midnight of the 1st (UTC+1) to midnight after the 31st (UTC+2)
    assert days.since == datetime(2026, 2, 28, 23, tzinfo=UTC)
    assert days.until == datetime(2026, 3, 31, 22, tzinfo=UTC)


# -- allocation -----------------------------------------------------------------------------


def test_allocate_costs_nets_a_credit_cdr_out_of_its_row() -> None:
    # GIVEN a session billed for 10 kWh, corrected to 20 kWh (a credit CDR and a new CDR),
    # and another session
    first = a_cdr("S1")
    corrected = a_cdr("S1", revision=2, kwh="20")
    other = a_cdr("S2", site_id="site-2")
    cdrs = [first, credit_cdr(first, 2, ENDED), corrected, other]

    # WHEN allocated by site
    rows, totals = allocate_costs(cdrs, lambda cdr: cdr.location.id or UNASSIGNED)

    # THEN the corrected session counts once with its corrected figures
    assert [(r.key, r.sessions, r.energy_kwh, r.cost_incl_tax) for r in rows] == [
        ("site-1", 1, Decimal(20), Decimal("6.00")),
        ("site-2", 1, Decimal(10), Decimal("3.00")),
    ]
    assert [(t.key, t.sessions, t.cost_excl_tax, t.cost_incl_tax) for t in totals] == [
        ("total", 2, Decimal("7.56"), Decimal("9.00"))
    ]


def test_allocate_costs_keeps_currencies_apart() -> None:
    # GIVEN one session in EUR and one in CHF at the same site
    eur = a_cdr("S1")
    chf = a_cdr("S2", tariff={"currency": "CHF"})

    # WHEN allocated by site
    rows, totals = allocate_costs([eur, chf], lambda cdr: "site-1")

    # THEN a row and a total per currency, never added together
    assert [(r.key, r.currency, r.sessions) for r in rows] == [
        ("site-1", "CHF", 1),
        ("site-1", "EUR", 1),
    ]
    assert [(t.currency, t.cost_incl_tax) for t in totals] == [
        ("CHF", Decimal("3.00")),
        ("EUR", Decimal("3.00")),
    ]


def test_station_of_reads_the_station_from_the_evse_uid() -> None:
    # GIVEN CDRs of an EVSE, of a station without EVSE id, and of a station id holding `*`
    with_evse = a_cdr(station_id="CS-1", evse_id=2)
    without = a_cdr(station_id="CS-2", evse_id=None)
    starred = a_cdr(station_id="CS*A", evse_id=None)

    # WHEN their stations are read
    # THEN the EVSE suffix is dropped, and only a numeric one
    assert station_of(with_evse) == "CS-1"
    assert station_of(without) == "CS-2"
    assert station_of(starred) == "CS*A"


def test_vehicle_index_prefers_the_vehicle_of_the_sessions_group() -> None:
    # GIVEN two vehicles naming the same token (case aside), one in the session's group
    index = VehicleIndex(
        [a_vehicle("a-van", ("tok-1",), group_id="other"), a_vehicle("b-van", ("TOK-1",))]
    )

    # WHEN a CDR of the fleet group, of no group and of an unknown token look for theirs
    fleet = index.of(a_cdr(group_id="fleet"))
    no_group = index.of(a_cdr())
    unknown = index.of(a_cdr(id_token="TOK-9"))

    # THEN the group's vehicle, else the first by id, else none
    assert [getattr(v, "id", None) for v in (fleet, no_group, unknown)] == ["b-van", "a-van", None]


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        (ReportBy.VEHICLE, {"van-1": 2, UNASSIGNED: 1}),
        (ReportBy.DEPARTMENT, {"logistics": 2, UNASSIGNED: 1}),
        (ReportBy.DRIVER, {"TOK-1": 2, "TOK-3": 1}),
        (ReportBy.ACCOUNT, {"acct-1": 2, "TOK-3": 1}),
        (ReportBy.GROUP, {"fleet": 2, UNASSIGNED: 1}),
        (ReportBy.SITE, {"site-1": 2, UNASSIGNED: 1}),
        (ReportBy.STATION, {"CS-1": 2, "CS-3": 1}),
        (ReportBy.MONTH, {"2026-03": 2, "2026-04": 1}),
    ],
)
def test_cost_report_allocates_by_each_key(by: ReportBy, expected: dict[str, int]) -> None:
    # GIVEN two fleet sessions with van-1's token (one on April 1st, 00:30 in Berlin) and a
    # session of another token at no site, with no account; van-1 is in logistics
    repo = InvoiceDocumentsRepo().with_cdrs(
        a_cdr("S1", group_id="fleet"),
        a_cdr("S2", group_id="fleet", ended=datetime(2026, 3, 31, 22, 30, tzinfo=UTC)),
        a_cdr("S3", id_token="TOK-3", account_id=None, site_id=None, station_id="CS-3"),
    )
    vehicles = Vehicles([a_vehicle("van-1", ("TOK-1",), department="logistics")])
    berlin = ReportRange(date(2026, 3, 1), date(2026, 4, 1), ZoneInfo("Europe/Berlin"))

    # WHEN the report is made by that key
    report = reports(repo, vehicles=vehicles).cost_report(OWNER, by, berlin)

    # THEN the sessions fall under their keys
    assert {key: row[0] for key, row in rows_of(report).items()} == expected
    assert report.complete
    assert report.cdrs == 3


def test_department_of_a_vehicle_without_one_is_unassigned() -> None:
    # GIVEN a session of a vehicle that has no department
    repo = InvoiceDocumentsRepo().with_cdrs(a_cdr("S1"))
    vehicles = Vehicles([a_vehicle("van-1", ("TOK-1",))])

    # WHEN allocated by department
    report = reports(repo, vehicles=vehicles).cost_report(OWNER, ReportBy.DEPARTMENT, MARCH)

    # THEN it is unassigned
    assert set(rows_of(report)) == {UNASSIGNED}


def test_cost_report_reads_vehicles_once_and_only_when_needed() -> None:
    # GIVEN 250 sessions of one token and 250 vehicles (pages of 100)
    repo = InvoiceDocumentsRepo().with_cdrs(*(a_cdr(f"S{i}") for i in range(250)))
    vehicles = Vehicles(
        [a_vehicle(f"van-{i:03}", (f"T-{i}",)) for i in range(249)]
        + [a_vehicle("van-999", ("TOK-1",))]
    )
    service = reports(repo, vehicles=vehicles)

    # WHEN reports are made by vehicle and by site
    by_vehicle = service.cost_report(OWNER, ReportBy.VEHICLE, MARCH)
    reads = vehicles.reads
    service.cost_report(OWNER, ReportBy.SITE, MARCH)

    # THEN the vehicles were read once (3 pages) for the first and not at all for the second
    assert rows_of(by_vehicle)["van-999"][0] == 250
    assert reads == 3
    assert vehicles.reads == 3


def test_cost_report_stops_at_its_limits_and_says_so() -> None:
    # GIVEN three sessions, two vehicles, and a service that reads at most two of each
    repo = InvoiceDocumentsRepo().with_cdrs(a_cdr("S1"), a_cdr("S2"), a_cdr("S3"))
    vehicles = Vehicles(
        [a_vehicle("a", ("X",)), a_vehicle("b", ("Y",)), a_vehicle("c", ("TOK-1",))]
    )
    service = reports(repo, vehicles=vehicles, max_cdrs=2, max_vehicles=2)

    # WHEN a report is made by vehicle
    report = service.cost_report(OWNER, ReportBy.VEHICLE, MARCH)

    # THEN it is marked incomplete, and the vehicle beyond the limit was not matched
    assert not report.complete
    assert report.cdrs == 2
    assert set(rows_of(report)) == {UNASSIGNED}


def test_cost_report_leaves_out_other_sites_cdrs_and_other_days() -> None:
    # GIVEN sessions at site-1 and site-9, one of them ended in February
    repo = InvoiceDocumentsRepo().with_cdrs(
        a_cdr("S1"),
        a_cdr("S2", site_id="site-9"),
        a_cdr("S3", ended=datetime(2026, 2, 28, 23, 59, tzinfo=UTC)),
    )
    restricted = Principal(
        subject="u", tenant_id=TENANT, role=Role.OPERATOR, sites=frozenset({"site-1"})
    )

    # WHEN a user restricted to site-1 asks for March
    report = reports(repo).cost_report(restricted, ReportBy.SITE, MARCH)

    # THEN only S1
    assert rows_of(report) == {"site-1": (1, Decimal(10), Decimal("2.52"), Decimal("3.00"))}


# -- invoice documents ----------------------------------------------------------------------


def _receipt(repo: InvoiceDocumentsRepo, session: str, cdr: Cdr, **over: Any) -> Invoice:
    tariff = a_tariff()
    usage = a_usage(cdr.start_date_time, 1, "10", sessionId=session, idToken="TOK")
    line = session_line(session, 1, cdr.id, price(tariff, usage), f"Charging at {session}")
    fields: dict[str, Any] = {
        "id": f"rcp-{session}",
        "tenant_id": TENANT,
        "kind": InvoiceKind.RECEIPT,
        "state": InvoiceState.PAID,
        "account_id": "acct-1",
        "currency": "EUR",
        "session_id": session,
        "created_at": ENDED,
        "finalized_at": ENDED,
        "updated_at": ENDED,
    }
    fields.update(over)
    draft = with_lines(Invoice.model_validate(fields), [line])
    return repo.create_invoice(TENANT, draft, [line], lambda _: [])


def test_invoice_document_states_operator_lines_and_the_invoice_a_note_corrects() -> None:
    # GIVEN a paid receipt, and a credit note referring to it with a reversal and a refund line
    cdr = a_cdr("S1")
    repo = InvoiceDocumentsRepo().with_cdrs(cdr)
    receipt = _receipt(repo, "S1", cdr)
    lines = repo.list_invoice_lines(TENANT, receipt.id)
    note_lines = [reversal_line(lines[0], 2), refund_line("r1", receipt, Decimal("1.00"), "x")]
    note = repo.create_invoice(
        TENANT,
        with_lines(
            receipt.model_copy(
                update={
                    "id": "note-1",
                    "kind": InvoiceKind.CREDIT_NOTE,
                    "refers_to": receipt.id,
                    "line_count": 0,
                    "total_excl_tax": Decimal(0),
                    "taxes": (),
                    "total_incl_tax": Decimal(0),
                    "number": None,
                }
            ),
            note_lines,
        ),
        note_lines,
        lambda _: [],
    )
    profile = TenantProfile(
        display_name="Garage Nord", contact_email="b@nord.example", default_timezone="Europe/Berlin"
    )
    service = reports(repo, profiles=Profiles(profile))

    # WHEN the note is read as a document
    document = service.invoice_document(OWNER, note.id)

    # THEN the operator, its timezone, the receipt's number, and each line's session and station
    assert (document.operator, document.operator_contact) == ("Garage Nord", "b@nord.example")
    assert document.timezone == "Europe/Berlin"
    assert document.refers_to == receipt.display_number
    reversal, refund = document.lines
    assert (reversal.kind, reversal.station, reversal.started) == (
        LineKind.REVERSAL,
        "CS-1",
        cdr.start_date_time,
    )
    assert reversal.tax == Decimal("-0.48")
    assert (refund.kind, refund.station, refund.started) == (LineKind.REFUND, None, None)


def test_invoice_document_of_a_tenant_without_profile_names_the_tenant() -> None:
    # GIVEN a receipt whose CDR is missing, referring to an invoice that is gone, and no profile
    cdr = a_cdr("S1")
    repo = InvoiceDocumentsRepo()
    receipt = _receipt(repo, "S1", cdr, refers_to="rcp-gone")

    # WHEN read as a document
    document = reports(repo).invoice_document(OWNER, receipt.id)

    # THEN the tenant id as operator, UTC, the id of the invoice referred to, no station
    assert (document.operator, document.timezone) == (TENANT, "UTC")
    assert document.refers_to == "rcp-gone"
    assert document.lines[0].station is None


def test_render_invoice_names_the_file_by_number_and_hides_what_the_user_may_not_see() -> None:
    # GIVEN a receipt at site-1, one at site-9, and a site-1 operator
    repo = InvoiceDocumentsRepo()
    here = _receipt(repo, "S1", a_cdr("S1"))
    there = _receipt(repo, "S9", a_cdr("S9"))
    renderer = Renderer()
    service = reports(repo, renderer=renderer)
    restricted = Principal(
        subject="u", tenant_id=TENANT, role=Role.OPERATOR, sites=frozenset({"site-1"})
    )

    # WHEN the operator renders both
    rendered = service.render_invoice(restricted, here.id)
    with pytest.raises(ResourceNotFoundError):
        service.render_invoice(restricted, there.id)

    # THEN the first as a file named by its number; the other is absent to them
    assert rendered.filename == f"{here.display_number}.txt"
    assert (rendered.media_type, rendered.content) == ("text/plain", b"INV-000001")
    assert len(renderer.rendered) == 1
