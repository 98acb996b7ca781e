"""The simulated station answers the CSMS's commands of both versions plausibly."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.local.test_simulator import FakeCsms, a_station, csms_statuses, eventually, start

from csms_local.sim.commands import StationMemory
from csms_local.sim.sessions import ChargingPlan

BOTH = pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])


async def booted(protocol: str, **options: Any) -> tuple[FakeCsms, Any]:
    csms = FakeCsms()
    running = start(csms, a_station(protocol=protocol), heartbeat_interval=60, **options)
    await eventually(lambda: len(csms.calls("StatusNotification")) == csms_statuses(protocol))
    return csms, running


async def test_sim_v16_configuration_reads_and_writes_the_store() -> None:
    # GIVEN a booted 1.6 station
    csms, running = await booted("ocpp1.6")
    # WHEN the CSMS changes a setting, tries a read-only and an unknown one, then reads
    changed = await csms.call("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"})
    readonly = await csms.call("ChangeConfiguration", {"key": "NumberOfConnectors", "value": "9"})
    unknown = await csms.call("ChangeConfiguration", {"key": "Nope", "value": "1"})
    read = await csms.call("GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
    await running.finish()
    # THEN each answer says what happened, and the read shows the change
    assert [r[2]["status"] for r in (changed, readonly, unknown)] == [
        "Accepted",
        "Rejected",
        "NotSupported",
    ]
    assert read[2] == {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "120"}],
        "unknownKey": ["Nope"],
    }


async def test_sim_v201_variables_read_and_write_the_store() -> None:
    # GIVEN a booted 2.0.1 station
    csms, running = await booted("ocpp2.0.1")
    interval = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
    # WHEN the CSMS sets the heartbeat interval and reads it back with an unknown variable
    written = await csms.call(
        "SetVariables", {"setVariableData": [{**interval, "attributeValue": "120"}]}
    )
    read = await csms.call(
        "GetVariables",
        {
            "getVariableData": [
                interval,
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Nope"}},
            ]
        },
    )
    await running.finish()
    # THEN the write is accepted and the read shows it; the unknown variable says so
    assert written[2]["setVariableResult"][0]["attributeStatus"] == "Accepted"
    results = read[2]["getVariableResult"]
    assert (results[0]["attributeStatus"], results[0]["attributeValue"]) == ("Accepted", "120")
    assert results[1]["attributeStatus"] == "UnknownVariable"


@pytest.mark.parametrize(
    ("protocol", "send", "version"),
    [
        (
            "ocpp1.6",
            {
                "listVersion": 4,
                "updateType": "Full",
                "localAuthorizationList": [{"idTag": "A", "idTagInfo": {"status": "Accepted"}}],
            },
            ("GetLocalListVersion", "listVersion"),
        ),
        (
            "ocpp2.0.1",
            {
                "versionNumber": 4,
                "updateType": "Full",
                "localAuthorizationList": [
                    {
                        "idToken": {"idToken": "A", "type": "ISO14443"},
                        "idTokenInfo": {"status": "Accepted"},
                    }
                ],
            },
            ("GetLocalListVersion", "versionNumber"),
        ),
    ],
    ids=["1.6", "2.0.1"],
)
async def test_sim_local_list_keeps_its_version(
    protocol: str, send: dict[str, Any], version: tuple[str, str]
) -> None:
    # GIVEN a booted station with no list
    csms, running = await booted(protocol)
    before = await csms.call(*version[:1], {})
    # WHEN the CSMS sends list version 4, then asks for the version
    sent = await csms.call("SendLocalList", send)
    after = await csms.call(*version[:1], {})
    await running.finish()
    # THEN 0 before, 4 after
    assert sent[2]["status"] == "Accepted"
    assert (before[2][version[1]], after[2][version[1]]) == (0, 4)


@pytest.mark.parametrize(
    ("protocol", "command", "notification"),
    [
        (
            "ocpp1.6",
            (
                "UpdateFirmware",
                {"location": "https://fw/x", "retrieveDate": "2025-01-01T00:00:00Z"},
            ),
            "FirmwareStatusNotification",
        ),
        (
            "ocpp2.0.1",
            (
                "UpdateFirmware",
                {
                    "requestId": 7,
                    "firmware": {
                        "location": "https://fw/x",
                        "retrieveDateTime": "2025-01-01T00:00:00Z",
                    },
                },
            ),
            "FirmwareStatusNotification",
        ),
        (
            "ocpp1.6",
            ("GetDiagnostics", {"location": "ftp://logs/"}),
            "DiagnosticsStatusNotification",
        ),
        (
            "ocpp2.0.1",
            (
                "GetLog",
                {
                    "log": {"remoteLocation": "ftp://logs/"},
                    "logType": "DiagnosticsLog",
                    "requestId": 8,
                },
            ),
            "LogStatusNotification",
        ),
    ],
    ids=["firmware-1.6", "firmware-2.0.1", "diagnostics-1.6", "log-2.0.1"],
)
async def test_sim_firmware_and_logs_report_progress(
    protocol: str, command: tuple[str, dict[str, Any]], notification: str
) -> None:
    # GIVEN a booted station
    csms, running = await booted(protocol)
    # WHEN the CSMS asks for a firmware update or a log upload
    reply = await csms.call(*command)
    # THEN it is answered, then each step is reported, ending installed or uploaded
    assert reply[0] == 3
    await eventually(
        lambda: (
            [f[3]["status"] for f in csms.calls(notification)][-1:] in (["Installed"], ["Uploaded"])
        ),
        within=5,
    )
    await running.finish()
    statuses = [f[3]["status"] for f in csms.calls(notification)]
    assert statuses[0] in ("Downloading", "Uploading")
    if protocol == "ocpp2.0.1":
        assert {f[3]["requestId"] for f in csms.calls(notification)} == {command[1]["requestId"]}


@BOTH
async def test_sim_reservations_and_profiles(protocol: str) -> None:
    # GIVEN a booted station
    csms, running = await booted(protocol)
    v16 = protocol == "ocpp1.6"
    reserve = (
        {"connectorId": 1, "expiryDate": "2030-01-01T00:00:00Z", "idTag": "A", "reservationId": 3}
        if v16
        else {
            "id": 3,
            "expiryDateTime": "2030-01-01T00:00:00Z",
            "idToken": {"idToken": "A", "type": "Central"},
            "evseId": 1,
        }
    )
    profile = {
        "chargingProfileId" if v16 else "id": 5,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
        }
        if v16
        else [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
            }
        ],
    }
    if not v16:
        profile["chargingProfileKind"] = "Relative"
    set_profile = (
        {"connectorId": 1, "csChargingProfiles": profile}
        if v16
        else {"evseId": 1, "chargingProfile": profile}
    )
    clear = {"id": 5} if v16 else {"chargingProfileId": 5}
    schedule = {"connectorId": 1, "duration": 60} if v16 else {"evseId": 1, "duration": 60}
    # WHEN the CSMS reserves, cancels twice, sets a profile, clears it twice, reads a schedule
    answers = [
        await csms.call("ReserveNow", reserve),
        await csms.call("CancelReservation", {"reservationId": 3}),
        await csms.call("CancelReservation", {"reservationId": 3}),
        await csms.call("SetChargingProfile", set_profile),
        await csms.call("ClearChargingProfile", clear),
        await csms.call("ClearChargingProfile", clear),
        await csms.call("GetCompositeSchedule", schedule),
        await csms.call(
            "UnlockConnector", {"connectorId": 1} if v16 else {"evseId": 1, "connectorId": 1}
        ),
        await csms.call("ClearCache", {}),
    ]
    await running.finish()
    # THEN every answer is valid for the version and says what happened
    assert [a[2]["status"] for a in answers] == [
        "Accepted",
        "Accepted",
        "Rejected",
        "Accepted",
        "Accepted",
        "Unknown",
        "Accepted",
        "Unlocked",
        "Accepted",
    ]


async def test_sim_v201_request_start_and_stop_run_a_session() -> None:
    # GIVEN a booted 2.0.1 station that charges remote sessions for up to an hour
    plan = ChargingPlan(session_length=3600, meter_interval=600)
    csms, running = await booted("ocpp2.0.1", plan=plan)
    # WHEN the CSMS starts a session on EVSE 2
    started = await csms.call(
        "RequestStartTransaction",
        {"idToken": {"idToken": "TAG-1", "type": "Central"}, "remoteStartId": 77, "evseId": 2},
    )
    # THEN it is accepted and a transaction starts, naming the remote start
    assert started[2]["status"] == "Accepted"
    await eventually(lambda: bool(csms.calls("TransactionEvent")))
    event = csms.calls("TransactionEvent")[0][3]
    assert event["triggerReason"] == "RemoteStart"
    assert event["transactionInfo"]["remoteStartId"] == 77
    assert event["evse"]["id"] == 2
    transaction_id = event["transactionInfo"]["transactionId"]
    # WHEN the CSMS stops it, and then stops an unknown one
    stopped = await csms.call("RequestStopTransaction", {"transactionId": transaction_id})
    unknown = await csms.call("RequestStopTransaction", {"transactionId": "nope"})
    # THEN the station ends the transaction for a remote reason
    assert (stopped[2]["status"], unknown[2]["status"]) == ("Accepted", "Rejected")
    await eventually(
        lambda: any(f[3]["eventType"] == "Ended" for f in csms.calls("TransactionEvent"))
    )
    ended = next(f[3] for f in csms.calls("TransactionEvent") if f[3]["eventType"] == "Ended")
    assert ended["triggerReason"] == "RemoteStop"
    assert ended["transactionInfo"]["stoppedReason"] == "Remote"
    await running.finish()


async def test_sim_remote_start_on_a_busy_or_unavailable_connector_is_rejected() -> None:
    # GIVEN a booted 1.6 station whose connector 1 was made inoperative
    csms, running = await booted("ocpp1.6")
    availability = await csms.call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    # WHEN the CSMS starts a session on connector 1
    refused = await csms.call("RemoteStartTransaction", {"idTag": "TAG-1", "connectorId": 1})
    stop = await csms.call("RemoteStopTransaction", {"transactionId": 5})
    await running.finish()
    # THEN it is rejected, and stopping a transaction that does not run is rejected too
    assert availability[2]["status"] == "Accepted"
    assert refused[2]["status"] == "Rejected"
    assert stop[2]["status"] == "Rejected"


def test_station_memory_differential_list_needs_a_newer_version() -> None:
    # GIVEN a station at list version 3 with two tokens
    memory = StationMemory()
    memory.update_list(
        3,
        "Full",
        [
            {"id_tag": "A", "id_tag_info": {"status": "Accepted"}},
            {"id_tag": "B", "id_tag_info": {"status": "Accepted"}},
        ],
    )
    # WHEN a differential update comes as version 3, then as 4 deleting B
    stale = memory.update_list(3, "Differential", [{"id_tag": "B"}])
    newer = memory.update_list(4, "Differential", [{"id_tag": "B"}])
    # THEN the stale one is a version mismatch; the newer one deletes B
    assert (stale, newer) == ("VersionMismatch", "Accepted")
    assert set(memory.local_list) == {"A"}
    assert memory.read("AuthorizationKey") is None
