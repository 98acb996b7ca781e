"""Golden OCPP-J frames: one file per event and version, same name in golden/v16 and golden/v201.

A pair of files with the same name describes the same event (or command) in both versions; the
contract tests check that each pair maps to equal domain objects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from csms.domain.station import ProtocolVersion
from csms.ocpp.common.frames import CALL

GOLDEN = Path(__file__).parent / "golden"
FOLDERS = {ProtocolVersion.OCPP16: "v16", ProtocolVersion.OCPP201: "v201"}
# Golden CSMS -> station CALLs (and the answers to them) carry this unique id.
COMMAND_ID = "golden-cmd"
SCHEMA_VERSIONS = {ProtocolVersion.OCPP16: "1.6", ProtocolVersion.OCPP201: "2.0.1"}

# OCPP-J 1.6 §4.2.3 and OCPP-J 2.0.1 §4.3: the only CallError codes each version may send.
LEGAL_ERROR_CODES: dict[ProtocolVersion, frozenset[str]] = {
    ProtocolVersion.OCPP16: frozenset(
        {
            "NotImplemented",
            "NotSupported",
            "InternalError",
            "ProtocolError",
            "SecurityError",
            "FormationViolation",
            "PropertyConstraintViolation",
            "OccurenceConstraintViolation",
            "TypeConstraintViolation",
            "GenericError",
        }
    ),
    ProtocolVersion.OCPP201: frozenset(
        {
            "FormatViolation",
            "GenericError",
            "InternalError",
            "MessageTypeNotSupported",
            "NotImplemented",
            "NotSupported",
            "OccurrenceConstraintViolation",
            "PropertyConstraintViolation",
            "ProtocolError",
            "RpcFrameworkError",
            "SecurityError",
            "TypeConstraintViolation",
        }
    ),
}


def frame(version: ProtocolVersion, name: str) -> list[Any]:
    """One golden frame, as the JSON array it is on the wire."""
    value: list[Any] = json.loads((GOLDEN / FOLDERS[version] / f"{name}.json").read_text("utf-8"))
    return value


def payload(version: ProtocolVersion, name: str) -> dict[str, Any]:
    """The payload of a golden frame (last element of a CALL or CALLRESULT)."""
    value: dict[str, Any] = frame(version, name)[-1]
    return value


def names(version: ProtocolVersion) -> list[str]:
    """Every golden frame of a version, by name."""
    return sorted(path.stem for path in (GOLDEN / FOLDERS[version]).glob("*.json"))


def station_calls(version: ProtocolVersion, action: str | None = None) -> list[str]:
    """Names of the golden CALLs a station sends (optionally of one action)."""
    found = []
    for name in names(version):
        message = frame(version, name)
        if message[0] != CALL or message[1] == COMMAND_ID:
            continue
        if action is None or message[2] == action:
            found.append(name)
    return found
