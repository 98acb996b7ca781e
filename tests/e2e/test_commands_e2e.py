"""Remote commands end to end: the HTTP API of `csms local` to simulated stations of both versions.

The stations are `csms_local.simulator`'s over real sockets; the commands go through the API as
an operator sends them, and what the stations answered (and did: a remote start charges) is read
back through the API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.e2e.conftest import LocalCsms, start_local

from csms_local.simulator import SimulatedStation, StationReport, run_station

SEED: dict[str, Any] = {
    "sites": [{"id": "site-1", "name": "Commands", "limitKw": 100}],
    "stations": [
        {"id": "CMD-16", "siteId": "site-1", "password": "cmd-password-16", "protocol": "ocpp1.6"},
        {
            "id": "CMD-201",
            "siteId": "site-1",
            "password": "cmd-password-201",
            "protocol": "ocpp2.0.1",
        },
        {
            "id": "CMD-OFF",
            "siteId": "site-1",
            "password": "cmd-password-off",
            "protocol": "ocpp2.0.1",
        },
    ],
    "tokens": [{"idToken": "TAG-1", "status": "Accepted"}],
}
STATIONS = {
    s["id"]: SimulatedStation(station_id=s["id"], password=s["password"], protocol=s["protocol"])
    for s in SEED["stations"]
}


@pytest.fixture(scope="module")
def csms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCsms]:
    local = start_local(tmp_path_factory.mktemp("commands"), seed_document=SEED)
    yield local
    local.stop()


async def _api(local: LocalCsms, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return await asyncio.to_thread(local.api, method, path, body)


async def _until(check: Callable[[], Any], within: float = 20.0, every: float = 0.2) -> Any:
    """Poll an async check until it returns something truthy."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(every)
    raise AssertionError("condition not met in time")


async def _online(local: LocalCsms, station_id: str) -> None:
    async def booted() -> bool:
        _, body = await _api(local, "GET", f"/v1/stations/{station_id}")
        return bool(body.get("online") and body.get("lastBoot"))

    await _until(booted)


async def _session(local: LocalCsms, station_id: str, state: str) -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        _, body = await _api(local, "GET", f"/v1/sessions?stationId={station_id}")
        return next((s for s in body["items"] if s["state"] == state), None)

    found: dict[str, Any] = await _until(find)
    return found


def _run(scenario: Callable[[], Any]) -> Any:
    return asyncio.run(asyncio.wait_for(scenario(), timeout=180))


@pytest.mark.parametrize("station_id", ["CMD-16", "CMD-201"], ids=["ocpp1.6", "ocpp2.0.1"])
def test_commands_of_both_versions_are_answered_through_the_api(
    csms: LocalCsms, station_id: str
) -> None:
    commands = f"/v1/stations/{station_id}/commands"
    station = STATIONS[station_id]

    async def scenario() -> tuple[dict[str, Any], StationReport]:
        stop = asyncio.Event()
        task = asyncio.create_task(run_station(csms.ws_url, station, stop=stop))
        await _online(csms, station_id)
        seen: dict[str, Any] = {}
        # Configuration: a write, then a read of the same setting.
        seen["set"] = await _api(
            csms,
            "POST",
            commands,
            {"action": "SetConfiguration", "setting": "HeartbeatInterval", "value": "120"},
        )
        seen["get"] = await _api(
            csms,
            "POST",
            commands,
            {"action": "GetConfiguration", "settings": ["HeartbeatInterval"]},
        )
        # A local list (the CSMS numbers it: the station's first), then its version.
        seen["list"] = await _api(
            csms,
            "POST",
            commands,
            {
                "action": "SendLocalList",
                "updateType": "Full",
                "entries": [{"idToken": "TAG-1", "status": "Accepted"}],
            },
        )
        seen["version"] = await _api(csms, "POST", commands, {"action": "GetLocalListVersion"})
        # A remote start really charges; a remote stop of that session ends it.
        seen["start"] = await _api(
            csms, "POST", commands, {"action": "StartCharging", "idToken": "TAG-1", "evseId": 1}
        )
        active = await _session(csms, station_id, "Active")
        seen["stop"] = await _api(
            csms, "POST", commands, {"action": "StopCharging", "sessionId": active["id"]}
        )
        seen["ended"] = await _session(csms, station_id, "Ended")
        # A firmware update reports its progress on the command.
        status, firmware = await _api(
            csms,
            "POST",
            commands,
            {
                "action": "UpdateFirmware",
                "location": "https://firmware.example/sim-2.0.bin",
                "retrieveAt": "2026-01-01T00:00:00Z",
            },
        )
        seen["firmware"] = (status, firmware)

        async def installed() -> dict[str, Any] | None:
            _, body = await _api(csms, "GET", f"{commands}/{firmware['id']}")
            return body if any(p["status"] == "Installed" for p in body["progress"]) else None

        seen["progress"] = await _until(installed)
        _, seen["history"] = await _api(csms, "GET", commands)
        stop.set()
        return seen, await task

    # WHEN the operator configures, sends a list, starts and stops charging and updates firmware
    seen, report = _run(scenario)
    # THEN every command was answered Accepted by the station, in its version
    for name in ("set", "list", "start", "stop"):
        status, body = seen[name]
        assert (status, body["state"], body["status"]) == (200, "Answered", "Accepted"), name
    status, got = seen["get"]
    assert (status, got["state"]) == (200, "Answered")
    assert "120" in str(got["response"])
    status, version = seen["version"]
    assert status == 200
    assert version["response"] in ({"listVersion": 1}, {"versionNumber": 1})
    # AND the remote start charged a session that the remote stop ended
    assert seen["ended"]["idToken"] == "TAG-1"
    # AND the firmware update's progress came back on the command
    assert seen["firmware"][0] == 200
    assert [p["status"] for p in seen["progress"]["progress"]][:1] == ["Downloading"]
    # AND the history lists them newest first
    actions = [c["action"] for c in seen["history"]["items"]]
    assert actions[0] == "UpdateFirmware"
    assert {"StartCharging", "StopCharging", "SendLocalList"} <= set(actions)
    assert report.error is None


def test_command_to_offline_station_is_delivered_on_connect_or_expires(csms: LocalCsms) -> None:
    commands = "/v1/stations/CMD-OFF/commands"

    async def scenario() -> tuple[dict[str, Any], StationReport]:
        seen: dict[str, Any] = {}
        # GIVEN the station is offline: one command may wait 10 minutes, another 1 second
        seen["queued"] = await _api(
            csms, "POST", commands, {"action": "TriggerMessage", "message": "StatusNotification"}
        )
        seen["short"] = await _api(
            csms, "POST", f"{commands}?ttl=1", {"action": "TriggerMessage", "message": "Heartbeat"}
        )
        # WHEN it connects
        stop = asyncio.Event()
        task = asyncio.create_task(run_station(csms.ws_url, STATIONS["CMD-OFF"], stop=stop))
        queued_id, short_id = seen["queued"][1]["id"], seen["short"][1]["id"]

        async def answered() -> dict[str, Any] | None:
            _, body = await _api(csms, "GET", f"{commands}/{queued_id}")
            return body if body["state"] == "Answered" else None

        seen["delivered"] = await _until(answered)
        _, seen["expired"] = await _api(csms, "GET", f"{commands}/{short_id}")
        await asyncio.sleep(1.0)
        stop.set()
        return seen, await task

    seen, report = _run(scenario)
    # THEN the first was still queued when the API stopped waiting for it; the second expired
    # while the API waited (an outcome: 200)
    assert (seen["queued"][0], seen["queued"][1]["state"]) == (202, "Queued")
    assert (seen["short"][0], seen["short"][1]["state"]) == (200, "Expired")
    # AND the one within its time-to-live went out on connect and was answered
    assert seen["delivered"]["status"] == "Accepted"
    assert seen["delivered"]["sentAt"] is not None
    # AND the one past its time-to-live is reported expired and never reached the station
    assert (seen["expired"]["state"], seen["expired"]["sentAt"]) == ("Expired", None)
    assert report.calls_received == ["TriggerMessage"]
