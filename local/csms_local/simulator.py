"""Simulated charging stations for `csms simulate` and for end-to-end tests.

Each station connects to the CSMS at `{url}/{stationId}` with HTTP Basic Auth, offers its
pinned subprotocol (or both `ocpp2.0.1` and `ocpp1.6`), then boots, reports its connectors
Available and sends heartbeats. It answers Reset (by rebooting) and TriggerMessage, and it
reconnects with backoff when the connection closes: API Gateway cuts every connection after
2 hours, so a reconnect is routine and, unlike a reset, does not reboot the station.

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
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

logger = logging.getLogger(__name__)

DEFAULT_URL = "ws://127.0.0.1:9000/ocpp"
DEFAULT_SEED = Path(__file__).with_name("demo_seed.json")

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

    def __post_init__(self) -> None:
        """Refuse what the station could not send: a bad value would fail schema validation."""
        if not self.station_id or "/" in self.station_id:
            raise ValueError(f"invalid station id {self.station_id!r}")
        if self.protocol is not None and self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}: {self.protocol!r}")
        if self.connectors < 1:
            raise ValueError(f"a station needs at least one connector, not {self.connectors}")
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

    async def send_status(self, target: int) -> None:
        """Send StatusNotification Available for one connector (1.6) or EVSE (2.0.1)."""
        ...

    async def send_meter_values(self, target: int) -> None:
        """Send MeterValues for one connector (1.6) or EVSE (2.0.1)."""
        ...


class SessionHost(Protocol):
    """What a charge point may ask of the session that runs it."""

    def request_reset(self) -> None:
        """Reboot soon (after the reply to Reset has gone out)."""
        ...

    def trigger(self, message: Trigger, targets: Sequence[int]) -> None:
        """Send a triggered message in the background."""
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
    """One connection of a station: boot if needed, report status, heartbeat, answer calls."""

    def __init__(self, runner: _StationRunner, connection: StationConnection, protocol: str):
        from csms_local.sim.charge_points import charge_point_class

        self._runner = runner
        self._connection = connection
        self._reset = asyncio.Event()
        self._accepted = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self.reached_heartbeats = False
        self.charge_point: SimulatedChargePoint = charge_point_class(protocol)(
            runner.station, connection, self, response_timeout=runner.timing.response_timeout
        )

    async def run(self, stop: asyncio.Event) -> _Outcome:
        reader = asyncio.create_task(self._read())
        operator = asyncio.create_task(self._operate())
        waits: set[asyncio.Task[Any]] = {
            reader,
            operator,
            asyncio.create_task(stop.wait()),
            asyncio.create_task(self._reset.wait()),
        }
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancel_all(waits | self._background)
        if stop.is_set():
            return _Outcome(_End.STOPPED)
        if self._reset.is_set():
            return _Outcome(_End.RESET)
        for task in (operator, reader):
            exc = task.exception() if task in done else None
            if exc is None:
                continue
            # OSError covers ConnectionError and TimeoutError (a call without a reply).
            if isinstance(exc, OSError):
                return _Outcome(_End.LOST, str(exc) or type(exc).__name__)
            logger.debug("%s: session failed", self._runner.station.station_id, exc_info=exc)
            return _Outcome(_End.FATAL, f"{type(exc).__name__}: {exc}")
        return _Outcome(_End.LOST, "connection closed")  # pragma: no cover - both loops are endless

    # SessionHost

    def request_reset(self) -> None:
        self._spawn(self._reset_after_delay())

    def trigger(self, message: Trigger, targets: Sequence[int]) -> None:
        self._spawn(self._send_triggered(message, list(targets)))

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
        for target in targets:
            try:
                await self.charge_point.send_status(target)
            except CsmsCallError as exc:
                self._runner.emit(f"status notification failed: {exc}")
            self._runner.report.status_notifications_sent += 1
        self._runner.emit(f"status Available sent for {self._targets(targets)}")

    async def _send_triggered(self, message: Trigger, targets: list[int]) -> None:
        if message is Trigger.BOOT_NOTIFICATION:
            await self._boot(BootReason.TRIGGERED)
        elif message is Trigger.HEARTBEAT:
            await self._heartbeat()
        elif message is Trigger.STATUS_NOTIFICATION:
            await self._send_statuses(targets)
        else:
            for target in targets:
                await self.charge_point.send_meter_values(target)
            self._runner.emit(f"meter values sent for {self._targets(targets)}")

    def _targets(self, targets: Sequence[int]) -> str:
        plural = "s" if len(targets) > 1 else ""
        return f"{self.charge_point.target_name}{plural} {', '.join(map(str, targets))}"


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
    ) -> None:
        self.station = station
        self.timing = timing
        self.report = StationReport(station_id=station.station_id)
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
        while not (self._stop.is_set() or self._finished):
            opened = await self._open()
            if opened is not None:
                await self._serve(*opened)
        self.emit("closed")
        return self.report

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
) -> StationReport:
    """Run one station until `stop` is set or it gives up; return what happened.

    A refused handshake is retried with backoff and given up after `max_refusals` refusals in a
    row (None: never). A closed connection is reopened with backoff. `on_event` receives one
    line per event (`"CP-1: boot Accepted ..."`); without it, events go to the log.
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
    )
    try:
        return await runner.run()
    except Exception as exc:  # a bug must end this station, not the whole simulation
        logger.debug("%s: station failed", station.station_id, exc_info=True)
        runner.report.error = f"{type(exc).__name__}: {exc}"
        runner.emit(f"stopped: {runner.report.error}")
        return runner.report


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
) -> list[StationReport]:
    """Run all stations concurrently for `duration` seconds, then close them and report.

    With `duration=None` it runs until every station has given up or until cancelled
    (Ctrl-C): cancellation also closes the stations cleanly and returns their reports.
    """
    stop = asyncio.Event()
    connect = connect or websockets_connector(timing)
    tasks = [
        asyncio.create_task(
            run_station(
                url,
                station,
                stop=stop,
                heartbeat_interval=heartbeat_interval,
                max_refusals=max_refusals,
                connect=connect,
                timing=timing,
                on_event=on_event,
            )
        )
        for station in stations
    ]
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks, timeout=duration)
    except asyncio.CancelledError:
        # The caller asked to stop (Ctrl-C): close every station, then report as usual.
        logger.debug("simulation cancelled; closing stations")
    stop.set()
    return list(await asyncio.gather(*tasks))


# --- seed file ---------------------------------------------------------------------------------


class SeedError(ValueError):
    """The seed file cannot be used."""


def load_seed_stations(path: Path) -> list[SimulatedStation]:
    """Stations of a seed file (`{"sites": [...], "stations": [...], "tokens": [...]}`)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
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
    entries = document.get("stations") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise SeedError(f"seed file {path} has no list of stations")
    return [_seed_station(path, index, entry) for index, entry in enumerate(entries)]


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
        "--duration", metavar="SECONDS", help="stop after this long (default: until Ctrl-C)"
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


class _UsageError(Exception):
    pass


@dataclass(frozen=True)
class _SimulateOptions:
    url: str
    stations: list[SimulatedStation]
    duration: float | None
    heartbeat_interval: float | None
    max_refusals: int


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
    try:
        stations = [
            replace(station, protocol=protocol or station.protocol, connectors=connectors)
            for station in _selected_stations(args)
        ]
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    return _SimulateOptions(
        url=url,
        stations=stations,
        duration=_positive_float("--duration", args.duration),
        heartbeat_interval=_positive_float("--heartbeat-interval", args.heartbeat_interval),
        max_refusals=_positive_int("--max-refusals", args.max_refusals, default=3),
    )


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


def _positive_float(option: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _UsageError(f"{option} must be a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise _UsageError(f"{option} must be a positive number of seconds, got {text!r}")
    return value


def _write(stream: Any, line: str) -> None:
    stream.write(line + "\n")
    stream.flush()


def _summary(report: StationReport) -> str:
    if report.error is not None:
        return f"{report.station_id}: FAILED: {report.error}"
    calls = ", ".join(report.calls_received) or "none"
    return (
        f"{report.station_id}: {report.protocol or 'never connected'}, "
        f"boot {report.boot_status or 'not answered'}, "
        f"{report.heartbeats_sent} heartbeat(s), "
        f"{report.status_notifications_sent} status notification(s), "
        f"{report.connects} connection(s), calls received: {calls}"
    )


def run_simulate(args: argparse.Namespace, *, connect: Connect | None = None) -> int:
    """Run `csms simulate`; return the exit code.

    0 when every station ran until the end (Ctrl-C included), 1 when a station gave up
    (refused, or an unusable CSMS), 2 on wrong input. `connect` replaces the WebSocket client
    (tests).
    """
    try:
        options = _options(args)
    except _UsageError as exc:
        _write(sys.stderr, f"csms simulate: error: {exc}")
        return 2

    def on_event(line: str) -> None:
        _write(sys.stdout, line)

    until = f"for {options.duration:g} s" if options.duration else "until Ctrl-C"
    on_event(f"simulating {len(options.stations)} station(s) against {options.url} {until}")
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
            )
        )
    except KeyboardInterrupt:  # a second Ctrl-C while the stations were closing
        _write(sys.stderr, "csms simulate: interrupted")
        return 130
    on_event("summary:")
    for report in reports:
        on_event("  " + _summary(report))
    return 1 if any(report.error is not None for report in reports) else 0
