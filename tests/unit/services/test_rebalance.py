"""RebalanceService: one site's rebalance, the profiles it sends and how it follows them up."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.conftest import World
from tests.fakes import T0, InMemorySiteDirectory, a_binding, a_station

from csms.domain.access import Principal, Role
from csms.domain.command_records import CommandState
from csms.domain.commands import (
    ChargingProfilePurpose,
    CommandStatus,
)
from csms.domain.connector import EvseRef
from csms.domain.load import engine
from csms.domain.load.allocation import Allocation, ConnectorLimit, ProfileDelivery, Reason
from csms.domain.load.config import CurrentType, EvseLoad, SiteLoadConfig, StationLoad
from csms.domain.load.inputs import Reading as LoadReading
from csms.domain.load.needs import DeclaredNeeds, NeedsSource, SessionDemand
from csms.domain.meter import Measurand, Sample
from csms.domain.meter import Reading as MeterReading
from csms.domain.notifications import ChargingNeeds, EnergyTransferMode
from csms.domain.sessions import ChargingState, MeterChunk, MeterMark, Session, new_session
from csms.domain.station import ProtocolVersion
from csms.domain.tenancy import Departure, DriverGroup, GroupKind, Vehicle
from csms.services import rebalance as rebalance_module
from csms.services.load import LoadService
from csms.services.ports import LoadState, ManagedSite, Page, SiteRef
from csms.services.rebalance import (
    MAX_FAILURES,
    PROFILE_STACK_LEVEL,
    RebalancePolicy,
    RebalanceService,
    effective_config,
    profile_command,
    profile_id,
)

V16 = ProtocolVersion.OCPP16
V201 = ProtocolVersion.OCPP201
TENANT = "tenant-a"
SITE = "site-1"


@dataclass
class Loads:
    """The LoadRepository port as far as the rebalance uses it (state, allocation, sites)."""

    config: SiteLoadConfig | None = None
    allocation: Allocation | None = None
    readings: tuple[LoadReading, ...] = ()
    needs: dict[str, DeclaredNeeds] = field(default_factory=dict)
    sites: list[ManagedSite] = field(default_factory=list)
    puts: int = 0
    needs_puts: int = 0
    revision: int = 0
    deletes: int = 0
    # Called just before each conditional write: a test's other rebalance gets in there.
    before_write: Callable[[], None] | None = None

    def state(self, tenant_id: str, site_id: str) -> LoadState:
        return LoadState(
            config=self.config,
            allocation=self.allocation,
            readings=self.readings,
            needs=self.needs,
            allocation_revision=self.revision,
        )

    def _racing(self) -> None:
        hook, self.before_write = self.before_write, None
        if hook is not None:
            hook()

    def put_allocation(
        self, tenant_id: str, allocation: Allocation, expected_revision: int
    ) -> bool:
        self._racing()
        if expected_revision != self.revision:
            return False
        self.allocation = allocation
        self.revision += 1
        self.puts += 1
        return True

    def delete_allocation(self, tenant_id: str, site_id: str, expected_revision: int) -> bool:
        self._racing()
        if expected_revision != self.revision:
            return False
        self.allocation = None
        self.revision = 0
        self.deletes += 1
        return True

    def managed_sites(self, limit: int, cursor: str | None = None) -> Page[ManagedSite]:
        start = int(cursor or 0)
        end = start + limit
        return Page(self.sites[start:end], str(end) if end < len(self.sites) else None)

    def put_config(self, *args: Any) -> bool:  # pragma: no cover - not used here
        raise NotImplementedError

    def delete_config(self, *args: Any) -> bool:  # pragma: no cover - not used here
        raise NotImplementedError

    def add_readings(self, *args: Any) -> None:  # pragma: no cover - not used here
        raise NotImplementedError

    def put_needs(
        self,
        tenant_id: str,
        site_id: str,
        needs: DeclaredNeeds,
        expires_at: datetime,
        events: Any = (),
    ) -> None:
        assert expires_at > needs.at
        self.needs = {**self.needs, needs.session_id: needs}
        self.needs_puts += 1


class Vehicles:
    """Vehicles of one tenant, one per page (so that lookups turn pages)."""

    def __init__(self, *vehicles: Vehicle) -> None:
        self.vehicles = list(vehicles)
        self.reads = 0

    def list_vehicles(
        self, tenant_id: str, limit: int, cursor: str | None = None, group_id: str | None = None
    ) -> Page[Vehicle]:
        self.reads += 1
        mine = [v for v in self.vehicles if group_id is None or v.group_id == group_id]
        start = int(cursor or 0)
        return Page(mine[start : start + 1], str(start + 1) if start + 1 < len(mine) else None)


class Groups:
    def __init__(self, priority: int | None) -> None:
        self.priority = priority
        self.reads = 0

    def get_group(self, tenant_id: str, group_id: str) -> DriverGroup | None:
        self.reads += 1
        group = DriverGroup(id=group_id, name="Fleet", kind=GroupKind.FLEET)
        return group.model_copy(update={"charging_priority": self.priority})


@dataclass
class Site:
    world: World
    loads: Loads
    service: RebalanceService
    groups: Groups
    vehicles: Vehicles

    def frames(self) -> list[list[Any]]:
        frames = [json.loads(frame) for _, frame in self.world.sender.sent]
        self.world.sender.sent.clear()
        return frames

    def answer_last(self, station_id: str, status: CommandStatus) -> None:
        """Answer the station's outstanding profile (there must be one)."""
        record = next(
            r
            for (sid, _), r in reversed(self.world.calls.calls.items())
            if sid == station_id and r.state is CommandState.PENDING
        )
        self.world.commands.answer(record, status, {"status": status.value})

    def accept_all(self, station_id: str) -> None:
        """Accept every profile the station has outstanding or queued, in order."""
        while any(
            sid == station_id and r.state is CommandState.PENDING
            for (sid, _), r in self.world.calls.calls.items()
        ):
            self.answer_last(station_id, CommandStatus.ACCEPTED)

    def run(self, **kw: Any) -> rebalance_module.RebalanceOutcome:
        return self.service.rebalance(TENANT, SITE, "test", **kw)


def config(*stations: StationLoad, limit_kw: float = 50.0, **over: Any) -> SiteLoadConfig:
    return SiteLoadConfig(site_id=SITE, limit_kw=limit_kw, stations=stations, **over)


def ac(station_id: str = "CP-1", max_kw: float = 22.0, **over: Any) -> StationLoad:
    return StationLoad(station_id=station_id, max_kw=max_kw, **over)


def online(world: World, station_id: str, protocol: ProtocolVersion = V201) -> None:
    world.stations_repo.register(a_station(id=station_id))
    world.stations_repo.bind(
        a_binding(station_id=station_id, connection_id=f"conn-{station_id}", protocol=protocol)
    )


def charging(
    world: World,
    station_id: str = "CP-1",
    evse_id: int = 1,
    *,
    protocol: ProtocolVersion = V201,
    transaction_id: str | None = None,
    ocpp16_id: int | None = None,
    started: datetime = T0,
    power_kw: float | None = 11.0,
    energy_wh: int = 2000,
    **over: Any,
) -> Session:
    """An active session on the EVSE, stored."""
    tx = transaction_id or (
        str(ocpp16_id) if ocpp16_id is not None else f"tx-{station_id}-{evse_id}"
    )
    session = new_session(
        tenant_id=TENANT,
        station_id=station_id,
        transaction_id=tx,
        protocol=protocol,
        now=started,
        ocpp16_id=ocpp16_id,
        site_id=SITE,
    ).model_copy(
        update={
            "evse": EvseRef(evse_id=evse_id, connector_id=1),
            "started_at": started,
            "meter_start": MeterMark(wh=Decimal(0), at=started),
            "meter_last": MeterMark(wh=Decimal(energy_wh), at=started),
            "power_w": None if power_kw is None else Decimal(str(power_kw * 1000)),
            **over,
        }
    )
    assert world.sessions_repo.create(session)
    return session


@pytest.fixture
def site(world: World) -> Site:
    world.clock.at = T0 + timedelta(minutes=30)
    loads = Loads(config=config(ac("CP-1"), ac("CP-2")))
    groups = Groups(priority=None)
    vehicles = Vehicles()
    service = RebalanceService(
        loads=loads,
        stations=world.stations_repo,
        sessions=world.sessions_repo,
        needs=world.needs,
        statuses=world.statuses,
        sender=world.commands,
        clock=world.clock,
        groups=groups,
        vehicles=vehicles,
    )
    online(world, "CP-1")
    online(world, "CP-2")
    return Site(world, loads, service, groups, vehicles)


def sent_profile(frame: list[Any]) -> tuple[str, dict[str, Any]]:
    """The action and payload of a CALL frame."""
    assert frame[0] == 2
    return frame[2], frame[3]


# -- load management off ---------------------------------------------------------------------


def test_rebalance_without_config_does_nothing(site: Site) -> None:
    # GIVEN a site with a session but no load configuration (load management off)
    site.loads.config = None
    charging(site.world, "CP-1")
    # WHEN it is rebalanced
    outcome = site.run()
    # THEN nothing is sent or stored, and the outcome says why
    assert outcome.skipped == "the site has no load configuration"
    assert site.world.sender.sent == []
    assert site.loads.puts == 0


# -- profiles per version and state ------------------------------------------------------------


def test_rebalance_201_session_gets_a_tx_profile_in_amperes_on_its_evse(site: Site) -> None:
    # GIVEN a 2.0.1 session on CP-1 EVSE 2 and a 10 kW site limit
    site.loads.config = config(
        ac("CP-1", evses=(EvseLoad(evse_id=1), EvseLoad(evse_id=2))), ac("CP-2"), limit_kw=10
    )
    session = charging(site.world, "CP-1", 2, transaction_id="tx-201")
    # WHEN the site is rebalanced
    outcome = site.run()
    # THEN one SetChargingProfile goes to EVSE 2: a TxProfile naming the transaction, one
    # period from 0 in A per phase (3 phases), never above the allocation
    [frame] = site.frames()
    action, payload = sent_profile(frame)
    assert action == "SetChargingProfile"
    assert payload["evseId"] == 2
    profile = payload["chargingProfile"]
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["transactionId"] == "tx-201"
    assert profile["stackLevel"] == PROFILE_STACK_LEVEL
    assert profile["id"] == profile_id(2, ChargingProfilePurpose.TX)
    assert profile["chargingProfileKind"] == "Relative"
    [schedule] = profile["chargingSchedule"]
    assert schedule["chargingRateUnit"] == "A"
    [period] = schedule["chargingSchedulePeriod"]
    assert period["startPeriod"] == 0
    assert period["numberPhases"] == 3
    limit = outcome.allocation.limit_of("CP-1/2") if outcome.allocation else None
    assert limit is not None
    assert limit.session_id == session.id
    assert limit.amps is not None
    assert period["limit"] <= limit.amps + 1e-9
    assert period["limit"] * 230 * 3 / 1000 <= 10
    # AND the allocation is stored with the command that carries it
    assert site.loads.puts == 1
    [delivery] = site.loads.allocation.deliveries if site.loads.allocation else ()
    assert delivery.connector == "CP-1/2"
    assert delivery.command_id == frame[1]


def test_rebalance_16_session_gets_a_tx_profile_with_its_integer_transaction(site: Site) -> None:
    # GIVEN a 1.6 station with a session that has its integer transaction id
    online(site.world, "CP-1", V16)
    charging(site.world, "CP-1", protocol=V16, ocpp16_id=42)
    # WHEN the site is rebalanced
    site.run()
    # THEN the 1.6 TxProfile goes to connector 1 and names transaction 42
    [frame] = site.frames()
    action, payload = sent_profile(frame)
    assert action == "SetChargingProfile"
    assert payload["connectorId"] == 1
    profile = payload["csChargingProfiles"]
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["transactionId"] == 42
    assert profile["chargingSchedule"]["chargingRateUnit"] == "A"


def test_rebalance_16_session_without_transaction_gets_a_tx_default_profile(site: Site) -> None:
    # GIVEN a 1.6 session the CSMS knows before its transaction id (none yet)
    online(site.world, "CP-1", V16)
    charging(site.world, "CP-1", protocol=V16, transaction_id="pending-start")
    # WHEN the site is rebalanced
    site.run()
    # THEN a TxDefaultProfile goes to its connector, without a transaction
    [frame] = site.frames()
    _, payload = sent_profile(frame)
    profile = payload["csChargingProfiles"]
    assert profile["chargingProfilePurpose"] == "TxDefaultProfile"
    assert "transactionId" not in profile
    assert profile["chargingProfileId"] == profile_id(1, ChargingProfilePurpose.TX_DEFAULT)


def test_profile_command_dc_station_is_limited_in_watts() -> None:
    # GIVEN a DC EVSE's limit of 49.9996 kW
    limit = ConnectorLimit(
        connector="DC-1/1",
        station_id="DC-1",
        evse_id=1,
        session_id="s",
        kw=49.9996,
        amps=None,
        phases=3,
        reason=Reason.SHARE,
    )
    session = new_session(
        tenant_id=TENANT, station_id="DC-1", transaction_id="t", protocol=V201, now=T0
    )
    # WHEN its profile is built
    command = profile_command(limit, session, CurrentType.DC)
    # THEN it is in whole watts, rounded down, with no phase count
    [period] = command.profile.schedule.periods
    assert command.profile.schedule.charging_rate_unit.value == "W"
    assert period.limit == 49999.0
    assert period.number_phases is None


def test_rebalance_paused_session_gets_a_zero_limit_not_a_cleared_profile(site: Site) -> None:
    # GIVEN a 5 kW site limit that can power one 3-phase session at 6 A (4.1 kW), not two
    site.loads.config = config(ac("CP-1"), ac("CP-2"), limit_kw=5)
    charging(site.world, "CP-1")
    charging(site.world, "CP-2")
    # WHEN the site is rebalanced
    outcome = site.run()
    # THEN one session is paused with a SetChargingProfile of 0 A (how OCPP pauses)
    assert outcome.allocation is not None
    paused = [c for c in outcome.allocation.connectors if c.reason is Reason.PAUSED]
    assert len(paused) == 1
    frames = site.frames()
    actions = {sent_profile(f)[0] for f in frames}
    assert actions == {"SetChargingProfile"}
    limits = sorted(
        f[3]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
        for f in frames
    )
    assert limits[0] == 0
    assert limits[1] >= 6


# -- no storm ----------------------------------------------------------------------------------


def test_rebalance_sends_and_stores_nothing_when_nothing_changed(site: Site) -> None:
    # GIVEN a site rebalanced once, its profile accepted
    charging(site.world, "CP-1")
    site.run()
    site.frames()
    site.answer_last("CP-1", CommandStatus.ACCEPTED)
    site.run()  # reads the answer: the delivery is now accepted (stored once more)
    puts = site.loads.puts
    # WHEN it is rebalanced again a minute later with nothing changed
    site.world.clock.advance(60)
    outcome = site.run()
    # THEN no profile is sent and the allocation is not written again
    assert outcome.sent == ()
    assert site.world.sender.sent == []
    assert site.loads.puts == puts
    assert not outcome.stored


def test_rebalance_stores_an_unchanged_allocation_after_the_refresh_period(site: Site) -> None:
    # GIVEN a steady site whose allocation was stored (its EV draws what it may)
    charging(site.world, "CP-1", power_kw=21.9)
    site.run()
    site.answer_last("CP-1", CommandStatus.ACCEPTED)
    site.run()
    puts = site.loads.puts
    # WHEN it is rebalanced after the refresh period with nothing changed
    site.world.clock.advance(RebalancePolicy().refresh.total_seconds())
    outcome = site.run()
    # THEN nothing is sent, but the allocation is stored again (new sessions are looked for
    # since its time, so that look stays short)
    assert outcome.sent == ()
    assert outcome.stored
    assert site.loads.puts == puts + 1


def test_rebalance_sends_only_to_the_evse_whose_limit_changed(site: Site) -> None:
    # GIVEN one session at 20 kW of a 30 kW site, its profile accepted
    site.loads.config = config(ac("CP-1"), ac("CP-2"), limit_kw=30)
    charging(site.world, "CP-1")
    site.run()
    site.frames()
    site.answer_last("CP-1", CommandStatus.ACCEPTED)
    # WHEN a second session starts and the trigger names it
    second = charging(site.world, "CP-2")
    site.world.clock.advance(5)
    outcome = site.run(session_id=second.id)
    # THEN profiles go to exactly the EVSEs whose limit changed, each once
    frames = site.frames()
    assert outcome.allocation is not None
    targets = sorted(outcome.sent)
    assert "CP-2/1" in targets
    assert len(frames) == len(targets)


# -- following up what was sent -----------------------------------------------------------------


def test_rebalance_retries_a_rejected_profile_with_backoff_and_reports_it(site: Site) -> None:
    # GIVEN a profile the station rejected
    charging(site.world, "CP-1")
    site.run()
    first = site.frames()
    site.answer_last("CP-1", CommandStatus.REJECTED)
    # WHEN the next rebalance runs at once
    site.world.clock.advance(5)
    outcome = site.run()
    # THEN it reports the rejection and waits (backoff: one period)
    assert any("failed (answered Rejected)" in n for n in outcome.notes)
    assert site.frames() == []
    # AND a period later the same profile is sent again
    site.world.clock.advance(60)
    outcome = site.run()
    [again] = site.frames()
    assert outcome.sent == ("CP-1/1",)
    assert again[3] == first[0][3]
    assert again[1] != first[0][1]


def test_rebalance_treats_an_evse_that_keeps_failing_as_drawing_its_maximum(site: Site) -> None:
    # GIVEN a 30 kW site, a station that rejects every profile, and another session
    site.loads.config = config(ac("CP-1"), ac("CP-2"), limit_kw=30)
    charging(site.world, "CP-1", power_kw=15)
    charging(site.world, "CP-2", power_kw=15)
    site.run()
    # WHEN CP-1 rejects its profile MAX_FAILURES times (each sent again after its backoff)
    for attempt in range(MAX_FAILURES):
        site.accept_all("CP-2")
        site.answer_last("CP-1", CommandStatus.REJECTED)
        site.world.clock.advance(1)
        outcome = site.run()
        if attempt < MAX_FAILURES - 1:
            site.world.clock.advance(60 * 2**attempt)
            assert "CP-1/1" in site.run().sent
    # THEN CP-1 is counted at its maximum (22 kW), the other gets what is left, an alert is
    # noted, and CP-1 is sent nothing more while the hold lasts
    assert outcome.allocation is not None
    cp1 = outcome.allocation.limit_of("CP-1/1")
    cp2 = outcome.allocation.limit_of("CP-2/1")
    assert cp1 is not None
    assert cp1.reason is Reason.UNMANAGED
    assert cp1.kw == pytest.approx(22, abs=0.1)
    assert cp2 is not None
    # (the engine reserves CP-1's maximum as the amperes a profile would carry, 31.8 A)
    assert cp2.kw <= 30 - cp1.kw + 1e-6
    assert any(n.startswith("ALERT CP-1/1") for n in outcome.notes)
    assert "CP-1/1" not in outcome.sent
    site.accept_all("CP-2")
    site.world.clock.advance(600)
    assert "CP-1/1" not in site.run().sent
    # AND after the hold it is tried once more
    site.world.clock.advance(RebalancePolicy().unmanaged_hold.total_seconds())
    assert "CP-1/1" in site.run().sent


def test_rebalance_resends_a_profile_that_expired_in_an_offline_queue(site: Site) -> None:
    # GIVEN CP-1 offline (its profile waits in the queue) and the profile's time-to-live over
    site.world.stations.disconnect("conn-CP-1")
    charging(site.world, "CP-1")
    site.run()
    [queued] = [r for (sid, _), r in site.world.calls.calls.items() if sid == "CP-1"]
    assert queued.state is CommandState.QUEUED
    site.world.clock.advance(RebalancePolicy().profile_ttl.total_seconds() + 1)
    # WHEN the site is rebalanced
    outcome = site.run()
    # THEN a fresh profile is queued, and being offline is not counted as a failure
    assert outcome.sent == ("CP-1/1",)
    assert outcome.allocation is not None
    [delivery] = outcome.allocation.deliveries
    assert delivery.failures == 0


def test_rebalance_sends_nothing_for_an_ended_session(site: Site) -> None:
    # GIVEN a session that was allocated and has ended since
    session = charging(site.world, "CP-1")
    site.run()
    site.frames()
    ended = site.world.sessions_repo.sessions[session.id].model_copy(update={"state": "Ended"})
    site.world.sessions_repo.sessions[session.id] = ended
    # WHEN the site is rebalanced (the TransactionEnded trigger)
    outcome = site.run(session_id=session.id)
    # THEN nothing is sent (its TxProfile ended with it) and its delivery is forgotten
    assert site.frames() == []
    assert outcome.allocation is not None
    assert outcome.allocation.deliveries == ()


# -- the effective tree --------------------------------------------------------------------------


def test_rebalance_manages_a_station_the_config_does_not_name_with_safe_defaults(
    site: Site,
) -> None:
    # GIVEN CP-3 at the site, not in the configuration, charging on its EVSE 2
    online(site.world, "CP-3")
    charging(site.world, "CP-3", 2)
    # WHEN the site is rebalanced
    outcome = site.run()
    # THEN CP-3 is in the tree below the site at 22 kW AC, and its session gets a profile
    assert outcome.allocation is not None
    limit = outcome.allocation.limit_of("CP-3/2")
    assert limit is not None
    assert 0 < limit.kw <= 22
    assert "CP-3/2" in outcome.sent


def test_effective_config_adds_unknown_stations_and_evses_in_use() -> None:
    # GIVEN a configuration naming CP-1 with EVSE 1 only, and stations CP-1 and CP-9 at the site
    stored = config(ac("CP-1", max_kw=11))
    stations = {"CP-1": a_station(id="CP-1"), "CP-9": a_station(id="CP-9")}
    # WHEN a session charges on CP-1 EVSE 2 and CP-9 reported EVSEs 1 and 3
    effective = effective_config(stored, stations, {"CP-1": {2}}, lambda _: (1, 3))
    # THEN CP-1 keeps its ratings with EVSE 2 added, and CP-9 hangs below the site at 22 kW AC
    cp1, cp9 = effective.stations
    assert [e.evse_id for e in cp1.evses] == [1, 2]
    assert cp1.max_kw == 11
    assert cp9.station_id == "CP-9"
    assert cp9.group_id is None
    assert cp9.max_kw == 22
    assert cp9.current_type is CurrentType.AC
    assert cp9.phases == 3
    assert [e.evse_id for e in cp9.evses] == [1, 3]
    # AND a configuration that already names everything is returned as it is
    assert effective_config(stored, {"CP-1": stations["CP-1"]}, {}, lambda _: ()) is stored


# -- what each session needs ---------------------------------------------------------------------


@pytest.fixture
def demands(monkeypatch: pytest.MonkeyPatch) -> list[list[SessionDemand]]:
    """The demands each rebalance hands the engine."""
    seen: list[list[SessionDemand]] = []
    real: Callable[..., Allocation] = engine.allocate

    def spy(
        config: SiteLoadConfig, given: list[SessionDemand], *args: Any, **kw: Any
    ) -> Allocation:
        seen.append(list(given))
        return real(config, given, *args, **kw)

    monkeypatch.setattr("csms.services.rebalance.allocate", spy)
    return seen


def test_rebalance_declared_needs_come_before_the_vehicles(
    site: Site, demands: list[list[SessionDemand]]
) -> None:
    # GIVEN a 2.0.1 session whose EV told its needs, and a departure declared through the API
    session = charging(site.world, "CP-1", energy_wh=4000, power_kw=7.4)
    departure = T0 + timedelta(hours=9)
    site.world.needs.put(
        "CP-1",
        TENANT,
        ChargingNeeds(
            evse_id=1,
            requested_transfer=EnergyTransferMode.AC_THREE_PHASE,
            departure_time=T0 + timedelta(hours=4),
            energy_amount_wh=30_000,
            ev_max_power_w=11_000,
            received_at=T0 + timedelta(seconds=30),
        ),
    )
    site.loads.needs = {
        session.id: DeclaredNeeds(
            session_id=session.id,
            station_id="CP-1",
            evse_id=1,
            at=T0,
            departure=departure,
            priority=3,
        )
    }
    # WHEN the site is rebalanced
    site.run()
    # THEN the engine sees the declared departure and priority, the EV's energy and maximum,
    # the energy delivered and the power measured
    [[demand]] = demands
    assert demand.departure == departure
    assert demand.priority == 3
    assert demand.source is NeedsSource.API
    assert demand.energy_kwh == 30
    assert demand.ev_max_kw == 11
    assert demand.delivered_kwh == 4
    assert demand.measured_kw == pytest.approx(7.4)
    assert demand.arrival == T0
    assert demand.connector == "CP-1/1"


def test_rebalance_uses_the_evs_needs_and_ignores_those_of_an_earlier_session(
    site: Site, demands: list[list[SessionDemand]]
) -> None:
    # GIVEN needs an EV told an hour before this session started, on the same EVSE
    charging(site.world, "CP-1", started=T0)
    site.world.needs.put(
        "CP-1",
        TENANT,
        ChargingNeeds(
            evse_id=1,
            requested_transfer=EnergyTransferMode.AC_THREE_PHASE,
            departure_time=T0,
            energy_amount_wh=1,
            received_at=T0 - timedelta(hours=1),
        ),
    )
    # WHEN the site is rebalanced
    site.run()
    # THEN those needs are not this session's: it has none, from no source
    [[demand]] = demands
    assert demand.departure is None
    assert demand.energy_kwh is None
    assert demand.source is NeedsSource.UNKNOWN


def test_rebalance_vehicle_needs_with_a_current_give_the_ev_maximum(
    site: Site, demands: list[list[SessionDemand]]
) -> None:
    # GIVEN an EV that told its departure and a maximum current of 16 A
    charging(site.world, "CP-1")
    site.world.needs.put(
        "CP-1",
        TENANT,
        ChargingNeeds(
            evse_id=1,
            requested_transfer=EnergyTransferMode.AC_THREE_PHASE,
            departure_time=T0 + timedelta(hours=2),
            ev_max_current_a=16,
            received_at=T0 + timedelta(seconds=5),
        ),
    )
    # WHEN the site is rebalanced
    site.run()
    # THEN the EV's maximum is 16 A on the station's 3 phases at 230 V, from the vehicle
    [[demand]] = demands
    assert demand.ev_max_kw == pytest.approx(16 * 230 * 3 / 1000)
    assert demand.source is NeedsSource.VEHICLE
    assert demand.departure == T0 + timedelta(hours=2)


def test_rebalance_priority_comes_from_the_driver_group(
    site: Site, demands: list[list[SessionDemand]]
) -> None:
    # GIVEN a session of a driver group with charging priority 7
    site.groups.priority = 7
    charging(site.world, "CP-1", group_id="fleet")
    # WHEN the site is rebalanced
    site.run()
    # THEN the engine sees priority 7
    [[demand]] = demands
    assert demand.priority == 7


def a_vehicle(vehicle_id: str = "van-1", **over: Any) -> Vehicle:
    fields: dict[str, Any] = {
        "id": vehicle_id,
        "name": "Van",
        "group_id": "fleet",
        "battery_kwh": 75,
        "id_tokens": (f"TOKEN-{vehicle_id}",),
        "departure": Departure(time="17:30", days=("Monday", "Tuesday", "Wednesday")),
        "charging_priority": 8,
    }
    fields.update(over)
    return Vehicle.model_validate(fields)


def test_rebalance_takes_the_usual_departure_and_priority_of_the_sessions_vehicle(
    site: Site, demands: list[list[SessionDemand]]
) -> None:
    # GIVEN a site in Berlin, the fleet's vans (the one charging is the second one read), and
    # a session on the second van's token (any case), in a group whose priority is 2
    site.loads.config = config(ac("CP-1"), ac("CP-2"), timezone="Europe/Berlin")
    site.vehicles.vehicles = [
        a_vehicle("van-0"),
        a_vehicle("van-1"),
        a_vehicle("car-9", group_id="staff"),
    ]
    site.groups.priority = 2
    session = charging(site.world, "CP-1", id_token="token-van-1", group_id="fleet")
    # WHEN the site is rebalanced, twice
    site.run()
    site.world.clock.at += timedelta(minutes=1)
    site.run()
    # THEN the engine sees the van's usual departure (Tuesday 17:30 in Berlin: 16:30 UTC)
    # and its priority, over the group's
    for [demand] in demands:
        assert demand.departure == datetime(2026, 11, 24, 16, 30, tzinfo=UTC)
        assert demand.priority == 8
        assert demand.source is NeedsSource.USUAL_DEPARTURE
    # AND they are kept as the session's needs: the vehicles (of its group only) were read
    # once, for its first rebalance
    kept = site.loads.needs[session.id]
    assert (kept.source, kept.priority, kept.evse_id) == (NeedsSource.USUAL_DEPARTURE, 8, 1)
    assert site.loads.needs_puts == 1
    assert site.vehicles.reads == 2


def test_rebalance_the_evs_own_departure_comes_before_the_vehicle_records(
    site: Site, demands: list[list[SessionDemand]]
) -> None:
    # GIVEN a van with a usual departure whose EV (2.0.1) told a departure of its own
    site.vehicles.vehicles = [a_vehicle()]
    charging(site.world, "CP-1", id_token="TOKEN-van-1", group_id="fleet")
    site.world.needs.put(
        "CP-1",
        TENANT,
        ChargingNeeds(
            evse_id=1,
            requested_transfer=EnergyTransferMode.AC_THREE_PHASE,
            departure_time=T0 + timedelta(hours=3),
            received_at=T0 + timedelta(seconds=5),
        ),
    )
    # WHEN the site is rebalanced
    site.run()
    # THEN the EV's departure counts; the van's priority still does
    [[demand]] = demands
    assert demand.departure == T0 + timedelta(hours=3)
    assert demand.source is NeedsSource.VEHICLE
    assert demand.priority == 8


@pytest.mark.parametrize(
    "case",
    ["token of no vehicle", "vehicle with nothing to say", "no token", "vehicle elsewhere"],
)
def test_rebalance_without_a_vehicle_record_stores_no_needs(
    site: Site, demands: list[list[SessionDemand]], case: str
) -> None:
    # GIVEN a session whose token no vehicle of its group carries, or a vehicle without
    # departure or priority, or no token at all
    site.vehicles.vehicles = [
        a_vehicle("van-1", departure=None, charging_priority=None),
        a_vehicle("van-2", group_id="other"),
    ]
    token = {
        "token of no vehicle": "TOKEN-van-9",
        "vehicle with nothing to say": "TOKEN-van-1",
        "no token": None,
        "vehicle elsewhere": "TOKEN-van-2",
    }[case]
    site.groups.priority = 4
    charging(site.world, "CP-1", id_token=token, group_id="fleet")
    # WHEN the site is rebalanced
    site.run()
    # THEN nothing is stored and the group's priority stands
    [[demand]] = demands
    assert demand.departure is None
    assert demand.priority == 4
    assert site.loads.needs_puts == 0


def test_rebalance_suspended_ev_is_told_to_the_engine(
    site: Site, demands: list[list[SessionDemand]]
) -> None:
    # GIVEN a 2.0.1 session whose EV suspended itself, and one that draws nothing under a
    # limit it has had for a while
    charging(site.world, "CP-1", charging_state=ChargingState.SUSPENDED_EV)
    charging(site.world, "CP-2", power_kw=None)
    site.run()
    site.world.sessions_repo.sessions[
        next(s.id for s in site.world.sessions_repo.sessions.values() if s.station_id == "CP-2")
    ] = site.world.sessions_repo.sessions[
        next(s.id for s in site.world.sessions_repo.sessions.values() if s.station_id == "CP-2")
    ].model_copy(update={"power_w": Decimal(0)})
    # WHEN the site is rebalanced after the observation time
    site.world.clock.advance(RebalancePolicy().observe_after.total_seconds())
    site.run()
    # THEN both are suspended for the engine
    assert [d.suspended_ev for d in demands[-1]] == [True, True]


def test_rebalance_remembers_an_ev_that_draws_well_below_its_limit(
    site: Site, demands: list[list[SessionDemand]]
) -> None:
    # GIVEN a session whose 22 kW profile was accepted
    session = charging(site.world, "CP-1", power_kw=None)
    site.run()
    site.answer_last("CP-1", CommandStatus.ACCEPTED)
    # WHEN its EV draws 7 kW for a while
    site.world.sessions_repo.sessions[session.id] = session.model_copy(
        update={"power_w": Decimal(7000)}
    )
    site.world.clock.advance(RebalancePolicy().observe_after.total_seconds())
    site.run()
    # THEN the engine is told it takes about that much at most (a little more, so it can show
    # it takes more), from then on
    assert demands[-1][0].ev_max_kw == pytest.approx(7.7)
    # AND once it draws more, the engine may offer it more again
    site.world.sessions_repo.sessions[session.id] = session.model_copy(
        update={"power_w": Decimal(7600)}
    )
    site.world.clock.advance(60)
    site.run()
    assert demands[-1][0].ev_max_kw is None


def test_rebalance_finds_a_session_the_trigger_names_even_if_it_started_long_ago(
    site: Site,
) -> None:
    # GIVEN a site rebalanced now, and a session whose start (hours ago) arrives only later
    site.run()
    late = charging(site.world, "CP-1", started=T0 - timedelta(hours=5))
    site.world.clock.advance(60)
    # WHEN the TransactionStarted trigger names it
    outcome = site.run(session_id=late.id)
    # THEN it is managed
    assert outcome.allocation is not None
    limit = outcome.allocation.limit_of("CP-1/1")
    assert limit is not None
    assert limit.session_id == late.id


def test_rebalance_ignores_a_named_session_of_another_site(site: Site) -> None:
    # GIVEN a session at a station of another site
    site.world.stations_repo.register(a_station(id="CP-X", site_id="site-2"))
    other = charging(site.world, "CP-X")
    # WHEN a trigger names it for this site
    outcome = site.run(session_id=other.id)
    # THEN it is not part of this site's allocation
    assert outcome.allocation is not None
    assert all(c.session_id != other.id for c in outcome.allocation.connectors)


# -- the periodic fan-out ------------------------------------------------------------------------


def test_managed_sites_lists_every_page(site: Site) -> None:
    # GIVEN 250 managed sites of two tenants
    site.loads.sites = [ManagedSite(f"t{n % 2}", f"s{n:03}") for n in range(250)]
    # WHEN the schedule lists them
    listed = list(site.service.managed_sites())
    # THEN it gets every one once, in order
    assert listed == site.loads.sites


# -- what goes wrong ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "reported"),
    [
        ("callerror", "CALLERROR NotSupported"),
        ("timeout", "no answer in time"),
        ("gone", "the command record is gone"),
    ],
)
def test_rebalance_reports_each_way_a_profile_can_fail(
    site: Site, outcome: str, reported: str
) -> None:
    # GIVEN a profile the station answered with a CALLERROR, did not answer, or whose record
    # is gone
    charging(site.world, "CP-1")
    site.run()
    [(key, record)] = [(k, r) for k, r in site.world.calls.calls.items() if k[0] == "CP-1"]
    if outcome == "callerror":
        site.world.commands.fail(record, "NotSupported", "no smart charging")
    elif outcome == "gone":
        del site.world.calls.calls[key]
    site.world.clock.advance(31)
    # WHEN the next rebalance follows it up
    result = site.run()
    # THEN the failure is reported with what happened, and counted
    assert any(reported in note for note in result.notes)
    assert result.allocation is not None
    [delivery] = result.allocation.deliveries
    assert delivery.failures == 1
    assert delivery.retry_at is not None


def test_rebalance_reports_a_profile_the_stations_version_cannot_carry(site: Site) -> None:
    # GIVEN a 2.0.1 session (string transaction id) on a station now connected over 1.6
    online(site.world, "CP-1", V16)
    charging(site.world, "CP-1", protocol=V201, transaction_id="tx-abc")
    # WHEN the site is rebalanced
    result = site.run()
    # THEN no profile is sent, the reason is noted and the failure counted for a retry
    assert result.sent == ()
    assert any("profile not sent" in note for note in result.notes)
    assert result.allocation is not None
    [delivery] = result.allocation.deliveries
    assert delivery.failures == 1
    assert delivery.command_id is None


def test_rebalance_leaves_out_a_session_whose_evse_is_unknown(site: Site) -> None:
    # GIVEN a session with no EVSE on CP-1 (2 EVSEs), and one with none on CP-2 (1 EVSE)
    site.loads.config = config(
        ac("CP-1", evses=(EvseLoad(evse_id=1), EvseLoad(evse_id=2))), ac("CP-2")
    )
    unknown = charging(site.world, "CP-1", evse=None)
    only = charging(site.world, "CP-2", evse=None)
    # WHEN the site is rebalanced
    result = site.run()
    # THEN the first is not managed (and noted); the second is on CP-2's only EVSE
    assert result.allocation is not None
    assert all(c.session_id != unknown.id for c in result.allocation.connectors)
    assert any(f"session {unknown.id}" in note for note in result.notes)
    limit = result.allocation.limit_of("CP-2/1")
    assert limit is not None
    assert limit.session_id == only.id


# -- answers show (follow-up #1) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "accepted", "failures"),
    [("Accepted", True, 0), ("Rejected", False, 1), ("callerror", False, 1), ("timeout", False, 1)],
)
def test_rebalance_stores_the_allocation_when_a_profile_was_answered(
    site: Site, answer: str, accepted: bool, failures: int
) -> None:
    # GIVEN a profile in flight, stored as not accepted yet
    charging(site.world, "CP-1", power_kw=21.9)
    site.run()
    [record] = [r for (sid, _), r in site.world.calls.calls.items() if sid == "CP-1"]
    puts = site.loads.puts
    # WHEN the station answers it (or does not, in time) and the next rebalance runs
    if answer == "callerror":
        site.world.commands.fail(record, "InternalError", "busy")
    elif answer != "timeout":
        site.answer_last("CP-1", CommandStatus(answer))
    site.world.clock.advance(31)
    outcome = site.run()
    # THEN the allocation counts as changed and is stored, with the answer in its delivery
    assert outcome.stored
    assert site.loads.puts == puts + 1
    assert site.loads.allocation is not None
    [delivery] = site.loads.allocation.deliveries
    assert delivery.accepted is accepted
    assert delivery.failures == failures


def test_load_view_shows_a_profile_answered_since_the_rebalance(site: Site) -> None:
    # GIVEN an allocation stored while its profiles were in flight, and a load view that reads
    # commands
    charging(site.world, "CP-1")
    charging(site.world, "CP-2")
    site.run()
    sites = InMemorySiteDirectory()
    sites.add(TENANT, SiteRef(id=SITE, name="Depot"))
    view = LoadService(
        loads=site.loads,
        sites=sites,
        stations=site.world.stations_repo,
        sessions=site.world.sessions_repo,
        clock=site.world.clock,
        commands=site.world.commands,
    )
    owner = Principal("owner-1", TENANT, Role.OWNER)
    puts = site.loads.puts
    # (read while both are in flight, it shows the allocation as stored)
    assert view.site_load(owner, SITE).allocation == site.loads.allocation
    # WHEN CP-1 accepts its profile, CP-2 rejects it, and the view is read before any rebalance
    site.answer_last("CP-1", CommandStatus.ACCEPTED)
    site.answer_last("CP-2", CommandStatus.REJECTED)
    load = view.site_load(owner, SITE)
    # THEN it shows both answers (not a stale "pending"), without writing the allocation
    deliveries = {d.connector: d for d in load.allocation.deliveries}
    assert deliveries["CP-1/1"].accepted
    assert not deliveries["CP-2/1"].accepted
    assert deliveries["CP-2/1"].failures == 1
    assert any("failed (answered Rejected)" in note for note in load.allocation.notes)
    assert site.loads.puts == puts
    # AND a view without a command reader shows the allocation as stored
    plain = LoadService(
        loads=site.loads,
        sites=sites,
        stations=site.world.stations_repo,
        sessions=site.world.sessions_repo,
        clock=site.world.clock,
    )
    assert plain.site_load(owner, SITE).allocation == site.loads.allocation


# -- load management turned off (follow-up #2) ---------------------------------------------------


def _clears(frames: list[list[Any]]) -> list[dict[str, Any]]:
    return [f[3] for f in frames if f[0] == 2 and f[2] == "ClearChargingProfile"]


def _clear_requests(site: Site) -> list[tuple[str, dict[str, Any] | None]]:
    """Every ClearChargingProfile sent or queued, in order: (station, request)."""
    return [
        (sid, record.request)
        for (sid, _), record in site.world.calls.calls.items()
        if record.action == "ClearChargingProfile"
    ]


def test_rebalance_without_config_clears_the_profiles_it_set_and_forgets_them(
    site: Site,
) -> None:
    # GIVEN a managed site: a 2.0.1 session on CP-1 EVSE 2 with a TxProfile, and a 1.6 session
    # on CP-2 that got a TxDefaultProfile (no transaction id yet)
    site.loads.config = config(
        ac("CP-1", evses=(EvseLoad(evse_id=1), EvseLoad(evse_id=2))), ac("CP-2"), limit_kw=10
    )
    online(site.world, "CP-2", V16)
    charging(site.world, "CP-1", 2, transaction_id="tx-201")
    charging(site.world, "CP-2", protocol=V16, transaction_id="pending-start")
    site.run()
    site.accept_all("CP-1")
    site.accept_all("CP-2")
    site.frames()
    # WHEN load management is turned off and the LoadChanged reaches the rebalance
    site.loads.config = None
    outcome = site.run()
    # THEN every profile of ours is cleared by its id, and nothing else is (operators' own
    # profiles stay): the TxProfile on CP-1 EVSE 2; on CP-2 connector 1 its TxProfile and the
    # TxDefaultProfile (sent or queued: one call at a time per station)
    assert _clear_requests(site) == [
        ("CP-1", {"chargingProfileId": profile_id(2, ChargingProfilePurpose.TX)}),
        ("CP-2", {"id": profile_id(1, ChargingProfilePurpose.TX)}),
        ("CP-2", {"id": profile_id(1, ChargingProfilePurpose.TX_DEFAULT)}),
    ]
    assert outcome.cleared == ("CP-1/2", "CP-2/1")
    assert outcome.skipped == "the site has no load configuration"
    # AND the allocation is forgotten, so the next LoadChanged clears nothing again
    assert site.loads.allocation is None
    again = site.run()
    assert again.cleared == ()
    assert len(_clear_requests(site)) == 3


def test_rebalance_without_config_notes_a_station_that_cannot_be_cleared(site: Site) -> None:
    # GIVEN an allocation with a session on a station that has since been removed
    charging(site.world, "CP-1")
    site.run()
    site.frames()
    del site.world.stations_repo.stations["CP-1"]
    site.loads.config = None
    # WHEN load management is turned off
    outcome = site.run()
    # THEN nothing is cleared there, it is noted, and the allocation is forgotten all the same
    assert outcome.cleared == ()
    assert any("profile not cleared" in note for note in outcome.notes)
    assert site.loads.allocation is None


def test_rebalance_without_config_skips_an_evse_key_it_cannot_read(site: Site) -> None:
    # GIVEN a stored allocation whose only delivery has a malformed EVSE key
    site.loads.config = None
    site.loads.allocation = Allocation(
        site_id=SITE,
        at=T0,
        available_kw=10,
        constraint="site-limit",
        deliveries=(ProfileDelivery(connector="CP-1/x", tx_default=True),),
    )
    # WHEN load management is off
    outcome = site.run()
    # THEN nothing is sent for it, nothing breaks, and the allocation is forgotten
    assert outcome.cleared == ()
    assert site.world.sender.sent == []
    assert site.loads.allocation is None


# -- a 1.6 TxDefaultProfile left behind (follow-up #3) -------------------------------------------


def _end(site: Site, session: Session) -> None:
    ended = site.world.sessions_repo.sessions[session.id].model_copy(update={"state": "Ended"})
    site.world.sessions_repo.sessions[session.id] = ended


def test_rebalance_clears_a_tx_default_profile_when_its_session_ends(site: Site) -> None:
    # GIVEN a 1.6 session that got a TxDefaultProfile before its transaction id was known
    online(site.world, "CP-1", V16)
    session = charging(site.world, "CP-1", protocol=V16, transaction_id="pending-start")
    site.run()
    site.accept_all("CP-1")
    site.frames()
    # WHEN the session ends and TransactionEnded reaches the rebalance
    _end(site, session)
    site.world.clock.advance(60)
    outcome = site.run(session_id=session.id)
    # THEN that profile is cleared by its id (it would limit every later session) and the
    # EVSE's delivery is forgotten
    [clear] = _clears(site.frames())
    assert clear == {"id": profile_id(1, ChargingProfilePurpose.TX_DEFAULT)}
    assert outcome.cleared == ("CP-1/1",)
    assert outcome.stored
    assert site.loads.allocation is not None
    assert site.loads.allocation.deliveries == ()


def test_rebalance_keeps_a_tx_default_profile_while_a_new_session_uses_the_evse(
    site: Site,
) -> None:
    # GIVEN a 1.6 connector with our TxDefaultProfile, its session ended, and a new session
    # (with its transaction id) already on it
    online(site.world, "CP-1", V16)
    first = charging(site.world, "CP-1", protocol=V16, transaction_id="pending-start")
    site.run()
    site.accept_all("CP-1")
    site.frames()
    _end(site, first)
    second = charging(site.world, "CP-1", protocol=V16, ocpp16_id=43, transaction_id="43")
    # WHEN the site is rebalanced
    site.world.clock.advance(60)
    outcome = site.run(session_id=second.id)
    # THEN nothing is cleared; the new session gets its TxProfile, and the TxDefaultProfile
    # is still remembered for when that session ends
    frames = site.frames()
    assert _clears(frames) == []
    [(_, payload)] = [sent_profile(f) for f in frames]
    assert payload["csChargingProfiles"]["chargingProfilePurpose"] == "TxProfile"
    assert outcome.allocation is not None
    [delivery] = outcome.allocation.deliveries
    assert delivery.session_id == second.id
    assert delivery.tx_default
    # AND once that session ends, it is cleared
    site.accept_all("CP-1")
    _end(site, second)
    site.world.clock.advance(60)
    assert site.run(session_id=second.id).cleared == ("CP-1/1",)


def test_rebalance_does_not_clear_after_a_tx_profile(site: Site) -> None:
    # GIVEN a 1.6 session with its transaction id: a TxProfile, which ends with it
    online(site.world, "CP-1", V16)
    session = charging(site.world, "CP-1", protocol=V16, ocpp16_id=42)
    site.run()
    site.accept_all("CP-1")
    site.frames()
    # WHEN it ends
    _end(site, session)
    outcome = site.run(session_id=session.id)
    # THEN nothing needs clearing
    assert outcome.cleared == ()
    assert site.frames() == []


# -- concurrent rebalances of one site (follow-up #4) -------------------------------------------


def _profiles_sent(frames: list[list[Any]]) -> list[tuple[str, str, float]]:
    """(command id, EVSE key, limit) of every SetChargingProfile, in order."""
    found = []
    for frame in frames:
        if frame[0] == 2 and frame[2] == "SetChargingProfile":
            payload = frame[3]
            [schedule] = payload["chargingProfile"]["chargingSchedule"]
            [period] = schedule["chargingSchedulePeriod"]
            found.append((frame[1], f"?/{payload['evseId']}", period["limit"]))
    return found


def test_rebalance_that_loses_a_race_redoes_its_work_from_the_winners_allocation(
    site: Site,
) -> None:
    # GIVEN one session at a 30 kW site, its profile accepted; then a second session starts
    site.loads.config = config(ac("CP-1"), ac("CP-2"), limit_kw=30)
    charging(site.world, "CP-1")
    site.run()
    site.accept_all("CP-1")
    site.world.clock.advance(5)
    site.run()
    site.frames()
    second = charging(site.world, "CP-2", started=site.world.clock.now())
    # AND another rebalance of the site (the schedule) stores its allocation between this
    # one's read and write
    winner: list[rebalance_module.RebalanceOutcome] = []
    site.loads.before_write = lambda: winner.append(site.run())
    # WHEN the rebalance for the new session runs
    outcome = site.run(session_id=second.id)
    # THEN its first write lost; it read again and stored an allocation of its own
    assert winner
    assert winner[0].stored
    assert outcome.lost_races == 1
    assert outcome.stored
    assert any("stored first" in note for note in outcome.notes)
    stored = site.loads.allocation
    assert stored is outcome.allocation
    # AND on every EVSE it had sent to, the profile sent last carries the stored limit and is
    # the command the stored delivery follows (never a limit of the lost run left in force)
    calls = site.world.calls.calls
    last: dict[str, str] = {}
    for (sid, cid), record in calls.items():
        if record.action == "SetChargingProfile":
            evse = record.request["evseId"] if record.request else 0
            last[f"{sid}/{evse}"] = cid
    assert stored is not None
    for delivery in stored.deliveries:
        if delivery.command_id is not None:
            assert delivery.command_id == last[delivery.connector]


def test_rebalance_that_keeps_losing_gives_up_with_an_alert(site: Site) -> None:
    # GIVEN a session, and another writer that gets in before every write of this rebalance
    charging(site.world, "CP-1")

    def bump() -> None:
        site.loads.revision += 1
        site.loads.before_write = bump

    site.loads.before_write = bump
    # WHEN the site is rebalanced
    outcome = site.run()
    # THEN it tried twice, stored nothing and says so
    assert outcome.lost_races == 2
    assert not outcome.stored
    assert any("ALERT" in note for note in outcome.notes)
    site.loads.before_write = None


def test_rebalance_turning_off_redoes_the_delete_after_losing_a_race(site: Site) -> None:
    # GIVEN a managed site with a session, then load management turned off while another
    # rebalance (started before) stores an allocation between this one's read and delete
    charging(site.world, "CP-1")
    site.run()
    site.frames()
    site.loads.config = None

    def other() -> None:
        site.loads.revision += 1

    site.loads.before_write = other
    # WHEN the LoadChanged reaches the rebalance
    outcome = site.run()
    # THEN it reads again and deletes the allocation in force
    assert outcome.lost_races == 1
    assert site.loads.allocation is None
    assert site.loads.deletes == 1


# -- phases (follow-up #5) -----------------------------------------------------------------------


def _currents(session: Session, at: datetime, **amps: float) -> MeterChunk:
    samples = tuple(
        Sample(measurand=Measurand.CURRENT, value=Decimal(str(value)), phase=phase.upper())
        for phase, value in amps.items()
    )
    return MeterChunk(
        session_id=session.id,
        key=at.isoformat(),
        readings=(MeterReading(timestamp=at, samples=samples),),
    )


def test_rebalance_1_phase_car_on_a_3_phase_station_gets_a_1_phase_profile(site: Site) -> None:
    # GIVEN a 2.0.1 session on a 3-phase 22 kW station whose meter values show current on L1
    # only (a single-phase car), and a 5 kW site
    site.loads.config = config(ac("CP-1"), ac("CP-2"), limit_kw=5)
    session = charging(site.world, "CP-1", power_kw=3.6)
    chunk = _currents(session, T0 + timedelta(minutes=29), l1=16, l2=0.2, l3=0)
    site.world.sessions_repo.add_chunk(TENANT, chunk)
    # WHEN the site is rebalanced
    outcome = site.run()
    # THEN its limit is on one phase, and the profile says so with the limit's amperes
    assert outcome.allocation is not None
    limit = outcome.allocation.limit_of("CP-1/1")
    assert limit is not None
    assert limit.phases == 1
    assert limit.amps is not None
    [frame] = site.frames()
    [schedule] = sent_profile(frame)[1]["chargingProfile"]["chargingSchedule"]
    [period] = schedule["chargingSchedulePeriod"]
    assert period["numberPhases"] == 1
    assert period["limit"] == math.floor(limit.amps * 10 + 1e-9) / 10
    # AND one phase at 230 V draws what the limit allows, never more than the site's 5 kW
    assert period["limit"] * 230 / 1000 <= 5


@pytest.mark.parametrize(
    ("amps", "phases"),
    [
        ({"l1": 16, "l2": 0.3, "l3": 0}, 1),
        ({"l1": 16, "l2": 15.8, "l3": 0.5}, 2),
        ({"l1": 10, "l2": 10.2, "l3": 9.9}, 3),
        ({"l1": 0.2, "l2": 0, "l3": 0}, None),  # drawing nothing: says nothing
        ({"l1": 16}, None),  # one phase reported: says nothing of the others
    ],
)
def test_phases_drawn_reads_the_newest_per_phase_currents(
    amps: dict[str, float], phases: int | None
) -> None:
    # GIVEN a chunk whose newest reading has these currents
    session = new_session(
        tenant_id=TENANT, station_id="CP-1", transaction_id="tx", protocol=V201, now=T0
    )
    chunk = _currents(session, T0, **amps)
    # WHEN the phases are read off it
    # THEN they are the phases carrying the EV's charge, or unknown
    assert rebalance_module.phases_drawn(chunk) == phases


def test_phases_drawn_without_current_readings_is_unknown() -> None:
    # GIVEN no chunk, and a chunk with an energy reading only
    energy = MeterChunk(
        session_id="s",
        key="k",
        readings=(
            MeterReading(
                timestamp=T0, samples=(Sample(measurand=Measurand.ENERGY, value=Decimal(5)),)
            ),
        ),
    )
    # WHEN / THEN neither tells the phases
    assert rebalance_module.phases_drawn(None) is None
    assert rebalance_module.phases_drawn(energy) is None
