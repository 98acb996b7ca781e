"""Usage aggregation (csms.domain.analytics): periods, sums, utilization, peaks, CO2."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.unit.services.test_billing_reports import a_cdr

from csms.domain.analytics import (
    CO2_KG_PER_KWH,
    CdrFigures,
    Period,
    ReportWindow,
    Revenue,
    UsageAggregator,
    UsageBy,
    UsageFault,
    UsageRow,
    UsageSession,
    cdr_figures,
    next_period,
    period_label,
    period_start,
    totals,
)
from csms.domain.billing.cdr import credit_cdr

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
# 2026-03-02 is a Monday.
NOW = datetime(2026, 4, 1, tzinfo=UTC)
MARCH = ReportWindow(date(2026, 3, 1), date(2026, 3, 31), NOW)


def at(day: int, hour: float = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC) + timedelta(hours=hour)


def a_session(start: datetime, hours: float, kwh: str = "10", **over: Any) -> UsageSession:
    fields: dict[str, Any] = {
        "key": "CS-1",
        "zone": UTC_ZONE,
        "start": start,
        "end": start + timedelta(hours=hours),
        "ended": True,
        "energy_kwh": Decimal(kwh),
    }
    fields.update(over)
    return UsageSession(**fields)


def report(
    *sessions: UsageSession,
    period: Period = Period.DAY,
    ports: dict[str, int] | None = None,
    window: ReportWindow = MARCH,
) -> dict[tuple[str, str], UsageRow]:
    aggregator = UsageAggregator(window, period, ports=ports)
    for session in sessions:
        aggregator.add(session)
    return {(row.key, row.period): row for row in aggregator.rows()}


@pytest.mark.parametrize(
    ("day", "period", "first", "following", "label"),
    [
        (date(2026, 3, 5), Period.DAY, date(2026, 3, 5), date(2026, 3, 6), "2026-03-05"),
        (date(2026, 3, 5), Period.WEEK, date(2026, 3, 2), date(2026, 3, 9), "2026-W10"),
        (date(2026, 3, 5), Period.MONTH, date(2026, 3, 1), date(2026, 4, 1), "2026-03"),
        (date(2026, 12, 31), Period.MONTH, date(2026, 12, 1), date(2027, 1, 1), "2026-12"),
        # ISO weeks belong to the year of their Thursday: 2027-01-01 is in 2026's week 53.
        (date(2027, 1, 1), Period.WEEK, date(2026, 12, 28), date(2027, 1, 4), "2026-W53"),
        (date(2024, 2, 29), Period.MONTH, date(2024, 2, 1), date(2024, 3, 1), "2024-02"),
    ],
)
def test_period_bounds_and_labels_follow_calendar_and_iso_weeks(
    day: date, period: Period, first: date, following: date, label: str
) -> None:
    # GIVEN a day and a period kind
    # WHEN its period is found
    start = period_start(day, period)
    # THEN the period starts, ends and is labelled as the calendar says
    assert start == first
    assert next_period(start, period) == following
    assert period_label(start, period) == label


def test_usage_by_keys_with_ports_are_station_and_site() -> None:
    # GIVEN / WHEN / THEN only stations and sites own ports
    assert [by for by in UsageBy if by.has_ports] == [UsageBy.STATION, UsageBy.SITE]


def test_cdr_figures_net_out_a_credit_and_keep_currencies_apart() -> None:
    # GIVEN a session billed, credited and billed again, and another billed in USD
    first = a_cdr("S1").model_copy(update={"total_parking_time": Decimal("0.5")})
    credit = credit_cdr(first, 2, at(10))
    corrected = a_cdr("S1", revision=2, kwh="20").model_copy(
        update={"total_parking_time": Decimal("0.25")}
    )
    dollars = a_cdr("S2").model_copy(update={"currency": "USD"})
    # WHEN their figures are summed per session
    figures = cdr_figures([first, credit, corrected, dollars])
    # THEN S1 holds only the corrected amounts and idle time, S2 its dollars
    assert figures["S1"].revenue == {
        "EUR": (corrected.total_cost.excl_vat, corrected.total_cost.incl_vat)
    }
    assert figures["S1"].idle_hours == Decimal("0.25")
    assert figures["S2"].revenue == {
        "USD": (dollars.total_cost.excl_vat, dollars.total_cost.incl_vat)
    }


def test_aggregator_counts_a_session_in_its_start_period_at_its_site() -> None:
    # GIVEN a session starting 23:30 UTC on 9 March at a Berlin site (00:30 on the 10th there)
    session = a_session(at(9, 23.5), 1, zone=BERLIN)
    # WHEN summed by day
    rows = report(session)
    # THEN it counts on Berlin's 10 March, with its energy and duration
    row = rows["CS-1", "2026-03-10"]
    assert (row.sessions, row.energy_kwh, row.average_duration_min) == (1, Decimal(10), Decimal(60))
    assert row.start == datetime(2026, 3, 9, 23, tzinfo=UTC)
    assert ("CS-1", "2026-03-09") not in rows


def test_aggregator_cuts_occupied_time_at_midnight_but_counts_the_session_once() -> None:
    # GIVEN one port and a session from 22:00 to 02:00, charging all along
    session = a_session(at(9, 22), 4, kwh="40")
    # WHEN summed by day
    rows = report(session, ports={"CS-1": 1})
    # THEN each day holds 2 of its 24 hours occupied and charging, the session counts on the 9th
    first, second = rows["CS-1", "2026-03-09"], rows["CS-1", "2026-03-10"]
    assert first.occupied_pct == first.charging_pct == Decimal("8.33")
    assert second.occupied_pct == Decimal("8.33")
    assert (first.sessions, second.sessions) == (1, 0)
    assert second.energy_kwh == 0
    assert first.peak_kw == second.peak_kw == Decimal("10.000")


def test_aggregator_charging_excludes_the_idle_tail() -> None:
    # GIVEN two ports and a 4 h session whose last hour was idle (billing measured it)
    figures = CdrFigures(revenue={"EUR": (Decimal("10"), Decimal("11.90"))}, idle_hours=Decimal(1))
    session = a_session(at(10, 8), 4, kwh="30", figures=figures)
    # WHEN summed by day
    row = report(session, ports={"CS-1": 2})["CS-1", "2026-03-10"]
    # THEN occupied is 4 of 48 port-hours, charging 3, idle 60 min, the 30 kWh over 3 h
    assert row.occupied_pct == Decimal("8.33")
    assert row.charging_pct == Decimal("6.25")
    assert row.idle_min == 60
    assert row.peak_kw == Decimal("10.000")
    assert row.revenue == (Revenue("EUR", Decimal("10"), Decimal("11.90")),)
    assert row.ports == 2


def test_aggregator_peak_sums_overlapping_sessions_per_quarter_hour() -> None:
    # GIVEN two sessions of 11 kW average overlapping for 30 min, and one that drew nothing
    one = a_session(at(10, 8), 1, kwh="11")
    two = a_session(at(10, 8.5), 1, kwh="11")
    empty = a_session(at(10, 12), 1, kwh="0")
    # WHEN summed by week
    row = report(one, two, empty, period=Period.WEEK)["CS-1", "2026-W11"]
    # THEN the peak is their sum while they overlap
    assert row.peak_kw == Decimal("22.000")
    assert row.sessions == 3


def test_aggregator_peak_of_a_partial_quarter_is_its_energy_over_the_quarter() -> None:
    # GIVEN a 5-minute session at 60 kW average (5 kWh)
    session = a_session(at(10, 8), 5 / 60, kwh="5")
    # WHEN summed
    row = report(session)["CS-1", "2026-03-10"]
    # THEN the quarter hour averages 20 kW: demand is an interval average
    assert row.peak_kw == Decimal("20.000")


def test_aggregator_leaves_utilization_out_for_keys_without_ports() -> None:
    # GIVEN a driver's session (no port map) and a station whose ports are not known
    session = a_session(at(10, 8), 1, key="TOKEN-1")
    # WHEN summed without ports, and with a port map that lacks the key
    without = report(session)["TOKEN-1", "2026-03-10"]
    unknown = report(session, ports={})["TOKEN-1", "2026-03-10"]
    # THEN there is no utilization (and zero ports is said so)
    assert (without.ports, without.occupied_pct, without.charging_pct) == (None, None, None)
    assert (unknown.ports, unknown.occupied_pct) == (0, None)


def test_aggregator_running_sessions_have_no_duration_and_periods_end_now() -> None:
    # GIVEN one port, "now" at noon on 31 March, a session running since 10:00
    window = ReportWindow(date(2026, 3, 1), date(2026, 3, 31), at(31, 12))
    session = a_session(at(31, 10), 2, ended=False)
    # WHEN summed by month
    row = report(session, period=Period.MONTH, ports={"CS-1": 1}, window=window)["CS-1", "2026-03"]
    # THEN the month ends now, the session has no duration yet
    assert row.end == at(31, 12)
    assert row.average_duration_min is None
    expected = Decimal(2 * 100) / Decimal(30 * 24 + 12)
    assert row.occupied_pct == expected.quantize(Decimal("0.01"))


def test_aggregator_adds_only_the_overlap_of_a_session_begun_before_the_range() -> None:
    # GIVEN one port and a session from 28 Feb 20:00 to 1 March 04:00
    session = a_session(at(28, 20, month=2), 8, kwh="80")
    # WHEN March is summed by day
    rows = report(session, ports={"CS-1": 1})
    # THEN 1 March holds its 4 hours of occupation and demand, but not the session itself
    row = rows["CS-1", "2026-03-01"]
    assert (row.sessions, row.energy_kwh) == (0, Decimal(0))
    assert row.occupied_pct == Decimal("16.67")
    assert row.peak_kw == Decimal("10.000")
    assert list(rows) == [("CS-1", "2026-03-01")]


def test_aggregator_ignores_what_lies_wholly_outside_the_range() -> None:
    # GIVEN a session in April, after the range
    session = a_session(at(2, 8, month=4), 1)
    # WHEN March is summed
    rows = report(session, window=ReportWindow(date(2026, 3, 1), date(2026, 3, 31), at(5, 0, 4)))
    # THEN nothing is reported
    assert rows == {}


def test_aggregator_session_stamped_in_the_future_counts_without_utilization() -> None:
    # GIVEN "now" at noon, and a session a station's clock put at 13:00 today
    window = ReportWindow(date(2026, 3, 10), date(2026, 3, 10), at(10, 12))
    session = a_session(at(10, 13), 1)
    # WHEN summed
    row = report(session, ports={"CS-1": 1}, window=window)["CS-1", "2026-03-10"]
    # THEN the session counts; its period has no time observed after now to share out
    assert row.sessions == 1
    assert row.occupied_pct == Decimal("0.00")


def test_aggregator_sessions_sort_by_key_then_period_and_co2_follows_energy() -> None:
    # GIVEN sessions of two stations on two days
    sessions = [
        a_session(at(11, 8), 1, key="CS-2", kwh="5"),
        a_session(at(10, 8), 1, key="CS-2"),
        a_session(at(10, 9), 1, key="CS-1"),
    ]
    # WHEN summed
    rows = list(report(*sessions).values())
    # THEN rows are by key, then period; CO2 is energy times the stated factor
    assert [(r.key, r.period) for r in rows] == [
        ("CS-1", "2026-03-10"),
        ("CS-2", "2026-03-10"),
        ("CS-2", "2026-03-11"),
    ]
    assert rows[2].co2_avoided_kg == (5 * CO2_KG_PER_KWH).quantize(Decimal("0.001"))
    assert Decimal("0.947") == CO2_KG_PER_KWH


def test_totals_sum_sessions_energy_revenue_and_co2() -> None:
    # GIVEN sessions earning EUR at two stations and USD at one
    eur = CdrFigures(revenue={"EUR": (Decimal(1), Decimal("1.19"))})
    usd = CdrFigures(revenue={"USD": (Decimal(2), Decimal("2.20"))})
    rows = report(
        a_session(at(10, 8), 1, figures=eur),
        a_session(at(10, 9), 1, key="CS-2", figures=eur),
        a_session(at(11, 9), 1, key="CS-2", kwh="5", figures=usd),
    ).values()
    # WHEN totalled
    total = totals(rows)
    # THEN currencies stay apart, counts and energy add up
    assert total.sessions == 3
    assert total.energy_kwh == 25
    assert total.revenue == (
        Revenue("EUR", Decimal(2), Decimal("2.38")),
        Revenue("USD", Decimal(2), Decimal("2.20")),
    )
    assert total.co2_avoided_kg == sum(r.co2_avoided_kg for r in rows)


def test_aggregator_idle_over_midnight_leaves_the_next_day_without_charging() -> None:
    # GIVEN one port and a session from 22:00 to 02:00 that went idle at midnight
    session = a_session(at(9, 22), 4, kwh="20", figures=CdrFigures(idle_hours=Decimal(2)))
    # WHEN summed by day
    rows = report(session, ports={"CS-1": 1})
    # THEN the 10th holds occupied time only, and no demand
    second = rows["CS-1", "2026-03-10"]
    assert (second.occupied_pct, second.charging_pct) == (Decimal("8.33"), Decimal("0.00"))
    assert second.peak_kw == 0
    assert rows["CS-1", "2026-03-09"].charging_pct == Decimal("8.33")


# -- faults and mean time to repair --------------------------------------------------------------


def test_aggregator_counts_faults_in_their_opening_period_and_means_repairs() -> None:
    # GIVEN CS-1 with two faults on 5 March (repaired in 30 and 90 minutes), one still open on
    # 6 March, and one opened in February that closed in March (before the range)
    faults = [
        UsageFault("CS-1", UTC_ZONE, at(5, 8), at(5, 8.5)),
        UsageFault("CS-1", UTC_ZONE, at(5, 12), at(5, 13.5)),
        UsageFault("CS-1", UTC_ZONE, at(6, 9)),
        UsageFault("CS-1", UTC_ZONE, at(28, 23, month=2), at(1, 2)),
    ]
    aggregator = UsageAggregator(MARCH, Period.DAY, ports={"CS-1": 2})
    for fault in faults:
        aggregator.add_fault(fault)
    rows = {row.period: row for row in aggregator.rows()}
    # THEN 5 March has 2 faults, repaired in 60 min on average; 6 March one fault, no repair yet
    assert (rows["2026-03-05"].faults, rows["2026-03-05"].repaired) == (2, 2)
    assert rows["2026-03-05"].mttr_min == Decimal("60.00")
    assert (rows["2026-03-06"].faults, rows["2026-03-06"].mttr_min) == (1, None)
    # AND February's fault is not counted; a day with faults but no session has no sessions
    assert set(rows) == {"2026-03-05", "2026-03-06"}
    assert rows["2026-03-05"].sessions == 0
    # AND the totals count every fault and weigh the mean by the repairs
    summed = totals(aggregator.rows())
    assert (summed.faults, summed.mttr_min) == (3, Decimal("60.00"))


def test_aggregator_faults_follow_the_site_time_zone_and_never_repair_in_negative_time() -> None:
    # GIVEN a fault at 23:30 UTC on 9 March (00:30 on 10 March in Berlin) whose close is stamped
    # before its opening (a station clock that jumped back)
    fault = UsageFault("a", BERLIN, at(9, 23.5), at(9, 23))
    aggregator = UsageAggregator(MARCH, Period.DAY, ports={"a": 1})
    aggregator.add_fault(fault)
    [row] = aggregator.rows()
    # THEN it counts on Berlin's 10 March, repaired in no time
    assert row.period == "2026-03-10"
    assert row.mttr_min == Decimal("0.00")


def test_rows_without_ports_show_no_faults() -> None:
    # GIVEN a driver report (no ports)
    rows = report(a_session(at(5, 8), 1), ports=None)
    # THEN faults and repair times are absent, and so are the totals'
    [row] = rows.values()
    assert (row.faults, row.repaired, row.mttr_min) == (None, None, None)
    assert (totals(rows.values()).faults, totals(rows.values()).mttr_min) == (None, None)
