"""Connector status folding: `since` moves only on a real change of status."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from tests.fakes import T0

from csms.domain.connector import (
    ConnectorState,
    ConnectorStatus,
    EvseRef,
    OccupancyDetail,
    StatusReport,
)

EVSE = EvseRef(evse_id=1, connector_id=1)


def a_report(**over: object) -> StatusReport:
    values: dict[str, object] = {"evse": EVSE, "status": ConnectorStatus.AVAILABLE}
    values.update(over)
    return StatusReport.model_validate(values)


def test_evse_ref_zero_addresses_the_station() -> None:
    # GIVEN EVSE 0 and EVSE 1
    # WHEN / THEN only EVSE 0 addresses the whole station
    assert EvseRef(evse_id=0, connector_id=0).is_station
    assert not EvseRef(evse_id=1, connector_id=1).is_station


@pytest.mark.parametrize(("evse_id", "connector_id"), [(-1, 0), (0, -1)])
def test_evse_ref_rejects_negative_ids(evse_id: int, connector_id: int) -> None:
    # GIVEN a negative id
    # WHEN / THEN the reference cannot be built
    with pytest.raises(ValidationError):
        EvseRef(evse_id=evse_id, connector_id=connector_id)


def test_connector_state_from_report_first_report_starts_since() -> None:
    # GIVEN a first report with a timestamp
    at = T0 - timedelta(seconds=5)
    report = a_report(
        status=ConnectorStatus.FAULTED,
        error_code="GroundFailure",
        info="i",
        vendor_error_code="E1",
        timestamp=at,
    )
    # WHEN folded with no previous state
    state = ConnectorState.from_report(report, None, T0)
    # THEN the report's own time is both since and reported_at, and its details are kept
    assert state.since == at
    assert state.reported_at == at
    assert state.status is ConnectorStatus.FAULTED
    assert state.error_code == "GroundFailure"
    assert state.info == "i"
    assert state.vendor_error_code == "E1"
    assert state.evse == EVSE


def test_connector_state_from_report_without_timestamp_uses_receipt_time() -> None:
    # GIVEN a report with no timestamp (optional in 1.6)
    report = a_report()
    # WHEN folded
    state = ConnectorState.from_report(report, None, T0)
    # THEN the time of receipt applies
    assert state.since == T0
    assert state.reported_at == T0


def test_connector_state_from_report_same_status_keeps_since() -> None:
    # GIVEN a connector Available since T0
    previous = ConnectorState.from_report(a_report(timestamp=T0), None, T0)
    later = T0 + timedelta(minutes=5)
    # WHEN it reports Available again, with new error details
    state = ConnectorState.from_report(a_report(timestamp=later, info="again"), previous, later)
    # THEN since stays, reported_at moves and the details are the new ones
    assert state.since == T0
    assert state.reported_at == later
    assert state.info == "again"


def test_connector_state_from_report_status_change_moves_since() -> None:
    # GIVEN a connector Available since T0
    previous = ConnectorState.from_report(a_report(timestamp=T0), None, T0)
    later = T0 + timedelta(minutes=5)
    # WHEN it reports Faulted
    report = a_report(status=ConnectorStatus.FAULTED, timestamp=later)
    state = ConnectorState.from_report(report, previous, later)
    # THEN since moves to the report's time
    assert state.since == later
    assert state.status is ConnectorStatus.FAULTED


def test_connector_state_from_report_detail_change_counts_as_change() -> None:
    # GIVEN a connector Occupied/Preparing (1.6) since T0
    preparing = a_report(
        status=ConnectorStatus.OCCUPIED, detail=OccupancyDetail.PREPARING, timestamp=T0
    )
    previous = ConnectorState.from_report(preparing, None, T0)
    later = T0 + timedelta(minutes=1)
    # WHEN it reports Occupied/Charging
    charging = a_report(
        status=ConnectorStatus.OCCUPIED, detail=OccupancyDetail.CHARGING, timestamp=later
    )
    state = ConnectorState.from_report(charging, previous, later)
    # THEN the sub-state change moves since too
    assert state.since == later
    assert state.status_key == (ConnectorStatus.OCCUPIED, OccupancyDetail.CHARGING)
    assert previous.status_key != state.status_key
