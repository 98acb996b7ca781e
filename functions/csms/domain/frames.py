"""The message log of a traced station: recent OCPP-J frames, short-lived, redacted.

Operators read it while onboarding a station ("why does it not boot?"). A frame is kept as
text of at most `MAX_FRAME_BYTES`, with credentials removed and id tokens masked the same way
as in the audit log (`csms.domain.audit.redact`).
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from csms.domain.audit import redact

MAX_FRAME_BYTES = 4096
# OCPP-J message types (the first element of the array): the same in 1.6 and 2.0.1.
_CALL, _CALL_RESULT, _CALL_ERROR = 2, 3, 4


class FrameDirection(StrEnum):
    """Who sent the frame."""

    INBOUND = "StationToCsms"
    OUTBOUND = "CsmsToStation"


class FrameRecord(BaseModel):
    """One frame in a station's message log."""

    model_config = ConfigDict(frozen=True)

    station_id: str
    tenant_id: str
    at: datetime
    seq: str  # orders frames of the same instant (and keeps their keys apart)
    direction: FrameDirection
    message_type: int | None = None  # 2 CALL, 3 CALLRESULT, 4 CALLERROR; None if unreadable
    unique_id: str | None = None
    action: str | None = None  # CALLs, and our replies to them
    frame: str
    truncated: bool = False
    size: int  # bytes of the frame as it went over the wire


class FrameText(BaseModel):
    """What of a raw frame is kept: its redacted, truncated text and its envelope."""

    model_config = ConfigDict(frozen=True)

    message_type: int | None = None
    unique_id: str | None = None
    action: str | None = None
    text: str
    truncated: bool = False
    size: int


def frame_text(raw: str | bytes) -> FrameText:
    """The loggable form of a frame as it was on the wire.

    A readable JSON array is redacted and re-encoded compactly; anything else is kept as text
    (it cannot be searched for credentials, but it is what the operator needs to see).
    """
    data = raw.encode() if isinstance(raw, str) else raw
    text = data.decode("utf-8", errors="replace")
    message_type: int | None = None
    unique_id: str | None = None
    action: str | None = None
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, list):
        text = json.dumps(redact(parsed), separators=(",", ":"), ensure_ascii=False)
        if parsed and type(parsed[0]) is int and parsed[0] in (_CALL, _CALL_RESULT, _CALL_ERROR):
            message_type = parsed[0]
        if len(parsed) > 1 and isinstance(parsed[1], str):
            unique_id = parsed[1][:64]
        if message_type == _CALL and len(parsed) > 2 and isinstance(parsed[2], str):
            action = parsed[2][:64]
    kept, truncated = truncate(text, MAX_FRAME_BYTES)
    return FrameText(
        message_type=message_type,
        unique_id=unique_id,
        action=action,
        text=kept,
        truncated=truncated,
        size=len(data),
    )


def truncate(text: str, max_bytes: int) -> tuple[str, bool]:
    """At most `max_bytes` of UTF-8, never cutting a character in two."""
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text, False
    return encoded[:max_bytes].decode("utf-8", errors="ignore"), True


def traced(trace_until: datetime | None, now: datetime) -> bool:
    """Whether a station whose trace runs until `trace_until` is traced now."""
    return trace_until is not None and now < trace_until
