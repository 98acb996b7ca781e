"""Uptime arithmetic on crafted histories (23 CFR 680.116(b), csms.domain.uptime)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from csms.domain.connector import ConnectorStatus
from csms.domain.uptime import (
    ConnectivityChange,
    ExclusionCategory,
    OutageExclusion,
    StatusChange,
    UptimeFigures,
    UptimeWindow,
    exclusion_span_problem,
    offline_intervals,
    port_uptime,
    quarter_window,
    range_problem,
)

A = ConnectorStatus.AVAILABLE
F = ConnectorStatus.FAULTED
U = ConnectorStatus.UNAVAILABLE
O = ConnectorStatus.OCCUPIED  # noqa: E741 - the status letter
T0 = datetime(2026, 6, 1, tzinfo=UTC)
GRACE = timedelta(minutes=2)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def change(hours: float, status: ConnectorStatus, evse: int = 1, conn: int = 1) -> StatusChange:
    return StatusChange(evse_id=evse, connector_id=conn, at=at(hours), status=status)


def link(hours: float, connected: bool, connection: str) -> ConnectivityChange:
    return ConnectivityChange(at=at(hours), connected=connected, connection_id=connection)


def an_exclusion(start: float, end: float, **over: Any) -> OutageExclusion:
    fields: dict[str, Any] = {
        "id": "x1",
        "tenant_id": "t1",
        "station_id": "CP1",
        "category": ExclusionCategory.UTILITY_INTERRUPTION,
        "reason": "feeder fault",
        "start": at(start),
        "end": at(end),
        "created_at": at(0),
        "created_by": "ops",
        **over,
    }
    return OutageExclusion(**fields)


def day_window() -> UptimeWindow:
    return UptimeWindow(start=at(0), end=at(24))


def one_port(**kwargs: Any) -> UptimeFigures:
    ports = port_uptime(
        "CP1",
        kwargs.pop("history", [change(0, A)]),
        kwargs.pop("connectivity", [link(0, True, "c0")]),
        kwargs.pop("exclusions", []),
        kwargs.pop("window", day_window()),
        grace=GRACE,
    )
    assert len(ports) == 1
    return ports[0].total


def test_port_uptime_two_hour_reconnects_are_not_down() -> None:
    # GIVEN API Gateway cutting the connection every 2 hours, the station back within 30 s
    connectivity = [link(0, True, "c0")]
    for n in range(1, 12):
        connectivity += [link(2 * n, False, f"c{n - 1}"), link(2 * n + 1 / 120, True, f"c{n}")]
    # WHEN the day is counted
    figures = one_port(connectivity=connectivity)
    # THEN the port was up all day
    assert figures == UptimeFigures(up=timedelta(hours=24))
    assert figures.uptime_percent == Decimal("100.00")


def test_port_uptime_reconnect_arriving_before_the_old_disconnect_is_not_down() -> None:
    # GIVEN the new connection's connect recorded before the old one's disconnect
    connectivity = [link(0, True, "c0"), link(2, True, "c1"), link(2.01, False, "c0")]
    # WHEN counted THEN the station never went offline
    assert one_port(connectivity=connectivity).down == timedelta()


def test_port_uptime_real_outage_counts_from_the_disconnect() -> None:
    # GIVEN a station offline for 10 minutes (longer than the 2-minute grace)
    connectivity = [link(0, True, "c0"), link(6, False, "c0"), link(6 + 10 / 60, True, "c1")]
    # WHEN counted
    figures = one_port(connectivity=connectivity)
    # THEN the whole gap is down, from the disconnect
    assert figures.down == timedelta(minutes=10)
    assert figures.up == timedelta(hours=24) - timedelta(minutes=10)
    assert figures.uptime_percent == Decimal("99.30")
    assert figures.meets_nevi is True


def test_port_uptime_station_still_offline_at_the_end_is_down_until_then() -> None:
    # GIVEN a station that disconnected and never came back
    connectivity = [link(0, True, "c0"), link(20, False, "c0")]
    # WHEN counted THEN the last four hours are down
    assert one_port(connectivity=connectivity).down == timedelta(hours=4)


def test_port_uptime_faulted_and_unavailable_are_down() -> None:
    # GIVEN a port faulted for an hour, then unavailable for an hour
    history = [change(0, A), change(3, F), change(4, U), change(5, O), change(6, A)]
    # WHEN counted
    figures = one_port(history=history)
    # THEN two hours are down, and the day misses 97 %
    assert figures.down == timedelta(hours=2)
    assert figures.meets_nevi is False
    assert figures.uptime_percent == Decimal("91.66")


def test_port_uptime_one_usable_connector_keeps_the_port_up() -> None:
    # GIVEN a 2.0.1 EVSE whose second connector turns Unavailable while the first is in use
    history = [change(0, A), change(0, A, conn=2), change(1, O), change(1, U, conn=2)]
    # WHEN counted THEN the port stays up
    assert one_port(history=history).down == timedelta()


def test_port_uptime_station_level_fault_takes_every_port_down() -> None:
    # GIVEN the whole station (EVSE 0) faulted for two hours
    history = [change(0, A), change(0, A, evse=2), change(1, F, evse=0), change(3, A, evse=0)]
    # WHEN counted
    ports = port_uptime("CP1", history, [], [], day_window(), grace=GRACE)
    # THEN both ports were down for those hours
    assert [p.total.down for p in ports] == [timedelta(hours=2)] * 2


def test_port_uptime_excludes_only_the_overlap_with_downtime() -> None:
    # GIVEN a fault from 10:00 to 14:00 and a utility exclusion from 12:00 to 18:00
    history = [change(0, A), change(10, F), change(14, A)]
    exclusion = an_exclusion(12, 18)
    # WHEN counted
    figures = one_port(history=history, exclusions=[exclusion])
    # THEN two hours are excluded, two down, and the rest up (the port was up 14:00-18:00)
    assert figures.excluded == timedelta(hours=2)
    assert figures.down == timedelta(hours=2)
    assert figures.up == timedelta(hours=20)


def test_port_uptime_exclusion_of_other_ports_or_stations_does_not_apply() -> None:
    # GIVEN exclusions for another port and another station
    history = [change(0, A), change(10, F), change(14, A)]
    exclusions = [an_exclusion(0, 24, evse_ids=(2,)), an_exclusion(0, 24, station_id="CP2")]
    # WHEN counted THEN the fault is all down
    assert one_port(history=history, exclusions=exclusions).down == timedelta(hours=4)


def test_port_uptime_time_before_first_seen_is_not_counted() -> None:
    # GIVEN a port first reported at 06:00
    figures = one_port(history=[change(6, A)])
    # WHEN counted THEN only 18 hours were observed
    assert figures.observed == timedelta(hours=18)


def test_port_uptime_port_with_no_history_is_absent() -> None:
    # GIVEN no status reports at all, or only after the window
    # WHEN counted THEN there is no port
    assert port_uptime("CP1", [], [], [], day_window()) == []
    assert port_uptime("CP1", [change(30, A)], [], [], day_window()) == []


def test_port_uptime_splits_at_local_month_boundaries() -> None:
    # GIVEN a fault across midnight of 1 July in New York (04:00 UTC)
    zone = ZoneInfo("America/New_York")
    window = UptimeWindow(start=at(-24 * 2), end=at(24 * 31), zone=zone)
    history = [change(-48, A), change(24 * 30 + 3, F), change(24 * 30 + 5, A)]
    # WHEN counted
    (port,) = port_uptime("CP1", history, [], [], window)
    # THEN one hour is down in June and one in July
    months = {m.month: m.figures.down for m in port.months}
    assert months == {
        "2026-05": timedelta(),
        "2026-06": timedelta(hours=1),
        "2026-07": timedelta(hours=1),
    }


def test_port_uptime_dst_month_has_an_hour_less() -> None:
    # GIVEN March 2026 in Berlin (clocks go forward on the 29th)
    window = quarter_window("2026-Q1", ZoneInfo("Europe/Berlin"))
    history = [StatusChange(evse_id=1, connector_id=1, at=window.start, status=A)]
    # WHEN counted
    (port,) = port_uptime("CP1", history, [], [], window)
    # THEN March has 31 days less an hour of minutes, all up
    march = next(m.figures for m in port.months if m.month == "2026-03")
    assert march.up == timedelta(days=31) - timedelta(hours=1)
    assert [m.month for m in port.months] == ["2026-01", "2026-02", "2026-03"]


def test_quarter_window_covers_q4_into_next_year() -> None:
    # GIVEN Q4 in UTC WHEN windowed THEN it ends on 1 January
    window = quarter_window("2026-Q4", ZoneInfo("UTC"))
    assert (window.start, window.end) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert [m.month for m in window.month_starts()] == [11, 12]
    with pytest.raises(ValueError, match="Q1 to Q4"):
        quarter_window("2026-Q5", ZoneInfo("UTC"))


def test_offline_intervals_first_entry_disconnect_means_online_before() -> None:
    # GIVEN a log that starts with a disconnect and a long gap
    gaps = offline_intervals([link(1, False, "c0"), link(3, True, "c1")], at(24), GRACE)
    # THEN the gap counts from the disconnect
    assert gaps == [(at(1), at(3))]


def test_uptime_figures_unobserved_has_no_percentage() -> None:
    # GIVEN nothing observed THEN there is no figure to judge
    assert UptimeFigures().uptime_percent is None
    assert UptimeFigures().meets_nevi is None


def test_uptime_figures_rounding_never_reaches_the_threshold() -> None:
    # GIVEN 96.999 % uptime
    figures = UptimeFigures(up=timedelta(seconds=96_999), down=timedelta(seconds=3_001))
    # THEN it reads 96.99 and does not meet 97 %
    assert figures.uptime_percent == Decimal("96.99")
    assert figures.meets_nevi is False


def test_outage_exclusion_needs_a_reason_and_a_sane_span() -> None:
    # GIVEN exclusions without a reason, with a blank one, backwards, or too long
    # THEN each is refused
    with pytest.raises(ValidationError):
        an_exclusion(1, 2, reason="")
    with pytest.raises(ValidationError, match="say something"):
        an_exclusion(1, 2, reason="   ")
    with pytest.raises(ValidationError, match="after start"):
        an_exclusion(2, 1)
    with pytest.raises(ValidationError, match="at most"):
        an_exclusion(0, 24 * 400)
    assert exclusion_span_problem(datetime(2026, 1, 1), at(1)) is not None  # noqa: DTZ001


def test_range_problem_refuses_backwards_naive_and_absurd_ranges() -> None:
    # GIVEN ranges WHEN checked THEN only a sane one passes
    assert range_problem(at(0), at(24)) is None
    assert range_problem(at(24), at(0)) == "to must be after from"
    assert range_problem(at(0), at(24 * 400)) == "the range covers at most 366 days"
    assert range_problem(datetime(2026, 1, 1), at(0)) is not None  # noqa: DTZ001


_statuses = st.sampled_from(list(ConnectorStatus))
_hours = st.floats(min_value=-48, max_value=72, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(
    history=st.lists(
        st.builds(change, _hours, _statuses, st.integers(0, 2), st.integers(1, 2)), max_size=12
    ),
    connectivity=st.lists(
        st.builds(link, _hours, st.booleans(), st.sampled_from(["a", "b", "c"])), max_size=8
    ),
    excluded=st.lists(st.tuples(_hours, st.floats(0.1, 30)), max_size=3),
)
def test_port_uptime_figures_add_up_to_the_observed_time(
    history: list[StatusChange],
    connectivity: list[ConnectivityChange],
    excluded: list[tuple[float, float]],
) -> None:
    # GIVEN any history, connectivity and exclusions
    exclusions = [an_exclusion(s, s + length) for s, length in excluded]
    window = UptimeWindow(start=at(0), end=at(24 * 3), zone=ZoneInfo("Europe/Berlin"))
    # WHEN counted
    ports = port_uptime("CP1", history, connectivity, exclusions, window, grace=GRACE)
    for port in ports:
        # THEN up + down + excluded is the time observed since the port was first seen
        observed = window.end - max(window.start, port.first_seen)
        assert port.total.observed == observed
        assert sum((m.figures for m in port.months), UptimeFigures()) == port.total
        percent = port.total.uptime_percent
        assert percent is None or Decimal(0) <= percent <= Decimal(100)
