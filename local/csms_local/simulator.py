"""Simulated charging stations for `csms simulate` and for end-to-end tests.

Each station connects to the CSMS at `{url}/{stationId}` with HTTP Basic Auth, offers its
pinned subprotocol (or both `ocpp2.0.1` and `ocpp1.6`), then boots, reports its connectors
Available and sends heartbeats. It answers Reset (by rebooting) and TriggerMessage, and it
reconnects with backoff when the connection closes: API Gateway cuts every connection after
2 hours, so a reconnect is routine and, unlike a reset, does not reboot the station.

With a charging plan, each station also runs charging sessions on its connectors (authorize,
start, periodic meter values, stop) on a simulated clock that may run faster than real time
(`csms_local.sim.sessions`). Transaction messages wait in a queue that survives reconnects and
are removed only once answered; with chaos (`csms_local.sim.chaos`) the connection drops at
random and messages are retransmitted or reordered, and no transaction message is lost.

The version-neutral behaviour lives here; the wire payloads of each OCPP version live in
`csms_local.sim.charge_points`, imported only when a station runs, because the `ocpp` package
costs about 200 ms to import and every `csms` command builds this module's arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import math
import secrets
import sys
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import Enum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote

from csms_local.sim.chaos import Chaos, ChaosConfig, ChaosConnection, ChaosCounts
from csms_local.sim.clock import ScaledClock, SimClock
from csms_local.sim.commands import StationMemory
from csms_local.sim.profiles import (
    Electrical,
    Limit,
    Profile,
    ProfileError,
    Purpose,
    Running,
    composite_schedule,
    connector_limit,
    offered_w,
    replaced_by,
    station_limit,
    validate_for,
)
from csms_local.sim.sessions import (
    ACCEPTED,
    MAX_ID_TOKEN,
    ChargingPlan,
    Connector,
    ConnectorState,
    EnergyMeter,
    MeterSample,
    SessionRecord,
    StopCause,
    TokenPool,
    Transaction,
    TransactionQueue,
    TxAnswer,
    TxKind,
    TxMessage,
    initial_register,
    run_connector,
    run_remote_session,
)

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

logger = logging.getLogger(__name__)

DEFAULT_URL = "ws://127.0.0.1:9000/ocpp"
DEFAULT_SEED = Path(__file__).with_name("demo_seed.json")
NO_SESSIONS = ChargingPlan()

OCPP16 = "ocpp1.6"
OCPP201 = "ocpp2.0.1"
# The CSMS prefers 2.0.1 (DESIGN 3); offering it first keeps the preference visible on the wire.
PROTOCOLS = (OCPP201, OCPP16)

# Longest values that fit both versions' BootNotification schemas (1.6 is the stricter one).
_VENDOR_MAX = 20
_MODEL_MAX = 20
_SERIAL_MAX = 25
_FIRMWARE_MAX = 50

_T = TypeVar("_T")


# --- what a station is and what happened to it ----------------------------------------------


class ProfileMode(StrEnum):
    """What a station does with the charging profiles the CSMS sets."""

    HONOUR = "honour"
    """Keep them and limit every connector to its composite schedule, as a real station does."""
    IGNORE = "ignore"
    """Answer Accepted and charge as if there were none (a broken or misconfigured station)."""
    REJECT = "reject"
    """Answer Rejected (a station without smart charging)."""


@dataclass(frozen=True)
class SimulatedStation:
    """One simulated charging station: its credentials and what it says about itself."""

    station_id: str
    password: str = field(repr=False)
    protocol: str | None = None
    connectors: int = 2
    vendor: str = "OpenCSMS"
    model: str = "SimCharger"
    serial_number: str | None = None
    firmware_version: str = "1.0.0"
    voltage: float = 230.0
    """Line-to-neutral voltage: converts a profile's amperes into watts."""
    phases: int = 3
    profiles: ProfileMode = ProfileMode.HONOUR

    def __post_init__(self) -> None:
        """Refuse what the station could not send: a bad value would fail schema validation."""
        if not self.station_id or "/" in self.station_id:
            raise ValueError(f"invalid station id {self.station_id!r}")
        if self.protocol is not None and self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}: {self.protocol!r}")
        if self.connectors < 1:
            raise ValueError(f"a station needs at least one connector, not {self.connectors}")
        if self.phases not in (1, 3):
            raise ValueError(f"a station has 1 or 3 phases, not {self.phases}")
        if not (math.isfinite(self.voltage) and 100 <= self.voltage <= 1000):
            raise ValueError(f"voltage must be between 100 and 1000 V, not {self.voltage!r}")
        for name, value, limit in (
            ("vendor", self.vendor, _VENDOR_MAX),
            ("model", self.model, _MODEL_MAX),
            ("serial_number", self.serial, _SERIAL_MAX),
            ("firmware_version", self.firmware_version, _FIRMWARE_MAX),
        ):
            if not value or len(value) > limit:
                raise ValueError(f"{name} must have 1 to {limit} characters: {value!r}")

    @property
    def serial(self) -> str:
        """Serial number sent at boot: the given one, else the station id (cut to fit)."""
        return self.serial_number if self.serial_number is not None else self.station_id[:25]


@dataclass
class StationReport:
    """What happened to one station, for printing and for tests.

    The message counts include only messages the CSMS answered (with a result or an error): a
    message in flight when the connection closed is not counted.
    """

    station_id: str
    protocol: str | None = None
    boot_status: str | None = None
    heartbeats_sent: int = 0
    status_notifications_sent: int = 0
    calls_received: list[str] = field(default_factory=list)
    refused: int | None = None
    connects: int = 0
    error: str | None = None
    sessions_planned: int = 0
    sessions: list[SessionRecord] = field(default_factory=list)
    """Finished sessions, in the order the CSMS answered their ends."""
    queued_messages: int = 0
    """Transaction messages still unanswered when the station stopped."""
    transaction_messages_sent: int = 0
    """Answered transaction messages (a retransmission counts once more)."""
    transaction_messages_failed: int = 0
    """Transaction messages given up after CALLERROR answers."""
    reply_mismatches: int = 0
    """Retransmissions the CSMS answered differently from the first time."""
    chaos: ChaosCounts | None = None

    @property
    def done(self) -> bool:
        """Every planned session finished and its messages answered."""
        return len(self.sessions) >= self.sessions_planned and self.queued_messages == 0

    def to_json(self) -> dict[str, Any]:
        """The station's part of the `--report` document (sessions are listed apart)."""
        chaos = self.chaos
        return {
            "station_id": self.station_id,
            "protocol": self.protocol,
            "boot_status": self.boot_status,
            "connects": self.connects,
            "heartbeats_sent": self.heartbeats_sent,
            "status_notifications_sent": self.status_notifications_sent,
            "sessions_planned": self.sessions_planned,
            "sessions_finished": len(self.sessions),
            "queued_messages": self.queued_messages,
            "transaction_messages_sent": self.transaction_messages_sent,
            "transaction_messages_failed": self.transaction_messages_failed,
            "reply_mismatches": self.reply_mismatches,
            "chaos": None
            if chaos is None
            else {
                "drops": chaos.drops,
                "retransmissions": chaos.retransmissions,
                "swaps": chaos.swaps,
            },
            "error": self.error,
        }


@dataclass(frozen=True)
class StationTiming:
    """Delays of a simulated station, in seconds; tests shrink them."""

    reset_delay: float = 0.5
    """Time between answering a Reset and closing the connection to reboot."""
    boot_retry: float = 10.0
    """Wait before re-sending a refused boot when the CSMS gave no interval."""
    default_heartbeat: float = 300.0
    """Heartbeat interval when the CSMS answered Accepted with interval 0."""
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    jitter: float = 0.2
    """Fraction of a backoff delay removed at random, so stations do not reconnect in step."""
    response_timeout: float = 30.0
    close_timeout: float = 2.0
    open_timeout: float = 10.0
    transaction_attempts: int = 3
    """Sends of a transaction message answered with CALLERRORs before it is given up
    (1.6 TransactionMessageAttempts)."""
    transaction_retry: float = 5.0
    """Wait after a CALLERROR before sending a transaction message again
    (1.6 TransactionMessageRetryInterval)."""

    def backoff(self, failures: int) -> float:
        """Delay before the next connection attempt after `failures` failed ones in a row."""
        delay = min(self.backoff_max, self.backoff_initial * 2.0 ** min(failures - 1, 30))
        return delay * (1.0 - self.jitter * secrets.SystemRandom().random())


# --- the connection seam (websockets in production, in-memory fakes in unit tests) -----------


class HandshakeRefusedError(Exception):
    """The CSMS answered the WebSocket upgrade with an HTTP error (bad credentials, ...)."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"connection refused ({status_code})")
        self.status_code = status_code


class StationConnection(Protocol):
    """An open WebSocket as a station sees it.

    `recv` and `send` raise `ConnectionError` once the connection is closed.
    """

    @property
    def subprotocol(self) -> str | None:
        """Subprotocol the CSMS selected, or None."""
        ...

    async def recv(self) -> str | bytes:
        """Wait for the next message."""
        ...

    async def send(self, message: str) -> None:
        """Send one text message."""
        ...

    async def close(self) -> None:
        """Close the connection (normal closure)."""
        ...


class Connect(Protocol):
    """Open a connection; raise `HandshakeRefusedError` or `OSError` when that fails."""

    async def __call__(
        self, uri: str, *, subprotocols: Sequence[str], headers: Mapping[str, str]
    ) -> StationConnection:
        """Open a WebSocket to `uri`."""
        ...


class _WebSocketsConnection:
    """A websockets client connection with the errors a station expects."""

    def __init__(self, websocket: ClientConnection) -> None:
        self._websocket = websocket

    @property
    def subprotocol(self) -> str | None:
        return self._websocket.subprotocol

    async def recv(self) -> str | bytes:
        from websockets.exceptions import ConnectionClosed

        try:
            return await self._websocket.recv()
        except ConnectionClosed as exc:
            raise ConnectionError(_describe_close(exc)) from exc

    async def send(self, message: str) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self._websocket.send(message)
        except ConnectionClosed as exc:
            raise ConnectionError(_describe_close(exc)) from exc

    async def close(self) -> None:
        await self._websocket.close()


def _describe_close(exc: Exception) -> str:
    from websockets.exceptions import ConnectionClosed

    close = exc.rcvd if isinstance(exc, ConnectionClosed) else None
    if close is None:
        return "connection closed"
    return f"connection closed ({close.code}{' ' + close.reason if close.reason else ''})"


class _RedactAuthorization(logging.Filter):
    """Hide the Basic Auth header from websockets' debug log of the handshake."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and str(args[0]).lower() == "authorization":
            record.args = (args[0], "[redacted]")
        return True


_WEBSOCKETS_LOGGER = logging.getLogger(f"{__name__}.websockets")
_WEBSOCKETS_LOGGER.addFilter(_RedactAuthorization())


def websockets_connector(timing: StationTiming = StationTiming()) -> Connect:
    """Connect with the `websockets` client; the default of `run_station`."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
    from websockets.typing import Subprotocol

    async def open_connection(
        uri: str, *, subprotocols: Sequence[str], headers: Mapping[str, str]
    ) -> StationConnection:
        try:
            websocket = await connect(
                uri,
                subprotocols=[Subprotocol(name) for name in subprotocols],
                additional_headers=dict(headers),
                open_timeout=timing.open_timeout,
                close_timeout=timing.close_timeout,
                logger=_WEBSOCKETS_LOGGER,
            )
        except InvalidStatus as exc:
            raise HandshakeRefusedError(exc.response.status_code) from exc
        except InvalidURI as exc:
            raise ValueError(str(exc)) from exc
        except InvalidHandshake as exc:
            raise ConnectionError(f"handshake failed: {exc}") from exc
        return _WebSocketsConnection(websocket)

    return open_connection


# --- what the version-specific charge points and the session tell each other ----------------


class BootReason(Enum):
    """Why a station boots (2.0.1 `reason`; 1.6 sends none)."""

    POWER_UP = "PowerUp"
    REMOTE_RESET = "RemoteReset"
    TRIGGERED = "Triggered"


class Trigger(StrEnum):
    """Messages a CSMS can have a simulated station send with TriggerMessage."""

    BOOT_NOTIFICATION = "BootNotification"
    HEARTBEAT = "Heartbeat"
    STATUS_NOTIFICATION = "StatusNotification"
    METER_VALUES = "MeterValues"


@dataclass(frozen=True)
class BootResult:
    """The CSMS's answer to a BootNotification."""

    status: str
    interval: int


class CsmsCallError(Exception):
    """A station's call was answered with a CALLERROR (or an answer the station cannot read)."""

    def __init__(self, action: str, code: str, description: str) -> None:
        super().__init__(f"{action} answered with {code}: {description}")
        self.action = action
        self.code = code


class SimulatedChargePoint(Protocol):
    """What a session needs from the charge point of either OCPP version."""

    async def route_message(self, raw_msg: str) -> None:
        """Handle one frame from the CSMS (a call to answer or a reply to a call)."""
        ...

    async def send_boot(self, reason: BootReason) -> BootResult:
        """Send BootNotification."""
        ...

    async def send_heartbeat(self) -> None:
        """Send Heartbeat."""
        ...

    @property
    def target_name(self) -> str:
        """What a target of `send_status` is: "connector" (1.6) or "EVSE" (2.0.1)."""
        ...

    def status_targets(self) -> list[int]:
        """Connectors (1.6) or EVSEs (2.0.1) to report after boot."""
        ...

    async def send_status(
        self, target: int, state: ConnectorState, previous: ConnectorState | None = None
    ) -> bool:
        """Send StatusNotification for one connector (1.6) or EVSE (2.0.1).

        Return False when, in this version, going from `previous` to `state` changes no status
        (nothing was sent). Without `previous`, the status is always sent.
        """
        ...

    async def send_meter_values(self, target: int, energy_wh: int) -> None:
        """Send MeterValues for one connector (1.6) or EVSE (2.0.1)."""
        ...

    async def send_authorize(self, id_token: str) -> str:
        """Send Authorize; return the authorization status."""
        ...

    async def send_transaction_message(self, message: TxMessage) -> TxAnswer | None:
        """Send a queued transaction message with its unique id; None: it cannot be sent."""
        ...


class SessionHost(Protocol):
    """What a charge point may ask of the session that runs it."""

    def now(self) -> datetime:
        """The station's (simulated) time, for timestamps."""
        ...

    def request_reset(self) -> None:
        """Reboot soon (after the reply to Reset has gone out)."""
        ...

    def trigger(self, message: Trigger, targets: Sequence[int]) -> None:
        """Send a triggered message in the background."""
        ...

    @property
    def memory(self) -> StationMemory:
        """What the station keeps for the CSMS's commands (configuration, local list, ...)."""
        ...

    def free_connector(self, requested: int | None) -> int | None:
        """The connector a remote start would use (the one asked for, if free); None: none."""
        ...

    def start_remote(self, connector: int, id_token: str, remote_start_id: int | None) -> None:
        """Start a session the CSMS asked for, in the background."""
        ...

    def stop_remote(self, matches: Callable[[Transaction], bool]) -> bool:
        """End the running transaction that `matches`; False when there is none."""
        ...

    def in_background(self, send: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Send messages (status notifications of a command's progress) in the background."""
        ...

    def set_profile(self, profile: Profile, *, needs_transaction_id: bool) -> str:
        """Keep a charging profile and apply it; Accepted, or Rejected with the reason logged."""
        ...

    def clear_profiles(
        self, profile_id: int | None, target: int | None, purpose: str | None, level: int | None
    ) -> bool:
        """Remove the profiles matching every criterion given; True when one matched."""
        ...

    def composite_schedule(
        self, target: int, duration_s: float, unit: str
    ) -> tuple[datetime, list[dict[str, Any]]]:
        """Where the composite schedule of a connector (0: the station) starts, and its periods."""
        ...


# --- one connection ---------------------------------------------------------------------------


class _End(Enum):
    STOPPED = "stopped"
    RESET = "reset"
    LOST = "lost"
    FATAL = "fatal"


@dataclass(frozen=True)
class _Outcome:
    end: _End
    detail: str = ""


class _Session:
    """One connection of a station.

    It boots if needed, reports status, sends heartbeats, answers the CSMS's calls and delivers
    the queued transaction messages.
    """

    def __init__(self, runner: _StationRunner, connection: StationConnection, protocol: str):
        from csms_local.sim.charge_points import charge_point_class

        self._runner = runner
        self._connection = connection
        self.protocol = protocol
        self._reset = asyncio.Event()
        self._accepted = asyncio.Event()
        self._ready = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self.reached_heartbeats = False
        self.charge_point: SimulatedChargePoint = charge_point_class(protocol)(
            runner.station, connection, self, response_timeout=runner.timing.response_timeout
        )

    async def run(self, stop: asyncio.Event) -> _Outcome:
        reader = asyncio.create_task(self._read())
        operator = asyncio.create_task(self._operate())
        sender = asyncio.create_task(self._send_transactions())
        waits: set[asyncio.Task[Any]] = {
            reader,
            operator,
            sender,
            asyncio.create_task(stop.wait()),
            asyncio.create_task(self._reset.wait()),
        }
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._runner.session_ended(self)
            await _cancel_all(waits | self._background)
        if stop.is_set():
            return _Outcome(_End.STOPPED)
        if self._reset.is_set():
            return _Outcome(_End.RESET)
        for task in (operator, sender, reader):
            exc = task.exception() if task in done else None
            if exc is None:
                continue
            # OSError covers ConnectionError and TimeoutError (a call without a reply).
            if isinstance(exc, OSError):
                return _Outcome(_End.LOST, str(exc) or type(exc).__name__)
            logger.debug("%s: session failed", self._runner.station.station_id, exc_info=exc)
            return _Outcome(_End.FATAL, f"{type(exc).__name__}: {exc}")
        return _Outcome(_End.LOST, "connection closed")  # pragma: no cover - the loops are endless

    async def run_call(
        self, send: Callable[[SimulatedChargePoint], Coroutine[Any, Any, _T]]
    ) -> _T | None:
        """Make a call for a charging session on this (ready) connection.

        None when the connection ends first, or when the CSMS answers with a CALLERROR: a
        session goes on without the answer, as a station that lost its connection does. The
        call runs as a task of the connection, so that it ends with the connection.
        """
        task = asyncio.create_task(send(self.charge_point))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        # If the caller is cancelled meanwhile, the call goes on until the connection ends.
        await asyncio.wait({task})
        if task.cancelled():
            return None
        exc = task.exception()
        if exc is None:
            return task.result()
        if isinstance(exc, CsmsCallError | OSError):
            self._runner.emit(f"call failed: {exc or type(exc).__name__}")
            return None
        raise exc

    # SessionHost

    def now(self) -> datetime:
        return self._runner.clock.now()

    def request_reset(self) -> None:
        self._spawn(self._reset_after_delay())

    def trigger(self, message: Trigger, targets: Sequence[int]) -> None:
        self._spawn(self._send_triggered(message, list(targets)))

    @property
    def memory(self) -> StationMemory:
        return self._runner.memory

    def free_connector(self, requested: int | None) -> int | None:
        return self._runner.free_connector(requested)

    def start_remote(self, connector: int, id_token: str, remote_start_id: int | None) -> None:
        self._runner.start_remote(connector, id_token, remote_start_id)

    def stop_remote(self, matches: Callable[[Transaction], bool]) -> bool:
        return self._runner.stop_remote(matches)

    def in_background(self, send: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._spawn(send())

    def set_profile(self, profile: Profile, *, needs_transaction_id: bool) -> str:
        return self._runner.set_profile(profile, needs_transaction_id=needs_transaction_id)

    def clear_profiles(
        self, profile_id: int | None, target: int | None, purpose: str | None, level: int | None
    ) -> bool:
        return self._runner.clear_profiles(profile_id, target, purpose, level)

    def composite_schedule(
        self, target: int, duration_s: float, unit: str
    ) -> tuple[datetime, list[dict[str, Any]]]:
        return self._runner.composite_schedule(target, duration_s, unit)

    # internals

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(self._log_background_failure)

    def _log_background_failure(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._runner.emit(f"triggered message failed: {exc}")

    async def _reset_after_delay(self) -> None:
        self._runner.emit("resetting")
        await asyncio.sleep(self._runner.timing.reset_delay)
        self._reset.set()

    async def _read(self) -> None:
        while True:
            raw = await self._connection.recv()
            text = raw if isinstance(raw, str) else raw.decode()
            action = _call_action(text)
            if action is not None:
                self._runner.report.calls_received.append(action)
                self._runner.emit(f"received {action}")
            await self.charge_point.route_message(text)

    async def _operate(self) -> None:
        runner = self._runner
        if runner.needs_boot:
            await self._boot_until_accepted()
            await self._send_statuses(self.charge_point.status_targets())
            runner.needs_boot = False
        self.reached_heartbeats = True
        self._ready.set()
        runner.session_ready(self)
        interval = runner.heartbeat_interval()
        while True:
            await asyncio.sleep(interval)
            await self._heartbeat()

    async def _boot_until_accepted(self) -> None:
        timing = self._runner.timing
        while not self._accepted.is_set():
            result = await self._boot(self._runner.boot_reason)
            if self._accepted.is_set():
                return
            interval = result.interval if result is not None else 0
            delay = float(interval) if interval > 0 else timing.boot_retry
            self._runner.emit(f"retrying boot in {delay:g} s")
            # A 2.0.1 CSMS may trigger a BootNotification while this one waits.
            with suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._accepted.wait()

    async def _boot(self, reason: BootReason) -> BootResult | None:
        runner = self._runner
        try:
            result = await self.charge_point.send_boot(reason)
        except CsmsCallError as exc:
            runner.emit(f"boot failed: {exc}")
            return None
        runner.report.boot_status = result.status
        if result.status == "Accepted":
            runner.csms_interval = result.interval
            runner.boot_reason = BootReason.POWER_UP
            self._accepted.set()
            runner.emit(f"boot Accepted (interval {result.interval} s)")
        else:
            runner.emit(f"boot {result.status}")
        return result

    async def _heartbeat(self) -> None:
        try:
            await self.charge_point.send_heartbeat()
        except CsmsCallError as exc:
            self._runner.emit(f"heartbeat failed: {exc}")
        else:
            self._runner.emit("heartbeat")
        self._runner.report.heartbeats_sent += 1

    async def _send_statuses(self, targets: Sequence[int]) -> None:
        """Report the current status of each target (after boot, or when triggered)."""
        for target in targets:
            try:
                sent = await self.charge_point.send_status(
                    target, self._runner.connector_state(target)
                )
            except CsmsCallError as exc:
                self._runner.emit(f"status notification failed: {exc}")
                sent = True
            self._runner.report.status_notifications_sent += int(sent)
        self._runner.emit(f"status sent for {self._targets(targets)}")

    async def _send_triggered(self, message: Trigger, targets: list[int]) -> None:
        if message is Trigger.BOOT_NOTIFICATION:
            await self._boot(BootReason.TRIGGERED)
        elif message is Trigger.HEARTBEAT:
            await self._heartbeat()
        elif message is Trigger.STATUS_NOTIFICATION:
            await self._send_statuses(targets)
        else:
            for target in targets:
                await self.charge_point.send_meter_values(target, self._runner.register(target))
            self._runner.emit(f"meter values sent for {self._targets(targets)}")

    def _targets(self, targets: Sequence[int]) -> str:
        plural = "s" if len(targets) > 1 else ""
        return f"{self.charge_point.target_name}{plural} {', '.join(map(str, targets))}"

    async def _send_transactions(self) -> None:
        """Deliver the queued transaction messages in order, once the station is accepted."""
        await self._ready.wait()
        runner = self._runner
        while True:
            await runner.queue.wait_not_empty()
            first = runner.queue.first(2)
            message = first[0]
            chaos = runner.chaos
            # A CSMS must apply 2.0.1 events in seqNo order whatever order they arrive in;
            # 1.6 messages keep their order (a Stop needs the id its Start was given).
            if len(first) == 2 and self.protocol == OCPP201 and chaos and chaos.swap():
                chaos.counts.swaps += 1
                message = first[1]
                runner.emit("chaos: two queued transaction events sent in swapped order")
            await self._deliver(message)

    async def _deliver(self, message: TxMessage) -> None:
        runner = self._runner
        try:
            answer = await self.charge_point.send_transaction_message(message)
        except CsmsCallError as exc:
            await self._refused(message, exc)
            return
        if answer is None:
            runner.transaction_given_up(message, "it cannot be sent (no transaction id)")
            return
        runner.report.transaction_messages_sent += 1
        chaos = runner.chaos
        if chaos is not None and chaos.retransmit():
            # As if the answer had been lost: the same call again, with the same unique id.
            chaos.counts.retransmissions += 1
            try:
                again = await self.charge_point.send_transaction_message(message)
            except CsmsCallError as exc:
                again = None
                runner.emit(f"retransmitted {message.kind.value} answered with an error: {exc}")
            runner.report.transaction_messages_sent += 1
            if again != answer:
                runner.report.reply_mismatches += 1
                runner.emit(
                    f"retransmitted {message.kind.value} answered differently: {again} != {answer}"
                )
            answer = again or answer
        runner.transaction_answered(message, answer)

    async def _refused(self, message: TxMessage, exc: CsmsCallError) -> None:
        runner = self._runner
        message.attempts += 1
        if message.attempts >= runner.timing.transaction_attempts:
            runner.transaction_given_up(message, f"{message.attempts} errors, the last: {exc}")
            return
        runner.emit(f"transaction message failed, will retry: {exc}")
        # A new call, not a retransmission: the CSMS did answer the last one (with an error).
        message.unique_id = str(uuid.uuid4())
        await asyncio.sleep(runner.timing.transaction_retry)


async def _wait_any(*events: asyncio.Event) -> None:
    """Return once one of `events` is set."""
    waits = {asyncio.create_task(event.wait()) for event in events}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await _cancel_all(waits)


async def _cancel_all(tasks: set[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait until all are done.

    A task may need cancelling more than once: in Python 3.11, `asyncio.wait_for` (which the
    `ocpp` package awaits replies with) swallows a cancellation that arrives together with the
    reply, and the task then runs on.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.05)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: the caller looks at the results it cares about


def _call_action(raw: str) -> str | None:
    """Return the action of a CALL frame (`[2, id, action, payload]`), else None."""
    try:
        frame = json.loads(raw)
    except ValueError:
        return None
    if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2 and isinstance(frame[2], str):
        return frame[2]
    return None


# --- one station, across connections ----------------------------------------------------------


class _StationRunner:
    """One station across its connections: connects, runs sessions, reconnects, gives up."""

    def __init__(
        self,
        url: str,
        station: SimulatedStation,
        *,
        stop: asyncio.Event,
        heartbeat_interval: float | None,
        max_refusals: int | None,
        connect: Connect,
        timing: StationTiming,
        on_event: Callable[[str], None] | None,
        plan: ChargingPlan,
        clock: SimClock,
        tokens: TokenPool,
        chaos: ChaosConfig | None,
        done: asyncio.Event | None,
    ) -> None:
        self.station = station
        self.station_id = station.station_id
        self.timing = timing
        self.clock = clock
        self.report = StationReport(station_id=station.station_id, sessions_planned=plan.sessions)
        self.chaos = Chaos(chaos, station.station_id) if chaos is not None else None
        self.report.chaos = self.chaos.counts if self.chaos is not None else None
        self.queue = TransactionQueue()
        self.ready_session: _Session | None = None
        self.connectors = [
            Connector(number, EnergyMeter(initial_register(station.station_id, number)))
            for number in range(1, station.connectors + 1)
        ]
        self.memory = StationMemory()
        # Sessions the CSMS started; they go on across reconnects, like planned ones.
        self._remote: set[asyncio.Task[None]] = set()
        self._remote_count = 0
        self._plan = plan
        self._tokens = tokens
        self._done = done if done is not None else asyncio.Event()
        self._workers: set[asyncio.Task[None]] | None = None
        self._workers_left = 0
        self._offline = asyncio.Event()
        self._offline.set()
        self.needs_boot = True
        self.boot_reason = BootReason.POWER_UP
        self.csms_interval = 0
        self._uri = f"{url.rstrip('/')}/{quote(station.station_id, safe='')}"
        self._offered = [station.protocol] if station.protocol else list(PROTOCOLS)
        credentials = f"{station.station_id}:{station.password}".encode()
        self._headers = {"Authorization": "Basic " + base64.b64encode(credentials).decode()}
        self._stop = stop
        self._heartbeat_override = heartbeat_interval
        self._max_refusals = max_refusals
        self._connect = connect
        self._on_event = on_event
        self._failures = 0  # failed connections in a row, for the backoff
        self._refusals = 0  # refused handshakes in a row
        self._last_protocol: str | None = None
        self._finished = False

    def emit(self, text: str) -> None:
        line = f"{self.station.station_id}: {text}"
        if self._on_event is None:
            logger.info("%s", line)
        else:
            self._on_event(line)

    def heartbeat_interval(self) -> float:
        if self._heartbeat_override is not None:
            return self._heartbeat_override
        return (
            float(self.csms_interval) if self.csms_interval > 0 else self.timing.default_heartbeat
        )

    async def run(self) -> StationReport:
        try:
            while not (self._stop.is_set() or self._finished):
                opened = await self._open()
                if opened is not None:
                    await self._serve(*opened)
        finally:
            await _cancel_all((self._workers or set()) | self._remote)
            self.report.queued_messages = len(self.queue)
        self.emit("closed")
        return self.report

    # --- charging sessions (ChargingHost) ---

    @property
    def protocol(self) -> str:
        return self._last_protocol or self._offered[0]

    def is_online(self) -> bool:
        return self.ready_session is not None

    async def send_status(
        self, connector: int, state: ConnectorState, previous: ConnectorState
    ) -> None:
        session = self.ready_session
        if session is None:
            return  # a status is not worth queueing: it is stale once the station is back
        sent = await session.run_call(lambda cp: cp.send_status(connector, state, previous))
        self.report.status_notifications_sent += int(bool(sent))

    async def authorize(self, id_token: str) -> str | None:
        session = self.ready_session
        if session is None:
            return None
        return await session.run_call(lambda cp: cp.send_authorize(id_token))

    def enqueue(self, message: TxMessage) -> None:
        self.queue.put(message)

    async def wait_settled(self, message: TxMessage) -> None:
        if self.ready_session is not None:
            await _wait_any(message.settled, self._offline)

    def authorization_refused(
        self, connector: int, id_token: str, status: str, at: MeterSample
    ) -> None:
        v16 = self.protocol == OCPP16
        self.report.sessions.append(
            SessionRecord(
                station_id=self.station_id,
                protocol=self.protocol,
                transaction_id=None,
                evse_id=None if v16 else connector,
                connector_id=connector if v16 else 1,
                id_token=id_token,
                authorization_status=status,
                meter_start_wh=at.energy_wh,
                meter_stop_wh=at.energy_wh,
                energy_wh=0,
                started_at=at.timestamp,
                stopped_at=at.timestamp,
                stop_reason=None,
                meter_values=0,
            )
        )

    # --- what the session tells the station ---

    def session_ready(self, session: _Session) -> None:
        """The station is connected and accepted: it can send, and it starts charging."""
        self.ready_session = session
        self._offline.clear()
        if self._workers is not None or not self._plan.sessions:
            return
        numbers = self._plan.sessions_of(len(self.connectors))
        self._workers = set()
        for connector in self.connectors:
            if connector.number in numbers:
                self._workers.add(
                    asyncio.create_task(self._run_connector(connector, numbers[connector.number]))
                )
        self._workers_left = len(self._workers)

    def session_ended(self, session: _Session) -> None:
        if self.ready_session is session:
            self.ready_session = None
            self._offline.set()

    def free_connector(self, requested: int | None) -> int | None:
        """An Available connector with no transaction: the one asked for, or the first."""
        for connector in self.connectors:
            if requested is not None and connector.number != requested:
                continue
            if (
                connector.state is ConnectorState.AVAILABLE
                and connector.transaction is None
                and connector.number not in self.memory.unavailable
            ):
                return connector.number
        return None

    def start_remote(self, number: int, id_token: str, remote_start_id: int | None) -> None:
        """Run a session the CSMS started on connector `number`."""
        connector = self.connectors[number - 1]
        self._remote_count += 1
        # Numbered apart from the plan's sessions (1, 2, ...), so their keys never meet.
        session_number = 10_000 + self._remote_count
        self.emit(f"connector {number}: remote start for {id_token}")
        task = asyncio.create_task(
            run_remote_session(
                self,
                connector,
                id_token,
                session_number,
                remote_start_id=remote_start_id,
                clock=self.clock,
                plan=self._plan,
            )
        )
        self._remote.add(task)
        task.add_done_callback(self._remote.discard)

    def stop_remote(self, matches: Callable[[Transaction], bool]) -> bool:
        """End the transaction that matches (its stop reason Remote)."""
        for connector in self.connectors:
            transaction = connector.transaction
            if transaction is not None and matches(transaction):
                transaction.stop_cause = StopCause.REMOTE
                transaction.deauthorized.set()
                self.emit(f"connector {connector.number}: remote stop")
                return True
        return False

    # --- charging profiles ---

    @property
    def electrical(self) -> Electrical:
        return Electrical(voltage=self.station.voltage, phases=self.station.phases)

    def running_on(self, number: int) -> Running | None:
        """The transaction on a connector, with the id the CSMS's profiles name it by."""
        if not 1 <= number <= len(self.connectors):
            return None
        transaction = self.connectors[number - 1].transaction
        if transaction is None:
            return None
        if transaction.protocol == OCPP201:
            transaction_id = transaction.local_id
        else:
            # Until the CSMS has numbered it, no 1.6 profile can name it.
            csms_id = transaction.csms_id
            transaction_id = "" if csms_id is None else str(csms_id)
        return Running(transaction_id, transaction.begin.timestamp)

    def sharing(self) -> int:
        """Connectors that share the station's maximum: those whose vehicle still takes power."""
        return sum(
            1
            for connector in self.connectors
            if connector.transaction is not None
            and connector.state not in (ConnectorState.SUSPENDED_EV, ConnectorState.FINISHING)
        )

    def set_profile(self, profile: Profile, *, needs_transaction_id: bool) -> str:
        if self.station.profiles is ProfileMode.REJECT:
            self.emit(f"charging profile {profile.id} rejected (this station rejects profiles)")
            return "Rejected"
        try:
            validate_for(
                profile,
                self.running_on(profile.target),
                connectors=len(self.connectors),
                needs_transaction_id=needs_transaction_id,
            )
        except ProfileError as exc:
            self.emit(f"charging profile {profile.id} rejected: {exc}")
            return "Rejected"
        for replaced in replaced_by(self.memory.profiles, profile):
            del self.memory.profiles[replaced]
        self.memory.profiles[profile.id] = profile
        first = profile.periods[0]
        self.emit(
            f"charging profile {profile.id} ({profile.wire_purpose}, level {profile.stack_level}) "
            f"on {profile.target}: {first.limit:g} {profile.unit}"
        )
        self.replan()
        return "Accepted"

    def clear_profiles(
        self, profile_id: int | None, target: int | None, purpose: str | None, level: int | None
    ) -> bool:
        cleared = self.memory.clear_profiles(profile_id, target, purpose, level)
        if cleared:
            self.replan()
        return cleared

    def offer(self, connector: int, at: datetime) -> Limit:
        if self.station.profiles is not ProfileMode.HONOUR:
            return Limit(None, None)
        electrical = self.electrical
        limit = connector_limit(
            self.memory.profiles.values(),
            connector,
            at,
            self.running_on(connector),
            electrical,
            sharing=self.sharing(),
        )
        return Limit(offered_w(limit, electrical), limit.until)

    def replan(self) -> None:
        for connector in self.connectors:
            connector.replan.set()

    def transaction_ended(self, connector: int) -> None:
        # A TxProfile lives as long as its transaction - 1.6 3.13.4, 2.0.1 K01.FR.05.
        ended = [
            pid
            for pid, profile in self.memory.profiles.items()
            if profile.purpose is Purpose.TX and profile.target == connector
        ]
        for pid in ended:
            del self.memory.profiles[pid]
        self.replan()

    def composite_schedule(
        self, target: int, duration_s: float, unit: str
    ) -> tuple[datetime, list[dict[str, Any]]]:
        """The limits the profiles set on a connector (0: the station) from now, in `unit`.

        Without any profile, the station's own ceiling: 32 A, or 22 kW.
        """
        now = self.clock.now()
        electrical = self.electrical
        profiles = (
            list(self.memory.profiles.values())
            if self.station.profiles is ProfileMode.HONOUR
            else []
        )
        running = self.running_on(target)
        sharing = self.sharing()

        def limit_at(moment: datetime) -> Limit:
            if target == 0:
                return station_limit(profiles, moment, electrical)
            return connector_limit(profiles, target, moment, running, electrical, sharing=sharing)

        periods: list[dict[str, Any]] = []
        for offset, watts in composite_schedule(limit_at, now, duration_s):
            if unit == "A":
                value = 32.0 if watts is None else watts / (electrical.voltage * electrical.phases)
            else:
                value = 22000.0 if watts is None else watts
            period = {"start_period": int(offset), "limit": round(value, 1)}
            if periods and periods[-1]["start_period"] == period["start_period"]:
                periods[-1] = period
            else:
                periods.append(period)
        return now, periods

    def connector_state(self, target: int) -> ConnectorState:
        """Status to report for a connector; connector 0 (the station) is Available."""
        if 1 <= target <= len(self.connectors):
            return self.connectors[target - 1].state
        return ConnectorState.AVAILABLE

    def register(self, target: int) -> int:
        """Energy register of a connector, in Wh."""
        return self.connectors[target - 1].meter.register_wh

    def transaction_answered(self, message: TxMessage, answer: TxAnswer) -> None:
        """The CSMS answered a transaction message: forget it, and act on the answer."""
        self.queue.remove(message)
        message.settled.set()
        transaction = message.transaction
        if message.kind is TxKind.START:
            transaction.csms_id = answer.transaction_id
            transaction.start_status = answer.status
            if answer.status not in (None, ACCEPTED):
                # Stop at once - 1.6 StopTransactionOnInvalidId, 2.0.1 StopTxOnInvalidId.
                self.emit(f"connector {transaction.connector}: transaction {answer.status}")
                transaction.deauthorized.set()
        elif message.kind is TxKind.END:
            self._session_finished(message)
        self._check_done()

    def transaction_given_up(self, message: TxMessage, why: str) -> None:
        """A transaction message the CSMS keeps refusing (or that cannot be sent): drop it."""
        self.queue.remove(message)
        message.settled.set()
        self.report.transaction_messages_failed += 1
        self.emit(f"{message.kind.value} message given up: {why}")
        if message.kind is TxKind.END:
            self._session_finished(message)
        self._check_done()

    def _session_finished(self, end: TxMessage) -> None:
        transaction = end.transaction
        v16 = transaction.protocol == OCPP16
        refused = transaction.start_status not in (None, ACCEPTED)
        self.report.sessions.append(
            SessionRecord(
                station_id=self.station_id,
                protocol=transaction.protocol,
                transaction_id=transaction.csms_id if v16 else transaction.local_id,
                evse_id=None if v16 else transaction.connector,
                connector_id=transaction.connector if v16 else 1,
                id_token=transaction.id_token,
                authorization_status=str(
                    transaction.start_status if refused else transaction.authorize_status
                ),
                meter_start_wh=transaction.begin.energy_wh,
                meter_stop_wh=end.sample.energy_wh,
                energy_wh=end.sample.energy_wh - transaction.begin.energy_wh,
                started_at=transaction.begin.timestamp,
                stopped_at=end.sample.timestamp,
                stop_reason=str(end.cause) if end.cause is not None else None,
                meter_values=transaction.updates,
            )
        )
        self._tokens.release(transaction.id_token, transaction.token_holder)

    async def _run_connector(self, connector: Connector, numbers: list[int]) -> None:
        try:
            await run_connector(
                self, connector, numbers, clock=self.clock, plan=self._plan, tokens=self._tokens
            )
        except Exception as exc:  # a bug must end this station's sessions, not the simulation
            logger.debug("%s: sessions failed", self.station_id, exc_info=True)
            self.report.error = f"{type(exc).__name__}: {exc}"
            self.emit(f"sessions failed: {self.report.error}")
            self._done.set()
            return
        self._workers_left -= 1
        self._check_done()

    def _check_done(self) -> None:
        if self._done.is_set() or self._workers is None or self._workers_left or self.queue:
            return
        self.emit(f"all {self._plan.sessions} session(s) done")
        self._done.set()

    async def _open(self) -> tuple[StationConnection, str] | None:
        """Connect; on failure, wait as the backoff says (or give up) and return None."""
        try:
            connection = await self._until_stopped(
                self._connect(self._uri, subprotocols=self._offered, headers=self._headers)
            )
        except HandshakeRefusedError as exc:
            await self._refused(exc.status_code)
            return None
        except OSError as exc:
            self.emit(f"cannot connect: {exc or type(exc).__name__}")
            await self._back_off()
            return None
        if connection is None:
            return None
        self._refusals = 0
        self.report.refused = None
        protocol = connection.subprotocol
        if self._stop.is_set() or protocol not in self._offered:
            await self._close(connection)
            if not self._stop.is_set():
                self._give_up(f"the CSMS selected no OCPP subprotocol (offered {self._offered})")
            return None
        if self.chaos is not None:
            connection = ChaosConnection(connection, self.chaos)
        return connection, str(protocol)

    async def _refused(self, status_code: int) -> None:
        self._refusals += 1
        self.report.refused = status_code
        self.emit(f"connection refused ({status_code})")
        if self._max_refusals is not None and self._refusals >= self._max_refusals:
            self._give_up(f"connection refused ({status_code}) {self._refusals} time(s) in a row")
        else:
            await self._back_off()

    async def _serve(self, connection: StationConnection, protocol: str) -> None:
        """Run one session on an open connection and decide what comes next."""
        self.report.connects += 1
        self.report.protocol = protocol
        if self._last_protocol not in (None, protocol):
            self.needs_boot = True  # a station that changes version boots again
        self._last_protocol = protocol
        self.emit(f"connected ({protocol})")
        session = _Session(self, connection, protocol)
        try:
            outcome = await session.run(self._stop)
        finally:
            await self._close(connection)
        if outcome.end is _End.FATAL:
            self._give_up(outcome.detail)
        elif outcome.end is _End.RESET:
            self.needs_boot = True
            self.boot_reason = BootReason.REMOTE_RESET
            self._failures = 0
            self.emit("rebooting")
        elif outcome.end is _End.LOST:
            if session.reached_heartbeats:
                self._failures = 0  # a healthy session ended; only fast failures grow the backoff
            self.emit(f"disconnected: {outcome.detail}")
            await self._back_off()

    def _give_up(self, error: str) -> None:
        self.report.error = error
        self.emit(f"giving up: {error}")
        self._finished = True

    async def _until_stopped(self, work: Coroutine[Any, Any, _T]) -> _T | None:
        """Await `work` unless the station is stopped first (then None)."""
        task = asyncio.create_task(work)
        stopped = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancel_all({task, stopped})
        if task.cancelled():
            return None
        return task.result()

    async def _back_off(self) -> None:
        self._failures += 1
        delay = self.timing.backoff(self._failures)
        self.emit(f"retrying in {delay:.1f} s")
        with suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._stop.wait()

    async def _close(self, connection: StationConnection) -> None:
        try:
            async with asyncio.timeout(self.timing.close_timeout):
                await connection.close()
        except Exception:  # closing is best effort: the peer may already be gone
            logger.debug("%s: close failed", self.station.station_id, exc_info=True)


async def run_station(
    url: str,
    station: SimulatedStation,
    *,
    stop: asyncio.Event,
    heartbeat_interval: float | None = None,
    max_refusals: int | None = 3,
    connect: Connect | None = None,
    timing: StationTiming = StationTiming(),
    on_event: Callable[[str], None] | None = None,
    plan: ChargingPlan = NO_SESSIONS,
    clock: SimClock | None = None,
    tokens: TokenPool | None = None,
    chaos: ChaosConfig | None = None,
    done: asyncio.Event | None = None,
) -> StationReport:
    """Run one station until `stop` is set or it gives up; return what happened.

    A refused handshake is retried with backoff and given up after `max_refusals` refusals in a
    row (None: never). A closed connection is reopened with backoff. `on_event` receives one
    line per event (`"CP-1: boot Accepted ..."`); without it, events go to the log.

    Once booted, the station runs the sessions of `plan` on `clock` (default: real time) with
    tokens from `tokens` (default: the plan's own, not shared with other stations), and sets
    `done` when every session is finished and every transaction message answered. The station
    keeps running until `stop` all the same.
    """
    if max_refusals is not None and max_refusals < 1:
        raise ValueError("max_refusals must be at least 1 (or None for no limit)")
    if heartbeat_interval is not None and not heartbeat_interval > 0:
        raise ValueError("heartbeat_interval must be positive")
    runner = _StationRunner(
        url,
        station,
        stop=stop,
        heartbeat_interval=heartbeat_interval,
        max_refusals=max_refusals,
        connect=connect or websockets_connector(timing),
        timing=timing,
        on_event=on_event,
        plan=plan,
        clock=clock or ScaledClock(),
        tokens=tokens or TokenPool(plan.id_tokens),
        chaos=chaos,
        done=done,
    )
    try:
        return await runner.run()
    except Exception as exc:  # a bug must end this station, not the whole simulation
        logger.debug("%s: station failed", station.station_id, exc_info=True)
        runner.report.error = f"{type(exc).__name__}: {exc}"
        runner.emit(f"stopped: {runner.report.error}")
        return runner.report


def _setter(event: asyncio.Event) -> Callable[[object], None]:
    """A done callback that sets `event`."""
    return lambda _: event.set()


async def simulate(
    url: str,
    stations: Sequence[SimulatedStation],
    *,
    duration: float | None,
    heartbeat_interval: float | None = None,
    on_event: Callable[[str], None] | None = None,
    max_refusals: int | None = 3,
    connect: Connect | None = None,
    timing: StationTiming = StationTiming(),
    plan: ChargingPlan = NO_SESSIONS,
    clock: SimClock | None = None,
    chaos: ChaosConfig | None = None,
) -> list[StationReport]:
    """Run all stations concurrently, then close them and report.

    Without sessions in `plan`, the stations run for `duration` seconds, or with
    `duration=None` until every station has given up or until cancelled (Ctrl-C). With
    sessions, the run also ends once every station has finished its sessions and emptied its
    queue. Cancellation closes the stations cleanly and returns their reports. The stations
    share one simulated clock and one pool of id tokens.
    """
    stop = asyncio.Event()
    connect = connect or websockets_connector(timing)
    clock = clock or ScaledClock()
    tokens = TokenPool(plan.id_tokens)
    dones = [asyncio.Event() for _ in stations]
    tasks = []
    for station, done in zip(stations, dones, strict=True):
        task = asyncio.create_task(
            run_station(
                url,
                station,
                stop=stop,
                heartbeat_interval=heartbeat_interval,
                max_refusals=max_refusals,
                connect=connect,
                timing=timing,
                on_event=on_event,
                plan=plan,
                clock=clock,
                tokens=tokens,
                chaos=chaos,
                done=done,
            )
        )
        # A station that ended (given up) has nothing left to do either.
        task.add_done_callback(_setter(done))
        tasks.append(task)
    if not tasks:
        return []
    waits: set[asyncio.Task[Any]] = set(tasks)
    if plan.sessions:
        waits = {asyncio.create_task(done.wait()) for done in dones}
    try:
        await asyncio.wait(waits, timeout=duration)
    except asyncio.CancelledError:
        # The caller asked to stop (Ctrl-C): close every station, then report as usual.
        logger.debug("simulation cancelled; closing stations")
    stop.set()
    reports = list(await asyncio.gather(*tasks))
    await _cancel_all(waits)
    return reports


# --- seed file ---------------------------------------------------------------------------------


class SeedError(ValueError):
    """The seed file cannot be used."""


def load_seed_stations(path: Path) -> list[SimulatedStation]:
    """Stations of a seed file (`{"sites": [...], "stations": [...], "tokens": [...]}`)."""
    document = _read_seed(path)
    entries = document.get("stations") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise SeedError(f"seed file {path} has no list of stations")
    return [_seed_station(path, index, entry) for index, entry in enumerate(entries)]


def load_seed_tokens(path: Path) -> list[str]:
    """Tokens of a seed file a driver can charge with: Accepted, unexpired, 1.6-sized.

    A token longer than a 1.6 `idTag` (20 characters) is left out: the simulated drivers use
    their cards at stations of either version.
    """
    document = _read_seed(path)
    entries = document.get("tokens", []) if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise SeedError(f"seed file {path}: tokens must be a list")
    now = datetime.now(UTC)
    usable = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        token, status = entry.get("idToken"), entry.get("status", ACCEPTED)
        if not (isinstance(token, str) and 1 <= len(token) <= MAX_ID_TOKEN) or status != ACCEPTED:
            continue
        if _expired(entry.get("expiresAt"), now):
            continue
        usable.append(token)
    return usable


def _expired(expires_at: object, now: datetime) -> bool:
    if not isinstance(expires_at, str):
        return False
    try:
        moment = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        return False
    return moment.tzinfo is not None and moment <= now


def _read_seed(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeedError(f"seed file not found: {path}") from None
    except OSError as exc:
        raise SeedError(f"cannot read seed file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SeedError(f"seed file {path} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise SeedError(
            f"seed file {path} is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None


def _seed_station(path: Path, index: int, entry: object) -> SimulatedStation:
    where = f"seed file {path}: stations[{index}]"
    if not isinstance(entry, dict):
        raise SeedError(f"{where} is not an object")
    station_id, password = entry.get("id"), entry.get("password")
    if not isinstance(station_id, str) or not station_id:
        raise SeedError(f"{where}.id must be a non-empty string")
    if not isinstance(password, str) or not password:
        raise SeedError(f"{where}.password must be a non-empty string")
    protocol = entry.get("protocol")
    if protocol is not None:
        protocol = _protocol_name(protocol)
        if protocol is None:
            raise SeedError(f"{where}.protocol must be one of {', '.join(PROTOCOLS)}")
    try:
        return SimulatedStation(station_id=station_id, password=password, protocol=protocol)
    except ValueError as exc:
        raise SeedError(f"{where}: {exc}") from None


def _protocol_name(value: object) -> str | None:
    """Subprotocol name for `ocpp1.6` / `1.6` / `ocpp2.0.1` / `2.0.1`; None if unknown."""
    if not isinstance(value, str):
        return None
    name = value if value.startswith("ocpp") else f"ocpp{value}"
    return name if name in PROTOCOLS else None


# --- command line ------------------------------------------------------------------------------

REPORT_FORMAT = 1


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `csms simulate`.

    Values are checked by `run_simulate`, so that a wrong one gives a one-line error.
    """
    parser.add_argument(
        "--url", default=DEFAULT_URL, help=f"CSMS WebSocket URL (default: {DEFAULT_URL})"
    )
    parser.add_argument(
        "--seed",
        metavar="FILE",
        help="seed JSON file to take stations from (default: the demo seed)",
    )
    parser.add_argument(
        "--stations", metavar="N", help="run the first N stations of the seed (default: all)"
    )
    parser.add_argument("--station-id", metavar="ID", help="run one station (not with --seed)")
    parser.add_argument("--password", metavar="PW", help="password of --station-id")
    parser.add_argument(
        "--protocol",
        metavar="{ocpp1.6,ocpp2.0.1}",
        help="pin every station to this subprotocol (default: the seed's pin, else offer both)",
    )
    parser.add_argument("--connectors", metavar="N", help="connectors per station (default: 2)")
    parser.add_argument(
        "--duration",
        metavar="SECONDS",
        help="stop after this long (default: until Ctrl-C, or until the sessions are done)",
    )
    parser.add_argument(
        "--heartbeat-interval",
        metavar="SECONDS",
        help="heartbeat interval (default: the one the CSMS gives at boot)",
    )
    parser.add_argument(
        "--max-refusals",
        metavar="N",
        help="give a station up after N refused connections in a row (default: 3)",
    )
    sessions = parser.add_argument_group(
        "charging sessions",
        "With --sessions, the run ends by itself once every station has finished its sessions "
        "and the CSMS has answered every transaction message. Session times are simulated "
        "(see --speed); heartbeats and reconnects keep real time.",
    )
    sessions.add_argument(
        "--sessions",
        metavar="N",
        help="charging sessions per station, spread over its connectors (default: 0, none)",
    )
    sessions.add_argument(
        "--id-tokens",
        metavar="A,B,...",
        help="tokens the drivers present (default: the seed's Accepted tokens)",
    )
    sessions.add_argument(
        "--meter-interval",
        metavar="SECONDS",
        help="simulated seconds between two meter values (default: 60)",
    )
    sessions.add_argument(
        "--session-minutes",
        metavar="MINUTES",
        help="simulated length of a session (default: 30)",
    )
    sessions.add_argument(
        "--power-kw",
        metavar="KW",
        help="what each vehicle draws, varying a little, at most what the station's charging "
        "profiles allow (default: 7.4)",
    )
    sessions.add_argument(
        "--energy-kwh",
        metavar="KWH",
        help="energy a vehicle takes before its battery is full and it stops drawing "
        "(SuspendedEV) (default: it never fills)",
    )
    sessions.add_argument(
        "--profiles",
        metavar="{honour,ignore,reject}",
        help="what stations do with the CSMS's charging profiles: limit their power by them "
        "(default), accept and ignore them, or reject them",
    )
    sessions.add_argument(
        "--speed",
        metavar="X",
        help="simulated time runs X times faster than real time (default: 1; 60: a minute a "
        "second)",
    )
    sessions.add_argument(
        "--chaos",
        action="store_true",
        help="drop connections at random, retransmit and reorder transaction messages",
    )
    sessions.add_argument(
        "--chaos-seed",
        metavar="N",
        help="seed of the chaos, to repeat a run (default: a random one, printed)",
    )
    sessions.add_argument(
        "--report",
        metavar="FILE",
        help="write every station's sessions as JSON to FILE at the end",
    )


class _UsageError(Exception):
    pass


@dataclass(frozen=True)
class _SimulateOptions:
    url: str
    stations: list[SimulatedStation]
    duration: float | None
    heartbeat_interval: float | None
    max_refusals: int
    plan: ChargingPlan
    speed: float
    chaos: ChaosConfig | None
    report: Path | None


def _options(args: argparse.Namespace) -> _SimulateOptions:
    url = str(args.url)
    if not url.startswith(("ws://", "wss://")):
        raise _UsageError(f"--url must start with ws:// or wss://, got {url!r}")
    protocol: str | None = None
    if args.protocol is not None:
        protocol = _protocol_name(args.protocol)
        if protocol is None:
            raise _UsageError(f"--protocol must be one of {', '.join(PROTOCOLS)}")
    connectors = _positive_int("--connectors", args.connectors, default=2)
    profiles = ProfileMode.HONOUR
    if args.profiles is not None:
        try:
            profiles = ProfileMode(str(args.profiles).lower())
        except ValueError:
            choices = ", ".join(mode.value for mode in ProfileMode)
            raise _UsageError(f"--profiles must be one of {choices}") from None
    try:
        stations = [
            replace(
                station,
                protocol=protocol or station.protocol,
                connectors=connectors,
                profiles=profiles,
            )
            for station in _selected_stations(args)
        ]
        plan = _plan(args)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    return _SimulateOptions(
        url=url,
        stations=stations,
        duration=_positive_float("--duration", args.duration),
        heartbeat_interval=_positive_float("--heartbeat-interval", args.heartbeat_interval),
        max_refusals=_positive_int("--max-refusals", args.max_refusals, default=3),
        plan=plan,
        speed=_positive_float("--speed", args.speed, unit="a number") or 1.0,
        chaos=_chaos(args),
        report=_report_path(args.report),
    )


def _plan(args: argparse.Namespace) -> ChargingPlan:
    sessions = _count("--sessions", args.sessions)
    tokens: list[str] = []
    if args.id_tokens is not None:
        tokens = [token.strip() for token in str(args.id_tokens).split(",")]
        for token in tokens:
            if not 1 <= len(token) <= MAX_ID_TOKEN:
                raise _UsageError(
                    f"--id-tokens: each token must have 1 to {MAX_ID_TOKEN} characters "
                    f"(OCPP 1.6 idTag), got {token!r}"
                )
    elif sessions:
        seed = Path(args.seed) if args.seed is not None else DEFAULT_SEED
        tokens = load_seed_tokens(seed)
        if not tokens:
            raise _UsageError(f"seed file {seed} has no Accepted id token; give --id-tokens")
    minutes = _positive_float("--session-minutes", args.session_minutes, unit="a number")
    power = _positive_float("--power-kw", args.power_kw, unit="a number")
    if power is not None and power > 1000:
        raise _UsageError(f"--power-kw must be at most 1000, got {args.power_kw!r}")
    return ChargingPlan(
        sessions=sessions,
        id_tokens=tuple(tokens),
        meter_interval=_positive_float("--meter-interval", args.meter_interval) or 60.0,
        session_length=(minutes or 30.0) * 60.0,
        power_kw=power or 7.4,
        energy_kwh=_positive_float("--energy-kwh", args.energy_kwh, unit="a number"),
    )


def _chaos(args: argparse.Namespace) -> ChaosConfig | None:
    if args.chaos_seed is not None and not args.chaos:
        raise _UsageError("--chaos-seed needs --chaos")
    if not args.chaos:
        return None
    if args.chaos_seed is None:
        return ChaosConfig(seed=secrets.randbelow(1_000_000))
    try:
        return ChaosConfig(seed=int(args.chaos_seed))
    except ValueError:
        raise _UsageError(f"--chaos-seed must be a whole number, got {args.chaos_seed!r}") from None


def _report_path(text: str | None) -> Path | None:
    if text is None:
        return None
    path = Path(text)
    if path.is_dir():
        raise _UsageError(f"--report {text}: is a directory")
    if not path.parent.is_dir():
        raise _UsageError(f"--report {text}: folder {path.parent} does not exist")
    return path


def _selected_stations(args: argparse.Namespace) -> list[SimulatedStation]:
    """Return the station named on the command line, or the first --stations of the seed."""
    count = _positive_int("--stations", args.stations, default=None)
    if args.station_id is not None:
        if args.seed is not None:
            raise _UsageError("--station-id and --seed cannot be used together")
        if args.password is None:
            raise _UsageError("--station-id needs --password")
        if count is not None:
            raise _UsageError("--stations selects stations of a seed; not with --station-id")
        return [SimulatedStation(station_id=args.station_id, password=args.password)]
    if args.password is not None:
        raise _UsageError("--password needs --station-id")
    seed = Path(args.seed) if args.seed is not None else DEFAULT_SEED
    stations = load_seed_stations(seed)
    if not stations:
        raise _UsageError(f"seed file {seed} has no stations")
    if count is not None and count > len(stations):
        raise _UsageError(
            f"--stations {count}: seed file {seed} has only {len(stations)} station(s)"
        )
    return stations[:count]


def _positive_int(option: str, text: str | None, *, default: _T) -> int | _T:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise _UsageError(f"{option} must be a whole number, got {text!r}") from None
    if value < 1:
        raise _UsageError(f"{option} must be at least 1, got {value}")
    return value


def _count(option: str, text: str | None) -> int:
    if text is None:
        return 0
    try:
        value = int(text)
    except ValueError:
        raise _UsageError(f"{option} must be a whole number, got {text!r}") from None
    if value < 0:
        raise _UsageError(f"{option} must be 0 or more, got {value}")
    return value


def _positive_float(
    option: str, text: str | None, *, unit: str = "a number of seconds"
) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _UsageError(f"{option} must be {unit}, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise _UsageError(f"{option} must be a positive number, got {text!r}")
    return value


def _write(stream: Any, line: str) -> None:
    stream.write(line + "\n")
    stream.flush()


def _summary(report: StationReport) -> str:
    if report.error is not None:
        return f"{report.station_id}: FAILED: {report.error}"
    calls = ", ".join(report.calls_received) or "none"
    sessions = ""
    if report.sessions_planned:
        sessions = f"{len(report.sessions)}/{report.sessions_planned} session(s), "
        if report.queued_messages:
            sessions += f"{report.queued_messages} message(s) unanswered, "
    return (
        f"{report.station_id}: {report.protocol or 'never connected'}, "
        f"boot {report.boot_status or 'not answered'}, "
        f"{sessions}"
        f"{report.heartbeats_sent} heartbeat(s), "
        f"{report.status_notifications_sent} status notification(s), "
        f"{report.connects} connection(s), calls received: {calls}"
    )


def report_document(
    reports: Sequence[StationReport], *, options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The `--report` JSON document: every station, then every finished session."""
    return {
        "format": REPORT_FORMAT,
        **dict(options or {}),
        "complete": all(report.done and report.error is None for report in reports),
        "stations": [report.to_json() for report in reports],
        "sessions": [record.to_json() for report in reports for record in report.sessions],
    }


def clock_start(
    plan: ChargingPlan, stations: Sequence[SimulatedStation], speed: float, now: datetime
) -> datetime:
    """Where simulated time starts: far enough back to reach real time only at the end.

    Running `speed` times faster, the clock catches up with real time when the sessions are
    done. A CSMS does not believe station clocks that run ahead of its own (it records such readings
    as anomalies), so an accelerated simulation lives in the recent past. The span is the
    planned sessions per connector with half again for waiting on answers and reconnects.
    """
    if speed <= 1 or not plan.sessions or not stations:
        return now
    connectors = min(station.connectors for station in stations)
    per_connector = max(len(numbers) for numbers in plan.sessions_of(connectors).values())
    span = per_connector * (plan.session_length + plan.pause) * 1.5
    return now - timedelta(seconds=span * (1 - 1 / speed))


def run_simulate(
    args: argparse.Namespace,
    *,
    connect: Connect | None = None,
    clock: SimClock | None = None,
    timing: StationTiming = StationTiming(),
) -> int:
    """Run `csms simulate`; return the exit code.

    0 when every station ran until the end (Ctrl-C included) and finished its sessions, 1 when
    a station gave up (refused, or an unusable CSMS) or left sessions unfinished, 2 on wrong
    input. `connect`, `clock` and `timing` replace the WebSocket client, the simulated clock
    (default: real time times --speed) and the station's delays (tests).
    """
    try:
        options = _options(args)
    except _UsageError as exc:
        _write(sys.stderr, f"csms simulate: error: {exc}")
        return 2

    def on_event(line: str) -> None:
        _write(sys.stdout, line)

    plan = options.plan
    if options.duration:
        until = f"for {options.duration:g} s"
    elif plan.sessions:
        until = "until the sessions are done"
    else:
        until = "until Ctrl-C"
    on_event(f"simulating {len(options.stations)} station(s) against {options.url} {until}")
    if plan.sessions:
        on_event(
            f"{plan.sessions} session(s) per station of {plan.session_length / 60:g} min at "
            f"{plan.power_kw:g} kW, meter values every {plan.meter_interval:g} s, "
            f"simulated time x{options.speed:g}"
        )
    if options.chaos is not None:
        on_event(f"chaos on (--chaos-seed {options.chaos.seed})")
    try:
        reports = asyncio.run(
            simulate(
                options.url,
                options.stations,
                duration=options.duration,
                heartbeat_interval=options.heartbeat_interval,
                on_event=on_event,
                max_refusals=options.max_refusals,
                connect=connect,
                timing=timing,
                plan=plan,
                clock=clock
                or ScaledClock(
                    options.speed,
                    start=clock_start(plan, options.stations, options.speed, datetime.now(UTC)),
                ),
                chaos=options.chaos,
            )
        )
    except KeyboardInterrupt:  # a second Ctrl-C while the stations were closing
        _write(sys.stderr, "csms simulate: interrupted")
        return 130
    on_event("summary:")
    for report in reports:
        on_event("  " + _summary(report))
    failed = any(report.error is not None for report in reports)
    unfinished = sum(report.sessions_planned - len(report.sessions) for report in reports)
    if unfinished > 0:
        on_event(f"{unfinished} session(s) not finished")
    if options.report is not None and not _write_report(options, reports):
        return 1
    return 1 if failed or unfinished > 0 else 0


def _write_report(options: _SimulateOptions, reports: Sequence[StationReport]) -> bool:
    path = options.report
    assert path is not None  # noqa: S101 - checked by the caller
    document = report_document(
        reports,
        options={
            "url": options.url,
            "speed": options.speed,
            "chaos_seed": options.chaos.seed if options.chaos is not None else None,
        },
    )
    try:
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        _write(sys.stderr, f"csms simulate: error: cannot write {path}: {exc.strerror or exc}")
        return False
    _write(sys.stdout, f"report written to {path}")
    return True
