"""Billing end to end: simulated stations of both versions charge under a tariff in `csms local`.

The stations are the simulator's (built on the `ocpp` package) over real sockets. Each EV fills
its battery before the driver comes back, so it stays plugged in, idle, for a while: the idle
period must be recorded (2.0.1 from the TransactionEvent charging state, 1.6 from
StatusNotification) and priced. The local runtime routes TransactionEnded to the billing
workflow's steps, run in process, as Step Functions runs them in AWS; what it billed is read
back through the HTTP API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from tests.e2e.conftest import LocalCsms, start_local

from csms.domain.sessions import session_id
from csms_local.sim.clock import ScaledClock
from csms_local.sim.sessions import ChargingPlan
from csms_local.simulator import SimulatedStation, StationReport, simulate

# The tariff applies from when it is assigned (now), and the CSMS drops readings more than
# five minutes ahead of its clock: so simulated time starts now and each session is short.
SPEED = 10
BILLED_WITHIN_S = 60.0
TARIFF = {
    "id": "public-e2e",
    "name": "Public charging with an idle fee",
    "currency": "EUR",
    "pricesIncludeTax": True,
    "taxRates": [{"name": "VAT", "percent": 19}],
    "prices": {"energyPerKwh": 0.50},
    "idleFee": {"rate": {"amount": 0.10, "per": "minute"}, "graceMinutes": 1, "cap": 5.00},
    "rounding": {"energyStepWh": 1, "timeStepS": 60},
}
STATIONS = [
    SimulatedStation(station_id="BILL-16", password="billing-password-16", protocol="ocpp1.6"),
    SimulatedStation(station_id="BILL-201", password="billing-password-201", protocol="ocpp2.0.1"),
]


def _seed() -> dict[str, Any]:
    return {
        "sites": [{"id": "site-1", "name": "Garage", "limitKw": 200, "timezone": "Europe/Berlin"}],
        "stations": [
            {"id": s.station_id, "siteId": "site-1", "password": s.password, "protocol": s.protocol}
            for s in STATIONS
        ],
        "tokens": [{"idToken": f"CARD-{n}", "status": "Accepted"} for n in range(4)],
    }


@pytest.fixture(scope="module")
def billing_csms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCsms]:
    local = start_local(tmp_path_factory.mktemp("billing"), seed_document=_seed())
    yield local
    local.stop()


def _billing(local: LocalCsms, sid: str) -> dict[str, Any]:
    """The session's billing once it is done (the workflow runs after the outbox relay)."""
    deadline = time.monotonic() + BILLED_WITHIN_S
    while True:
        status, body = local.api("GET", f"/v1/sessions/{sid}/billing")
        assert status == 200, body
        billing: dict[str, Any] = body
        if billing["done"] or time.monotonic() > deadline:
            return billing
        time.sleep(0.5)


def _all_cdrs(local: LocalCsms) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        status, body = local.api(
            "GET", "/v1/cdrs?limit=100" + (f"&cursor={cursor}" if cursor else "")
        )
        assert status == 200, body
        found += body["items"]
        cursor = body.get("nextCursor")
        if not cursor:
            return found


def test_billing_sessions_of_both_versions_are_billed_once_with_their_idle_fee(
    billing_csms: LocalCsms,
) -> None:
    # GIVEN a public tariff with an idle fee (one minute's grace) assigned to the whole tenant
    local = billing_csms
    status, body = local.api("POST", "/v1/tariffs", TARIFF)
    assert status == 201, body
    status, body = local.api("POST", "/v1/tariff-assignments", {"tariffId": TARIFF["id"]})
    assert status == 201, body

    # WHEN one station of each version charges an EV for 3.5 minutes, and each EV is full
    # after 0.25 kWh (under a minute and a half at 11 kW) and then waits, plugged in
    plan = ChargingPlan(
        sessions=1,
        id_tokens=("CARD-0", "CARD-1"),
        meter_interval=15,
        session_length=3.5 * 60,
        pause=0,
        power_kw=11,
        energy_kwh=0.25,
    )
    clock = ScaledClock(SPEED, start=datetime.now(UTC) + timedelta(seconds=1))
    reports: list[StationReport] = asyncio.run(
        asyncio.wait_for(
            simulate(local.ws_url, STATIONS, duration=None, plan=plan, clock=clock), timeout=300
        )
    )

    # THEN every session is billed once: one CDR with the station's energy, priced under the
    # tariff with an idle fee for the time the full EV stayed plugged in beyond the grace, and
    # one receipt of the same total, issued and due (the invoice-only provider)
    sessions = {
        session_id(report.station_id, str(done.transaction_id)): done
        for report in reports
        for done in report.sessions
    }
    billings = {sid: _billing(local, sid) for sid in sessions}
    cdrs = _all_cdrs(local)
    billed = 0
    for report in reports:
        assert report.error is None, report
        assert len(report.sessions) == 1, report
        for done in report.sessions:
            sid = session_id(report.station_id, str(done.transaction_id))
            billing = billings[sid]
            assert billing["done"], billing
            assert billing["billingMode"] == "ad-hoc"
            [cdr] = [c for c in cdrs if c["sessionId"] == sid]
            assert cdr["id"] == billing["current"]["cdrId"]
            _, session = local.api("GET", f"/v1/sessions/{sid}")
            assert session["anomalies"] == [], session
            assert Decimal(str(cdr["totalEnergy"])) == Decimal(done.energy_wh) / 1000
            energy_cost = Decimal(str(cdr["totalEnergyCost"]["inclVat"]))
            assert energy_cost == (Decimal(str(cdr["totalEnergy"])) * Decimal("0.50")).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP
            )
            # Idle: the EV was full after under 1.5 of 3.5 minutes; the idle time beyond the
            # minute's grace, rounded up to whole minutes, at 0.10 EUR a minute.
            idle_minutes = Decimal(str(cdr["totalParkingTime"])) * 60
            assert Decimal("1.5") <= idle_minutes <= Decimal("2.4"), cdr
            billed_minutes = (idle_minutes - 1).to_integral_value(rounding=ROUND_CEILING)
            idle_fee = Decimal(str(cdr["totalParkingCost"]["inclVat"]))
            assert idle_fee == billed_minutes * Decimal("0.10"), cdr
            total = Decimal(str(cdr["totalCost"]["inclVat"]))
            assert total == energy_cost + idle_fee
            receipt = billing["invoice"]
            assert receipt["kind"] == "receipt"
            assert receipt["state"] == "finalized"
            assert receipt["number"] is not None
            assert Decimal(str(receipt["totalInclTax"])) == total
            assert [p["kind"] for p in receipt["payments"]] == ["invoice"]
            billed += 1
    assert billed == 2
    assert {r.protocol for r in reports} == {"ocpp1.6", "ocpp2.0.1"}
    # Exactly once: no session has a second CDR, and no CDR belongs to a session not charged.
    assert len(cdrs) == billed
