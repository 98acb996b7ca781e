"""Commands through the HTTP API handler on moto: send, wait, queue, history, cancel, audit."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from tests.integration.conftest import Ctx, connect_event, message_event, seed_station
from tests.integration.test_api import CLAIMS, call_api

from csms.adapters.apigw import ApiGwConnectionSender
from csms.handlers import _runtime, ws_connect, ws_disconnect, ws_message

TECHNICIAN = {**CLAIMS, "role": "technician"}
VIEWER = {**CLAIMS, "role": "viewer"}
OTHER_TENANT = {**CLAIMS, "tenant_id": "other"}
RESET = {"action": "Reset", "kind": "Hard"}
BOOT = [
    2,
    "boot-1",
    "BootNotification",
    {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"},
]


@pytest.fixture
def frames(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any]]]:
    """Frames the CSMS posts to connections (moto's management API takes them)."""
    monkeypatch.setenv(
        "CSMS_WS_MANAGEMENT_ENDPOINT", "https://abc123.execute-api.us-east-1.amazonaws.com/prod"
    )
    sent: list[tuple[str, list[Any]]] = []
    original = ApiGwConnectionSender.send

    def capture(self: ApiGwConnectionSender, connection_id: str, frame: str) -> None:
        original(self, connection_id, frame)
        sent.append((connection_id, json.loads(frame)))

    monkeypatch.setattr(ApiGwConnectionSender, "send", capture)
    return sent


@pytest.fixture
def station(aws: Any, frames: list[tuple[str, list[Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    """CP-1 (2.0.1, tenant default) connected and booted; CP-2 of another tenant; no waiting."""
    monkeypatch.setenv("CSMS_COMMAND_WAIT_S", "0")
    _runtime.reset()
    runtime = _runtime.gateway()
    seed_station(runtime, "CP-1", protocol="ocpp2.0.1")
    seed_station(runtime, "CP-2", tenant="other")
    ws_connect.lambda_handler(connect_event("CP-1"), Ctx())
    _station_says("conn-1", BOOT)


def _station_says(connection_id: str, frame: list[Any]) -> Any:
    result = ws_message.lambda_handler(message_event(connection_id, json.dumps(frame)), Ctx())
    return json.loads(result["body"]) if result.get("body") else None


def _answering(
    frames: list[tuple[str, list[Any]]], payload: dict[str, Any], count: int = 1
) -> threading.Thread:
    """A station that answers the next `count` CALLs the CSMS sends it."""

    def run() -> None:
        answered = 0
        deadline = time.monotonic() + 10
        while answered < count and time.monotonic() < deadline:
            if len(frames) > answered:
                connection_id, call = frames[answered]
                _station_says(connection_id, [3, call[1], payload])
                answered += 1
            time.sleep(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_api_command_answered_within_the_wait_is_200_with_the_answer(
    station: None, frames: list[tuple[str, list[Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an API that waits up to 5 s, and a station that answers Rejected
    monkeypatch.setenv("CSMS_COMMAND_WAIT_S", "5")
    _runtime.reset()
    answering = _answering(frames, {"status": "Rejected"})
    # WHEN the operator resets the station
    status, headers, body = call_api("POST", "/v1/stations/CP-1/commands", body=RESET)
    answering.join()
    # THEN 200: the station's answer passed through (a rejection is an answer, not an error)
    assert status == 200, body
    assert (body["state"], body["status"], body["response"]) == (
        "Answered",
        "Rejected",
        {"status": "Rejected"},
    )
    assert (body["action"], body["ocppAction"], body["protocol"]) == ("Reset", "Reset", "ocpp2.0.1")
    assert body["request"] == {"type": "Immediate"}
    assert headers["location"] == f"/v1/stations/CP-1/commands/{body['id']}"
    # AND the command id was the CALL's unique id
    assert frames == [("conn-1", [2, body["id"], "Reset", {"type": "Immediate"}])]


def test_api_command_not_answered_yet_is_202_then_polled(
    station: None, frames: list[tuple[str, list[Any]]]
) -> None:
    # GIVEN an online station
    # WHEN the operator sends a trigger and the API does not wait
    command = {"action": "TriggerMessage", "message": "StatusNotification", "evseId": 1}
    status, headers, body = call_api("POST", "/v1/stations/CP-1/commands", body=command)
    # THEN 202 Pending, with where to poll
    assert (status, body["state"]) == (202, "Pending")
    assert body["sentAt"] is not None
    # WHEN the station answers and the operator polls
    _station_says("conn-1", [3, body["id"], {"status": "Accepted"}])
    status, _, polled = call_api("GET", headers["location"])
    # THEN the answer is there
    assert status == 200
    assert (polled["state"], polled["status"]) == ("Answered", "Accepted")


def test_api_command_to_offline_station_is_queued_and_delivered_on_reconnect(
    station: None, frames: list[tuple[str, list[Any]]]
) -> None:
    # GIVEN CP-1 went offline
    ws_disconnect.lambda_handler({"requestContext": {"connectionId": "conn-1"}}, Ctx())
    # WHEN the operator resets it with a one-hour time-to-live
    status, _, body = call_api(
        "POST", "/v1/stations/CP-1/commands", query={"ttl": "3600"}, body=RESET
    )
    # THEN 202 Queued until an hour from now; nothing was sent
    assert (status, body["state"], body["sentAt"]) == (202, "Queued", None)
    assert _seconds(body["queuedAt"], body["expiresAt"]) == 3600
    assert frames == []
    # WHEN it reconnects and sends its first message
    ws_connect.lambda_handler(connect_event("CP-1", "conn-2"), Ctx())
    _station_says("conn-2", BOOT)
    # THEN the reset went out on the new connection
    assert frames == [("conn-2", [2, body["id"], "Reset", {"type": "Immediate"}])]
    _, _, polled = call_api("GET", f"/v1/stations/CP-1/commands/{body['id']}")
    assert polled["state"] == "Pending"


def _seconds(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def test_api_commands_behind_an_outstanding_call_go_out_after_its_answer(
    station: None, frames: list[tuple[str, list[Any]]]
) -> None:
    # GIVEN an outstanding reset
    _, _, first = call_api("POST", "/v1/stations/CP-1/commands", body=RESET)
    # WHEN a trigger is sent while it waits
    _, _, second = call_api(
        "POST",
        "/v1/stations/CP-1/commands",
        body={"action": "TriggerMessage", "message": "Heartbeat"},
    )
    # THEN it is queued; once the station answers the reset, it goes out
    assert second["state"] == "Queued"
    _station_says("conn-1", [3, first["id"], {"status": "Accepted"}])
    assert [f[1][1] for f in frames] == [first["id"], second["id"]]


def test_api_command_the_version_cannot_carry_is_422_and_not_stored(
    aws: Any, frames: list[tuple[str, list[Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a connected 1.6 station
    monkeypatch.setenv("CSMS_COMMAND_WAIT_S", "0")
    _runtime.reset()
    seed_station(_runtime.gateway(), "CP-1", protocol="ocpp1.6")
    ws_connect.lambda_handler(connect_event("CP-1"), Ctx())
    # WHEN the operator resets a single EVSE (2.0.1 only)
    status, _, body = call_api(
        "POST", "/v1/stations/CP-1/commands", body={"action": "Reset", "evseId": 1}
    )
    # THEN 422 command-not-supported saying why, and the history stays empty
    assert (status, body["type"]) == (422, "/problems/command-not-supported")
    _, _, history = call_api("GET", "/v1/stations/CP-1/commands")
    assert history["items"] == []
    assert frames == []


@pytest.mark.parametrize(
    ("claims", "command", "status"),
    [
        (VIEWER, RESET, 403),
        (TECHNICIAN, {"action": "StartCharging", "idToken": "CARD-1"}, 403),
        (TECHNICIAN, RESET, 202),
        (CLAIMS, {"action": "StartCharging", "idToken": "CARD-1"}, 202),
        (OTHER_TENANT, RESET, 404),
        ({**CLAIMS, "sites": "site-9"}, RESET, 404),
    ],
    ids=["viewer", "technician-start", "technician-reset", "admin-start", "tenant", "sites"],
)
def test_api_command_permissions(
    station: None, claims: dict[str, Any], command: dict[str, Any], status: int
) -> None:
    # GIVEN an online station
    # WHEN a caller of this role, tenant or sites sends the command
    got, _, body = call_api("POST", "/v1/stations/CP-1/commands", claims=claims, body=command)
    # THEN it is allowed, forbidden, or the station is not found
    assert got == status, body


@pytest.mark.parametrize(
    ("query", "body"),
    [({"ttl": "0"}, RESET), ({"ttl": "604801"}, RESET), ({}, {"action": "Explode"})],
    ids=["ttl-0", "ttl-over-7-days", "unknown-action"],
)
def test_api_command_bad_input_is_400(
    station: None, query: dict[str, str], body: dict[str, Any]
) -> None:
    status, _, problem = call_api("POST", "/v1/stations/CP-1/commands", query=query, body=body)
    assert (status, problem["type"]) == (400, "/problems/invalid-request")


def test_api_command_history_newest_first_filtered_and_paged(
    station: None, frames: list[tuple[str, list[Any]]]
) -> None:
    # GIVEN an answered reset, then a queued trigger and a queued reset behind a pending one
    _, _, first = call_api("POST", "/v1/stations/CP-1/commands", body=RESET)
    _station_says("conn-1", [3, first["id"], {"status": "Accepted"}])
    commands = (
        {"action": "TriggerMessage", "message": "Heartbeat"},
        RESET,
        {"action": "ClearCache"},
    )
    ids = [first["id"]]
    ids += [call_api("POST", "/v1/stations/CP-1/commands", body=c)[2]["id"] for c in commands]
    # WHEN the history is read two at a time, then filtered
    _, _, page1 = call_api("GET", "/v1/stations/CP-1/commands", query={"limit": "2"})
    _, _, page2 = call_api(
        "GET",
        "/v1/stations/CP-1/commands",
        query={"limit": "2", "cursor": page1["nextCursor"]},
    )
    _, _, resets = call_api("GET", "/v1/stations/CP-1/commands", query={"action": "Reset"})
    _, _, queued = call_api("GET", "/v1/stations/CP-1/commands", query={"state": "Queued"})
    # THEN newest first, every command once; the filters keep what they name
    listed = [c["id"] for c in page1["items"] + page2["items"]]
    assert listed[:4] == ids[::-1]
    assert [c["id"] for c in resets["items"]] == [ids[2], ids[0]]
    assert [c["id"] for c in queued["items"]] == [ids[3], ids[2]]


def test_api_command_history_with_a_made_up_cursor_is_400(station: None) -> None:
    status, _, body = call_api(
        "GET", "/v1/stations/CP-1/commands", query={"cursor": "eyJQSyI6eyJTIjoieCJ9fQ"}
    )
    assert (status, body["type"]) == (400, "/problems/invalid-cursor")


@pytest.mark.parametrize(
    ("path", "claims"),
    [
        ("/v1/stations/CP-1/commands/NOPE", CLAIMS),
        ("/v1/stations/CP-2/commands", CLAIMS),
        ("/v1/stations/CP-1/commands", OTHER_TENANT),
    ],
    ids=["unknown-command", "foreign-station", "other-tenant"],
)
def test_api_command_reads_outside_reach_are_404(
    station: None, path: str, claims: dict[str, Any]
) -> None:
    status, _, body = call_api("GET", path, claims=claims)
    assert status == 404, body


def test_api_cancel_queued_command_then_again_is_409(
    station: None, frames: list[tuple[str, list[Any]]]
) -> None:
    # GIVEN a command queued behind an outstanding one
    call_api("POST", "/v1/stations/CP-1/commands", body=RESET)
    _, _, queued = call_api("POST", "/v1/stations/CP-1/commands", body={"action": "ClearCache"})
    path = f"/v1/stations/CP-1/commands/{queued['id']}"
    # WHEN a viewer, then a technician cancels it, then cancels it again
    viewer, _, _ = call_api("DELETE", path, claims=VIEWER)
    status, _, cancelled = call_api("DELETE", path, claims=TECHNICIAN)
    again, _, problem = call_api("DELETE", path, claims=TECHNICIAN)
    # THEN the viewer may not; the cancel holds; a second one conflicts
    assert viewer == 403
    assert (status, cancelled["state"]) == (200, "Cancelled")
    assert (again, problem["type"]) == (409, "/problems/command-in-use")
    # AND it never goes out
    assert len(frames) == 1


def test_api_commands_are_audited_with_their_outcome(
    station: None, frames: list[tuple[str, list[Any]]]
) -> None:
    # GIVEN a command sent and another cancelled
    _, _, sent = call_api("POST", "/v1/stations/CP-1/commands", body=RESET)
    _, _, queued = call_api("POST", "/v1/stations/CP-1/commands", body={"action": "ClearCache"})
    call_api("DELETE", f"/v1/stations/CP-1/commands/{queued['id']}")
    # WHEN the audit log is read
    status, _, audit = call_api("GET", "/v1/audit", query={"resourceKind": "command"})
    # THEN both are there with the request and what became of them
    assert status == 200, audit
    entries = {e["action"]: e for e in audit["items"]}
    assert set(entries) >= {"command.Reset", "command.cancel"}
    text = json.dumps(entries)
    assert sent["id"] in text
    assert "Cancelled" in text
