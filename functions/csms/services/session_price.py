"""A session's price: live while it charges, final once it ended.

An estimate: billing prices the ended session itself.

The tariff is the one the assignments give the session (its station, EVSE, token and the
token's group at start), at the version in force when the session started. The usage comes from
the stored session: its start, the energy register at start, every register reading kept since,
the register at stop, and its stop (now while it is still charging). The idle period (idle fees)
starts when charging ended for good, as the charging states kept with the chunks say
(`reported_idle`) or, when Charging was never reported, at the register's last increase
(`last_increase`); it ends when the EV left or the session stopped (now while it goes on, so
the estimate shows the idle fee accruing). Both come from the chunks read anyway: no extra read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from pydantic import ValidationError

from csms.domain.access import Principal
from csms.domain.billing.pricing import PricedSession, price
from csms.domain.billing.usage import EnergySample, IdlePeriod, SessionUsage
from csms.domain.errors import ResourceNotFoundError, SessionNotFoundError, SessionNotPriceableError
from csms.domain.meter import Measurand
from csms.domain.sessions import (
    MeterChunk,
    ReportedIdle,
    Session,
    SessionState,
    reported_idle,
)
from csms.services.ports import Clock, Page
from csms.services.tariffs import ASSIGNMENT, Resolved, SiteLookup, TariffService

_CHUNK_PAGE = 100


class SessionSource(Protocol):
    """Stored sessions and their meter chunks."""

    def get(self, session_id: str) -> Session | None:
        """The session item alone."""
        ...

    def chunks(self, session_id: str, limit: int, cursor: str | None = None) -> Page[MeterChunk]:
        """A session's chunks, oldest first."""
        ...


@dataclass(frozen=True)
class SessionPrice:
    """A session priced: final once ended, else what it would cost if it stopped now."""

    session: Session
    final: bool
    resolved: Resolved
    priced: PricedSession


class SessionPriceService:
    """Prices stored sessions of the caller's tenant."""

    def __init__(
        self,
        *,
        sessions: SessionSource,
        sites: SiteLookup,
        tariffs: TariffService,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._sites = sites
        self._tariffs = tariffs
        self._clock = clock

    def estimate(self, principal: Principal, session_id: str) -> SessionPrice:
        """The session's price; SessionNotFoundError beyond the caller's tenant or sites."""
        session = self._sessions.get(session_id)
        if (
            session is None
            or session.tenant_id != principal.tenant_id
            or not principal.reaches(session.site_id)
        ):
            raise SessionNotFoundError(session_id)
        started = session.started_at or (session.meter_start.at if session.meter_start else None)
        if started is None:
            raise SessionNotPriceableError(session_id, "its start is not known")
        resolved = None
        # A tariff created after the session started has no version in force at its start:
        # the estimate then uses the current one (billing decides for itself).
        for moment in (started, self._clock.now()):
            resolved = resolved or self._tariffs.tariff_for(
                session.tenant_id,
                site_id=session.site_id,
                station_id=session.station_id,
                evse_id=session.evse.evse_id if session.evse else None,
                group_id=session.group_id,
                id_token=session.id_token,
                started_at=moment,
            )
        if resolved is None:
            raise ResourceNotFoundError(ASSIGNMENT, f"for session {session_id}")
        final = session.state is not SessionState.ACTIVE
        usage = self._usage(session, started, final)
        return SessionPrice(session, final, resolved, price(resolved.tariff.tariff, usage))

    def _usage(self, session: Session, started: datetime, final: bool) -> SessionUsage:
        stop = session.stopped_at if final and session.stopped_at else self._clock.now()
        return stored_usage(session, self._sessions, self._sites, started=started, stop=stop)


def stored_usage(
    session: Session,
    sessions: SessionSource,
    sites: SiteLookup,
    *,
    started: datetime,
    stop: datetime,
) -> SessionUsage:
    """A stored session's usage from `started` to `stop`: its meter readings, its site's zone.

    SessionNotPriceableError when pricing cannot take it (SessionUsage's limits).
    """
    # A session priced the instant it started (or with a station clock ahead) lasts 1 s.
    stop = max(stop, started + timedelta(seconds=1))
    site = sites.get_site(session.tenant_id, session.site_id or "")
    # One pass over the chunks: the register readings and the charging states they reported.
    readings: list[tuple[datetime, Decimal]] = []
    states: list[MeterChunk] = []
    for chunk in stored_chunks(sessions, session.id):
        readings.extend(chunk_energy(chunk))
        if chunk.charging_state is not None:
            states.append(chunk)
    try:
        samples = usage_samples(session, readings, started, stop)
        return SessionUsage(
            session_id=session.id,
            start=started,
            stop=stop,
            samples=samples,
            idle=idle_period(reported_idle(states), samples, started, stop),
            timezone=site.timezone if site is not None else "UTC",
            id_token=session.id_token,
            token_group=session.group_id,
        )
    except ValidationError as exc:
        reason = exc.errors(include_url=False)[0]["msg"]
        raise SessionNotPriceableError(session.id, reason) from None


def stored_chunks(sessions: SessionSource, session_id: str) -> Iterator[MeterChunk]:
    """The session's chunks, oldest first, page by page."""
    cursor: str | None = None
    while True:
        page = sessions.chunks(session_id, _CHUNK_PAGE, cursor)
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return


def chunk_energy(chunk: MeterChunk) -> Iterator[tuple[datetime, Decimal]]:
    """A chunk's energy register readings."""
    for reading in chunk.readings:
        wh = reading.total(Measurand.ENERGY)
        if wh is not None:
            yield reading.timestamp, wh


def usage_samples(
    session: Session,
    readings: Iterator[tuple[datetime, Decimal]] | list[tuple[datetime, Decimal]],
    start: datetime,
    stop: datetime,
) -> tuple[EnergySample, ...]:
    """The register at start, every reading between, the register at stop.

    In time order, within start-stop, never going down: a reading below an earlier one (a meter
    reset or a wrong value) is left out rather than priced as negative energy.
    """
    marks: list[tuple[datetime, Decimal]] = []
    if session.meter_start is not None:
        marks.append((max(session.meter_start.at, start), session.meter_start.wh))
    marks.extend(readings)
    if session.meter_stop_wh is not None and session.stopped_at is not None:
        marks.append((min(session.stopped_at, stop), session.meter_stop_wh))
    samples: list[EnergySample] = []
    for at, wh in sorted(m for m in marks if start <= m[0] <= stop):
        if not samples or wh >= samples[-1].wh:
            samples.append(EnergySample(at=at, wh=wh))
    # No register at all: nothing measured, so no energy (time and fees still count).
    return tuple(samples) or (EnergySample(at=start, wh=Decimal(0)),)


def idle_period(
    reported: ReportedIdle, samples: tuple[EnergySample, ...], start: datetime, stop: datetime
) -> IdlePeriod | None:
    """Plugged in after charging ended, within start-stop; None when there is no such time.

    The station's own word first: once it reported Charging, its end of charging (or its
    silence about one) stands. Else the register's last increase.
    """
    if reported.charged:
        if reported.charging_ended_at is None:
            return None
        begin = reported.charging_ended_at
        left = reported.ev_left_at
        end = min(left, stop) if left is not None else stop
    else:
        found = last_increase(samples)
        if found is None:
            return None
        begin, end = found, stop
    begin = max(begin, start)
    return IdlePeriod(start=begin, end=end) if begin < end else None


def last_increase(samples: tuple[EnergySample, ...]) -> datetime | None:
    """When energy stopped flowing for good, read from the register alone.

    The first sample at the final register value: energy never rose after it. Charging really
    ended between the sample before it and it, so the idle period found is short by at most one
    sample interval (never long). None, rather than a guess, when no energy was delivered or
    when the final value was seen only once (no flat interval: the EV may still be charging).
    A register that keeps creeping up (an EV drawing a trickle when full) shows no idle time.
    """
    final = samples[-1].wh
    if final <= samples[0].wh:
        return None
    first = next(sample for sample in samples if sample.wh == final)
    return first.at if first is not samples[-1] else None
