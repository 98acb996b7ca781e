"""Validation against the official schemas, and the CallError kind each failure earns."""

from __future__ import annotations

from typing import Any

import pytest

from csms.ocpp.common.errors import ErrorKind
from csms.ocpp.common.frames import CALL, CALL_RESULT
from csms.ocpp.common.schemas import SchemaViolationError, known_actions, validate

BOOT_201: dict[str, Any] = {
    "reason": "PowerUp",
    "chargingStation": {"vendorName": "V", "model": "M"},
}
BOOT_16: dict[str, Any] = {"chargePointVendor": "V", "chargePointModel": "M"}


def test_known_actions_16_are_request_names() -> None:
    # GIVEN / WHEN the 1.6 actions are listed
    actions = known_actions("1.6")
    # THEN they include both directions' requests and no response schema
    assert {"BootNotification", "Heartbeat", "StatusNotification", "Authorize"} <= actions
    assert {"Reset", "TriggerMessage", "StartTransaction", "DataTransfer"} <= actions
    assert not any(a.endswith("Response") for a in actions)
    assert "TransactionEvent" not in actions


def test_known_actions_201_drop_the_request_suffix() -> None:
    # GIVEN / WHEN the 2.0.1 actions are listed
    actions = known_actions("2.0.1")
    # THEN they are action names, not schema file names
    assert {"BootNotification", "Heartbeat", "StatusNotification", "TransactionEvent"} <= actions
    assert {"Reset", "TriggerMessage", "NotifyEvent", "SetVariables"} <= actions
    assert not any(a.endswith(("Request", "Response")) for a in actions)
    assert "StartTransaction" not in actions
    assert "DiagnosticsStatusNotification" not in actions


def test_known_actions_is_cached() -> None:
    # GIVEN / WHEN asked twice / THEN the same set object comes back (no second disk scan)
    assert known_actions("2.0.1") is known_actions("2.0.1")


@pytest.mark.parametrize(
    ("version", "message_type", "action", "payload"),
    [
        ("1.6", CALL, "BootNotification", BOOT_16),
        ("2.0.1", CALL, "BootNotification", BOOT_201),
        ("1.6", CALL, "Heartbeat", {}),
        ("2.0.1", CALL_RESULT, "Reset", {"status": "Scheduled"}),
        ("1.6", CALL_RESULT, "TriggerMessage", {"status": "NotImplemented"}),
    ],
)
def test_validate_conforming_payload_passes(
    version: str, message_type: int, action: str, payload: dict[str, Any]
) -> None:
    # GIVEN a payload that follows its schema / WHEN / THEN validation returns quietly
    validate(version, message_type, action, payload)


def violation(
    version: str, message_type: int, action: str, payload: dict[str, Any]
) -> SchemaViolationError:
    with pytest.raises(SchemaViolationError) as caught:
        validate(version, message_type, action, payload)
    return caught.value


@pytest.mark.parametrize(
    ("version", "action", "payload", "kind", "path"),
    [
        (
            "1.6",
            "BootNotification",
            {**BOOT_16, "chargePointVendor": 5},
            ErrorKind.TYPE_CONSTRAINT_VIOLATION,
            "chargePointVendor",
        ),
        (
            "2.0.1",
            "BootNotification",
            {**BOOT_201, "reason": 5},
            ErrorKind.TYPE_CONSTRAINT_VIOLATION,
            "reason",
        ),
        (
            "1.6",
            "BootNotification",
            {"chargePointVendor": "V"},
            ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
            "",
        ),
        (
            "2.0.1",
            "BootNotification",
            {"reason": "PowerUp"},
            ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
            "",
        ),
        (
            "1.6",
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Busy"},
            ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
            "status",
        ),
        (
            "2.0.1",
            "BootNotification",
            {**BOOT_201, "reason": "Bored"},
            ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
            "reason",
        ),
        (
            "1.6",
            "BootNotification",
            {**BOOT_16, "chargePointModel": "M" * 21},
            ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
            "chargePointModel",
        ),
        (
            "2.0.1",
            "BootNotification",
            {"reason": "PowerUp", "chargingStation": {"vendorName": "V", "model": "M" * 21}},
            ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
            "chargingStation/model",
        ),
        ("1.6", "BootNotification", {**BOOT_16, "colour": "red"}, ErrorKind.FORMAT_VIOLATION, ""),
        ("2.0.1", "Heartbeat", {"colour": "red"}, ErrorKind.FORMAT_VIOLATION, ""),
        (
            "2.0.1",
            "NotifyReport",
            {"requestId": 1, "generatedAt": "2026-01-01T00:00:00Z", "seqNo": 0, "reportData": []},
            ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
            "reportData",
        ),
    ],
)
def test_validate_maps_failed_keyword_to_error_kind(
    version: str, action: str, payload: dict[str, Any], kind: ErrorKind, path: str
) -> None:
    # GIVEN a CALL payload that breaks one rule of its schema
    # WHEN validated
    error = violation(version, CALL, action, payload)
    # THEN the kind follows the failed keyword, and the path points at the culprit
    assert error.kind is kind
    assert error.path == path
    assert error.description.startswith(f"{path or '(payload)'}: ")


def test_validate_call_result_is_checked_against_the_response_schema() -> None:
    # GIVEN a Reset response with a status 1.6 does not have
    # WHEN validated as a CALLRESULT
    error = violation("1.6", CALL_RESULT, "Reset", {"status": "Scheduled"})
    # THEN the response schema refuses it
    assert error.kind is ErrorKind.PROPERTY_CONSTRAINT_VIOLATION
    assert error.path == "status"


def test_validate_description_is_capped() -> None:
    # GIVEN a violation whose message quotes a long value
    payload = {"reason": "PowerUp", "chargingStation": {"vendorName": "V", "model": "M" * 400}}
    # WHEN validated
    error = violation("2.0.1", CALL, "BootNotification", payload)
    # THEN the description stays under the CALLERROR limit
    assert len(error.description) == 250
    assert str(error) == error.description
