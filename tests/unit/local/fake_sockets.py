"""An in-memory WebSocket pair for simulated-station tests (no sockets: unit tests)."""

from __future__ import annotations

import asyncio


class FakeSocket:
    """One end of an in-memory WebSocket."""

    def __init__(self, subprotocol: str | None) -> None:
        self.subprotocol = subprotocol
        self.peer: FakeSocket | None = None
        self.closed = False
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()

    async def recv(self) -> str:
        message = await self._inbox.get()
        if message is None:
            raise ConnectionError("connection closed")
        return message

    async def send(self, message: str) -> None:
        if self.closed or self.peer is None:
            raise ConnectionError("connection closed")
        self.peer._inbox.put_nowait(message)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._inbox.put_nowait(None)
            if self.peer is not None:
                self.peer.closed = True
                self.peer._inbox.put_nowait(None)


def socket_pair(subprotocol: str | None) -> tuple[FakeSocket, FakeSocket]:
    station, csms = FakeSocket(subprotocol), FakeSocket(subprotocol)
    station.peer, csms.peer = csms, station
    return station, csms
