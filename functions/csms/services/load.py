"""Load management as operators and integrations use it: configuration, readings, needs.

The rebalance itself (csms.services.rebalance) reads what this service stores; every change
here that can move a limit publishes `LoadChanged` with the write that records it (the outbox),
and the rebalance runs on it:
- a configuration put or deleted: always;
- declared needs: always;
- readings: only when they move the power available to the chargers by REBALANCE_ON_KW or
  more, or bring a silent meter back (or let it fall silent). A meter posting every 10 s would
  otherwise rebalance the site every 10 s; small drifts wait for the periodic rebalance
  (1 minute), which reads every fresh reading anyway.

Sites are the caller's and within reach, or absent (404 like another tenant's). A station named
in a configuration must be an active station of this tenant at this very site.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from csms.domain.access import Principal
from csms.domain.errors import (
    ConcurrentModificationError,
    InvalidLoadInputError,
    InvalidReferenceError,
    ResourceNotFoundError,
    SessionNotActiveError,
    SessionNotFoundError,
    VersionMismatchError,
)
from csms.domain.events import LoadChanged
from csms.domain.load.allocation import Allocation
from csms.domain.load.config import SiteLoadConfig
from csms.domain.load.inputs import MAX_FUTURE, Available, Constraint, Reading, available_power
from csms.domain.load.needs import NEEDS_KEPT, DeclaredNeeds, NeedsSource
from csms.domain.sessions import SessionState
from csms.domain.tenancy import validate_timezone
from csms.services.ports import (
    Clock,
    LoadRepository,
    LoadState,
    SessionRepository,
    SiteDirectory,
    SiteRef,
    StationQuery,
    StationRepository,
)
from csms.services.rebalance import CommandReader, RebalancePolicy, follow_up

KIND = "load-config"
MAX_READINGS = 100
# Readings older than this are refused: a backfill of yesterday moves no limit today.
MAX_READING_AGE = timedelta(hours=24)
# A forecast valid further ahead than this is refused (a typo in the year, most likely).
MAX_FORECAST = timedelta(hours=48)
# Readings are kept this long past their staleness limit (clock skew between meter and CSMS).
READING_MARGIN = timedelta(minutes=5)
# Readings whose available power differs by less than this wait for the periodic rebalance.
REBALANCE_ON_KW = 1.0
# Declared needs: a departure at most this far ahead.
MAX_DEPARTURE_AHEAD = timedelta(days=7)
# Writes without If-Match that keep losing races give up after this many attempts.
_ATTEMPTS = 3
# Stations of a site are read this many at a time.
_PAGE = 100
_DEFAULT_STALE = timedelta(seconds=300)

Reason = Literal["config", "readings", "needs"]


@dataclass(frozen=True)
class ConfigChange:
    """A configuration before (None: new) and after a put."""

    before: SiteLoadConfig | None
    after: SiteLoadConfig


@dataclass(frozen=True)
class ReadingsOutcome:
    """What became of a batch of readings."""

    accepted: int
    # Whether they changed the available power enough to rebalance the site now.
    rebalance: bool


@dataclass(frozen=True)
class SiteLoad:
    """A site's configuration and the allocation in force (or, never rebalanced, none yet)."""

    config: SiteLoadConfig
    allocation: Allocation
    rebalanced: bool


class LoadService:
    """The load-management use cases of the HTTP API (not the rebalance)."""

    def __init__(
        self,
        *,
        loads: LoadRepository,
        sites: SiteDirectory,
        stations: StationRepository,
        sessions: SessionRepository,
        clock: Clock,
        commands: CommandReader | None = None,
    ) -> None:
        self._loads = loads
        self._sites = sites
        self._stations = stations
        self._sessions = sessions
        self._clock = clock
        self._commands = commands

    # -- configuration ------------------------------------------------------------------------

    def config(self, principal: Principal, site_id: str) -> SiteLoadConfig:
        """The site's configuration; 404 when the site has none (no load management)."""
        return self._configured(principal, site_id)[1]

    def put_config(
        self,
        principal: Principal,
        site_id: str,
        spec: Mapping[str, Any],
        expected: int | None = None,
    ) -> ConfigChange:
        """Create or replace the configuration (`spec`: its fields by Python name).

        `timezone` left out (or null) is the site's. With `expected`, only that version is
        replaced (VersionMismatchError otherwise, including when none is stored).
        """
        site = self._site(principal, site_id)
        tenant = principal.tenant_id
        fields = {key: value for key, value in spec.items() if value is not None}
        fields.setdefault("timezone", site.timezone)
        fields.update(site_id=site_id, version=1)
        draft = _validated(fields)
        self._check_stations(tenant, draft)
        for _ in range(_ATTEMPTS):
            current = self._loads.state(tenant, site_id).config
            held = current.version if current is not None else None
            if expected is not None and held != expected:
                raise VersionMismatchError(KIND, site_id)
            config = draft.model_copy(update={"version": (held or 0) + 1})
            if self._loads.put_config(tenant, config, held, [self._changed(tenant, site_id)]):
                return ConfigChange(before=current, after=config)
            if expected is not None:
                raise VersionMismatchError(KIND, site_id)
        raise ConcurrentModificationError(KIND, site_id)

    def delete_config(
        self, principal: Principal, site_id: str, expected: int | None = None
    ) -> SiteLoadConfig:
        """Turn load management off; the configuration deleted is returned."""
        tenant = principal.tenant_id
        for _ in range(_ATTEMPTS):
            current = self.config(principal, site_id)
            if expected is not None and current.version != expected:
                raise VersionMismatchError(KIND, site_id)
            event = self._changed(tenant, site_id)
            if self._loads.delete_config(tenant, site_id, current.version, [event]):
                return current
            if expected is not None:
                raise VersionMismatchError(KIND, site_id)
        raise ConcurrentModificationError(KIND, site_id)

    # -- readings -----------------------------------------------------------------------------

    def record_readings(
        self, principal: Principal, site_id: str, readings: Sequence[Reading]
    ) -> ReadingsOutcome:
        """Keep readings of the site meter, PV and battery until they go stale."""
        now = self._clock.now()
        _check_readings(readings, now)
        state, config = self._configured(principal, site_id)
        stale_after = timedelta(seconds=config.meter.stale_after_s) if config.meter else None
        expires_at = max(r.valid_until or r.at + (stale_after or _DEFAULT_STALE) for r in readings)
        expires_at += READING_MARGIN
        if expires_at <= now:
            # Accepted (a late delivery is no error) but stale already: nothing to keep.
            return ReadingsOutcome(accepted=len(readings), rebalance=False)
        rebalance = _moves_available(config, state, tuple(readings), now)
        events = [self._changed(principal.tenant_id, site_id, "readings")] if rebalance else []
        self._loads.add_readings(principal.tenant_id, site_id, readings, expires_at, events)
        return ReadingsOutcome(accepted=len(readings), rebalance=rebalance)

    # -- declared needs -----------------------------------------------------------------------

    def declare_needs(
        self,
        principal: Principal,
        session_id: str,
        *,
        departure: datetime | None = None,
        energy_kwh: float | None = None,
        priority: int | None = None,
    ) -> DeclaredNeeds:
        """Departure, energy and priority of an active session, declared by driver or fleet."""
        now = self._clock.now()
        session = self._sessions.get(session_id)
        if session is None or session.tenant_id != principal.tenant_id:
            raise SessionNotFoundError(session_id)
        site_id = session.site_id
        if site_id is None:
            station = self._stations.get(session.station_id)
            site_id = station.site_id if station is not None else None
        if not principal.reaches(site_id):
            raise SessionNotFoundError(session_id)
        if session.state is not SessionState.ACTIVE:
            raise SessionNotActiveError(session_id)
        if departure is not None and not now < departure <= now + MAX_DEPARTURE_AHEAD:
            raise InvalidLoadInputError(
                "needs", "departure must be in the future, and at most 7 days ahead"
            )
        state = self._loads.state(principal.tenant_id, site_id) if site_id else None
        if site_id is None or state is None or state.config is None:
            raise ResourceNotFoundError(KIND, site_id or f"(the site of session {session_id})")
        # What the vehicle record gave (usual departure, priority) stands where this is silent.
        usual = state.needs.get(session_id)
        if usual is not None and usual.source is NeedsSource.USUAL_DEPARTURE:
            departure = departure or usual.departure
            priority = usual.priority if priority is None else priority
        needs = DeclaredNeeds(
            session_id=session_id,
            station_id=session.station_id,
            evse_id=session.evse.evse_id if session.evse is not None else 1,
            at=now,
            departure=departure,
            energy_kwh=energy_kwh,
            priority=priority,
            source=NeedsSource.API,
        )
        expires_at = (departure or now) + NEEDS_KEPT
        event = self._changed(principal.tenant_id, site_id, "needs")
        self._loads.put_needs(principal.tenant_id, site_id, needs, expires_at, [event])
        return needs

    # -- the allocation -----------------------------------------------------------------------

    def site_load(self, principal: Principal, site_id: str) -> SiteLoad:
        """The allocation in force; before the first rebalance, the power available now.

        Profiles still in flight when the allocation was stored are looked up now (one read
        each), so that an answer the next rebalance has not stored yet shows already. Cheaper
        than storing on each answer: that would put a read and a write of the site's large
        allocation item on the station's message path, for a view that is rarely read.
        """
        state, config = self._configured(principal, site_id)
        now = self._clock.now()
        if state.allocation is not None:
            allocation = self._followed_up(principal.tenant_id, state.allocation, now)
            return SiteLoad(config=config, allocation=allocation, rebalanced=True)
        available = available_power(config, state.readings, now)
        empty = Allocation(
            site_id=site_id,
            at=now,
            config_version=config.version,
            available_kw=available.kw,
            constraint=available.constraint.value,
            building_kw=available.building_kw,
            pv_kw=available.pv_kw,
            battery_kw=available.battery_kw,
            notes=(*available.notes, "not rebalanced yet"),
        )
        return SiteLoad(config=config, allocation=empty, rebalanced=False)

    # -- helpers ------------------------------------------------------------------------------

    def _followed_up(self, tenant_id: str, allocation: Allocation, now: datetime) -> Allocation:
        """The allocation with its deliveries as the next rebalance will find them."""
        if self._commands is None or not allocation.deliveries:
            return allocation
        known = {d.connector: d for d in allocation.deliveries}
        deliveries, notes = follow_up(tenant_id, known, self._commands, now, RebalancePolicy())
        if deliveries == known:
            return allocation
        return allocation.model_copy(
            update={
                "deliveries": tuple(deliveries[key] for key in sorted(deliveries)),
                "notes": (*allocation.notes, *notes),
            }
        )

    def _site(self, principal: Principal, site_id: str) -> SiteRef:
        site = self._sites.site(principal.tenant_id, site_id)
        if site is None or not principal.reaches(site_id):
            raise ResourceNotFoundError("site", site_id)
        return site

    def _configured(self, principal: Principal, site_id: str) -> tuple[LoadState, SiteLoadConfig]:
        self._site(principal, site_id)
        state = self._loads.state(principal.tenant_id, site_id)
        if state.config is None:
            raise ResourceNotFoundError(KIND, site_id)
        return state, state.config

    def _check_stations(self, tenant_id: str, config: SiteLoadConfig) -> None:
        """Every station named is an active station of the tenant at this site."""
        if not config.stations:
            return
        at_site: set[str] = set()
        cursor: str | None = None
        query = StationQuery(site_id=config.site_id)
        while True:
            page = self._stations.list(tenant_id, query, _PAGE, cursor)
            at_site.update(station.id for station in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        for index, station in enumerate(config.stations):
            if station.station_id not in at_site:
                raise InvalidReferenceError(
                    f"stations[{index}].stationId",
                    f"active station at site {config.site_id!r}",
                    station.station_id,
                )

    def _changed(self, tenant_id: str, site_id: str, reason: Reason = "config") -> LoadChanged:
        return LoadChanged(
            tenant_id=tenant_id, occurred_at=self._clock.now(), site_id=site_id, reason=reason
        )


def _validated(fields: Mapping[str, Any]) -> SiteLoadConfig:
    """The configuration, or InvalidLoadInputError saying what is wrong with it."""
    try:
        validate_timezone(str(fields["timezone"]))
        return SiteLoadConfig.model_validate(fields)
    except ValidationError as exc:
        messages = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            messages.append(f"{where}: {message}" if where else message)
        raise InvalidLoadInputError(KIND, "; ".join(messages)) from None
    except ValueError as exc:
        raise InvalidLoadInputError(KIND, f"timezone: {exc}") from None


def _check_readings(readings: Sequence[Reading], now: datetime) -> None:
    if not 1 <= len(readings) <= MAX_READINGS:
        raise InvalidLoadInputError("readings", f"send 1 to {MAX_READINGS} readings at a time")
    for index, reading in enumerate(readings):
        where = f"readings[{index}]"
        if reading.at > now + MAX_FUTURE:
            raise InvalidLoadInputError(
                "readings", f"{where}.at is more than 5 minutes in the future"
            )
        if reading.at < now - MAX_READING_AGE:
            raise InvalidLoadInputError("readings", f"{where}.at is more than 24 hours old")
        until = reading.valid_until
        if until is not None and not reading.at < until <= now + MAX_FORECAST:
            raise InvalidLoadInputError(
                "readings", f"{where}.validUntil must follow `at`, at most 48 hours from now"
            )


def _moves_available(
    config: SiteLoadConfig, state: LoadState, new: tuple[Reading, ...], now: datetime
) -> bool:
    """Whether the new readings change what the chargers may draw enough to rebalance now."""
    # What the chargers were last allowed stands in for what they draw (a grid meter's reading
    # includes them); both sides of the comparison use it, so it cancels out.
    chargers_kw = state.allocation.allocated_kw if state.allocation is not None else 0.0
    before = available_power(config, state.readings, now, chargers_kw)
    after = available_power(config, (*new, *state.readings), now, chargers_kw)
    return abs(after.kw - before.kw) >= REBALANCE_ON_KW or _silent(before) != _silent(after)


def _silent(available: Available) -> bool:
    return available.constraint is Constraint.METER_STALE
