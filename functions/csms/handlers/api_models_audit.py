"""Bodies of the audit log, the message log and tracing (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from csms.domain.audit import AuditEntry, AuditOutcome
from csms.domain.frames import FrameDirection, FrameRecord
from csms.handlers.api_models import ApiModel


class ActorView(ApiModel):
    """Who made the request, as their token said."""

    subject: str | None = None
    role: str | None = None
    sites: list[str] | None = Field(
        default=None, description="The only sites the user may reach; null: every site"
    )


class AuditEntryView(ApiModel):
    """One entry of the tenant's audit log.

    Passwords, secrets and bearer tokens never appear; id token values show only their last 4
    characters.
    """

    id: str = Field(description="Time-sortable (UUIDv7)")
    at: datetime
    actor: ActorView
    source_ip: str | None = None
    request_id: str | None = None
    method: str
    path: str
    action: str = Field(
        description="What was done (`site.update`, `command.Reset`, ...); for a request that "
        "changed nothing, its method and declared path"
    )
    resource_kind: str | None = None
    resource_id: str | None = None
    status: int = Field(description="The HTTP status of the answer")
    outcome: AuditOutcome = Field(
        description="Succeeded (< 400), Denied (401, 403), Rejected (other 4xx), Failed (5xx)"
    )
    before: dict[str, Any] | None = Field(default=None, description="null: did not exist")
    after: dict[str, Any] | None = Field(default=None, description="null: does not exist now")
    changed_fields: list[str] = Field(default=[], description="Dotted paths of what changed")
    details: dict[str, Any] = {}

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryView:
        """From the domain entry."""
        actor = entry.actor
        return cls(
            id=entry.id,
            at=entry.at,
            actor=ActorView(
                subject=actor.subject,
                role=actor.role,
                sites=list(actor.sites) if actor.sites is not None else None,
            ),
            source_ip=entry.source_ip,
            request_id=entry.request_id,
            method=entry.method,
            path=entry.path,
            action=entry.action,
            resource_kind=entry.resource_kind,
            resource_id=entry.resource_id,
            status=entry.status,
            outcome=entry.outcome,
            before=entry.before,
            after=entry.after,
            changed_fields=list(entry.changed_fields),
            details=entry.details,
        )


class AuditPage(ApiModel):
    """A page of the audit log, newest first (a filtered page can be short while more follow)."""

    items: list[AuditEntryView]
    next_cursor: str | None = None


class FrameView(ApiModel):
    """One OCPP-J frame of a traced station (credentials removed, at most 4 KB)."""

    at: datetime
    direction: FrameDirection
    message_type: int | None = Field(
        default=None, description="2 CALL, 3 CALLRESULT, 4 CALLERROR; null if unreadable"
    )
    unique_id: str | None = None
    action: str | None = Field(
        default=None, description="The CALL's action (also on the CSMS's reply to it)"
    )
    frame: str = Field(description="The frame as JSON text, redacted")
    truncated: bool = Field(default=False, description="The frame was longer than 4 KB")
    size: int = Field(description="Bytes of the frame as it went over the wire")

    @classmethod
    def of(cls, record: FrameRecord) -> FrameView:
        """From the domain record."""
        return cls(
            at=record.at,
            direction=record.direction,
            message_type=record.message_type,
            unique_id=record.unique_id,
            action=record.action,
            frame=record.frame,
            truncated=record.truncated,
            size=record.size,
        )


class FramePage(ApiModel):
    """A page of a station's message log, newest first."""

    items: list[FrameView]
    next_cursor: str | None = None


class TraceRequest(ApiModel):
    """Keep the station's frames in the message log for a while."""

    model_config = ConfigDict(extra="forbid")

    minutes: Annotated[int, Field(ge=1, le=1440, description="How long to trace, from now")]


class TraceView(ApiModel):
    """Until when the station's frames are kept."""

    station_id: str
    trace_until: datetime | None = None
