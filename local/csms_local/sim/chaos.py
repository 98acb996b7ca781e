"""Chaos for simulated stations: what real networks and real stations do to a CSMS.

With chaos on, a station drops its WebSocket at random moments (just before a call leaves, or
right after it left, so that the answer is lost), retransmits a transaction message with the
same unique id as if its answer had been lost, and (2.0.1) sends two queued TransactionEvents
in swapped order. Every decision comes from a random generator seeded with the chaos seed and
the station id, so a run can be repeated. The station's own rules (queue transaction messages,
replay them in order, never lose one) are not chaos: they hold with or without it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from csms_local.simulator import StationConnection


@dataclass(frozen=True)
class ChaosConfig:
    """How often each kind of chaos happens (probabilities per opportunity)."""

    seed: int = 0
    drop_before_send: float = 0.02
    """A call about to leave: the connection drops instead (the call is not sent)."""
    drop_after_send: float = 0.02
    """A call just sent: the connection drops before its answer arrives."""
    retransmit: float = 0.1
    """An answered transaction message is sent again with the same unique id."""
    swap: float = 0.2
    """Two queued 2.0.1 TransactionEvents leave in swapped order."""

    def __post_init__(self) -> None:
        """Refuse probabilities outside [0, 1]."""
        for name in ("drop_before_send", "drop_after_send", "retransmit", "swap"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value!r}")
        if self.drop_before_send + self.drop_after_send > 1.0:
            raise ValueError("drop_before_send + drop_after_send must not exceed 1")


class Drop(Enum):
    """When the connection drops around an outgoing call."""

    BEFORE_SEND = "before"
    AFTER_SEND = "after"


@dataclass
class ChaosCounts:
    """What chaos did to one station."""

    drops: int = 0
    retransmissions: int = 0
    swaps: int = 0


class Chaos:
    """The chaos decisions of one station."""

    def __init__(self, config: ChaosConfig, station_id: str) -> None:
        self.config = config
        self.counts = ChaosCounts()
        # Reproducible on purpose: the same seed replays the same decisions.
        self._rng = random.Random(f"{config.seed}/{station_id}")  # noqa: S311

    def drop(self) -> Drop | None:
        """Whether (and when) to drop the connection around the call about to be sent."""
        draw = self._rng.random()
        if draw < self.config.drop_before_send:
            return Drop.BEFORE_SEND
        if draw < self.config.drop_before_send + self.config.drop_after_send:
            return Drop.AFTER_SEND
        return None

    def retransmit(self) -> bool:
        """Whether to send an answered transaction message again (same unique id)."""
        return self._rng.random() < self.config.retransmit

    def swap(self) -> bool:
        """Whether to send the second queued TransactionEvent before the first."""
        return self._rng.random() < self.config.swap


class ChaosConnection:
    """A station's connection that drops at random moments around outgoing calls."""

    def __init__(self, inner: StationConnection, chaos: Chaos) -> None:
        self._inner = inner
        self._chaos = chaos

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol of the real connection."""
        return self._inner.subprotocol

    async def recv(self) -> str | bytes:
        """Receive from the real connection."""
        return await self._inner.recv()

    async def send(self, message: str) -> None:
        """Send, unless chaos drops the connection first; maybe drop it right after."""
        drop = self._chaos.drop() if _is_call(message) else None
        if drop is Drop.BEFORE_SEND:
            await self._drop()
            raise ConnectionError("connection dropped (chaos)")
        await self._inner.send(message)
        if drop is Drop.AFTER_SEND:
            await self._drop()

    async def close(self) -> None:
        """Close the real connection."""
        await self._inner.close()

    async def _drop(self) -> None:
        self._chaos.counts.drops += 1
        await self._inner.close()


def _is_call(message: str) -> bool:
    try:
        frame = json.loads(message)
    except ValueError:
        return False
    return isinstance(frame, list) and bool(frame) and frame[0] == 2
