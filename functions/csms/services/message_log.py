"""The message log of traced stations: keep their recent frames, read them, switch tracing.

Untraced stations cost nothing: whether a station is traced is read from its connection
binding, which the message path has resolved (and cached) already; only traced stations'
frames are written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from csms.domain.connection import ConnectionBinding
from csms.domain.errors import DomainError
from csms.domain.frames import FrameDirection, FrameRecord, frame_text, traced
from csms.services.ports import Clock, FrameSender, IdGenerator, Page

logger = logging.getLogger(__name__)

MAX_TRACE = timedelta(days=1)


@dataclass(frozen=True)
class FrameQuery:
    """Filters of a station's message log; None matches anything."""

    direction: FrameDirection | None = None
    action: str | None = None


class FrameLog(Protocol):
    """Where frames of traced stations are kept for a short while."""

    def append(self, records: list[FrameRecord]) -> None:
        """Store frames (expiring after the log's time to live)."""
        ...

    def list(
        self,
        station_id: str,
        tenant_id: str,
        query: FrameQuery,
        *,
        now: datetime,
        limit: int,
        cursor: str | None = None,
    ) -> Page[FrameRecord]:
        """A station's unexpired frames of this tenant, newest first."""
        ...


BindingResolver = Callable[[str], ConnectionBinding]
"""The binding of a connection (cached); raises UnknownConnectionError if there is none."""


class MessageLogService:
    """Records frames of traced stations; lists them; computes trace windows."""

    def __init__(self, *, frames: FrameLog, clock: Clock, new_id: IdGenerator) -> None:
        self._frames = frames
        self._clock = clock
        self._new_id = new_id

    def observe(
        self, resolve: BindingResolver, connection_id: str, inbound: str | bytes, reply: str | None
    ) -> None:
        """Keep a frame a station sent and the reply to it, if the station is traced.

        Never raises: the message log must not break the message path.
        """
        try:
            binding = resolve(connection_id)
            now = self._clock.now()
            if not traced(binding.trace_until, now):
                return
            first = self._record(binding, FrameDirection.INBOUND, inbound, now, 0)
            records = [first]
            if reply is not None:
                answer = self._record(binding, FrameDirection.OUTBOUND, reply, now, 1)
                # Our reply answers the CALL: it carries the CALL's action for filtering.
                records.append(answer.model_copy(update={"action": first.action}))
            self._frames.append(records)
        except DomainError:
            return  # an unbound connection: nobody to file the frames under
        except Exception:
            logger.exception("message log write failed", extra={"connection_id": connection_id})

    def sent(self, resolve: BindingResolver, connection_id: str, frame: str) -> None:
        """Keep a CALL the CSMS sent, if the station is traced. Never raises."""
        try:
            binding = resolve(connection_id)
            now = self._clock.now()
            if traced(binding.trace_until, now):
                self._frames.append([self._record(binding, FrameDirection.OUTBOUND, frame, now, 0)])
        except DomainError:
            return
        except Exception:
            logger.exception("message log write failed", extra={"connection_id": connection_id})

    def _record(
        self,
        binding: ConnectionBinding,
        direction: FrameDirection,
        raw: str | bytes,
        at: datetime,
        order: int,
    ) -> FrameRecord:
        text = frame_text(raw)
        return FrameRecord(
            station_id=binding.station_id,
            tenant_id=binding.tenant_id,
            at=at,
            seq=f"{order}{self._new_id().replace('-', '')[:11]}",
            direction=direction,
            message_type=text.message_type,
            unique_id=text.unique_id,
            action=text.action,
            frame=text.text,
            truncated=text.truncated,
            size=text.size,
        )

    def list(
        self,
        station_id: str,
        tenant_id: str,
        query: FrameQuery,
        limit: int,
        cursor: str | None = None,
    ) -> Page[FrameRecord]:
        """The station's frames, newest first (the caller has checked the station is theirs)."""
        return self._frames.list(
            station_id, tenant_id, query, now=self._clock.now(), limit=limit, cursor=cursor
        )

    def trace_until(self, minutes: int) -> datetime:
        """The end of a trace that starts now and runs this long (at most a day)."""
        return self._clock.now() + min(timedelta(minutes=minutes), MAX_TRACE)


class TracingFrameSender:
    """A FrameSender that also keeps the CALLs it sends to traced stations.

    Only sends look the binding up (one read per command, cached), never the message path.
    """

    def __init__(
        self, inner: FrameSender, resolve: BindingResolver, log: MessageLogService
    ) -> None:
        self._inner = inner
        self._resolve = resolve
        self._log = log

    def send(self, connection_id: str, frame: str) -> None:
        """Send, then log what was sent (a failed send is not logged)."""
        self._inner.send(connection_id, frame)
        self._log.sent(self._resolve, connection_id, frame)

    def last_active_at(self, connection_id: str) -> datetime | None:
        """As the wrapped sender says."""
        return self._inner.last_active_at(connection_id)
