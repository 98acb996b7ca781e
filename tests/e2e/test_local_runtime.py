"""End to end: simulated chargers (the `ocpp` package) against `csms local` over real sockets."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import time
from pathlib import Path

import pytest
import websockets
from tests.e2e.conftest import REPO, LocalCsms, start_local
from websockets.exceptions import InvalidStatus

from csms_local.simulator import SimulatedStation, StationReport, run_station, simulate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

E2E_16 = SimulatedStation("E2E-16", "e2e-password-16", protocol="ocpp1.6", connectors=2)
E2E_201 = SimulatedStation("E2E-201", "e2e-password-201", protocol="ocpp2.0.1", connectors=2)
E2E_ANY = SimulatedStation("E2E-ANY", "e2e-password-any", connectors=1)


def _run(
    local: LocalCsms, stations: list[SimulatedStation], duration: float
) -> list[StationReport]:
    return asyncio.run(simulate(local.ws_url, stations, duration=duration, heartbeat_interval=0.3))


def test_simulated_stations_of_both_versions_boot_report_and_heartbeat(
    local_csms: LocalCsms,
) -> None:
    # WHEN a 1.6 station, a 2.0.1 station and an unpinned one run for a few seconds
    reports = {r.station_id: r for r in _run(local_csms, [E2E_16, E2E_201, E2E_ANY], 6.0)}
    # THEN each negotiated its protocol (the unpinned one gets the server's preference),
    # was accepted at boot, reported every connector and sent heartbeats
    assert reports["E2E-16"].protocol == "ocpp1.6"
    assert reports["E2E-201"].protocol == "ocpp2.0.1"
    assert reports["E2E-ANY"].protocol == "ocpp2.0.1"
    for report in reports.values():
        assert report.boot_status == "Accepted", report
        assert report.heartbeats_sent >= 1, report
        assert report.error is None, report
    assert reports["E2E-16"].status_notifications_sent == 3  # connector 0 too (1.6)
    assert reports["E2E-201"].status_notifications_sent == 2
    # AND the operator API shows what they said, and that they went offline afterwards (the
    # gateway hands each close to $disconnect on its own, so that may take a moment)
    deadline = time.monotonic() + 10
    while True:
        status, body = local_csms.api("GET", "/v1/stations/E2E-16")
        assert status == 200
        if body["online"] is False or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert body["protocol"] == "ocpp1.6"
    assert body["online"] is False
    assert body["lastBoot"]["vendor"] == "OpenCSMS"
    assert [(c["evseId"], c["status"]) for c in body["connectors"]] == [
        (0, "Available"),
        (1, "Available"),
        (2, "Available"),
    ]
    deadline = time.monotonic() + 10
    while True:
        status, log = local_csms.api("GET", "/v1/stations/E2E-201/connection-log")
        outcomes = [e["outcome"] for e in log["items"]][:2]
        if outcomes[:1] == ["Disconnected"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert outcomes == ["Disconnected", "Connected"]


def test_refused_connects_get_401_or_400_and_are_logged(local_csms: LocalCsms) -> None:
    async def attempt(station_id: str, password: str, protocol: str) -> int:
        auth = base64.b64encode(f"{station_id}:{password}".encode()).decode()
        try:
            async with websockets.connect(
                f"{local_csms.ws_url}/{station_id}",
                subprotocols=[protocol],  # type: ignore[list-item]
                additional_headers={"Authorization": f"Basic {auth}"},
                open_timeout=30,
            ):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    async def attempts() -> list[int]:
        return [
            await attempt("E2E-16", "not-the-password", "ocpp1.6"),
            await attempt("E2E-UNKNOWN", "whatever-password", "ocpp1.6"),
            await attempt("E2E-16", "e2e-password-16", "ocpp2.0.1"),  # pinned to 1.6
        ]

    # WHEN a wrong password, an unknown station and an unacceptable subprotocol try to connect
    codes = asyncio.run(attempts())
    # THEN the upgrades are refused
    assert codes == [401, 401, 400]
    # AND the simulator reports a refusal without a traceback or a hot loop
    report = asyncio.run(
        run_station(
            local_csms.ws_url,
            SimulatedStation("E2E-16", "bad-password-1", protocol="ocpp1.6"),
            stop=asyncio.Event(),
            max_refusals=1,
        )
    )
    assert report.refused == 401
    # AND the operator sees the reasons in the station's connection log
    _, log = local_csms.api("GET", "/v1/stations/E2E-16/connection-log")
    reasons = [e["reason"] for e in log["items"] if e["outcome"] == "Refused"]
    assert "BadCredentials" in reasons
    assert "NoAcceptableSubprotocol" in reasons


@pytest.mark.parametrize("station", [E2E_16, E2E_201], ids=["ocpp1.6", "ocpp2.0.1"])
def test_trigger_message_and_reset_round_trip_through_the_api(
    local_csms: LocalCsms, station: SimulatedStation
) -> None:
    async def scenario() -> tuple[list[tuple[int, dict[str, object]]], StationReport]:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_station(local_csms.ws_url, station, stop=stop, heartbeat_interval=60)
        )
        results: list[tuple[int, dict[str, object]]] = []
        for _ in range(100):  # until the station is online
            _, body = await asyncio.to_thread(
                local_csms.api, "GET", f"/v1/stations/{station.station_id}"
            )
            if body.get("online") and body.get("lastBoot"):
                break
            await asyncio.sleep(0.2)
        path = f"/v1/stations/{station.station_id}/commands"
        for command in (
            {"action": "TriggerMessage", "message": "Heartbeat"},
            {"action": "Reset", "kind": "Soft"},
        ):
            # One after the other: the second may only go once the first was answered.
            results.append(await asyncio.to_thread(local_csms.api, "POST", path, command))  # noqa: PERF401
        await asyncio.sleep(3.0)  # the reset reboots the station: it reconnects and boots
        stop.set()
        return results, await task

    # WHEN the operator triggers a Heartbeat and then resets the station through the API
    results, report = asyncio.run(scenario())
    # THEN both CALLs reached the station in its version and its answers came back
    for status, body in results:
        assert status == 200, results
        assert body["state"] == "Answered"
        assert body["status"] == "Accepted"
    assert report.calls_received == ["TriggerMessage", "Reset"]
    assert report.connects >= 2  # rebooted after the reset


def test_stop_with_ctrl_c_is_clean_and_data_dir_survives_restart(tmp_path: Path) -> None:
    # GIVEN a local runtime with a data dir where a station booted
    first = start_local(tmp_path)
    [booted] = _run(first, [E2E_201], 6.0)
    assert booted.boot_status == "Accepted"
    # WHEN it is stopped with Ctrl-C
    code = first.stop()
    # THEN it exits cleanly
    assert code == 0, first.output.read_text()
    assert "CSMS local stopped." in first.output.read_text()
    # WHEN it starts again on the same data dir without a seed
    second = start_local(tmp_path, seed=False)
    try:
        # THEN the station and its boot data are still there, and it can connect again
        status, body = second.api("GET", "/v1/stations/E2E-201")
        assert status == 200
        assert body["lastBoot"]["model"] == "SimCharger"
        assert body["online"] is False
        [report] = _run(second, [E2E_201], 6.0)
        assert report.boot_status == "Accepted"
    finally:
        assert second.stop() == 0


def test_http_api_requires_the_local_token(local_csms: LocalCsms) -> None:
    # WHEN the API is called without, with a forged, and with a `csms token` token
    no_token = local_csms.api("GET", "/v1/stations", token="not-a-jwt")
    minted = subprocess.run(  # noqa: S603 - our own CLI
        [
            sys.executable,
            "-m",
            "csms_local.cli",
            "token",
            "--role",
            "admin",
            "--key-file",
            str(local_csms.key_file),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": f"{REPO / 'functions'}:{REPO / 'local'}", "PATH": "/usr/bin:/bin"},
    ).stdout.strip()
    ok = local_csms.api("GET", "/v1/stations", token=minted)
    # THEN only the real token works, and the refusal is a problem document
    assert no_token[0] == 401
    assert no_token[1]["status"] == 401
    assert ok[0] == 200
    assert {s["id"] for s in ok[1]["items"]} == {"E2E-16", "E2E-201", "E2E-ANY"}


def test_bad_seed_file_is_one_line_error(tmp_path: Path) -> None:
    # GIVEN a seed naming an unknown site
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"sites": [], "stations": [{"id": "X-1", "siteId": "nope", "password": "long-enough"}]}'
    )
    # WHEN csms local starts with it
    completed = subprocess.run(  # noqa: S603 - our own CLI
        [
            sys.executable,
            "-m",
            "csms_local.cli",
            "local",
            "--seed",
            str(bad),
            "--ws-port",
            "1",
            "--http-port",
            "2",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PYTHONPATH": f"{REPO / 'functions'}:{REPO / 'local'}", "PATH": "/usr/bin:/bin"},
    )
    # THEN a readable one-line error, no traceback
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert "unknown site" in completed.stderr
