"""The load management views: an allocation as the API shows it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.fakes import T0

from csms.domain.load.allocation import Allocation, ConnectorLimit, ProfileDelivery, Reason, RowLoad
from csms.handlers.api_models_load import ConnectorLoadView, SiteLoadView


def test_site_load_view_shows_each_evse_with_its_delivery() -> None:
    # GIVEN an allocation of two EVSEs, one of whose profiles was rejected twice
    allocation = Allocation(
        site_id="site-1",
        at=T0,
        config_version=3,
        available_kw=30,
        constraint="building-load",
        building_kw=70,
        connectors=(
            ConnectorLimit(
                connector="CP-1/1",
                station_id="CP-1",
                evse_id=1,
                session_id="s-1",
                kw=11,
                amps=16,
                reason=Reason.LIMIT,
                bound_by="site",
            ),
            ConnectorLimit(
                connector="CP-2/1", station_id="CP-2", evse_id=1, kw=0, reason=Reason.IDLE
            ),
        ),
        rows=(RowLoad(label="site", unit="kW", limit=30, allocated=11),),
        notes=("meter fresh",),
        deliveries=(
            ProfileDelivery(
                connector="CP-1/1",
                session_id="s-1",
                command_id="c-9",
                failures=2,
                retry_at=T0 + timedelta(minutes=1),
            ),
        ),
    )
    # WHEN shown
    body = SiteLoadView.of(allocation, rebalanced=True).model_dump(mode="json", by_alias=True)
    # THEN the totals, each EVSE's limit and reason, and the failed delivery are there
    assert (body["availableKw"], body["allocatedKw"], body["constraint"]) == (
        30,
        11,
        "building-load",
    )
    first, second = body["connectors"]
    assert (first["amps"], first["reason"], first["boundBy"]) == (16, "limit", "site")
    assert first["delivery"] == {
        "state": "retrying",
        "commandId": "c-9",
        "accepted": False,
        "failures": 2,
        "retryAt": "2026-11-24T08:01:00Z",
        "unmanagedUntil": None,
    }
    assert (second["reason"], second["delivery"]) == ("no-session", None)
    assert body["rows"] == [{"label": "site", "unit": "kW", "limit": 30, "allocated": 11}]


@pytest.mark.parametrize(
    ("delivery", "state"),
    [
        ({"command_id": "c-1"}, "pending"),
        ({"command_id": "c-1", "accepted": True}, "accepted"),
        ({"command_id": "c-1", "failures": 1, "retry_at": T0}, "retrying"),
        ({"failures": 3, "retry_at": T0, "unmanaged_until": T0}, "ignores-profiles"),
        ({}, "not-sent"),
    ],
)
def test_delivery_view_names_the_state_of_the_profile(delivery: dict[str, Any], state: str) -> None:
    # GIVEN an EVSE's delivery in one of its states
    limit = ConnectorLimit(
        connector="CP-1/1",
        station_id="CP-1",
        evse_id=1,
        session_id="s-1",
        kw=11,
        reason=Reason.SHARE,
    )
    # WHEN shown
    view = ConnectorLoadView.of(limit, ProfileDelivery(connector="CP-1/1", **delivery))
    # THEN its state says it in one word
    assert view.delivery is not None
    assert view.delivery.state == state
