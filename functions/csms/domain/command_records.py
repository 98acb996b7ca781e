"""The record of one command to a station: queued, sent, answered or given up.

A command the API accepts gets an id that sorts by time (it is also the CALL's unique id), so a
station's history is one ordered read. It goes out at once when the station is online and has no
other call outstanding (OCPP-J allows one CSMS-initiated CALL at a time); otherwise it waits in the
station's queue, first in first out, until its time-to-live ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from csms.domain.commands import Command, CommandStatus
from csms.domain.station import ProtocolVersion

# The longest a command may wait for its station (the API's `ttl` is capped at this).
MAX_COMMAND_TTL = timedelta(days=7)


class CommandState(StrEnum):
    """Life of a command.

    Queued -> Pending -> Answered | Failed | TimedOut, or it never leaves the queue: Expired
    (its time-to-live ended) or Cancelled (by an operator).
    """

    QUEUED = "Queued"
    PENDING = "Pending"  # sent, awaiting the station's answer
    ANSWERED = "Answered"  # a CALLRESULT (its status may still be Rejected)
    FAILED = "Failed"  # a CALLERROR, or the station's version cannot carry it
    TIMED_OUT = "TimedOut"
    EXPIRED = "Expired"
    CANCELLED = "Cancelled"

    @property
    def final(self) -> bool:
        """True once nothing more can happen to the command."""
        return self not in (CommandState.QUEUED, CommandState.PENDING)


class CommandRecord(BaseModel):
    """A command to a station and what became of it (the request as stored, redacted)."""

    model_config = ConfigDict(frozen=True)

    id: str
    station_id: str
    tenant_id: str
    action: str  # the version-neutral command (StartCharging, Reset, ...)
    state: CommandState
    queued_at: datetime
    expires_at: datetime
    # The payload in the version it was (or would be) sent in, secrets replaced by "***".
    request: dict[str, Any] | None = None
    protocol: ProtocolVersion | None = None
    ocpp_action: str | None = None  # the CALL's action in that version
    sent_at: datetime | None = None
    deadline: datetime | None = None
    answered_at: datetime | None = None
    status: CommandStatus | None = None
    response: dict[str, Any] | None = None
    error_code: str | None = None
    error_description: str | None = None

    def effective_state(self, now: datetime) -> CommandState:
        """What the command is now, whether or not anyone has recorded it yet.

        A queued command past its time-to-live has expired; a sent one past its deadline has
        timed out.
        """
        if self.state is CommandState.QUEUED and now >= self.expires_at:
            return CommandState.EXPIRED
        if (
            self.state is CommandState.PENDING
            and self.deadline is not None
            and now >= self.deadline
        ):
            return CommandState.TIMED_OUT
        return self.state

    def as_of(self, now: datetime) -> CommandRecord:
        """The record as it reads now (an expiry or a timeout applied, not stored)."""
        state = self.effective_state(now)
        if state is self.state:
            return self
        return self.model_copy(update={"state": state})

    def sent(
        self,
        at: datetime,
        timeout: timedelta,
        protocol: ProtocolVersion,
        ocpp_action: str,
        request: dict[str, Any],
    ) -> CommandRecord:
        """The record once its CALL goes out."""
        return self.model_copy(
            update={
                "state": CommandState.PENDING,
                "sent_at": at,
                "deadline": at + timeout,
                "protocol": protocol,
                "ocpp_action": ocpp_action,
                "request": request,
            }
        )

    def ended(self, state: CommandState, **outcome: Any) -> CommandRecord:
        """The record in a final state, with what the station said (answered_at, status, ...)."""
        return self.model_copy(update={"state": state, **outcome})

    def requeued(self) -> CommandRecord:
        """Back in the queue: its CALL never reached the station (the connection was gone)."""
        return self.model_copy(
            update={"state": CommandState.QUEUED, "sent_at": None, "deadline": None}
        )


@dataclass(frozen=True)
class QueuedCommand:
    """A command waiting in its station's queue: the record and the command to encode.

    The command is encoded when it goes out, in the version of the connection it goes out on
    (a station may come back speaking another version than the one it left with).
    """

    record: CommandRecord
    command: Command
