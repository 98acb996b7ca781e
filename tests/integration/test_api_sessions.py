"""The HTTP API of sessions and id tokens on moto, with sessions made by real OCPP frames.

Three sessions of tenant `default`, both OCPP versions, through the WebSocket handler:
- A: 1.6 at CP-16 (site-1) with TAG-1 (group fleet), 1000 -> 8400 Wh over one hour, ended;
- B: 2.0.1 at CP-201 (site-2) with TAG-2 (group residents), 500 -> 2500 Wh so far, active;
- C: 1.6 at CP-16 with TAG-1 again, just started, active.
Tenant `other` has a station and a session of its own and must never see any of these.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.integration.conftest import STATION_PASSWORD, Ctx, connect_event, message_event
from tests.integration.test_api import CLAIMS, call_api

from csms.domain.seed import Seed
from csms.domain.sessions import session_id
from csms.handlers import _runtime, ws_connect, ws_message

OTHER = {**CLAIMS, "sub": "op-9", "tenant_id": "other"}
# Recent enough for the meter time window, whatever day the tests run.
START = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def wire(minutes: float) -> str:
    """A timestamp as stations and API clients write it."""
    return at(minutes).isoformat().replace("+00:00", "Z")


def send(connection_id: str, frame: list[Any]) -> list[Any]:
    result = ws_message.lambda_handler(message_event(connection_id, json.dumps(frame)), Ctx())
    reply: list[Any] = json.loads(result["body"])
    return reply


def samples(wh: int, power_w: int = 7400) -> list[dict[str, Any]]:
    """1.6 sampled values: register in Wh, power in kW, current per phase, voltage, SoC."""
    return [
        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": str(power_w / 1000), "measurand": "Power.Active.Import", "unit": "kW"},
        *(
            {"value": "10.7", "measurand": "Current.Import", "phase": p, "unit": "A"}
            for p in ("L1", "L2", "L3")
        ),
        {"value": "230.1", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
        {"value": "42", "measurand": "SoC", "unit": "Percent", "context": "Sample.Periodic"},
    ]


def seed(runtime: _runtime.Runtime) -> None:
    runtime.seeds.load(
        "default",
        Seed.model_validate(
            {
                "sites": [
                    {"id": "site-1", "name": "Depot", "limitKw": 50},
                    {"id": "site-2", "name": "Residences", "limitKw": 50},
                ],
                "stations": [
                    {
                        "id": "CP-16",
                        "siteId": "site-1",
                        "password": STATION_PASSWORD,
                        "protocol": "ocpp1.6",
                    },
                    {
                        "id": "CP-201",
                        "siteId": "site-2",
                        "password": STATION_PASSWORD,
                        "protocol": "ocpp2.0.1",
                    },
                ],
                "tokens": [
                    {"idToken": "TAG-1", "groupId": "fleet"},
                    {"idToken": "TAG-2", "type": "ISO14443", "groupId": "residents"},
                ],
            }
        ),
    )
    runtime.seeds.load(
        "other",
        Seed.model_validate(
            {
                "sites": [{"id": "site-9", "name": "Elsewhere", "limitKw": 20}],
                "stations": [
                    {
                        "id": "CP-X",
                        "siteId": "site-9",
                        "password": STATION_PASSWORD,
                        "protocol": "ocpp1.6",
                    }
                ],
                "tokens": [{"idToken": "TAG-X", "groupId": "fleet"}],
            }
        ),
    )


@dataclass(frozen=True)
class Sessions:
    a: str
    b: str
    c: str
    x: str
    tx_a: int


@pytest.fixture
def sessions(runtime: _runtime.Runtime) -> Sessions:
    """Sessions A, B and C of tenant default, X of tenant other (see the module docstring)."""
    seed(runtime)
    for station, conn in (("CP-16", "c16"), ("CP-201", "c201"), ("CP-X", "cx")):
        result = ws_connect.lambda_handler(connect_event(station, conn), Ctx())
        assert result["statusCode"] == 200
    # A: 1.6, start, two MeterValues, stop with transactionData.
    start = {"connectorId": 1, "idTag": "TAG-1", "meterStart": 1000, "timestamp": wire(0)}
    tx_a = send("c16", [2, "a-s", "StartTransaction", start])[2]["transactionId"]
    for n, wh in ((1, 4700), (2, 6550)):
        frame = {
            "connectorId": 1,
            "transactionId": tx_a,
            "meterValue": [{"timestamp": wire(15 * n), "sampledValue": samples(wh)}],
        }
        assert send("c16", [2, f"a-m{n}", "MeterValues", frame]) == [3, f"a-m{n}", {}]
    stop = {
        "transactionId": tx_a,
        "idTag": "TAG-1",
        "meterStop": 8400,
        "timestamp": wire(60),
        "reason": "EVDisconnected",
        "transactionData": [
            {"timestamp": wire(0), "sampledValue": [{"value": "1", "unit": "kWh"}]},
            {"timestamp": wire(60), "sampledValue": [{"value": "8400"}]},
        ],
    }
    assert send("c16", [2, "a-e", "StopTransaction", stop])[0] == 3
    # B: 2.0.1, Started with a remote start id, then one Updated with meter values.
    started = {
        "eventType": "Started",
        "timestamp": wire(30),
        "triggerReason": "RemoteStart",
        "seqNo": 0,
        "transactionInfo": {
            "transactionId": "TX-B",
            "chargingState": "EVConnected",
            "remoteStartId": 7,
        },
        "evse": {"id": 2, "connectorId": 1},
        "idToken": {"idToken": "TAG-2", "type": "ISO14443"},
        "meterValue": [
            {
                "timestamp": wire(30),
                "sampledValue": [
                    {"value": 0.5, "unitOfMeasure": {"unit": "kWh"}, "context": "Transaction.Begin"}
                ],
            }
        ],
    }
    updated = {
        "eventType": "Updated",
        "timestamp": wire(40),
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 1,
        "transactionInfo": {"transactionId": "TX-B", "chargingState": "Charging"},
        "meterValue": [
            {
                "timestamp": wire(40),
                "sampledValue": [
                    {"value": 2500, "measurand": "Energy.Active.Import.Register"},
                    {
                        "value": 11.5,
                        "measurand": "Power.Active.Import",
                        "unitOfMeasure": {"unit": "kW"},
                    },
                    {"value": 57.5, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}},
                ],
            }
        ],
    }
    assert send("c201", [2, "b-0", "TransactionEvent", started])[2]["idTokenInfo"]["status"] == (
        "Accepted"
    )
    assert send("c201", [2, "b-1", "TransactionEvent", updated]) == [3, "b-1", {}]
    # C: 1.6, TAG-1 again, started after A ended.
    start_c = {"connectorId": 1, "idTag": "TAG-1", "meterStart": 8400, "timestamp": wire(90)}
    tx_c = send("c16", [2, "c-s", "StartTransaction", start_c])[2]["transactionId"]
    # X: tenant other.
    start_x = {"connectorId": 1, "idTag": "TAG-X", "meterStart": 0, "timestamp": wire(45)}
    tx_x = send("cx", [2, "x-s", "StartTransaction", start_x])[2]["transactionId"]
    _runtime.reset()  # the API function has its own runtime
    return Sessions(
        a=session_id("CP-16", str(tx_a)),
        b=session_id("CP-201", "TX-B"),
        c=session_id("CP-16", str(tx_c)),
        x=session_id("CP-X", str(tx_x)),
        tx_a=tx_a,
    )


@pytest.fixture
def tokens_only(runtime: _runtime.Runtime) -> None:
    """TAG-1 of tenant default and nothing else: enough for requests refused before any read."""
    runtime.seeds.load(
        "default", Seed.model_validate({"tokens": [{"idToken": "TAG-1", "groupId": "fleet"}]})
    )
    _runtime.reset()


def ids(query: dict[str, str] | None = None, claims: dict[str, Any] = CLAIMS) -> list[str]:
    status, _, body = call_api("GET", "/v1/sessions", query=query, claims=claims)
    assert status == 200, body
    assert body["nextCursor"] is None
    return [s["id"] for s in body["items"]]


def test_api_sessions_list_newest_start_first_with_each_filter(sessions: Sessions) -> None:
    a, b, c = sessions.a, sessions.b, sessions.c
    # WHEN the operator lists without and with each filter
    # THEN the tenant's sessions come newest start first, filtered as asked
    assert ids() == [c, b, a]
    assert ids({"stationId": "CP-16"}) == [c, a]
    assert ids({"siteId": "site-2"}) == [b]
    assert ids({"idToken": "tag-1"}) == [c, a]  # tokens compare without regard to case
    assert ids({"groupId": "residents"}) == [b]
    assert ids({"state": "Ended"}) == [a]
    assert ids({"state": "Active"}) == [c, b]
    # AND the start range is inclusive at its beginning and exclusive at its end
    assert ids({"startedFrom": wire(30)}) == [c, b]
    assert ids({"startedTo": wire(30)}) == [a]
    assert ids({"startedFrom": wire(0), "startedTo": wire(90)}) == [b, a]
    assert ids({"startedFrom": at(30).isoformat(), "startedTo": at(30).isoformat()}) == []
    assert ids({"startedFrom": wire(90), "startedTo": wire(0)}) == []
    # AND filters combine
    assert ids({"stationId": "CP-16", "state": "Active"}) == [c]
    assert ids({"idToken": "TAG-1", "startedTo": wire(60)}) == [a]
    assert ids({"stationId": "CP-201", "groupId": "fleet"}) == []


def test_api_sessions_list_pages_with_a_cursor(sessions: Sessions) -> None:
    # WHEN the operator pages one session at a time
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        query = {"limit": "1"} | ({"cursor": cursor} if cursor else {})
        status, _, body = call_api("GET", "/v1/sessions", query=query)
        assert status == 200
        assert len(body["items"]) <= 1
        seen += [s["id"] for s in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    # THEN every session comes once, newest start first
    assert seen == [sessions.c, sessions.b, sessions.a]
    # AND a filtered list pages the same way
    _, _, first = call_api("GET", "/v1/sessions", query={"limit": "1", "stationId": "CP-16"})
    _, _, second = call_api(
        "GET",
        "/v1/sessions",
        query={"limit": "1", "stationId": "CP-16", "cursor": first["nextCursor"]},
    )
    assert [s["id"] for s in first["items"] + second["items"]] == [sessions.c, sessions.a]


def test_api_sessions_list_items_summarise_each_session(sessions: Sessions) -> None:
    # WHEN the operator lists
    _, _, body = call_api("GET", "/v1/sessions")
    by_id = {s["id"]: s for s in body["items"]}
    # THEN an ended session shows its final energy, an active one none (its own view has it)
    a, b = by_id[sessions.a], by_id[sessions.b]
    assert a == {
        "id": sessions.a,
        "state": "Ended",
        "stationId": "CP-16",
        "siteId": "site-1",
        "evseId": 1,
        "connectorId": 1,
        "transactionId": str(sessions.tx_a),
        "ocpp16TransactionId": sessions.tx_a,
        "protocol": "ocpp1.6",
        "idToken": "TAG-1",
        "groupId": "fleet",
        "startedAt": wire(0),
        "stoppedAt": wire(60),
        "stopReason": "EVDisconnected",
        "energyWh": 7400,
        "anomalyCount": 0,
        "closedByCleanup": False,
    }
    assert b["state"] == "Active"
    assert b["energyWh"] is None
    assert (b["transactionId"], b["ocpp16TransactionId"]) == ("TX-B", None)
    assert (b["evseId"], b["connectorId"], b["protocol"]) == (2, 1, "ocpp2.0.1")


def test_api_session_detail_of_an_ended_16_session_has_exact_totals(
    sessions: Sessions,
) -> None:
    # WHEN the operator reads session A
    status, _, body = call_api("GET", f"/v1/sessions/{sessions.a}")
    # THEN the totals are exact, as JSON integers
    assert status == 200
    assert body["totals"] == {
        "energyWh": 7400,
        "powerW": None,
        "soc": 42,
        "durationS": 3600,
        "lastMeterAt": wire(60),
        "lastMeterWh": 8400,
    }
    assert isinstance(body["totals"]["energyWh"], int)
    # AND the session's identity, token, meter marks and end
    expected = {
        "state": "Ended",
        "stationId": "CP-16",
        "siteId": "site-1",
        "evseId": 1,
        "connectorId": 1,
        "protocol": "ocpp1.6",
        "transactionId": str(sessions.tx_a),
        "ocpp16TransactionId": sessions.tx_a,
        "idToken": "TAG-1",
        "tokenType": None,
        "groupId": "fleet",
        "authorizationStatus": "Accepted",
        "startedAt": wire(0),
        "stoppedAt": wire(60),
        "meterStartWh": 1000,
        "meterStopWh": 8400,
        "energyWh": 7400,
        "stopReason": "EVDisconnected",
        "stoppedBy": None,
        "remoteStartId": None,
        "anomalies": [],
        "anomalyCount": 0,
        "closedByCleanup": False,
        "revision": 1,
    }
    assert {k: body[k] for k in expected} == expected


def test_api_session_detail_of_an_active_201_session_has_live_totals(
    sessions: Sessions,
) -> None:
    # WHEN the operator reads session B while it charges
    status, _, body = call_api("GET", f"/v1/sessions/{sessions.b}")
    # THEN the live totals come from its newest meter values (kW normalised to W)
    assert status == 200
    assert body["totals"] == {
        "energyWh": 2000,
        "powerW": 11500,
        "soc": 57.5,
        "durationS": 600,
        "lastMeterAt": wire(40),
        "lastMeterWh": 2500,
    }
    assert body["energyWh"] == 2000
    # AND the 2.0.1 facts: station's transaction id, EVSE 2, token type, remote start, state
    assert body["state"] == "Active"
    assert (body["transactionId"], body["ocpp16TransactionId"]) == ("TX-B", None)
    assert (body["evseId"], body["connectorId"]) == (2, 1)
    assert (body["idToken"], body["tokenType"], body["groupId"]) == (
        "TAG-2",
        "ISO14443",
        "residents",
    )
    assert body["remoteStartId"] == 7
    assert body["chargingState"] == "Charging"
    assert body["meterStartWh"] == 500
    assert body["stoppedAt"] is None
    assert body["stopReason"] is None


def test_api_session_detail_shows_anomalies(sessions: Sessions) -> None:
    # GIVEN session C received a meter value in a wrong unit and one from 1970
    bad = [
        {"timestamp": wire(91), "sampledValue": [{"value": "5", "unit": "A"}]},
        {"timestamp": "1970-01-01T00:00:00Z", "sampledValue": [{"value": "9"}]},
    ]
    tx_c = call_api("GET", f"/v1/sessions/{sessions.c}")[2]["ocpp16TransactionId"]
    frame = {"connectorId": 1, "transactionId": tx_c, "meterValue": bad}
    assert send("c16", [2, "c-m1", "MeterValues", frame]) == [3, "c-m1", {}]
    # WHEN the operator reads it
    _, _, body = call_api("GET", f"/v1/sessions/{sessions.c}")
    # THEN each anomaly has its kind, time and detail, and they are counted
    assert [a["kind"] for a in body["anomalies"]] == ["BadUnit", "PastTimestamp"]
    assert all(a["at"] and a["detail"] for a in body["anomalies"])
    assert body["anomalyCount"] == 2
    _, _, listed = call_api("GET", "/v1/sessions", query={"stationId": "CP-16", "limit": "1"})
    assert listed["items"][0]["anomalyCount"] == 2


def test_api_session_meter_values_oldest_first_in_base_units(sessions: Sessions) -> None:
    # WHEN the operator reads session A's meter values in one page
    status, _, body = call_api("GET", f"/v1/sessions/{sessions.a}/meter-values")
    # THEN every reading comes, oldest first, normalised to base units
    assert status == 200
    assert body["nextCursor"] is None
    assert [r["timestamp"] for r in body["items"]] == [wire(0), wire(15), wire(30), wire(60)]
    assert body["items"][0]["samples"] == [
        {
            "measurand": "Energy.Active.Import.Register",
            "phase": None,
            "value": 1000,
            "unit": "Wh",
            "context": None,
        }
    ]
    periodic = {(s["measurand"], s["phase"]): s for s in body["items"][1]["samples"]}
    assert periodic[("Energy.Active.Import.Register", None)]["value"] == 4700
    assert periodic[("Power.Active.Import", None)] == {
        "measurand": "Power.Active.Import",
        "phase": None,
        "value": 7400,
        "unit": "W",
        "context": None,
    }
    assert periodic[("Current.Import", "L2")]["value"] == 10.7
    assert periodic[("Current.Import", "L2")]["unit"] == "A"
    assert periodic[("Voltage", "L1-N")]["unit"] == "V"
    assert periodic[("SoC", None)] == {
        "measurand": "SoC",
        "phase": None,
        "value": 42,
        "unit": "Percent",
        "context": "Sample.Periodic",
    }


def test_api_session_meter_values_page_by_message(sessions: Sessions) -> None:
    # WHEN the operator pages session B's meter values one stored message at a time
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(10):
        query = {"limit": "1"} | ({"cursor": cursor} if cursor else {})
        status, _, body = call_api("GET", f"/v1/sessions/{sessions.b}/meter-values", query=query)
        assert status == 200
        pages.append([r["timestamp"] for r in body["items"]])
        cursor = body["nextCursor"]
        if cursor is None:
            break
    # THEN each message's readings come once, in seqNo order
    assert [p for p in pages if p] == [[wire(30)], [wire(40)]]
    # AND a cursor of one session is refused for another
    _, _, first = call_api("GET", f"/v1/sessions/{sessions.b}/meter-values", query={"limit": "1"})
    status, _, problem = call_api(
        "GET",
        f"/v1/sessions/{sessions.a}/meter-values",
        query={"cursor": first["nextCursor"]},
    )
    assert (status, problem["type"]) == (400, "/problems/invalid-cursor")


def test_api_tokens_create_get_list_and_conflict(sessions: Sessions) -> None:
    # WHEN the operator creates a token
    body = {
        "idToken": "Card-9",
        "type": "ISO14443",
        "groupId": "fleet",
        "expiresAt": "2030-01-01T00:00:00Z",
        "parentIdToken": "FLEET-MASTER",
    }
    status, headers, created = call_api("POST", "/v1/tokens", body=body)
    # THEN 201 with the token (Accepted by default) and where it lives
    assert status == 201
    assert headers["location"] == "/v1/tokens/Card-9"
    assert created == {**body, "status": "Accepted"}
    # AND it reads back under any spelling of its value
    status, _, got = call_api("GET", "/v1/tokens/CARD-9")
    assert (status, got) == (200, created)
    # AND the same value in other case is a conflict, and changes nothing
    status, headers, problem = call_api(
        "POST", "/v1/tokens", body={"idToken": "card-9", "status": "Blocked"}
    )
    assert status == 409
    assert headers["content-type"] == "application/problem+json"
    assert problem["type"] == "/problems/token-exists"
    assert problem["status"] == 409
    assert call_api("GET", "/v1/tokens/card-9")[2]["status"] == "Accepted"
    # AND the list pages through the tenant's tokens by value
    _, _, first = call_api("GET", "/v1/tokens", query={"limit": "2"})
    _, _, second = call_api(
        "GET", "/v1/tokens", query={"limit": "2", "cursor": first["nextCursor"]}
    )
    assert [t["idToken"] for t in first["items"] + second["items"]] == ["Card-9", "TAG-1", "TAG-2"]
    assert first["items"][1] == {
        "idToken": "TAG-1",
        "type": None,
        "status": "Accepted",
        "expiresAt": None,
        "groupId": "fleet",
        "parentIdToken": None,
    }


def test_api_tokens_patch_merges_and_null_clears(sessions: Sessions) -> None:
    # GIVEN a token with an expiry, a type and a parent
    call_api(
        "POST",
        "/v1/tokens",
        body={
            "idToken": "CARD-7",
            "type": "ISO14443",
            "expiresAt": "2030-01-01T00:00:00+02:00",
            "groupId": "fleet",
            "parentIdToken": "P-1",
        },
    )
    # WHEN the operator blocks it and clears its expiry and parent
    status, _, patched = call_api(
        "PATCH",
        "/v1/tokens/card-7",
        body={"status": "Blocked", "expiresAt": None, "parentIdToken": None},
    )
    # THEN those change, the rest stays, and the change is stored
    assert status == 200
    assert patched == {
        "idToken": "CARD-7",
        "type": "ISO14443",
        "status": "Blocked",
        "expiresAt": None,
        "groupId": "fleet",
        "parentIdToken": None,
    }
    assert call_api("GET", "/v1/tokens/CARD-7")[2] == patched
    # AND an empty patch changes nothing
    assert call_api("PATCH", "/v1/tokens/CARD-7", body={})[:3:2] == (200, patched)


def test_api_tokens_carry_an_etag_and_patches_honour_if_match(sessions: Sessions) -> None:
    # GIVEN a new token: created as version 1
    status, headers, _ = call_api("POST", "/v1/tokens", body={"idToken": "CARD-8"})
    assert (status, headers["etag"]) == (201, '"1"')
    # WHEN two clients read it and both change it with the ETag they read
    read_etag = call_api("GET", "/v1/tokens/card-8")[1]["etag"]
    first = call_api(
        "PATCH", "/v1/tokens/CARD-8", body={"groupId": "fleet"}, headers={"If-Match": read_etag}
    )
    second = call_api(
        "PATCH", "/v1/tokens/CARD-8", body={"status": "Blocked"}, headers={"If-Match": read_etag}
    )
    # THEN the first wins (version 2), the second gets 412 and changes nothing
    assert (first[0], first[1]["etag"], first[2]["groupId"]) == (200, '"2"', "fleet")
    assert (second[0], second[2]["type"]) == (412, "/problems/version-mismatch")
    status, headers, token = call_api("GET", "/v1/tokens/CARD-8")
    assert (headers["etag"], token["status"], token["groupId"]) == ('"2"', "Accepted", "fleet")
    # AND without If-Match the change applies over what is stored
    status, headers, token = call_api("PATCH", "/v1/tokens/CARD-8", body={"status": "Blocked"})
    assert (status, headers["etag"], token["status"]) == (200, '"3"', "Blocked")


def test_api_tokens_patch_takes_effect_at_the_station(
    sessions: Sessions, runtime: _runtime.Runtime
) -> None:
    # WHEN the operator blocks TAG-1
    status, _, _ = call_api("PATCH", "/v1/tokens/TAG-1", body={"status": "Blocked"})
    assert status == 200
    # THEN the next Authorize of it at a station is answered Blocked
    reply = send("c16", [2, "auth-1", "Authorize", {"idTag": "TAG-1"}])
    assert reply[2]["idTagInfo"]["status"] == "Blocked"


def test_api_tokens_unknown_is_404_problem(sessions: Sessions) -> None:
    for method, body in (("GET", None), ("PATCH", {"status": "Blocked"})):
        status, headers, problem = call_api(method, "/v1/tokens/NO-SUCH", body=body)
        assert status == 404
        assert headers["content-type"] == "application/problem+json"
        assert problem["type"] == "/problems/token-not-found"
        assert "NO-SUCH" not in problem.get("detail", "")
    # AND a PATCH of an unknown token does not create it
    assert call_api("GET", "/v1/tokens/NO-SUCH")[0] == 404


def test_api_other_tenant_gets_404_and_never_data(sessions: Sessions) -> None:
    # WHEN a user of another tenant asks for this tenant's session, meter values or token
    for method, path, body in (
        ("GET", f"/v1/sessions/{sessions.a}", None),
        ("GET", f"/v1/sessions/{sessions.b}/meter-values", None),
        ("GET", "/v1/tokens/TAG-1", None),
        ("PATCH", "/v1/tokens/TAG-1", {"status": "Blocked"}),
    ):
        status, headers, problem = call_api(method, path, claims=OTHER, body=body)
        # THEN it is as absent as one that does not exist
        assert status == 404, path
        assert headers["content-type"] == "application/problem+json"
        assert set(problem) <= {"type", "title", "status", "detail", "instance"}
    # AND its lists hold only its own sessions and tokens, whatever the filter
    assert ids(claims=OTHER) == [sessions.x]
    assert ids({"stationId": "CP-16"}, claims=OTHER) == []
    assert ids({"idToken": "TAG-1"}, claims=OTHER) == []
    _, _, tokens = call_api("GET", "/v1/tokens", claims=OTHER)
    assert [t["idToken"] for t in tokens["items"]] == ["TAG-X"]
    # AND it can create a token of the same value in its own tenant only
    status, _, _ = call_api("POST", "/v1/tokens", claims=OTHER, body={"idToken": "TAG-1"})
    assert status == 201
    mine = call_api("GET", "/v1/tokens/TAG-1")[2]
    assert (mine["status"], mine["groupId"]) == ("Accepted", "fleet")
    # AND a cursor handed to this tenant is refused to the other one
    _, _, page = call_api("GET", "/v1/sessions", query={"limit": "1"})
    status, _, problem = call_api(
        "GET", "/v1/sessions", query={"cursor": page["nextCursor"]}, claims=OTHER
    )
    assert (status, problem["type"]) == (400, "/problems/invalid-cursor")


# (method, path, query, body) -> (status, problem type). Schema failures of parameters and
# bodies are 400 invalid-request, as for every other endpoint of the API.
BadRequest = tuple[str, str, dict[str, str] | None, Any, int, str]


@pytest.mark.parametrize(
    "case",
    [
        ("GET", "/v1/sessions", {"cursor": "garbage"}, None, 400, "invalid-cursor"),
        ("GET", "/v1/sessions", {"limit": "0"}, None, 400, "invalid-request"),
        ("GET", "/v1/sessions", {"limit": "101"}, None, 400, "invalid-request"),
        ("GET", "/v1/sessions", {"startedFrom": "yesterday"}, None, 400, "invalid-request"),
        (
            "GET",
            "/v1/sessions",
            {"startedTo": "2026-01-01T00:00:00"},  # RFC 3339 needs the offset
            None,
            400,
            "invalid-request",
        ),
        ("GET", "/v1/sessions", {"state": "Paused"}, None, 400, "invalid-request"),
        ("GET", "/v1/sessions", {"idToken": "X" * 37}, None, 400, "invalid-request"),
        ("GET", "/v1/sessions/nosuchsession", None, None, 404, "session-not-found"),
        ("GET", "/v1/sessions/bad!id", None, None, 400, "invalid-request"),
        ("GET", "/v1/sessions/nosuchsession/meter-values", None, None, 404, "session-not-found"),
        ("GET", "/v1/tokens", {"cursor": "garbage"}, None, 400, "invalid-cursor"),
        ("GET", "/v1/tokens", {"limit": "0"}, None, 400, "invalid-request"),
        ("GET", "/v1/tokens/" + "X" * 37, None, None, 400, "invalid-request"),
        ("POST", "/v1/tokens", None, {"idToken": "X" * 37}, 400, "invalid-request"),
        ("POST", "/v1/tokens", None, {"idToken": ""}, 400, "invalid-request"),
        ("POST", "/v1/tokens", None, {"idToken": "A/B"}, 400, "invalid-request"),
        ("POST", "/v1/tokens", None, {"type": "ISO14443"}, 400, "invalid-request"),
        ("POST", "/v1/tokens", None, {"idToken": "T", "status": "Weird"}, 400, "invalid-request"),
        (
            "POST",
            "/v1/tokens",
            None,
            {"idToken": "T", "expiresAt": "2030-01-01T00:00:00"},
            400,
            "invalid-request",
        ),
        ("POST", "/v1/tokens", None, {"idToken": "T", "colour": "red"}, 400, "invalid-request"),
        ("PATCH", "/v1/tokens/TAG-1", None, {"status": None}, 400, "invalid-request"),
        ("PATCH", "/v1/tokens/TAG-1", None, {"idToken": "TAG-3"}, 400, "invalid-request"),
        ("PATCH", "/v1/tokens/TAG-1", None, {"groupId": "a b"}, 400, "invalid-request"),
    ],
)
def test_api_sessions_and_tokens_bad_input_gets_problem_details(
    tokens_only: None, case: BadRequest
) -> None:
    method, path, query, body, status, problem = case
    # WHEN the request is wrong
    got, headers, payload = call_api(method, path, query=query, body=body)
    # THEN a specific problem
    assert got == status, payload
    assert headers["content-type"] == "application/problem+json"
    assert payload["type"] == f"/problems/{problem}"
    assert payload["status"] == status
    # AND a refused PATCH changed nothing
    token = call_api("GET", "/v1/tokens/TAG-1")[2]
    assert (token["status"], token["groupId"]) == ("Accepted", "fleet")


def test_api_sessions_of_a_site_restricted_user_stay_within_their_sites(
    sessions: Sessions,
) -> None:
    # GIVEN a viewer limited to site-1 (A and C) and one limited to both sites
    site_1 = {**CLAIMS, "role": "viewer", "sites": ["site-1"]}
    both = {**CLAIMS, "role": "viewer", "sites": ["site-1", "site-2"]}
    # WHEN they list, read sessions and their meter values
    # THEN the one-site user sees that site's sessions without naming it
    assert ids(claims=site_1) == [sessions.c, sessions.a]
    assert ids({"stationId": "CP-16"}, claims=site_1) == [sessions.c, sessions.a]
    assert call_api("GET", f"/v1/sessions/{sessions.a}", claims=site_1)[0] == 200
    assert call_api("GET", f"/v1/sessions/{sessions.a}/meter-values", claims=site_1)[0] == 200
    # AND a session, station or site beyond their reach is absent or refused, never shown
    for path in (f"/v1/sessions/{sessions.b}", f"/v1/sessions/{sessions.b}/meter-values"):
        status, _, body = call_api("GET", path, claims=site_1)
        assert (status, body["type"]) == (404, "/problems/session-not-found")
    status, _, body = call_api("GET", "/v1/sessions", query={"siteId": "site-2"}, claims=site_1)
    assert (status, body["type"]) == (403, "/problems/forbidden")
    status, _, body = call_api("GET", "/v1/sessions", query={"stationId": "CP-201"}, claims=site_1)
    assert (status, body["type"]) == (404, "/problems/station-not-found")
    # AND a user of several sites lists one site at a time
    status, _, body = call_api("GET", "/v1/sessions", claims=both)
    assert status == 403
    assert "one site at a time" in body["detail"]
    assert ids({"siteId": "site-2"}, claims=both) == [sessions.b]
