"""CSMS-initiated calls to stations: the commands, and the record of one call in flight."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ResetKind(StrEnum):
    """1.6 Hard/Soft map to 2.0.1 Immediate/OnIdle."""

    HARD = "Hard"
    SOFT = "Soft"


class TriggerableMessage(StrEnum):
    """Messages a CSMS can ask a station to send now (common to both versions)."""

    BOOT_NOTIFICATION = "BootNotification"
    HEARTBEAT = "Heartbeat"
    STATUS_NOTIFICATION = "StatusNotification"
    METER_VALUES = "MeterValues"
    FIRMWARE_STATUS_NOTIFICATION = "FirmwareStatusNotification"
    DIAGNOSTICS_STATUS_NOTIFICATION = "DiagnosticsStatusNotification"


class ResetCommand(BaseModel):
    """Reboot the station (or, 2.0.1 only, one EVSE)."""

    model_config = ConfigDict(frozen=True)

    action: Literal["Reset"] = "Reset"
    kind: ResetKind = ResetKind.SOFT


class TriggerMessageCommand(BaseModel):
    """Ask the station to send one of its messages now."""

    model_config = ConfigDict(frozen=True)

    action: Literal["TriggerMessage"] = "TriggerMessage"
    message: TriggerableMessage
    evse_id: Annotated[int, Field(ge=0)] | None = None


Command = Annotated[ResetCommand | TriggerMessageCommand, Field(discriminator="action")]


class CallState(StrEnum):
    """Life of one CSMS-initiated call."""

    PENDING = "Pending"
    ANSWERED = "Answered"
    FAILED = "Failed"  # the station answered with a CALLERROR
    TIMED_OUT = "TimedOut"


class CommandStatus(StrEnum):
    """The station's answer to a command, version-neutral."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    SCHEDULED = "Scheduled"
    NOT_IMPLEMENTED = "NotImplemented"


class OutgoingCall(BaseModel):
    """A CALL the CSMS sent to a station and what became of it."""

    model_config = ConfigDict(frozen=True)

    unique_id: str
    station_id: str
    tenant_id: str
    action: str
    request: dict[str, Any]
    state: CallState = CallState.PENDING
    sent_at: datetime
    deadline: datetime
    answered_at: datetime | None = None
    status: CommandStatus | None = None
    response: dict[str, Any] | None = None
    error_code: str | None = None
    error_description: str | None = None

    def effective_state(self, now: datetime) -> CallState:
        """A pending call past its deadline has timed out, whether or not anyone recorded it."""
        if self.state is CallState.PENDING and now >= self.deadline:
            return CallState.TIMED_OUT
        return self.state
