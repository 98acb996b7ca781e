"""The rebalance of one site: read its state, run the engine, send the profiles that changed.

One rebalance (a session started or ended, the load configuration, readings or declared needs
changed, or the periodic schedule) reads everything of the site it needs, asks the engine for
a limit per EVSE (csms.domain.load.engine) and sends a SetChargingProfile only to the EVSEs
whose limit or session changed, or whose last profile failed. Nothing is sent when nothing
changed, so a site whose sessions charge steadily costs its reads and no CALL.

Profiles (docs/adr/0010-load-management.md):
- a TxProfile on the session's EVSE (1.6: connector) naming its transaction (1.6: the integer
  id); a 1.6 session without a transaction id gets a TxDefaultProfile on its connector;
- one period from 0 (kind Relative: no clock to agree on), in A per phase for AC stations and
  W for DC; a paused session gets a limit of 0 (how OCPP pauses), never a cleared profile;
- a stable id per EVSE and purpose and stack level `PROFILE_STACK_LEVEL`, so each new profile
  replaces the previous one (1.6 §5.16.1, 2.0.1 K01.FR.05);
- AC limits on the phases of the session's limit (`ConnectorLimit.phases`): fewer than the
  station's when the EV draws on fewer, as its newest per-phase currents show.

Clearing: a TxDefaultProfile outlives its session, so once its EVSE has no session left it is
cleared (ClearChargingProfile by its id); when load management is turned off (a `LoadChanged`
with no configuration), every profile of ours in the last allocation is cleared and the
allocation forgotten, so no station stays throttled.

Delivery is followed up at the next rebalances: a profile the station rejected, answered with
a CALLERROR or did not answer is sent again after 1, 2 and 4 periods; after
`MAX_FAILURES` failures in a row the EVSE is taken to draw its maximum (reserved on every
limit above it) for `unmanaged_hold`, then tried again. A profile that expired in the queue of
an offline station is simply sent again: being offline is not ignoring profiles. A command
answered since the last rebalance makes the allocation count as changed (it is stored).

Concurrency: two rebalances of one site may run at once (a session start, the schedule). The
allocation is stored conditional on the revision read; the loser reads again and redoes its
work once (see `RebalanceService.rebalance`).

Reads per rebalance, S stations and A active sessions at the site: 1 Query (the site's load
state), 1 Query + 1 BatchGetItem (its stations), per station 1 Query of the sessions that
started since the last allocation (a few minutes, so mostly empty; the whole lookback when
there is no allocation or the configuration changed), per active session 1 Query (session and
newest meter chunk) and, for 2.0.1, 1 GetItem (the EV's charging needs), 1 GetItem per command
still in flight, and the connector statuses of stations the configuration does not name. A
session new to the site (not in the last allocation, no needs kept) is looked up once among
the vehicles of its group (Query pages of 100) for a usual departure and priority, which are
then kept with the site's needs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from csms.domain.command_records import CommandRecord, CommandState
from csms.domain.commands import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ClearChargingProfileCommand,
    Command,
    CommandStatus,
    SchedulePeriod,
    SetChargingProfileCommand,
)
from csms.domain.errors import (
    CallNotFoundError,
    CommandNotSupportedError,
    StationNotFoundError,
)
from csms.domain.load.allocation import (
    Allocation,
    ConnectorLimit,
    ProfileDelivery,
    changes,
)
from csms.domain.load.config import (
    CurrentType,
    EvseLoad,
    PhaseRotation,
    SiteLoadConfig,
    StationLoad,
    min_power_kw,
)
from csms.domain.load.engine import allocate
from csms.domain.load.inputs import available_power
from csms.domain.load.needs import (
    NEEDS_KEPT,
    DeclaredNeeds,
    NeedsSource,
    SessionDemand,
    connector_key,
)
from csms.domain.meter import Measurand
from csms.domain.sessions import (
    ChargingState,
    MeterChunk,
    Session,
    SessionState,
    SessionTotals,
    totals,
)
from csms.domain.station import ProtocolVersion, Station
from csms.domain.tenancy import DriverGroup, Vehicle
from csms.domain.tokens import token_key
from csms.services.ports import (
    ChargingNeedsRepository,
    Clock,
    ConnectorStatusRepository,
    LoadRepository,
    LoadState,
    ManagedSite,
    Page,
    SessionQuery,
    SessionRepository,
    StationQuery,
    StationRepository,
)

logger = logging.getLogger(__name__)

# Operators' own profiles usually sit at stack level 0 or 1; ours above them, and low enough
# for stations whose ChargeProfileMaxStackLevel is small (3 is common).
PROFILE_STACK_LEVEL = 2
# Profile ids of load management: BASE + 2 x EVSE (+ 1 for a TxProfile), away from the small
# ids operators pick by hand.
PROFILE_ID_BASE = 7_340_000
# A station we know nothing about is assumed to draw the most an AC station commonly can.
DEFAULT_STATION = StationLoad.model_construct(
    station_id="?",
    group_id=None,
    max_kw=22.0,
    current_type=CurrentType.AC,
    phases=3,
    voltage=230.0,
    rotation=PhaseRotation.UNKNOWN,
    evses=(EvseLoad(evse_id=1),),
)
MAX_FAILURES = 3
# Below this an EV draws nothing (kW): with a limit above its minimum it suspended itself.
_IDLE_KW = 0.1
# Bounds on one rebalance's reads, against a site that is larger than anything sensible.
_PAGE = 100
_MAX_PAGES = 50
# Runs of one rebalance: the first, and one more when another rebalance of the site stored its
# allocation between this one's read and write.
_ATTEMPTS = 2
# Per-phase currents (A): a phase carries the EV's charge from this much, and this share of
# the most loaded phase (what a 1-phase car leaves on the others is noise).
_PHASE_DRAWING_A = 1.0
_PHASE_SHARE = 0.25
_LINE_PHASES = ("L1", "L2", "L3")
_NO_CONFIG = "the site has no load configuration"


class CommandReader(Protocol):
    """Reports what became of commands sent to stations (CommandService)."""

    def result(self, tenant_id: str, station_id: str, command_id: str) -> CommandRecord:
        """The command as it stands (a timeout or an expiry it reached applied)."""
        ...


class ProfileSender(CommandReader, Protocol):
    """Sends commands to stations and reports what became of them (CommandService)."""

    def send(
        self, tenant_id: str, station_id: str, command: Command, ttl: timedelta
    ) -> CommandRecord:
        """Send now, or queue for `ttl` when the station cannot take it now."""
        ...


class GroupReader(Protocol):
    """Driver groups by id (GroupRepository): a group may carry a charging priority."""

    def get_group(self, tenant_id: str, group_id: str) -> DriverGroup | None:
        """The group, or None."""
        ...


class VehicleReader(Protocol):
    """A tenant's vehicles (VehicleRepository): usual departure and charging priority."""

    def list_vehicles(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        group_id: str | None = None,
    ) -> Page[Vehicle]:
        """By id, optionally only one group's."""
        ...


@dataclass(frozen=True)
class RebalancePolicy:
    """The rebalance's tunables (the engine has its own)."""

    # How long a profile may wait for an offline or busy station.
    profile_ttl: timedelta = timedelta(minutes=5)
    # How long clearing our profiles may wait: a profile left behind throttles the EVSE's
    # later sessions (a TxDefaultProfile), however long the station was away.
    clear_ttl: timedelta = timedelta(days=1)
    # The schedule's period: retries wait 1, 2, 4 of these.
    period: timedelta = timedelta(minutes=1)
    # How long an EVSE that failed MAX_FAILURES times counts at its maximum before a new try.
    unmanaged_hold: timedelta = timedelta(hours=1)
    # A full look for active sessions reaches back this far (longer sessions are abandoned).
    lookback: timedelta = timedelta(days=7)
    # A look since the last allocation starts this much earlier (late writes, clock skew).
    discovery_margin: timedelta = timedelta(minutes=10)
    # An allocation that did not change is stored again after this long, so that the next
    # look for new sessions stays short.
    refresh: timedelta = timedelta(minutes=15)
    # A measurement says something about the EV only under a limit in force this long.
    observe_after: timedelta = timedelta(minutes=2)
    # NotifyEVChargingNeeds may arrive just before the transaction's start is recorded.
    needs_margin: timedelta = timedelta(minutes=5)
    # The vehicle of a new session is looked for among at most this many vehicles (of its
    # group when it has one), `_PAGE` at a time.
    vehicles_read: int = 2000


@dataclass(frozen=True)
class RebalanceOutcome:
    """What one rebalance did."""

    tenant_id: str
    site_id: str
    reason: str
    # Set when load management is off at the site (nothing read beyond its state).
    skipped: str | None = None
    allocation: Allocation | None = None
    # The EVSEs a profile was sent to (or queued for), by connector key.
    sent: tuple[str, ...] = ()
    # The EVSEs whose profiles of ours were cleared (load management off, a TxDefaultProfile
    # left by a session that ended).
    cleared: tuple[str, ...] = ()
    stored: bool = False
    notes: tuple[str, ...] = field(default=())
    # Set when another rebalance of the site stored first (this one redid its work once).
    lost_races: int = 0


@dataclass(frozen=True)
class _Round:
    """What one rebalance of one site works from."""

    tenant_id: str
    config: SiteLoadConfig
    state: LoadState
    now: datetime

    @property
    def previous(self) -> Allocation | None:
        """The allocation in force before this rebalance."""
        return self.state.allocation


@dataclass(frozen=True)
class _Active:
    """An active session of the site, with its live totals and the EVSE it charges on."""

    session: Session
    live: SessionTotals
    evse_id: int
    newest: MeterChunk | None = None


class RebalanceService:
    """Rebalances one site at a time; pure apart from its ports and its clock."""

    def __init__(
        self,
        *,
        loads: LoadRepository,
        stations: StationRepository,
        sessions: SessionRepository,
        needs: ChargingNeedsRepository,
        statuses: ConnectorStatusRepository,
        sender: ProfileSender,
        clock: Clock,
        groups: GroupReader | None = None,
        vehicles: VehicleReader | None = None,
        policy: RebalancePolicy | None = None,
    ) -> None:
        self._loads = loads
        self._stations = stations
        self._sessions = sessions
        self._needs = needs
        self._statuses = statuses
        self._sender = sender
        self._clock = clock
        self._groups = groups
        self._vehicles = vehicles
        self._policy = policy or RebalancePolicy()

    # -- the periodic fan-out -------------------------------------------------------------------
    def managed_sites(self) -> Iterator[ManagedSite]:
        """Every site with load management, every tenant (the schedule asks for each)."""
        cursor: str | None = None
        while True:
            page = self._loads.managed_sites(_PAGE, cursor)
            yield from page.items
            cursor = page.next_cursor
            if cursor is None:
                return

    # -- one site -------------------------------------------------------------------------------
    def rebalance(
        self, tenant_id: str, site_id: str, reason: str, *, session_id: str | None = None
    ) -> RebalanceOutcome:
        """Rebalance the site now; `session_id` names a session the trigger is about.

        Two rebalances of a site may run at once (a session start and the schedule). Each
        stores its allocation conditional on the one it read: the one that loses reads again
        and redoes its work once, from the winner's allocation, and sends again to the EVSEs
        it had just sent to (the station may hold the loser's profile, not the winner's).
        """
        resend: set[str] = set()
        lost: list[str] = []
        for attempt in range(_ATTEMPTS):
            outcome, won = self._once(tenant_id, site_id, reason, session_id, frozenset(resend))
            if won:
                break
            resend.update(outcome.sent)
            note = f"another rebalance of the site stored first (attempt {attempt + 1}); " + (
                "redone" if attempt + 1 < _ATTEMPTS else "ALERT: given up"
            )
            logger.warning(note, extra={"tenant_id": tenant_id, "site_id": site_id})
            lost.append(note)
        return replace(outcome, notes=(*outcome.notes, *lost), lost_races=len(lost))

    def _once(
        self,
        tenant_id: str,
        site_id: str,
        reason: str,
        session_id: str | None,
        resend: frozenset[str],
    ) -> tuple[RebalanceOutcome, bool]:
        """One rebalance from one read of the site; whether its write won (or none was due)."""
        now = self._clock.now()
        state = self._loads.state(tenant_id, site_id)
        if state.config is None:
            return self._turn_off(tenant_id, site_id, reason, state)
        previous = state.allocation
        stations = self._stations_at(tenant_id, site_id)
        active, notes = self._active(
            _Round(tenant_id, state.config, state, now), stations, session_id
        )
        site_config = state.config
        state = self._usual_needs(
            tenant_id, site_id, state, active, timezone=site_config.timezone, now=now
        )
        in_use: dict[str, set[int]] = {}
        for each in active:
            in_use.setdefault(each.session.station_id, set()).add(each.evse_id)
        config = effective_config(site_config, stations, in_use, self._evses_reported)
        round_ = _Round(tenant_id, config, state, now)
        known = {d.connector: d for d in previous.deliveries} if previous else {}
        deliveries, followed = follow_up(tenant_id, known, self._sender, now, self._policy)
        for note in followed:
            logger.warning(note, extra={"tenant_id": tenant_id, "site_id": site_id})
        notes += followed
        # A command answered (or given up on) changes what the API shows: store it.
        answered = deliveries != known
        deliveries = self._observe(round_, deliveries, active)
        unmanaged = {c for c, d in deliveries.items() if _held(d, now)}
        demands = [self._demand(round_, each, deliveries) for each in active]
        # An EVSE that ignores its profiles may draw its most: the engine reserves that.
        demands = [
            replace(d, ignores_profiles=True) if d.connector in unmanaged else d for d in demands
        ]
        measured = sum(d.measured_kw or 0.0 for d in demands)
        available = available_power(config, state.readings, now, chargers_kw=measured)
        allocation = allocate(config, demands, available, now, previous=previous)
        sent, cleared, deliveries, send_notes = self._send(
            round_, allocation, active, deliveries, unmanaged, resend=resend
        )
        notes += send_notes
        allocation = allocation.model_copy(
            update={
                "notes": (*allocation.notes, *notes),
                "deliveries": tuple(deliveries[key] for key in sorted(deliveries)),
            }
        )
        stored = False
        if (
            sent
            or cleared
            or answered
            or previous is None
            or now - previous.at >= self._policy.refresh
            or not _same(previous, allocation)
        ):
            if not self._loads.put_allocation(tenant_id, allocation, state.allocation_revision):
                outcome = RebalanceOutcome(
                    tenant_id, site_id, reason, sent=tuple(sent), cleared=tuple(cleared)
                )
                return outcome, False
            stored = True
        outcome = RebalanceOutcome(
            tenant_id,
            site_id,
            reason,
            allocation=allocation,
            sent=tuple(sent),
            cleared=tuple(cleared),
            stored=stored,
            notes=tuple(notes),
        )
        return outcome, True

    def _turn_off(
        self, tenant_id: str, site_id: str, reason: str, state: LoadState
    ) -> tuple[RebalanceOutcome, bool]:
        """Load management is off: clear the profiles it left, then forget its allocation.

        A limit left in force would outlast the configuration: a TxProfile for the rest of its
        session, a TxDefaultProfile (possibly 0 A) for every later session on the EVSE.
        """
        previous = state.allocation
        if previous is None:
            return RebalanceOutcome(tenant_id, site_id, reason, skipped=_NO_CONFIG), True
        deliveries = {d.connector: d for d in previous.deliveries}
        targets: dict[str, list[ChargingProfilePurpose]] = {}
        for limit in previous.connectors:
            if limit.session_id is not None:
                targets.setdefault(limit.connector, []).append(ChargingProfilePurpose.TX)
        for key, delivery in deliveries.items():
            if delivery.tx_default:
                targets.setdefault(key, []).append(ChargingProfilePurpose.TX_DEFAULT)
        notes: list[str] = []
        cleared = [
            key for key in sorted(targets) if self._clear(tenant_id, key, targets[key], notes)
        ]
        won = self._loads.delete_allocation(tenant_id, site_id, state.allocation_revision)
        outcome = RebalanceOutcome(
            tenant_id,
            site_id,
            reason,
            skipped=_NO_CONFIG,
            cleared=tuple(cleared),
            notes=tuple(notes),
        )
        return outcome, won

    def _clear(
        self,
        tenant_id: str,
        key: str,
        purposes: Sequence[ChargingProfilePurpose],
        notes: list[str],
    ) -> bool:
        """Clear load management's profiles of these purposes on one EVSE; whether sent."""
        station_id, _, evse = key.rpartition("/")
        if not evse.isdigit():
            return False
        try:
            for purpose in purposes:
                # By id alone: the id is ours, and operators' own profiles stay untouched.
                command = ClearChargingProfileCommand(profile_id=profile_id(int(evse), purpose))
                self._sender.send(tenant_id, station_id, command, self._policy.clear_ttl)
        except (CommandNotSupportedError, StationNotFoundError) as exc:
            note = f"{key}: profile not cleared ({exc})"
            logger.warning(note, extra={"tenant_id": tenant_id, "connector": key})
            notes.append(note)
            return False
        return True

    # -- reading the site -----------------------------------------------------------------------
    def _stations_at(self, tenant_id: str, site_id: str) -> dict[str, Station]:
        found: dict[str, Station] = {}
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = self._stations.list(tenant_id, StationQuery(site_id=site_id), _PAGE, cursor)
            found.update((s.id, s) for s in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        return found

    def _active(
        self, round_: _Round, stations: dict[str, Station], hint: str | None
    ) -> tuple[list[_Active], tuple[str, ...]]:
        """The site's active sessions: those in force last time, the trigger's, and new ones."""
        tenant_id, config, previous, now = (
            round_.tenant_id,
            round_.config,
            round_.previous,
            round_.now,
        )
        ids = {c.session_id for c in previous.connectors if c.session_id} if previous else set()
        if hint is not None:
            ids.add(hint)
        policy = self._policy
        since = now - policy.lookback
        if previous is not None and previous.config_version == config.version:
            since = max(since, previous.at - policy.discovery_margin)
        for station_id in sorted(stations):
            ids.update(self._started_since(tenant_id, station_id, since))
        active: list[_Active] = []
        notes: list[str] = []
        for sid in sorted(ids):
            snapshot = self._sessions.load(sid)
            session = snapshot.session
            if (
                session is None
                or session.tenant_id != tenant_id
                or session.state is not SessionState.ACTIVE
                or session.station_id not in stations
            ):
                continue
            evse_id = session.evse.evse_id if session.evse is not None else None
            if evse_id is None or evse_id < 1:
                configured = config.station(session.station_id)
                only = configured.evses if configured is not None else ()
                if len(only) != 1:
                    notes.append(
                        f"session {sid} at {session.station_id}: EVSE unknown, not managed"
                    )
                    continue
                evse_id = only[0].evse_id
            active.append(
                _Active(session, totals(session, snapshot.newest), evse_id, snapshot.newest)
            )
        return active, tuple(notes)

    def _started_since(self, tenant_id: str, station_id: str, since: datetime) -> set[str]:
        query = SessionQuery(station_id=station_id, state=SessionState.ACTIVE, started_from=since)
        found: set[str] = set()
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = self._sessions.list(tenant_id, query, _PAGE, cursor)
            found.update(s.id for s in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        return found

    def _evses_reported(self, station_id: str) -> tuple[int, ...]:
        return tuple(
            sorted({s.evse.evse_id for s in self._statuses.list(station_id) if s.evse.evse_id > 0})
        )

    # -- following up what was sent -------------------------------------------------------------
    def _observe(
        self, round_: _Round, deliveries: dict[str, ProfileDelivery], active: Sequence[_Active]
    ) -> dict[str, ProfileDelivery]:
        """Remember what each EV takes at most: what it drew well below an accepted limit.

        Only under a limit the station accepted and that was in force for `observe_after`;
        an EV that later draws more than remembered is offered more again.
        """
        previous, now = round_.previous, round_.now
        if previous is None:
            return deliveries
        updated = dict(deliveries)
        for each in active:
            key = connector_key(each.session.station_id, each.evse_id)
            delivery = deliveries.get(key)
            held = previous.limit_of(key)
            power = each.live.power_w
            if (
                delivery is None
                or held is None
                or delivery.session_id != each.session.id
                or held.session_id != each.session.id
                or power is None
                or each.session.charging_state is ChargingState.SUSPENDED_EV
            ):
                continue
            measured = float(power) / 1000
            observed = delivery.observed_ev_max_kw
            if observed is not None and measured > observed * 1.05:
                updated[key] = delivery.model_copy(update={"observed_ev_max_kw": None})
            elif (
                delivery.accepted
                and _IDLE_KW <= measured < 0.9 * held.kw
                and now - previous.at >= self._policy.observe_after
            ):
                updated[key] = delivery.model_copy(update={"observed_ev_max_kw": measured})
        return updated

    # -- what each session needs ----------------------------------------------------------------
    def _demand(
        self, round_: _Round, active: _Active, deliveries: dict[str, ProfileDelivery]
    ) -> SessionDemand:
        config, state = round_.config, round_.state
        session, live = active.session, active.live
        key = connector_key(session.station_id, active.evse_id)
        station = config.station(session.station_id) or DEFAULT_STATION
        arrival = session.started_at or session.updated_at
        stored = state.needs.get(session.id)
        # Needs from the vehicle record rank below the EV's own (NotifyEVChargingNeeds).
        usual = stored if stored and stored.source is NeedsSource.USUAL_DEPARTURE else None
        declared = stored if stored and usual is None else None
        departure = declared.departure if declared else None
        energy = declared.energy_kwh if declared else None
        source = NeedsSource.API if declared and (departure or energy is not None) else None
        ev_max: float | None = None
        if session.protocol is ProtocolVersion.OCPP201:
            vehicle = self._needs.get(session.station_id, active.evse_id)
            if (
                vehicle is not None
                and vehicle.received_at is not None
                and vehicle.received_at >= arrival - self._policy.needs_margin
            ):
                if departure is None and vehicle.departure_time is not None:
                    departure = vehicle.departure_time
                    source = source or NeedsSource.VEHICLE
                if energy is None and vehicle.energy_amount_wh is not None:
                    energy = vehicle.energy_amount_wh / 1000
                    source = source or NeedsSource.VEHICLE
                if vehicle.ev_max_power_w:
                    ev_max = vehicle.ev_max_power_w / 1000
                elif vehicle.ev_max_current_a:
                    ev_max = vehicle.ev_max_current_a * station.voltage * station.phases / 1000
        measured = float(live.power_w) / 1000 if live.power_w is not None else None
        delivery = deliveries.get(key)
        observed = (
            delivery.observed_ev_max_kw
            if delivery is not None and delivery.session_id == session.id
            else None
        )
        if observed is not None:
            # A little above what it drew, so that an EV that can take more shows it.
            ev_max = min(ev_max, observed * 1.1) if ev_max is not None else observed * 1.1
        if departure is None and usual is not None and usual.departure is not None:
            departure = usual.departure
            source = source or NeedsSource.USUAL_DEPARTURE
        priority = next(
            (n.priority for n in (declared, usual) if n is not None and n.priority is not None),
            None,
        )
        if priority is None:
            priority = self._group_priority(round_.tenant_id, session.group_id)
        return SessionDemand(
            session_id=session.id,
            connector=key,
            arrival=arrival,
            delivered_kwh=float(live.energy_wh or 0) / 1000,
            departure=departure,
            energy_kwh=energy,
            ev_max_kw=ev_max,
            # Read off the chunk already read for the totals: no extra read.
            ev_phases=phases_drawn(active.newest),
            measured_kw=measured,
            priority=priority or 0,
            source=source or NeedsSource.UNKNOWN,
            suspended_ev=self._suspended(round_, session, measured, key, station),
        )

    def _suspended(
        self,
        round_: _Round,
        session: Session,
        measured: float | None,
        key: str,
        station: StationLoad,
    ) -> bool:
        if session.charging_state is ChargingState.SUSPENDED_EV:
            return True
        previous, config, now = round_.previous, round_.config, round_.now
        held = previous.limit_of(key) if previous else None
        # Drawing nothing under a limit it could use, for long enough: the EV stopped itself.
        return (
            measured is not None
            and measured < _IDLE_KW
            and held is not None
            and previous is not None
            and held.session_id == session.id
            and held.kw >= max(min_power_kw(station, config.min_current_a), _IDLE_KW)
            and now - previous.at >= self._policy.observe_after
        )

    def _usual_needs(
        self,
        tenant_id: str,
        site_id: str,
        state: LoadState,
        active: Sequence[_Active],
        *,
        timezone: str,
        now: datetime,
    ) -> LoadState:
        """The vehicle record's usual departure and priority for sessions new to the site.

        Looked up once per session (its first rebalance) and kept as its needs, source
        `usual-departure`: needs declared through the API replace them, the EV's own rank
        above them.
        """
        vehicles, previous = self._vehicles, state.allocation
        if vehicles is None:
            return state
        known = {c.session_id for c in previous.connectors} if previous else set()
        found: dict[str, DeclaredNeeds] = {}
        for each in active:
            session = each.session
            if session.id in known or session.id in state.needs or session.id_token is None:
                continue
            vehicle = self._vehicle_of(vehicles, tenant_id, session.id_token, session.group_id)
            if vehicle is None or (vehicle.departure is None and vehicle.charging_priority is None):
                continue
            arrival = session.started_at or session.updated_at
            departure = (
                vehicle.departure.next_after(max(arrival, now), timezone)
                if vehicle.departure is not None
                else None
            )
            needs = DeclaredNeeds(
                session_id=session.id,
                station_id=session.station_id,
                evse_id=each.evse_id,
                at=now,
                departure=departure,
                priority=vehicle.charging_priority,
                source=NeedsSource.USUAL_DEPARTURE,
            )
            self._loads.put_needs(tenant_id, site_id, needs, (departure or now) + NEEDS_KEPT)
            found[session.id] = needs
        return replace(state, needs={**state.needs, **found}) if found else state

    def _vehicle_of(
        self, vehicles: VehicleReader, tenant_id: str, token: str, group_id: str | None
    ) -> Vehicle | None:
        """The vehicle that carries this id token (of the session's group, when it has one)."""
        wanted = token_key(token)
        cursor: str | None = None
        for _ in range(max(self._policy.vehicles_read // _PAGE, 1)):
            page = vehicles.list_vehicles(tenant_id, _PAGE, cursor, group_id=group_id)
            for vehicle in page.items:
                if any(token_key(value) == wanted for value in vehicle.id_tokens):
                    return vehicle
            cursor = page.next_cursor
            if cursor is None:
                break
        return None

    def _group_priority(self, tenant_id: str, group_id: str | None) -> int | None:
        if self._groups is None or group_id is None:
            return None
        group = self._groups.get_group(tenant_id, group_id)
        priority = getattr(group, "charging_priority", None)
        return priority if isinstance(priority, int) else None

    # -- sending --------------------------------------------------------------------------------
    def _send(
        self,
        round_: _Round,
        allocation: Allocation,
        active: list[_Active],
        deliveries: dict[str, ProfileDelivery],
        unmanaged: set[str],
        *,
        resend: frozenset[str] = frozenset(),
    ) -> tuple[list[str], list[str], dict[str, ProfileDelivery], tuple[str, ...]]:
        """Profiles where a limit changed, is due again, or (`resend`) may not be in force.

        Returns the EVSEs sent to, those whose lingering TxDefaultProfile was cleared, the
        deliveries to keep and notes.
        """
        tenant_id, config, previous, now = (
            round_.tenant_id,
            round_.config,
            round_.previous,
            round_.now,
        )
        sessions = {a.session.id: a.session for a in active}
        changed = {limit.connector for limit in changes(previous, allocation)}
        due = {
            key
            for key, d in deliveries.items()
            if d.retry_at is not None and d.retry_at <= now and not d.accepted
        }
        sent: list[str] = []
        notes: list[str] = []
        deliveries = dict(deliveries)
        for limit in allocation.connectors:
            key = limit.connector
            session = sessions.get(limit.session_id or "")
            # An ended session's TxProfile ended with its transaction: nothing to send.
            if session is None or key in unmanaged or key not in changed | due | resend:
                continue
            old = deliveries.get(key)
            if old is not None and old.session_id != session.id:
                old = old.model_copy(update={"observed_ev_max_kw": None})
            station = config.station(limit.station_id) or DEFAULT_STATION
            command = profile_command(limit, session, station.current_type)
            try:
                record = self._sender.send(
                    tenant_id, limit.station_id, command, self._policy.profile_ttl
                )
            except (CommandNotSupportedError, StationNotFoundError) as exc:
                failures = (old.failures if old else 0) + 1
                note = f"{key}: profile not sent ({exc})"
                logger.warning(note, extra={"tenant_id": tenant_id, "connector": key})
                notes.append(note)
                deliveries[key] = (old or ProfileDelivery(connector=key)).model_copy(
                    update={
                        "session_id": session.id,
                        "command_id": None,
                        "accepted": False,
                        "failures": failures,
                        "retry_at": now + self._policy.period * 2 ** min(failures - 1, 6),
                    }
                )
                continue
            sent.append(key)
            default = command.profile.purpose is ChargingProfilePurpose.TX_DEFAULT
            deliveries[key] = (old or ProfileDelivery(connector=key)).model_copy(
                update={
                    "session_id": session.id,
                    "command_id": record.id,
                    "accepted": False,
                    "retry_at": None,
                    "unmanaged_until": None,
                    # Once set, a TxDefaultProfile stays on the connector (a later TxProfile
                    # only outranks it) until it is cleared.
                    "tx_default": default or (old is not None and old.tx_default),
                }
            )
        # Deliveries of EVSEs without a session are forgotten, except a hold still in force;
        # a TxDefaultProfile they leave behind is cleared first, or it would limit whatever
        # session comes next, even with load management off by then.
        live = {limit.connector for limit in allocation.connectors if limit.session_id}
        cleared: list[str] = []
        kept: dict[str, ProfileDelivery] = {}
        for key, delivery in deliveries.items():
            if key in live or _held(delivery, now):
                kept[key] = delivery
            elif delivery.tx_default and self._clear(
                tenant_id, key, (ChargingProfilePurpose.TX_DEFAULT,), notes
            ):
                cleared.append(key)
        return sent, cleared, kept, tuple(notes)


# -- pure helpers (tested directly) --------------------------------------------------------------


def profile_command(
    limit: ConnectorLimit, session: Session, current_type: CurrentType
) -> SetChargingProfileCommand:
    """The SetChargingProfile that puts one EVSE's limit in force for its session.

    A TxProfile names the session's transaction: the 1.6 integer id, the 2.0.1 string id. A
    1.6 session without one (its StartTransaction not answered yet) gets a TxDefaultProfile,
    which the station applies to the transaction that starts on the connector.
    """
    transaction_16 = session.ocpp16_id
    if transaction_16 is None and session.transaction_id.isdigit():
        transaction_16 = int(session.transaction_id)
    has_transaction = session.protocol is ProtocolVersion.OCPP201 or transaction_16 is not None
    purpose = ChargingProfilePurpose.TX if has_transaction else ChargingProfilePurpose.TX_DEFAULT
    if current_type is CurrentType.AC and limit.amps is not None:
        # Rounded down to the 0.1 A that 1.6 schedules carry: never above the allocation.
        unit, value = ChargingRateUnit.A, math.floor(limit.amps * 10 + 1e-9) / 10
        phases: int | None = limit.phases
    else:
        unit, value, phases = ChargingRateUnit.W, float(math.floor(limit.kw * 1000 + 1e-6)), None
    profile = ChargingProfile(
        id=profile_id(limit.evse_id, purpose),
        stack_level=PROFILE_STACK_LEVEL,
        purpose=purpose,
        kind=ChargingProfileKind.RELATIVE,
        transaction_id=session.transaction_id if has_transaction else None,
        ocpp16_transaction_id=transaction_16 if has_transaction else None,
        schedule=ChargingSchedule(
            charging_rate_unit=unit,
            periods=(SchedulePeriod(start_period=0, limit=max(value, 0.0), number_phases=phases),),
        ),
    )
    return SetChargingProfileCommand(evse_id=limit.evse_id, profile=profile)


def profile_id(evse_id: int, purpose: ChargingProfilePurpose) -> int:
    """The id of load management's profile of one purpose on one EVSE (stable: it replaces)."""
    return PROFILE_ID_BASE + 2 * evse_id + (1 if purpose is ChargingProfilePurpose.TX else 0)


def effective_config(
    config: SiteLoadConfig,
    stations: dict[str, Station],
    in_use: dict[str, set[int]],
    reported_evses: Callable[[str], tuple[int, ...]],
) -> SiteLoadConfig:
    """The stored configuration with every station and EVSE in use at the site in it.

    A station of the site the configuration does not name hangs directly below the site with
    `DEFAULT_STATION`'s ratings (its most, since we know nothing) and the EVSEs it reported
    or charges on; an EVSE in use that a named station does not list is added to it, so that
    no session draws outside the tree.
    """
    named = {s.station_id for s in config.stations}
    updated: list[StationLoad] = []
    for station in config.stations:
        listed = {e.evse_id for e in station.evses}
        extra = sorted(in_use.get(station.station_id, set()) - listed)
        evses = (*station.evses, *(EvseLoad(evse_id=e) for e in extra))
        updated.append(station.model_copy(update={"evses": evses}) if extra else station)
    for station_id in sorted(set(stations) - named):
        evse_ids = sorted(set(reported_evses(station_id)) | in_use.get(station_id, set())) or [1]
        updated.append(
            DEFAULT_STATION.model_copy(
                update={
                    "station_id": station_id,
                    "evses": tuple(EvseLoad(evse_id=e) for e in evse_ids if 1 <= e <= 99),
                }
            )
        )
    if len(updated) == len(config.stations) and all(
        a is b for a, b in zip(updated, config.stations, strict=True)
    ):
        return config
    # Not validated again: the stored part was, and what is added hangs below the site.
    return config.model_copy(update={"stations": tuple(updated)})


def follow_up(
    tenant_id: str,
    deliveries: Mapping[str, ProfileDelivery],
    commands: CommandReader,
    now: datetime,
    policy: RebalancePolicy,
) -> tuple[dict[str, ProfileDelivery], tuple[str, ...]]:
    """Each EVSE's delivery with the outcome of its command in flight, read now; and notes.

    One read per command in flight (sent, not yet answered, not waiting for a retry). An
    accepted profile resets the failures; a rejected, failed or unanswered one is retried
    after 1, 2, 4 periods, and after MAX_FAILURES in a row the EVSE is held at its maximum.
    The rebalance stores what this returns; the load view (csms.services.load) shows it.
    """
    updated = dict(deliveries)
    notes: list[str] = []
    for key, delivery in deliveries.items():
        if delivery.command_id is None or delivery.accepted or delivery.retry_at is not None:
            continue
        station_id = key.rpartition("/")[0]
        try:
            record: CommandRecord | None = commands.result(
                tenant_id, station_id, delivery.command_id
            )
        except CallNotFoundError:
            record = None
        state = record.state if record is not None else CommandState.FAILED
        if state in (CommandState.QUEUED, CommandState.PENDING):
            continue
        if state is CommandState.ANSWERED and record and record.status is CommandStatus.ACCEPTED:
            updated[key] = delivery.model_copy(
                update={"accepted": True, "failures": 0, "unmanaged_until": None}
            )
            continue
        if state in (CommandState.EXPIRED, CommandState.CANCELLED):
            # The station was offline for the profile's whole life: send a fresh one.
            updated[key] = delivery.model_copy(update={"retry_at": now})
            continue
        failures = delivery.failures + 1
        why = _failure(record, state)
        update: dict[str, object] = {
            "failures": failures,
            "retry_at": now + policy.period * 2 ** min(failures - 1, 6),
        }
        if failures >= MAX_FAILURES:
            until = now + policy.unmanaged_hold
            update["unmanaged_until"] = until
            update["retry_at"] = until
            notes.append(
                f"ALERT {key}: {failures} profiles failed in a row ({why}); the EVSE is "
                f"taken to draw its maximum until {until:%Y-%m-%dT%H:%MZ}"
            )
        else:
            notes.append(f"{key}: profile {delivery.command_id} failed ({why}); retried later")
        updated[key] = delivery.model_copy(update=update)
    return updated, tuple(notes)


def phases_drawn(chunk: MeterChunk | None) -> int | None:
    """On how many phases the EV draws, from the newest per-phase currents; None: not known.

    Only a reading with Current.Import on each of L1, L2 and L3 tells (a station that reports
    one phase says nothing about the others), and only while the EV draws: a 1-phase car on a
    3-phase station shows its current on one phase and next to nothing on the others.
    """
    if chunk is None:
        return None
    for reading in reversed(chunk.readings):
        currents = reading.per_phase(Measurand.CURRENT)
        if not all(phase in currents for phase in _LINE_PHASES):
            continue
        values = [float(currents[phase]) for phase in _LINE_PHASES]
        top = max(values)
        if top < _PHASE_DRAWING_A:
            return None
        return sum(1 for v in values if v >= max(_PHASE_DRAWING_A, top * _PHASE_SHARE))
    return None


def _held(delivery: ProfileDelivery, now: datetime) -> bool:
    return delivery.unmanaged_until is not None and delivery.unmanaged_until > now


def _failure(record: CommandRecord | None, state: CommandState) -> str:
    if record is None:
        return "the command record is gone"
    if state is CommandState.ANSWERED:
        return f"answered {record.status.value if record.status else 'without a status'}"
    if state is CommandState.FAILED:
        return f"CALLERROR {record.error_code or '?'}"
    return "no answer in time"


def _same(previous: Allocation | None, current: Allocation) -> bool:
    """Whether storing `current` would change nothing but the time."""
    if previous is None:
        return False
    return previous.model_dump(exclude={"at"}) == current.model_dump(exclude={"at"})
