"""Alert model and detectors: severity, ids, closing, offline confirmation, boot windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from csms.domain.alerts import (
    Alert,
    AlertDetails,
    AlertKey,
    AlertKind,
    AlertState,
    BootHistory,
    Cleared,
    Detected,
    Severity,
    alert_id_of,
    severity_of,
    status_observation,
    still_offline,
)
from csms.domain.connector import ConnectorStatus, EvseRef

T0 = datetime(2026, 11, 24, 8, tzinfo=UTC)
KEY_DETAILS = AlertDetails()
KEY = AlertKey(
    tenant_id="t",
    station_id="CP-1",
    evse=EvseRef(evse_id=1, connector_id=2),
    kind=AlertKind.FAULTED,
)


def test_severity_of_sharpens_faults_by_error_code() -> None:
    # GIVEN / WHEN / THEN a safety trip is critical, a reader failure minor, others by kind
    assert severity_of(AlertKind.FAULTED, "GroundFailure") is Severity.CRITICAL
    assert severity_of(AlertKind.FAULTED, "ReaderFailure") is Severity.MINOR
    assert severity_of(AlertKind.FAULTED, None) is Severity.MAJOR
    assert severity_of(AlertKind.OFFLINE, "GroundFailure") is Severity.MAJOR
    assert severity_of(AlertKind.START_FAILURES) is Severity.MINOR


def test_alert_id_of_sorts_by_opening_and_differs_by_key() -> None:
    # GIVEN two keys and two times
    other = KEY.model_copy(update={"kind": AlertKind.OFFLINE})
    # WHEN ids are derived
    first, later = alert_id_of(KEY, T0), alert_id_of(KEY, T0 + timedelta(microseconds=1))
    # THEN they sort by time and differ by key
    assert first < later
    assert alert_id_of(other, T0) != first
    assert alert_id_of(KEY, T0) == first


def test_alert_close_never_ends_before_it_opened() -> None:
    # GIVEN an open alert
    alert = Alert(alert_id="a", key=KEY, severity=Severity.MAJOR, opened_at=T0)
    # WHEN it closes with a clock behind its opening
    closed = alert.close(T0 - timedelta(seconds=5))
    # THEN it is closed at its opening, one version on
    assert (closed.state, closed.closed_at, closed.version) == (AlertState.CLOSED, T0, 2)


def test_key_port_of_the_station_as_a_whole() -> None:
    # GIVEN / WHEN / THEN the station-wide key is port 0/0
    assert KEY.model_copy(update={"evse": None}).port == "00000#00000"
    assert KEY.port == "00001#00002"


def test_status_observation_watches_faults_and_clears_on_anything_else() -> None:
    # GIVEN / WHEN a Faulted and an Available status
    seen = status_observation(KEY, ConnectorStatus.FAULTED, T0, timedelta(seconds=60), KEY_DETAILS)
    cleared = status_observation(
        KEY, ConnectorStatus.AVAILABLE, T0, timedelta(seconds=60), KEY_DETAILS
    )
    # THEN the fault is watched until the hold-down ends; the other clears it
    assert isinstance(seen, Detected)
    assert seen.watch.due_at == T0 + timedelta(seconds=60)
    assert isinstance(cleared, Cleared)


def test_still_offline_reads_the_station() -> None:
    # GIVEN / WHEN / THEN online since after the outage began: back; otherwise still offline
    assert not still_offline(True, T0 + timedelta(seconds=1), T0)
    assert not still_offline(True, None, T0)
    assert still_offline(True, T0 - timedelta(seconds=1), T0)
    assert still_offline(False, T0 + timedelta(seconds=1), T0)


@settings(max_examples=40)
@given(st.lists(st.integers(min_value=0, max_value=7200), min_size=1, max_size=12))
def test_boot_history_keeps_only_recent_boots(offsets: list[int]) -> None:
    # GIVEN boots at arbitrary offsets, in order
    window, limit = timedelta(minutes=30), 3
    history = BootHistory()
    for offset in sorted(offsets):
        history = history.add(T0 + timedelta(seconds=offset), window, limit)
    last = T0 + timedelta(seconds=max(offsets))
    # WHEN / THEN at most `limit` boots are kept, all within the window of the last
    assert 1 <= len(history.boots) <= limit
    assert all(last - boot < window for boot in history.boots)
    recent = {o for o in offsets if max(offsets) - o < window.total_seconds()}
    assert history.in_loop(last, window, limit) is (len(recent) >= limit)
    assert history.quiet_at(window) == last + window
    assert BootHistory().quiet_at(window) is None
