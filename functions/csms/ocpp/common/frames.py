"""OCPP-J framing: the JSON arrays `[2, id, action, payload]`, `[3, id, payload]`, `[4, ...]`.

Parsing is strict and never raises anything but `FrameError`; the caller decides, per version,
which CallError code a broken frame earns (or whether it is dropped unanswered).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

CALL = 2
CALL_RESULT = 3
CALL_ERROR = 4
# OCPP-J: a message id is a string of at most 36 characters.
MAX_UNIQUE_ID = 36


class FrameProblem(StrEnum):
    """Why a frame could not be read."""

    NOT_JSON = "not valid JSON"
    NOT_ARRAY = "not an OCPP-J array"
    BAD_MESSAGE_TYPE = "unknown MessageTypeId"
    BAD_UNIQUE_ID = "MessageId is not a string of 1-36 characters"
    BAD_ACTION = "Action is not a non-empty string"
    BAD_LENGTH = "wrong number of elements for this MessageTypeId"
    PAYLOAD_NOT_OBJECT = "payload is not a JSON object"
    NOT_UNICODE = "a string holds a lone surrogate (not Unicode text)"


class FrameError(Exception):
    """A frame that is not a well-formed OCPP-J message."""

    def __init__(self, problem: FrameProblem, unique_id: str | None, message_type: int | None):
        super().__init__(problem.value)
        self.problem = problem
        self.unique_id = unique_id
        self.message_type = message_type


@dataclass(frozen=True)
class Call:
    """A request."""

    unique_id: str
    action: str
    payload: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class CallResult:
    """A successful answer."""

    unique_id: str
    payload: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class CallError:
    """An error answer."""

    unique_id: str
    error_code: str
    error_description: str
    error_details: dict[str, Any] = field(default_factory=dict)


Frame = Call | CallResult | CallError


def _reject_constant(name: str) -> None:
    # NaN and Infinity are not JSON; Python's decoder would accept them.
    raise ValueError(name)


def parse_frame(raw: str | bytes) -> Frame:
    """Parse one OCPP-J frame."""
    try:
        # OCPP-J is UTF-8 only; json.loads would also guess UTF-16 or UTF-32 from bytes.
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise FrameError(FrameProblem.NOT_JSON, None, None) from None
    if not isinstance(data, list) or not data:
        raise FrameError(FrameProblem.NOT_ARRAY, None, None)
    # JSON may escape lone surrogates ("\\ud800"); no UTF-8 text, log line or DynamoDB string
    # can carry them, so such a frame is malformed.
    if ("\\u" in text or not text.isascii()) and _has_lone_surrogate(data):
        unique_id = data[1] if len(data) > 1 and _is_unique_id(data[1]) else None
        type_id = data[0] if type(data[0]) is int else None
        raise FrameError(FrameProblem.NOT_UNICODE, unique_id, type_id)
    type_id = data[0] if type(data[0]) is int else None
    unique_id = data[1] if len(data) > 1 and _is_unique_id(data[1]) else None
    if type_id not in (CALL, CALL_RESULT, CALL_ERROR):
        raise FrameError(FrameProblem.BAD_MESSAGE_TYPE, unique_id, type_id)
    if unique_id is None:
        raise FrameError(FrameProblem.BAD_UNIQUE_ID, None, type_id)
    expected_length = {CALL: 4, CALL_RESULT: 3, CALL_ERROR: 5}[type_id]
    if len(data) != expected_length:
        raise FrameError(FrameProblem.BAD_LENGTH, unique_id, type_id)
    if type_id == CALL:
        action = data[2]
        if not isinstance(action, str) or not action:
            raise FrameError(FrameProblem.BAD_ACTION, unique_id, type_id)
        return Call(unique_id, action, _object(data[3], unique_id, type_id))
    if type_id == CALL_RESULT:
        return CallResult(unique_id, _object(data[2], unique_id, type_id))
    code, description = data[2], data[3]
    if not isinstance(code, str) or not isinstance(description, str):
        raise FrameError(FrameProblem.BAD_LENGTH, unique_id, type_id)
    return CallError(unique_id, code, description, _object(data[4], unique_id, type_id))


def _has_lone_surrogate(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if any("\ud800" <= char <= "\udfff" for char in item):
                return True
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
    return False


def _is_unique_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_UNIQUE_ID


def _object(value: object, unique_id: str, type_id: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FrameError(FrameProblem.PAYLOAD_NOT_OBJECT, unique_id, type_id)
    return value


def encode_call(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    """Serialise a CALL."""
    return _dumps([CALL, unique_id, action, payload])


def encode_result(unique_id: str, payload: dict[str, Any]) -> str:
    """Serialise a CALLRESULT."""
    return _dumps([CALL_RESULT, unique_id, payload])


def encode_error(
    unique_id: str, code: str, description: str, details: dict[str, Any] | None = None
) -> str:
    """Serialise a CALLERROR."""
    return _dumps([CALL_ERROR, unique_id, code, description[:255], details or {}])


def _dumps(value: object) -> str:
    # ASCII with \u escapes: any id a station sent can be echoed as valid UTF-8 text.
    return json.dumps(value, separators=(",", ":"))


def format_timestamp(value: datetime) -> str:
    """OCPP dateTime: UTC, millisecond precision, `Z` suffix."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    """Read an OCPP dateTime; one without an offset is taken as UTC (as chargers mean it)."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
