"""Transactions for the bench: each measured message gets a transaction in the right state.

One `TxFlow` per OCPP version drives a station through its transactions with real frames:

- a driver's token with a history (ten ended sessions first: a Start or an Authorize reads the
  token's newest ten sessions, so the figures are the steady state, not a first session);
- a fresh transaction for every measured StartTransaction / TransactionEvent(Started), the one
  before it stopped first (untimed) so that the token is never busy elsewhere;
- a started transaction (with one meter reading) for every measured StopTransaction / Ended;
- one long-running transaction for MeterValues / TransactionEvent(Updated): a reading every
  60 s of meter time, registers increasing. A reading that crosses a 5-minute boundary of
  meter time carries a throttled TransactionUpdated in its chunk's outbox: 1 in 5.

Every timestamp lies in the last hours of real time and never ahead of it: the CSMS records a
reading more than 5 minutes ahead, or older than 60 days, as an anomaly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench_env import (
    authorize_payload,
    meter_values_payload_16,
    start_payload_16,
    stop_payload_16,
    transaction_event_payload,
)

Event = dict[str, Any]
Reply = dict[str, Any]
Call = Callable[[], Reply]

HISTORY = 10  # sessions the driver's token has before anything is measured
METER_STEP = timedelta(seconds=60)
UPDATE_PERIOD_S = 300  # the CSMS's TransactionUpdated throttle (session_update_interval_s)
_CYCLE_STEP = timedelta(seconds=5)
_WH_PER_MINUTE = 123  # 7.4 kW
_SOC = 55


class TimelineExhaustedError(RuntimeError):
    """The bench asked for more timestamps than fit before now."""


class _Clock:
    """Timestamps from a start in the past, in fixed steps, never ahead of real time."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        self.at = start
        self._step = step

    def next(self) -> datetime:
        at = self.at + self._step
        if at > datetime.now(UTC):
            msg = "the bench ran out of past timestamps: lower the iteration counts"
            raise TimelineExhaustedError(msg)
        self.at = at
        return at


def _payload(reply: Reply) -> dict[str, Any]:
    body = reply.get("body")
    if body is None:
        raise RuntimeError(f"no reply frame: {reply}")
    frame = json.loads(body)
    if frame[0] != 3:
        raise RuntimeError(f"not a CALLRESULT: {body}")
    payload: dict[str, Any] = frame[2]
    info = payload.get("idTagInfo") or payload.get("idTokenInfo")
    if info is not None and info.get("status") != "Accepted":
        raise RuntimeError(f"token not accepted: {body}")
    return payload


@dataclass
class _Open:
    """A transaction the flow started and has not stopped."""

    transaction_id: int | str
    started_at: datetime
    start_wh: int
    seq_no: int = 0
    last_at: datetime | None = None
    register_wh: int = 0


class TxFlow:
    """The transactions of one station of one OCPP version."""

    def __init__(
        self,
        version: str,
        event_of: Callable[[str, dict[str, Any]], Event],
        handle: Callable[[Event], Reply],
        *,
        token: str,
        meter_token: str,
        meter_readings: int,
    ) -> None:
        """`meter_readings`: how many MeterValues the run may send on the running transaction."""
        self.version = version
        self._event_of = event_of
        self._handle = handle
        self._token = token
        self._meter_token = meter_token
        now = datetime.now(UTC).replace(microsecond=0)
        self._cycles = _Clock(now - timedelta(hours=12), _CYCLE_STEP)
        # Meter time starts on a 5-minute boundary, so every fifth reading crosses one.
        span = METER_STEP * (meter_readings + 10)
        origin = now - span
        origin -= timedelta(seconds=origin.timestamp() % UPDATE_PERIOD_S)
        self._meter_clock = _Clock(origin, METER_STEP)
        self._register = 1_000_000
        self._serial = 0
        self._open: _Open | None = None
        self._meter: _Open | None = None
        self._history = False
        self._pending: Callable[[Reply], None] | None = None

    # -- building blocks -----------------------------------------------------------------------
    def _send(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return _payload(self._handle(self._event_of(action, payload)))

    def _measured(
        self, action: str, payload: dict[str, Any], settle: Callable[[dict[str, Any]], None]
    ) -> Call:
        event = self._event_of(action, payload)
        self._pending = lambda reply: settle(_payload(reply))
        return lambda: self._handle(event)

    def settle(self, reply: Reply) -> None:
        """Check the reply of the measured call and take note of what it did (untimed)."""
        pending, self._pending = self._pending, None
        if pending is None:
            raise RuntimeError("a reply with no measured call")
        pending(reply)

    def _next_transaction_id(self) -> str:
        self._serial += 1
        return f"BTX-{self.version}-{self._serial:06d}"

    def _start_message(self, token: str, at: datetime) -> tuple[str, dict[str, Any], str | None]:
        if self.version == "1.6":
            return "StartTransaction", start_payload_16(token, self._register, at), None
        tx = self._next_transaction_id()
        payload = transaction_event_payload(
            "Started", tx, seq_no=0, at=at, register_wh=self._register, soc=_SOC, token=token
        )
        return "TransactionEvent", payload, tx

    def _opened(self, reply: dict[str, Any], tx: str | None, at: datetime) -> _Open:
        transaction_id: int | str = reply["transactionId"] if tx is None else tx
        return _Open(transaction_id, at, self._register, last_at=at, register_wh=self._register)

    def _start(self, token: str, clock: _Clock) -> _Open:
        at = clock.next()
        action, payload, tx = self._start_message(token, at)
        return self._opened(self._send(action, payload), tx, at)

    def _reading(self, tx: _Open, clock: _Clock) -> tuple[str, dict[str, Any], _Open]:
        at = clock.next()
        minutes = max(1, round((at - (tx.last_at or at)).total_seconds() / 60))
        after = _Open(
            tx.transaction_id,
            tx.started_at,
            tx.start_wh,
            seq_no=tx.seq_no + 1,
            last_at=at,
            register_wh=tx.register_wh + _WH_PER_MINUTE * minutes,
        )
        if self.version == "1.6":
            assert isinstance(tx.transaction_id, int)  # noqa: S101 - 1.6 ids are integers
            payload = meter_values_payload_16(tx.transaction_id, at, after.register_wh, _SOC)
            return "MeterValues", payload, after
        payload = transaction_event_payload(
            "Updated",
            str(tx.transaction_id),
            seq_no=after.seq_no,
            at=at,
            register_wh=after.register_wh,
            soc=_SOC,
        )
        return "TransactionEvent", payload, after

    def _stop_message(self, tx: _Open, at: datetime) -> tuple[str, dict[str, Any]]:
        stop_wh = tx.register_wh + _WH_PER_MINUTE
        self._register = stop_wh
        if self.version == "1.6":
            assert isinstance(tx.transaction_id, int)  # noqa: S101 - 1.6 ids are integers
            payload = stop_payload_16(
                tx.transaction_id,
                self._token,
                start=(tx.started_at, tx.start_wh),
                stop=(at, stop_wh),
                soc=_SOC,
            )
            return "StopTransaction", payload
        payload = transaction_event_payload(
            "Ended",
            str(tx.transaction_id),
            seq_no=tx.seq_no + 1,
            at=at,
            register_wh=stop_wh,
            soc=_SOC,
        )
        return "TransactionEvent", payload

    def _stop(self, tx: _Open) -> None:
        action, payload = self._stop_message(tx, self._cycles.next())
        self._send(action, payload)

    def _close_open(self) -> None:
        if self._open is not None:
            self._stop(self._open)
            self._open = None

    def ensure_history(self) -> None:
        """Give the driver's token its ended sessions (once)."""
        if self._history:
            return
        self._history = True
        for _ in range(HISTORY):
            self._stop(self._start(self._token, self._cycles))

    def _ensure_meter(self) -> _Open:
        if self._meter is None:
            self._meter = self._start(self._meter_token, self._meter_clock)
        return self._meter

    def _crosses(self, tx: _Open) -> bool:
        last = tx.last_at or tx.started_at
        following = last + METER_STEP
        return int(last.timestamp()) // UPDATE_PERIOD_S != (
            int(following.timestamp()) // UPDATE_PERIOD_S
        )

    # -- the measured calls (each a case's `prepare`) --------------------------------------------
    def authorize(self) -> Call:
        """Authorize with the driver's token."""
        self.ensure_history()
        return self._measured(
            "Authorize", authorize_payload(self.version, self._token), lambda _: None
        )

    def start(self) -> Call:
        """A fresh StartTransaction / TransactionEvent(Started); the previous one is stopped."""
        self.ensure_history()
        self._close_open()
        at = self._cycles.next()
        action, payload, tx = self._start_message(self._token, at)

        def settle(reply: dict[str, Any]) -> None:
            self._open = self._opened(reply, tx, at)

        return self._measured(action, payload, settle)

    def stop(self) -> Call:
        """StopTransaction (with transactionData) / TransactionEvent(Ended) of a transaction
        started just before (untimed), with one meter reading."""
        self.ensure_history()
        self._close_open()
        tx = self._start(self._token, self._cycles)
        action, payload, tx = self._reading(tx, self._cycles)
        self._send(action, payload)
        action, payload = self._stop_message(tx, self._cycles.next())
        return self._measured(action, payload, lambda _: None)

    def meter(self) -> Call:
        """The running transaction's next reading, 60 s of meter time after the last."""
        tx = self._ensure_meter()
        action, payload, after = self._reading(tx, self._meter_clock)

        def settle(reply: dict[str, Any]) -> None:
            if reply:
                raise RuntimeError(f"expected an empty reply: {reply}")
            self._meter = after

        return self._measured(action, payload, settle)

    def meter_where(self, *, crossing: bool) -> Call:
        """The next reading that does (or does not) cross a 5-minute boundary of meter time."""
        tx = self._ensure_meter()
        while self._crosses(tx) != crossing:
            action, payload, tx = self._reading(tx, self._meter_clock)
            self._send(action, payload)
            self._meter = tx
        return self.meter()
