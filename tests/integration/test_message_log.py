"""The message log on moto: frames of traced stations only, short-lived, redacted, scoped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from tests.integration.conftest import Ctx, connect_event, message_event, seed_station
from tests.integration.test_api_audit import ADMIN, OTHER_ADMIN, VIEWER, audit, call

from csms.adapters.apigw import ApiGwConnectionSender
from csms.adapters.dynamo_frames import DynamoFrameLog, frames_pk
from csms.handlers import _runtime, ws_connect, ws_message
from csms.services.message_log import FrameQuery
from csms_local import emulation

TECHNICIAN = {"sub": "tech-1", "tenant_id": "default", "role": "technician"}
PASSWORD = "Traced-Station-Pass-01"
BOOT = [
    2,
    "boot-1",
    "BootNotification",
    {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"},
]


def send(connection_id: str, frame: list[Any] | str) -> dict[str, Any]:
    body = frame if isinstance(frame, str) else json.dumps(frame)
    return ws_message.lambda_handler(message_event(connection_id, body), Ctx())


def frame_items(resources: emulation.EmulatedResources, station_id: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(resources.table_name)
    return [i for i in table.scan()["Items"] if i["PK"] == frames_pk(station_id)]


def messages(station_id: str, claims: dict[str, Any] = ADMIN, **query: str) -> list[Any]:
    status, _, body = call("GET", f"/v1/stations/{station_id}/messages", claims=claims, query=query)
    assert status == 200, body
    return list(body["items"])


@pytest.fixture
def registered(runtime: _runtime.Runtime) -> str:
    """CP-NEW registered through the API (traced for its first day), connected and booted."""
    seed_station(runtime, "CP-SEEDED")  # also creates site-1
    _runtime.reset()
    body = {"id": "CP-NEW", "siteId": "site-1", "password": PASSWORD}
    status, _, answer = call("POST", "/v1/stations", body=body)
    assert status == 201, answer
    assert answer["traceUntil"] is not None
    result = ws_connect.lambda_handler(connect_event("CP-NEW", "c-new", password=PASSWORD), Ctx())
    assert result["statusCode"] == 200
    send("c-new", BOOT)
    return "CP-NEW"


def test_message_log_keeps_a_new_stations_frames_and_replies(
    registered: str, aws: emulation.EmulatedResources
) -> None:
    # GIVEN a newly registered station sent a BootNotification and a Heartbeat
    send("c-new", [2, "hb-1", "Heartbeat", {}])
    # WHEN a technician reads its message log
    items = messages(registered, TECHNICIAN)
    # THEN its frames and the CSMS's replies are there, newest first, each kept to expire
    assert [(i["direction"], i["messageType"], i["action"], i["uniqueId"]) for i in items] == [
        ("CsmsToStation", 3, "Heartbeat", "hb-1"),
        ("StationToCsms", 2, "Heartbeat", "hb-1"),
        ("CsmsToStation", 3, "BootNotification", "boot-1"),
        ("StationToCsms", 2, "BootNotification", "boot-1"),
    ]
    assert json.loads(items[3]["frame"]) == BOOT
    stored = frame_items(aws, registered)
    assert len(stored) == 4
    for item in stored:
        at = datetime.fromisoformat(str(item["at"]).replace("Z", "+00:00"))
        assert int(item["expires_at"]) == int((at + timedelta(hours=24)).timestamp())
        assert item["tenant_id"] == "default"
    # AND the filters pick by direction and action
    inbound = messages(registered, direction="StationToCsms")
    assert [i["uniqueId"] for i in inbound] == ["hb-1", "boot-1"]
    assert [i["direction"] for i in messages(registered, action="BootNotification")] == [
        "CsmsToStation",
        "StationToCsms",
    ]


def test_message_log_costs_nothing_for_untraced_stations(
    runtime: _runtime.Runtime, aws: emulation.EmulatedResources
) -> None:
    # GIVEN a station loaded from a seed (not traced), connected and talking
    seed_station(runtime, "CP-QUIET")
    ws_connect.lambda_handler(connect_event("CP-QUIET", "c-quiet"), Ctx())
    send("c-quiet", BOOT)
    send("c-quiet", [2, "hb", "Heartbeat", {}])
    _runtime.reset()
    # THEN nothing was written to its message log
    assert frame_items(aws, "CP-QUIET") == []
    assert messages("CP-QUIET") == []


def test_message_log_redacts_and_truncates_frames(registered: str) -> None:
    # GIVEN a traced station sends a frame with a password and an id token, and a huge one
    secret = {"vendorId": "V", "data": {"user": "x", "password": "leak-me-not"}}
    send("c-new", [2, "dt-1", "DataTransfer", secret])
    send(
        "c-new",
        [2, "au-1", "Authorize", {"idToken": {"idToken": "CARD-998877", "type": "ISO14443"}}],
    )
    send("c-new", [2, "dt-2", "DataTransfer", {"vendorId": "V", "data": "x" * 10_000}])
    # WHEN the log is read
    items = {(i["uniqueId"], i["direction"]): i for i in messages(registered, limit="20")}
    # THEN secrets are gone, id tokens masked, long frames cut at 4 KB
    assert "leak-me-not" not in items[("dt-1", "StationToCsms")]["frame"]
    authorize = items[("au-1", "StationToCsms")]["frame"]
    assert "CARD-998877" not in authorize
    assert "*******8877" in authorize
    big = items[("dt-2", "StationToCsms")]
    assert big["truncated"] is True
    assert len(big["frame"].encode()) <= 4096
    assert big["size"] > 10_000


def test_message_log_pages_with_a_cursor(registered: str) -> None:
    for n in range(3):
        send("c-new", [2, f"hb-{n}", "Heartbeat", {}])
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        status, _, body = call("GET", f"/v1/stations/{registered}/messages", query=query)
        assert status == 200
        seen += [f"{i['uniqueId']}/{i['direction']}" for i in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == 8 == len(set(seen))
    status, _, problem = call(
        "GET", f"/v1/stations/{registered}/messages", query={"cursor": "bogus"}
    )
    assert (status, problem["type"]) == (400, "/problems/invalid-cursor")


def test_message_log_leaves_out_expired_frames(registered: str) -> None:
    # GIVEN the frames of a traced station
    log = DynamoFrameLog(timedelta(hours=24))
    now = datetime.now(UTC)
    # WHEN the log is read as it will be in 23 and in 25 hours (DynamoDB deletes late)
    soon = log.list(registered, "default", FrameQuery(), now=now + timedelta(hours=23), limit=10)
    later = log.list(registered, "default", FrameQuery(), now=now + timedelta(hours=25), limit=10)
    # THEN the frames are there until they expire, and gone after
    assert len(soon.items) == 2
    assert later.items == []


def test_message_log_is_scoped_and_needs_the_trace_permission(registered: str) -> None:
    # WHEN another tenant or a viewer asks
    status, _, body = call("GET", f"/v1/stations/{registered}/messages", claims=OTHER_ADMIN)
    assert (status, body["type"]) == (404, "/problems/station-not-found")
    status, _, body = call("GET", f"/v1/stations/{registered}/messages", claims=VIEWER)
    assert status == 403
    # AND a user restricted to other sites
    elsewhere = {**TECHNICIAN, "sites": ["site-9"]}
    status, _, body = call("GET", f"/v1/stations/{registered}/messages", claims=elsewhere)
    assert status == 404


def test_trace_switches_logging_on_and_off_and_is_audited(
    runtime: _runtime.Runtime, aws: emulation.EmulatedResources
) -> None:
    # GIVEN a seeded (untraced) station
    seed_station(runtime, "CP-T")
    _runtime.reset()
    # WHEN a technician traces it for 30 minutes
    before = datetime.now(UTC)
    status, _, body = call(
        "PUT", "/v1/stations/CP-T/trace", claims=TECHNICIAN, body={"minutes": 30}
    )
    assert status == 200, body
    until = datetime.fromisoformat(body["traceUntil"])
    assert before + timedelta(minutes=29) < until <= datetime.now(UTC) + timedelta(minutes=30)
    # THEN its next connection's frames are kept
    ws_connect.lambda_handler(connect_event("CP-T", "c-t1"), Ctx())
    send("c-t1", [2, "hb-1", "Heartbeat", {}])
    assert [i["uniqueId"] for i in messages("CP-T")] == ["hb-1", "hb-1"]
    # WHEN tracing is stopped
    assert call("DELETE", "/v1/stations/CP-T/trace", claims=TECHNICIAN)[0] == 204
    # THEN a new connection's frames are not kept
    ws_connect.lambda_handler(connect_event("CP-T", "c-t2"), Ctx())
    send("c-t2", [2, "hb-2", "Heartbeat", {}])
    assert [i["uniqueId"] for i in messages("CP-T")] == ["hb-1", "hb-1"]
    # AND both switches are in the audit log with before and after
    entries = audit(resourceKind="station", resourceId="CP-T")
    assert [e["action"] for e in entries] == ["station.untrace", "station.trace"]
    assert entries[0]["after"] == {"traceUntil": None}
    assert entries[1]["before"] == {"traceUntil": None}
    assert entries[1]["actor"]["subject"] == "tech-1"


@pytest.mark.parametrize("minutes", [0, 1441, "ten"])
def test_trace_refuses_windows_out_of_range(
    runtime: _runtime.Runtime, aws: emulation.EmulatedResources, minutes: object
) -> None:
    seed_station(runtime, "CP-T")
    _runtime.reset()
    status, _, body = call("PUT", "/v1/stations/CP-T/trace", body={"minutes": minutes})
    assert (status, body["type"]) == (400, "/problems/invalid-request")


def test_trace_of_another_tenants_station_is_404(
    runtime: _runtime.Runtime, aws: emulation.EmulatedResources
) -> None:
    seed_station(runtime, "CP-T")
    _runtime.reset()
    for method, body in (("PUT", {"minutes": 5}), ("DELETE", None)):
        status, _, problem = call(method, "/v1/stations/CP-T/trace", claims=OTHER_ADMIN, body=body)
        assert (status, problem["type"]) == (404, "/problems/station-not-found")


def test_message_log_keeps_calls_the_csms_sends_to_traced_stations(
    registered: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the connection accepts what is posted to it
    posted: list[str] = []
    monkeypatch.setattr(
        ApiGwConnectionSender, "send", lambda self, cid, frame: posted.append(frame)
    )
    monkeypatch.setattr(ApiGwConnectionSender, "last_active_at", lambda self, cid: None)
    monkeypatch.setenv("CSMS_COMMAND_WAIT_S", "0")  # answer at once (202): nobody replies
    _runtime.reset()
    # WHEN the operator resets the traced station
    status, _, body = call(
        "POST",
        f"/v1/stations/{registered}/commands",
        body={"action": "Reset", "kind": "Soft"},
    )
    assert status in (200, 202), body
    # THEN the CALL it sent is in the station's message log
    [sent] = posted
    outbound = [
        i
        for i in messages(registered)
        if i["direction"] == "CsmsToStation" and i["messageType"] == 2
    ]
    assert [i["frame"] for i in outbound] == [json.dumps(json.loads(sent), separators=(",", ":"))]
    assert outbound[0]["action"] == "Reset"
