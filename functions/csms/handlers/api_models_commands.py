"""Bodies of the command routes: a command as the API shows it, pages of them, its progress."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from csms.domain.command_records import CommandRecord, CommandState
from csms.domain.commands import CommandStatus
from csms.domain.notifications import StationNote
from csms.domain.station import ProtocolVersion
from csms.handlers.api_models import ApiModel


class CommandProgress(ApiModel):
    """A status notification the station sent about a firmware update or a log upload."""

    status: str | None = None
    at: datetime
    received_at: datetime
    request_id: int | None = None
    info: str | None = None

    @classmethod
    def of(cls, note: StationNote) -> CommandProgress:
        """From the station's note."""
        return cls(
            status=note.status,
            at=note.at,
            received_at=note.received_at,
            request_id=note.reference,
            info=note.info,
        )


class CommandView(ApiModel):
    """A command to a station and what became of it.

    `state`: Queued (waiting for the station, until `expiresAt`), Pending (sent at `sentAt`,
    answer due by `deadline`), Answered (`status` and the raw `response` as the station gave
    them: a Rejected is an answer too), Failed (a CALLERROR: `errorCode`), TimedOut, Expired or
    Cancelled. `request` is the payload in the station's version, secrets replaced by "***".
    """

    id: str
    station_id: str
    action: str
    ocpp_action: str | None = None
    protocol: ProtocolVersion | None = None
    state: CommandState
    status: CommandStatus | None = None
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    error_code: str | None = None
    error_description: str | None = None
    queued_at: datetime
    expires_at: datetime
    sent_at: datetime | None = None
    deadline: datetime | None = None
    answered_at: datetime | None = None
    progress: list[CommandProgress] = []

    @classmethod
    def of(cls, record: CommandRecord, progress: Sequence[StationNote] = ()) -> CommandView:
        """From the domain record (and, for firmware and log commands, the notes since)."""
        return cls(
            id=record.id,
            station_id=record.station_id,
            action=record.action,
            ocpp_action=record.ocpp_action,
            protocol=record.protocol,
            state=record.state,
            status=record.status,
            request=record.request,
            response=record.response,
            error_code=record.error_code,
            error_description=record.error_description,
            queued_at=record.queued_at,
            expires_at=record.expires_at,
            sent_at=record.sent_at,
            deadline=record.deadline,
            answered_at=record.answered_at,
            progress=[CommandProgress.of(n) for n in progress],
        )

    def audit(self) -> dict[str, Any]:
        """What the audit log keeps: the redacted request and the outcome."""
        return self.model_dump(mode="json", by_alias=True, exclude={"progress"})


class CommandPage(ApiModel):
    """A page of a station's commands, newest first."""

    items: list[CommandView]
    next_cursor: str | None = None
