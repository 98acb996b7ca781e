"""The live view through the HTTP API handler on moto, with state made by real OCPP frames."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.integration.conftest import STATION_PASSWORD, Ctx, connect_event, message_event
from tests.integration.test_api_stations import ADMIN, OTHER, SITE_2_ADMIN, VIEWER, call

from csms.domain.seed import Seed
from csms.handlers import _runtime, ws_connect, ws_message

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(minutes=30)
LAST = NOW - timedelta(minutes=5)


def wire(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def send(connection_id: str, frame: list[Any]) -> list[Any]:
    result = ws_message.lambda_handler(message_event(connection_id, json.dumps(frame)), Ctx())
    reply: list[Any] = json.loads(result["body"])
    return reply


@pytest.fixture
def charging(runtime: _runtime.Runtime) -> _runtime.Runtime:
    """site-1: CP-16 (1.6) online, charging on connector 1 since START (1000 -> 3000 Wh by LAST,
    7.4 kW), connector 2 Faulted; CP-201 (2.0.1) registered, never connected. site-2: CP-2,
    offline. Tenant other: site-9."""
    stations = [
        {"id": "CP-16", "siteId": "site-1", "password": STATION_PASSWORD, "protocol": "ocpp1.6"},
        {"id": "CP-201", "siteId": "site-1", "password": STATION_PASSWORD},
        {"id": "CP-2", "siteId": "site-2", "password": STATION_PASSWORD},
    ]
    runtime.seeds.load(
        "default",
        Seed.model_validate(
            {
                "sites": [
                    {"id": "site-1", "name": "Depot", "limitKw": 50},
                    {"id": "site-2", "name": "Office", "limitKw": 20},
                ],
                "stations": stations,
                "tokens": [{"idToken": "TAG-1"}],
            }
        ),
    )
    runtime.seeds.load(
        "other", Seed.model_validate({"sites": [{"id": "site-9", "name": "X", "limitKw": 5}]})
    )
    assert ws_connect.lambda_handler(connect_event("CP-16", "c16"), Ctx())["statusCode"] == 200
    for n, (connector, status, error) in enumerate(
        ((1, "Charging", "NoError"), (2, "Faulted", "GroundFailure"))
    ):
        notification = {
            "connectorId": connector,
            "status": status,
            "errorCode": error,
            "timestamp": wire(START),
        }
        assert send("c16", [2, f"s{n}", "StatusNotification", notification])[0] == 3
    start = {"connectorId": 1, "idTag": "TAG-1", "meterStart": 1000, "timestamp": wire(START)}
    tx = send("c16", [2, "start", "StartTransaction", start])[2]["transactionId"]
    meter = {
        "connectorId": 1,
        "transactionId": tx,
        "meterValue": [
            {
                "timestamp": wire(LAST),
                "sampledValue": [
                    {"value": "3000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
                ],
            }
        ],
    }
    assert send("c16", [2, "mv", "MeterValues", meter]) == [3, "mv", {}]
    _runtime.reset()
    return runtime


def _expected_energy_kwh() -> float:
    # All 2 kWh unless the session began before today's UTC midnight (sites from seeds have no
    # time zone): then the part after midnight, pro rata by time.
    midnight = NOW.replace(hour=0, minute=0, second=0)
    if midnight <= START:
        return 2.0
    return round(2.0 * (LAST - midnight) / (LAST - START), 3) if midnight < LAST else 0.0


def test_live_site_shows_stations_connectors_sessions_and_summary(
    charging: _runtime.Runtime,
) -> None:
    # WHEN a viewer reads site-1's live view
    status, _, body = call("GET", "/v1/sites/site-1/live", claims=VIEWER)
    # THEN the summary: two stations, one online, one connector charging, 7.4 kW, 2 kWh today
    assert status == 200
    assert body["siteId"] == "site-1"
    assert body["timezone"] == "UTC"
    assert (body["stationsTotal"], body["stationsOnline"], body["connectorsCharging"]) == (2, 1, 1)
    assert body["powerKw"] == 7.4
    assert body["energyTodayKwh"] == pytest.approx(_expected_energy_kwh(), abs=0.001)
    assert body["dayStart"] == wire(NOW.replace(hour=0, minute=0, second=0))
    # AND per station: CP-16 online since its connect over 1.6, CP-201 offline (never connected)
    cp16, cp201 = body["stations"]
    assert (cp16["id"], cp16["online"], cp16["protocol"]) == ("CP-16", True, "ocpp1.6")
    assert cp16["onlineSince"] is not None
    assert (cp201["id"], cp201["online"], cp201["offlineSince"]) == ("CP-201", False, None)
    # AND connector 1 charging with its session, connector 2 faulted with its error code
    first, second = cp16["connectors"]
    assert (first["status"], first["detail"], first["charging"]) == ("Occupied", "Charging", True)
    session = first["session"]
    assert (session["powerW"], session["energyWh"]) == (7400, 2000)
    assert session["startedAt"] == wire(START)
    assert (second["status"], second["errorCode"], second["session"]) == (
        "Faulted",
        "GroundFailure",
        None,
    )


def test_live_summaries_of_every_site_reached(charging: _runtime.Runtime) -> None:
    # WHEN an admin, a user of site-2 and another tenant read the summaries
    _, _, everyone = call("GET", "/v1/live", claims=ADMIN)
    _, _, restricted = call("GET", "/v1/live", claims=SITE_2_ADMIN)
    _, _, other = call("GET", "/v1/live", claims=OTHER)
    # THEN each sees the sites it reaches, by id, without station details
    assert [(s["siteId"], s["stationsTotal"]) for s in everyone["items"]] == [
        ("site-1", 2),
        ("site-2", 1),
    ]
    assert "stations" not in everyone["items"][0]
    assert [s["siteId"] for s in restricted["items"]] == ["site-2"]
    assert [s["siteId"] for s in other["items"]] == ["site-9"]
    # AND paging one site at a time gives the same sites
    _, _, first = call("GET", "/v1/live", query={"limit": "1"})
    _, _, second = call("GET", "/v1/live", query={"limit": "1", "cursor": first["nextCursor"]})
    assert [s["siteId"] for s in first["items"] + second["items"]] == ["site-1", "site-2"]
    assert second["nextCursor"] is None


@pytest.mark.parametrize(
    ("claims", "site"),
    [(OTHER, "site-1"), (SITE_2_ADMIN, "site-1"), (ADMIN, "site-9"), (ADMIN, "nope")],
    ids=["other-tenant", "beyond-reach", "their-site", "missing"],
)
def test_live_site_beyond_the_callers_reach_is_404(
    charging: _runtime.Runtime, claims: dict[str, Any], site: str
) -> None:
    status, headers, body = call("GET", f"/v1/sites/{site}/live", claims=claims)
    assert (status, body["type"]) == (404, "/problems/site-not-found")
    assert headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/live", {"cursor": "%%%"}),
        ("/v1/live", {"limit": "0"}),
        ("/v1/live", {"limit": "21"}),
        ("/v1/sites/bad id!/live", None),
    ],
)
def test_live_bad_requests_are_400(
    charging: _runtime.Runtime, path: str, query: dict[str, str] | None
) -> None:
    status, _, body = call("GET", path, query=query)
    assert status == 400
    assert body["type"] in ("/problems/invalid-request", "/problems/invalid-cursor")
