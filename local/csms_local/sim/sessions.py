"""Charging sessions of a simulated station, in neither OCPP version.

A driver plugs in, presents a token, charges for a while and leaves. The station reports the
connector's status (only while it is online: status is not worth queueing), authorizes the
token (locally when offline, as stations configured with LocalAuthorizeOffline do), and records
the transaction as messages in the order they happened. Transaction messages go to a queue that
outlives the connection: the station replays it after a reconnect and removes a message only
once the CSMS has answered it, so no transaction message is ever lost.

The energy register of a connector is an integer number of Wh that only grows; a session's
energy is `power x simulated time`, so the CSMS must find exactly `meter stop - meter start`.

The vehicle draws what it wants (the plan's power, give or take a little) but never more than
the station offers it: the station's charging profiles set that offer (`csms_local.sim.profiles`),
and below the minimum current the session pauses (SuspendedEVSE) until the offer rises again. A
vehicle whose battery reached the plan's energy stops drawing (SuspendedEV). Each change of the
charging state is reported at once, with a meter reading, so the CSMS sees the real draw.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import uuid
import zlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Any, Protocol

from csms_local.sim.clock import SimClock, wire_time
from csms_local.sim.profiles import Limit

ACCEPTED = "Accepted"
MAX_ID_TOKEN = 20
"""Longest token both versions can carry (1.6 `idTag` is a CiString20)."""

_BATTERY_WH = 60_000.0
_PHASES = 3


class ConnectorState(Enum):
    """Where a connector is in a session; each version names these its own way."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EVSE = "SuspendedEVSE"
    """The station offers less than the vehicle can take: paused by a charging profile."""
    SUSPENDED_EV = "SuspendedEV"
    """The vehicle takes nothing: its battery is full."""
    FINISHING = "Finishing"


class StopCause(StrEnum):
    """Why a transaction stopped (both versions spell these alike)."""

    LOCAL = "Local"
    EV_DISCONNECTED = "EVDisconnected"
    DEAUTHORIZED = "DeAuthorized"
    REMOTE = "Remote"  # the CSMS asked (1.6 RemoteStopTransaction, 2.0.1 RequestStop...)


@dataclass(frozen=True)
class ChargingPlan:
    """The sessions each station runs; durations in simulated seconds."""

    sessions: int = 0
    """Sessions per station, spread over its connectors; 0: stay connected, never charge."""
    id_tokens: tuple[str, ...] = ()
    meter_interval: float = 60.0
    session_length: float = 1800.0
    power_kw: float = 7.4
    pause: float = 60.0
    """Time a connector stays Available between two sessions."""
    energy_kwh: float | None = None
    """Energy a vehicle takes before its battery is full (SuspendedEV); None: it never fills."""

    def __post_init__(self) -> None:
        """Refuse a plan no station could follow."""
        if self.sessions < 0:
            raise ValueError(f"sessions must be 0 or more, not {self.sessions}")
        if self.sessions and not self.id_tokens:
            raise ValueError("charging sessions need at least one id token")
        for token in self.id_tokens:
            if not 1 <= len(token) <= MAX_ID_TOKEN:
                raise ValueError(f"id token must have 1 to {MAX_ID_TOKEN} characters: {token!r}")
        for name in ("meter_interval", "session_length", "power_kw"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        if not (math.isfinite(self.pause) and self.pause >= 0):
            raise ValueError(f"pause must be 0 or more, not {self.pause!r}")
        if self.energy_kwh is not None and not (
            math.isfinite(self.energy_kwh) and self.energy_kwh > 0
        ):
            raise ValueError(f"energy_kwh must be a positive number, not {self.energy_kwh!r}")

    def sessions_of(self, connectors: int) -> dict[int, list[int]]:
        """Session numbers (1-based) of each connector: round robin over the connectors."""
        numbers: dict[int, list[int]] = {}
        for number in range(1, self.sessions + 1):
            numbers.setdefault((number - 1) % connectors + 1, []).append(number)
        return numbers


@dataclass(frozen=True)
class MeterSample:
    """What the meter of a connector read at one moment."""

    timestamp: datetime
    energy_wh: int
    power_w: float
    voltage_v: float
    current_a: float
    """Current per phase (three phases)."""
    soc: int | None = None


class EnergyMeter:
    """A connector's energy register: whole Wh, never decreasing."""

    def __init__(self, start_wh: int) -> None:
        if start_wh < 0:
            raise ValueError("an energy register starts at 0 Wh or more")
        self._energy = float(start_wh)

    @property
    def register_wh(self) -> int:
        """The register as a meter shows it: whole Wh."""
        return math.floor(self._energy)

    @property
    def energy_wh(self) -> float:
        """The energy counted so far, to the fraction of a Wh."""
        return self._energy

    def run(self, power_w: float, seconds: float) -> None:
        """Count the energy of `power_w` flowing for `seconds`."""
        if power_w > 0 and seconds > 0:
            self._energy += power_w * seconds / 3600.0


def initial_register(station_id: str, connector: int) -> int:
    """A connector's register at start: not 0, so a CSMS cannot assume it is."""
    return zlib.crc32(f"{station_id}/{connector}".encode()) % 5_000_000


def reports_soc(station_id: str) -> bool:
    """Whether a station's vehicles report their state of charge (about half of them do)."""
    return zlib.crc32(station_id.encode()) % 2 == 0


@dataclass
class Connector:
    """One connector (1.6) or EVSE with one connector (2.0.1) of a station."""

    number: int
    meter: EnergyMeter
    state: ConnectorState = ConnectorState.AVAILABLE
    # The transaction running on it, if any (a remote stop looks for it here).
    transaction: Transaction | None = None
    replan: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when what the station offers this connector may have changed (a profile, a share)."""


@dataclass(eq=False)
class Transaction:
    """One charging transaction as the station knows it."""

    station_id: str
    protocol: str
    connector: int
    id_token: str
    session_number: int
    authorize_status: str
    begin: MeterSample
    local_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    """The transaction id a 2.0.1 station assigns (1.6 waits for the CSMS's)."""
    csms_id: int | None = None
    """The id the CSMS assigned in its StartTransaction answer (1.6)."""
    start_status: str | None = None
    """The authorization status in the answer to the start, once answered."""
    updates: int = 0
    deauthorized: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to end the transaction early: refused by the CSMS, or stopped remotely."""
    stop_cause: StopCause | None = None
    """Why it ended early, when not refused (a remote stop)."""
    remote_start_id: int | None = None
    """The CSMS's remoteStartId, when it started the transaction (2.0.1)."""
    _seq_nos: itertools.count[int] = field(default_factory=itertools.count)

    def next_seq_no(self) -> int:
        """The next 2.0.1 `seqNo` of this transaction: 0, 1, 2, ..."""
        return next(self._seq_nos)

    @property
    def token_holder(self) -> Hashable:
        """Who holds the token in the `TokenPool`: this session of this connector."""
        return session_key(self.station_id, self.connector, self.session_number)


def session_key(station_id: str, connector: int, number: int) -> Hashable:
    """One session of one connector of one station."""
    return (station_id, connector, number)


class TxKind(Enum):
    """Transaction messages: 1.6 Start/MeterValues/Stop, 2.0.1 TransactionEvent's eventType."""

    START = "Started"
    UPDATE = "Updated"
    END = "Ended"


@dataclass(eq=False)
class TxMessage:
    """A transaction message waiting in the queue until the CSMS answers it."""

    kind: TxKind
    transaction: Transaction
    sample: MeterSample
    seq_no: int
    offline: bool
    """It happened while the station was offline (2.0.1 `offline`)."""
    cause: StopCause | None = None
    charging_state: ConnectorState = ConnectorState.CHARGING
    """The charging state when the message was made (2.0.1 `chargingState` of updates)."""
    state_change: bool = False
    """An update sent because the charging state changed, not a periodic one."""
    unique_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    """Kept across reconnects, so a resent message is a retransmission the CSMS recognises."""
    attempts: int = 0
    """CALLERRORs received so far."""
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the message has left the queue (answered, or given up)."""


@dataclass(frozen=True)
class TxAnswer:
    """What the station reads in the CSMS's answer to a transaction message."""

    status: str | None = None
    """Authorization status (`idTagInfo` / `idTokenInfo`), when the answer has one."""
    transaction_id: int | None = None
    """The transaction id assigned by the CSMS (1.6 StartTransaction)."""


class TransactionQueue:
    """Transaction messages in the order they happened, kept across connections."""

    def __init__(self) -> None:
        self._items: list[TxMessage] = []
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, message: TxMessage) -> None:
        """Queue a message behind the others."""
        self._items.append(message)
        self._changed.set()

    def first(self, count: int) -> list[TxMessage]:
        """The `count` oldest messages (fewer if the queue is shorter)."""
        return self._items[:count]

    def remove(self, message: TxMessage) -> None:
        """Forget a message the CSMS answered (or that was given up)."""
        self._items.remove(message)
        self._changed.set()

    async def wait_not_empty(self) -> None:
        """Return once there is a message."""
        while not self._items:
            self._changed.clear()
            await self._changed.wait()


@dataclass(frozen=True)
class SessionRecord:
    """A finished session, as the station saw it: what the CSMS must have recorded too."""

    station_id: str
    protocol: str
    transaction_id: str | int | None
    """2.0.1: the station's id; 1.6: the CSMS's integer; None when no transaction started."""
    evse_id: int | None
    """2.0.1 EVSE; None in 1.6."""
    connector_id: int
    id_token: str
    authorization_status: str
    """Accepted, or the status the CSMS refused the token (or the transaction) with."""
    meter_start_wh: int
    meter_stop_wh: int
    energy_wh: int
    started_at: datetime
    stopped_at: datetime
    stop_reason: str | None
    meter_values: int
    """Periodic meter values sent during the transaction."""

    def to_json(self) -> dict[str, Any]:
        """The record as JSON values (timestamps as OCPP does: UTC with `Z`)."""
        return {
            "station_id": self.station_id,
            "protocol": self.protocol,
            "transaction_id": self.transaction_id,
            "evse_id": self.evse_id,
            "connector_id": self.connector_id,
            "id_token": self.id_token,
            "authorization_status": self.authorization_status,
            "meter_start_wh": self.meter_start_wh,
            "meter_stop_wh": self.meter_stop_wh,
            "energy_wh": self.energy_wh,
            "started_at": wire_time(self.started_at),
            "stopped_at": wire_time(self.stopped_at),
            "stop_reason": self.stop_reason,
            "meter_values": self.meter_values,
        }


class TokenPool:
    """Id tokens shared by all stations; a card is in one session at a time.

    A token is busy from the moment it is presented until the CSMS has the end of its session:
    presenting it elsewhere earlier would be a concurrent transaction (1.6 ConcurrentTx).
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        self._tokens = list(dict.fromkeys(tokens))
        self._holders: dict[str, Hashable] = {}
        self._next = 0
        self._freed = asyncio.Event()

    async def acquire(self, holder: Hashable) -> str:
        """Wait for a free token; take the next one in turn, for `holder`."""
        if not self._tokens:
            raise ValueError("no id tokens to charge with")
        while True:
            for offset in range(len(self._tokens)):
                index = (self._next + offset) % len(self._tokens)
                token = self._tokens[index]
                if token not in self._holders:
                    self._holders[token] = holder
                    self._next = index + 1
                    return token
            self._freed.clear()
            await self._freed.wait()

    def release(self, token: str, holder: Hashable) -> None:
        """Make a token available again, if `holder` still holds it."""
        if self._holders.get(token) == holder:
            del self._holders[token]
            self._freed.set()


# --- one connector's sessions ----------------------------------------------------------------


class ChargingHost(Protocol):
    """What a connector's sessions need from their station."""

    station_id: str

    @property
    def protocol(self) -> str:
        """The OCPP version the station speaks now."""
        ...

    def is_online(self) -> bool:
        """Whether the station is connected and accepted (can send now)."""
        ...

    async def send_status(
        self, connector: int, state: ConnectorState, previous: ConnectorState
    ) -> None:
        """Report a connector's new status if online; dropped while offline."""
        ...

    async def authorize(self, id_token: str) -> str | None:
        """Ask the CSMS; None when there is no answer (offline)."""
        ...

    def enqueue(self, message: TxMessage) -> None:
        """Queue a transaction message for delivery."""
        ...

    async def wait_settled(self, message: TxMessage) -> None:
        """While online, wait until the CSMS has answered `message`; offline, return at once."""
        ...

    def authorization_refused(
        self, connector: int, id_token: str, status: str, at: MeterSample
    ) -> None:
        """Record a session that ended with a refused token (no transaction)."""
        ...

    def emit(self, text: str) -> None:
        """Report one event line."""
        ...

    def offer(self, connector: int, at: datetime) -> Limit:
        """What the station offers a connector at `at` in W (0: paused; None: no profile)."""
        ...

    def replan(self) -> None:
        """The connectors' shares of the station's power may have changed: wake them."""
        ...

    def transaction_ended(self, connector: int) -> None:
        """A transaction ended on `connector` (its TxProfiles go with it)."""
        ...


class _Woke(Enum):
    TIME = "time"
    STOPPED = "stopped"
    REPLAN = "replan"


class _Drive:
    """The vehicle of one session: how its power varies, and its state of charge."""

    def __init__(self, station_id: str, connector: int, number: int, power_w: float) -> None:
        # Deterministic, not secret: the same station and session always charge alike.
        self._rng = random.Random(f"{station_id}/{connector}/{number}")  # noqa: S311
        self._power_w = power_w
        self._soc_start = self._rng.randrange(10, 60) if reports_soc(station_id) else None

    def power(self) -> float:
        """Power of the next interval: the plan's, give or take 3 %."""
        return round(self._power_w * self._rng.uniform(0.97, 1.03), 1)

    def sample(self, at: datetime, energy_wh: int, charged_wh: int, power_w: float) -> MeterSample:
        """A meter reading; the voltage moves a little around 230 V."""
        voltage = round(self._rng.uniform(228.0, 232.0), 1)
        soc = None
        if self._soc_start is not None:
            soc = min(100, self._soc_start + math.floor(100 * charged_wh / _BATTERY_WH))
        return MeterSample(
            timestamp=at,
            energy_wh=energy_wh,
            power_w=power_w,
            voltage_v=voltage,
            current_a=round(power_w / (_PHASES * voltage), 2),
            soc=soc,
        )


async def run_connector(
    host: ChargingHost,
    connector: Connector,
    numbers: Sequence[int],
    *,
    clock: SimClock,
    plan: ChargingPlan,
    tokens: TokenPool,
) -> None:
    """Run one connector's sessions (`numbers`, 1-based), one after the other."""
    await _ConnectorSessions(host, connector, clock=clock, plan=plan, tokens=tokens).run(numbers)


class _ConnectorSessions:
    def __init__(
        self,
        host: ChargingHost,
        connector: Connector,
        *,
        clock: SimClock,
        plan: ChargingPlan,
        tokens: TokenPool,
    ) -> None:
        self._host = host
        self._connector = connector
        self._clock = clock
        self._plan = plan
        self._tokens = tokens

    async def run(self, numbers: Sequence[int]) -> None:
        clock = self._clock
        for index, number in enumerate(numbers):
            if index:
                await clock.sleep_until(clock.now() + timedelta(seconds=self._plan.pause))
            await self._session(number)

    async def _set_state(self, state: ConnectorState) -> None:
        connector = self._connector
        previous, connector.state = connector.state, state
        await self._host.send_status(connector.number, state, previous)

    def _emit(self, text: str) -> None:
        self._host.emit(f"connector {self._connector.number}: {text}")

    async def _session(self, number: int) -> None:
        holder = session_key(self._host.station_id, self._connector.number, number)
        token = await self._tokens.acquire(holder)
        try:
            await self._charge_with(token, holder, number)
        except asyncio.CancelledError:
            # The station stopped: its drivers leave (the token is free unless already reused).
            self._tokens.release(token, holder)
            raise

    async def _charge_with(self, token: str, holder: Hashable, number: int) -> None:
        host, clock, meter = self._host, self._clock, self._connector.meter
        drive = _Drive(host.station_id, self._connector.number, number, self._plan.power_kw * 1e3)
        await self._set_state(ConnectorState.PREPARING)
        status = await host.authorize(token)
        if status is None:
            status = ACCEPTED
            self._emit(f"{token} authorized locally (offline)")
        if status != ACCEPTED:
            self._tokens.release(token, holder)
            refused_at = drive.sample(clock.now(), meter.register_wh, 0, 0.0)
            host.authorization_refused(self._connector.number, token, status, refused_at)
            self._emit(f"{token} refused ({status})")
            await self._set_state(ConnectorState.AVAILABLE)
            return
        await self._transaction(drive, token, number, status)

    async def remote(self, token: str, number: int, remote_start_id: int | None) -> None:
        """A session the CSMS started: the driver plugs in, no card presented."""
        drive = _Drive(
            self._host.station_id, self._connector.number, number, self._plan.power_kw * 1e3
        )
        await self._set_state(ConnectorState.PREPARING)
        await self._transaction(drive, token, number, ACCEPTED, remote_start_id)

    async def _transaction(
        self,
        drive: _Drive,
        token: str,
        number: int,
        status: str,
        remote_start_id: int | None = None,
    ) -> None:
        host, clock, meter = self._host, self._clock, self._connector.meter
        begin = drive.sample(clock.now(), meter.register_wh, 0, 0.0)
        transaction = Transaction(
            station_id=host.station_id,
            protocol=host.protocol,
            connector=self._connector.number,
            id_token=token,
            session_number=number,
            authorize_status=status,
            begin=begin,
            remote_start_id=remote_start_id,
        )
        self._connector.transaction = transaction
        self._host.replan()
        try:
            await self._run(transaction, drive)
        finally:
            self._connector.transaction = None
            self._host.transaction_ended(self._connector.number)

    async def _run(self, transaction: Transaction, drive: _Drive) -> None:
        host, number, token, begin = (
            self._host,
            transaction.session_number,
            transaction.id_token,
            transaction.begin,
        )
        # Online, a station energizes once the CSMS accepted the start, and reports Finishing
        # once the stop went out; offline it goes on without waiting.
        await host.wait_settled(self._enqueue(transaction, TxKind.START, begin))
        self._emit(f"session {number} started ({token}, meter {begin.energy_wh} Wh)")
        cause, end = await self._charge(drive, transaction)
        await host.wait_settled(self._enqueue(transaction, TxKind.END, end, cause))
        self._emit(f"session {number} stopped ({cause}), {end.energy_wh - begin.energy_wh} Wh")
        await self._set_state(ConnectorState.FINISHING)
        await self._set_state(ConnectorState.AVAILABLE)

    async def _charge(
        self, drive: _Drive, transaction: Transaction
    ) -> tuple[StopCause, MeterSample]:
        """Charge until the session's time is up or the CSMS refused the transaction.

        Within a meter interval the draw changes whenever the offer does (a profile arrives,
        a period of one begins, another connector's share changes) or the battery fills; the
        meter counts each stretch at its own power.
        """
        begin, meter, interval = transaction.begin, self._connector.meter, self._plan.meter_interval
        # Alternate the two ordinary endings: the driver stops with the card, or just unplugs.
        cause = StopCause.LOCAL if transaction.session_number % 2 else StopCause.EV_DISCONNECTED
        end_at = begin.timestamp + timedelta(seconds=self._plan.session_length)
        last = begin.timestamp
        for tick in itertools.count(1):
            wanted = drive.power()
            due = min(begin.timestamp + timedelta(seconds=tick * interval), end_at)
            power = 0.0
            while True:
                until: datetime | None = None
                if not transaction.deauthorized.is_set():
                    self._connector.replan.clear()
                    power, until = await self._draw(drive, transaction, wanted, last)
                wake = due if until is None or until >= due else until
                woke = await _wait(
                    self._clock, wake, transaction.deauthorized, self._connector.replan
                )
                now = max(self._clock.now(), last)
                meter.run(power, (now - last).total_seconds())
                last = now
                if woke is _Woke.STOPPED or (woke is _Woke.TIME and wake == due):
                    break
            charged = meter.register_wh - begin.energy_wh
            sample = drive.sample(now, meter.register_wh, charged, power)
            if woke is _Woke.STOPPED:
                return transaction.stop_cause or StopCause.DEAUTHORIZED, sample
            if due >= end_at:
                return cause, sample
            transaction.updates += 1
            self._enqueue(transaction, TxKind.UPDATE, sample)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _draw(
        self, drive: _Drive, transaction: Transaction, wanted: float, at: datetime
    ) -> tuple[float, datetime | None]:
        """What the vehicle draws from `at` on, and until when that holds at the latest."""
        meter, target = self._connector.meter, self._plan.energy_kwh
        offer = self._host.offer(self._connector.number, at)
        until = offer.until
        charged = meter.energy_wh - transaction.begin.energy_wh
        # Half a Wh of slack: the meter reaches the target by a float sum, not exactly.
        if target is not None and charged >= target * 1e3 - 0.5:
            state, power = ConnectorState.SUSPENDED_EV, 0.0
        elif offer.watts is not None and offer.watts <= 0:
            state, power = ConnectorState.SUSPENDED_EVSE, 0.0
        else:
            state = ConnectorState.CHARGING
            power = wanted if offer.watts is None else min(wanted, offer.watts)
            if target is not None:
                # Wake when the battery is full (at least a millisecond on: no busy loop).
                full_in = max((target * 1e3 - charged) / power * 3600.0, 0.001)
                full_at = at + timedelta(seconds=full_in)
                until = full_at if until is None else min(until, full_at)
        await self._enter(state, drive, transaction, at, power)
        return power, until

    async def _enter(
        self,
        state: ConnectorState,
        drive: _Drive,
        transaction: Transaction,
        at: datetime,
        power: float,
    ) -> None:
        """Move to a charging state and tell the CSMS (status, and an update with a reading)."""
        previous = self._connector.state
        if state is previous:
            return
        await self._set_state(state)
        self._emit(f"{state.value} at {power / 1e3:.2f} kW")
        if previous is not ConnectorState.PREPARING or state is not ConnectorState.CHARGING:
            # Beginning to charge is implied by the start; every other change is news.
            meter = self._connector.meter
            charged = meter.register_wh - transaction.begin.energy_wh
            sample = drive.sample(at, meter.register_wh, charged, power)
            self._enqueue(transaction, TxKind.UPDATE, sample, state_change=True)
        if ConnectorState.SUSPENDED_EV in (state, previous):
            # A full vehicle gives its share of the station's maximum to the others.
            self._host.replan()

    def _enqueue(
        self,
        transaction: Transaction,
        kind: TxKind,
        sample: MeterSample,
        cause: StopCause | None = None,
        *,
        state_change: bool = False,
    ) -> TxMessage:
        state = self._connector.state
        message = TxMessage(
            kind=kind,
            transaction=transaction,
            sample=sample,
            seq_no=transaction.next_seq_no(),
            offline=not self._host.is_online(),
            cause=cause,
            charging_state=state if state in _CHARGING_STATES else ConnectorState.CHARGING,
            state_change=state_change,
        )
        self._host.enqueue(message)
        return message


async def run_remote_session(
    host: ChargingHost,
    connector: Connector,
    token: str,
    number: int,
    *,
    remote_start_id: int | None,
    clock: SimClock,
    plan: ChargingPlan,
) -> None:
    """Run one session the CSMS started on `connector` (RemoteStart / RequestStart)."""
    sessions = _ConnectorSessions(host, connector, clock=clock, plan=plan, tokens=TokenPool(()))
    await sessions.remote(token, number, remote_start_id)


_CHARGING_STATES = frozenset(
    {ConnectorState.CHARGING, ConnectorState.SUSPENDED_EVSE, ConnectorState.SUSPENDED_EV}
)


async def _wait(
    clock: SimClock, until: datetime, stop: asyncio.Event, replan: asyncio.Event
) -> _Woke:
    """Sleep until `until` (simulated), unless `stop` or `replan` is set first (stop wins)."""
    if stop.is_set():
        return _Woke.STOPPED
    if replan.is_set():
        return _Woke.REPLAN
    sleeper = asyncio.ensure_future(clock.sleep_until(until))
    stopper = asyncio.ensure_future(stop.wait())
    replanner = asyncio.ensure_future(replan.wait())
    tasks = (sleeper, stopper, replanner)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if stop.is_set():
        return _Woke.STOPPED
    return _Woke.REPLAN if replan.is_set() else _Woke.TIME
