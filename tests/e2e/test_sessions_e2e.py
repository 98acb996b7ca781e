"""Charging sessions end to end: simulated stations of both versions against `csms local`.

The stations are `csms_local.simulator`'s, built on the `ocpp` package, talking over real
sockets to a `csms local` process; what the stations did (their report) is compared, session by
session and to the Wh, with what the CSMS recorded (read through the HTTP API).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.e2e.conftest import LocalCsms, start_local

from csms.domain.sessions import session_id
from csms_local.sim.chaos import ChaosConfig
from csms_local.sim.clock import ScaledClock
from csms_local.sim.sessions import ChargingPlan
from csms_local.simulator import SimulatedStation, StationReport, simulate

# Simulated time runs fast and starts two days back, so that no station clock runs ahead of
# the CSMS's (the CSMS keeps timestamps more than 5 minutes ahead as anomalies).
SPEED = 600
STATIONS_PER_VERSION = 5
SESSIONS_PER_STATION = 7  # eight chaos stations: 56 sessions


def _seed() -> dict[str, Any]:
    stations = [
        {
            "id": f"CHAOS-{version[4:].replace('.', '')}-{n}",
            "siteId": "site-1",
            "password": f"chaos-password-{n}",
            "protocol": version,
        }
        for version in ("ocpp1.6", "ocpp2.0.1")
        for n in range(STATIONS_PER_VERSION)
    ]
    return {
        "sites": [{"id": "site-1", "name": "Chaos site", "limitKw": 500}],
        "stations": stations,
        "tokens": [{"idToken": f"CARD-{n:02d}", "status": "Accepted"} for n in range(12)],
    }


def _stations() -> list[SimulatedStation]:
    return [
        SimulatedStation(
            station_id=s["id"], password=s["password"], protocol=s["protocol"], connectors=2
        )
        for s in _seed()["stations"]
    ]


def _run(
    local: LocalCsms,
    stations: list[SimulatedStation],
    plan: ChargingPlan,
    chaos: ChaosConfig | None = None,
) -> list[StationReport]:
    clock = ScaledClock(SPEED, start=datetime.now(UTC) - timedelta(days=2))
    return asyncio.run(
        asyncio.wait_for(
            simulate(local.ws_url, stations, duration=None, plan=plan, clock=clock, chaos=chaos),
            timeout=600,
        )
    )


def _recorded(local: LocalCsms, station_id: str) -> list[dict[str, Any]]:
    """Every session the CSMS holds for a station, through the paginated list."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = f"/v1/sessions?stationId={station_id}&limit=100"
        status, body = local.api("GET", query + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, body
        found += body["items"]
        cursor = body.get("nextCursor")
        if not cursor:
            return found


def _check(local: LocalCsms, reports: list[StationReport]) -> int:
    """Every finished session is recorded exactly once, ended, with the station's energy."""
    checked = 0
    for report in reports:
        assert report.error is None, report
        assert report.queued_messages == 0, report
        assert report.transaction_messages_failed == 0, report
        assert report.reply_mismatches == 0, report
        assert len(report.sessions) == report.sessions_planned, report
        recorded = {s["id"]: s for s in _recorded(local, report.station_id)}
        expected = {
            session_id(report.station_id, str(s.transaction_id)): s for s in report.sessions
        }
        # Exactly once: no session twice, none missing, none the station never had.
        assert set(recorded) == set(expected), report.station_id
        for sid, done in expected.items():
            status, body = local.api("GET", f"/v1/sessions/{sid}")
            assert status == 200, body
            assert body["state"] == "Ended", body
            assert body["anomalies"] == [], body
            assert Decimal(str(body["energyWh"])) == Decimal(done.energy_wh), (body, done)
            assert body["idToken"] == done.id_token
            checked += 1
    return checked


@pytest.fixture(scope="module")
def chaos_csms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCsms]:
    local = start_local(tmp_path_factory.mktemp("chaos"), seed_document=_seed())
    yield local
    local.stop()


def test_sessions_both_versions_are_recorded_to_the_wh(
    chaos_csms: LocalCsms,
) -> None:
    # GIVEN one station of each version
    local = chaos_csms
    stations = [s for s in _stations() if s.station_id.endswith("-0")]
    plan = ChargingPlan(
        sessions=2,
        id_tokens=("CARD-00", "CARD-01"),
        meter_interval=60,
        session_length=20 * 60,
        power_kw=11,
    )
    # WHEN each runs two sessions: authorize, start, meter values every minute, stop
    reports = _run(local, stations, plan)
    # THEN the CSMS recorded every session once, ended, with the station's energy to the Wh
    assert _check(local, reports) == 4
    assert {r.protocol for r in reports} == {"ocpp1.6", "ocpp2.0.1"}


def test_sessions_under_chaos_are_recorded_exactly_once(
    chaos_csms: LocalCsms,
) -> None:
    # GIVEN eight stations of both versions whose connections drop at random, which queue
    # their transaction messages while offline, retransmit answered CALLs and swap queued events
    local = chaos_csms
    stations = [s for s in _stations() if not s.station_id.endswith("-0")]
    plan = ChargingPlan(
        sessions=SESSIONS_PER_STATION,
        id_tokens=tuple(f"CARD-{n:02d}" for n in range(2, 12)),
        meter_interval=120,
        session_length=10 * 60,
        power_kw=7.4,
        pause=30,
    )
    chaos = ChaosConfig(seed=20261124, drop_before_send=0.03, drop_after_send=0.03)
    # WHEN they all charge at once
    reports = _run(local, stations, plan, chaos)
    # THEN the chaos happened, and still every one of the >= 50 sessions is recorded exactly
    # once with the right energy
    assert sum(r.connects for r in reports) > len(reports)
    assert _check(local, reports) >= 50
