"""CSMS -> station calls: send one, match its answer, report a timeout as such."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from csms.domain.commands import CallState, Command, CommandStatus, OutgoingCall
from csms.domain.errors import CallNotFoundError, StationNotFoundError, StationOfflineError
from csms.services.ports import (
    CallEncoder,
    CallRepository,
    Clock,
    FrameSender,
    IdGenerator,
    StationRepository,
)


class CommandService:
    """Sends commands to stations, one outstanding call per station at a time."""

    def __init__(
        self,
        *,
        stations: StationRepository,
        calls: CallRepository,
        encoder: CallEncoder,
        sender: FrameSender,
        clock: Clock,
        new_id: IdGenerator,
        timeout_s: int = 30,
        sleep: Callable[[float], None],
    ) -> None:
        self._stations = stations
        self._calls = calls
        self._encoder = encoder
        self._sender = sender
        self._clock = clock
        self._new_id = new_id
        self._timeout = timedelta(seconds=timeout_s)
        self._sleep = sleep

    def send(self, tenant_id: str, station_id: str, command: Command) -> OutgoingCall:
        """Send a command now; the answer arrives later on the station's connection."""
        station = self._stations.get(station_id)
        if station is None or station.tenant_id != tenant_id:
            raise StationNotFoundError(station_id)
        if not station.online or station.connection_id is None or station.protocol is None:
            raise StationOfflineError(station_id)
        now = self._clock.now()
        unique_id = self._new_id()
        encoded = self._encoder.encode(station.protocol, unique_id, command)
        call = OutgoingCall(
            unique_id=unique_id,
            station_id=station_id,
            tenant_id=tenant_id,
            action=encoded.action,
            request=encoded.payload,
            sent_at=now,
            deadline=now + self._timeout,
        )
        self._calls.open(call, now)
        try:
            self._sender.send(station.connection_id, encoded.frame)
        except StationOfflineError:
            self._calls.close(
                call.model_copy(
                    update={
                        "state": CallState.FAILED,
                        "answered_at": now,
                        "error_code": "StationOffline",
                        "error_description": "the connection was gone when the call was sent",
                    }
                )
            )
            raise
        return call

    def pending(self, station_id: str, unique_id: str) -> OutgoingCall | None:
        """The call a CALLRESULT/CALLERROR answers, if it is still waiting for one."""
        call = self._calls.get(station_id, unique_id)
        if call is None or call.effective_state(self._clock.now()) is not CallState.PENDING:
            return None
        return call

    def answer(
        self,
        call: OutgoingCall,
        status: CommandStatus | None,
        response: dict[str, Any],
    ) -> bool:
        """Record the station's CALLRESULT; False if the call had already ended."""
        return self._calls.close(
            call.model_copy(
                update={
                    "state": CallState.ANSWERED,
                    "answered_at": self._clock.now(),
                    "status": status,
                    "response": response,
                }
            )
        )

    def fail(self, call: OutgoingCall, error_code: str, description: str) -> bool:
        """Record the station's CALLERROR; False if the call had already ended."""
        return self._calls.close(
            call.model_copy(
                update={
                    "state": CallState.FAILED,
                    "answered_at": self._clock.now(),
                    "error_code": error_code,
                    "error_description": description,
                }
            )
        )

    def result(self, tenant_id: str, station_id: str, unique_id: str) -> OutgoingCall:
        """The call as it stands; a pending call past its deadline is closed as timed out."""
        call = self._calls.get(station_id, unique_id)
        if call is None or call.tenant_id != tenant_id:
            raise CallNotFoundError(station_id, unique_id)
        if (
            call.state is CallState.PENDING
            and call.effective_state(self._clock.now()) is CallState.TIMED_OUT
        ):
            timed_out = call.model_copy(update={"state": CallState.TIMED_OUT})
            if self._calls.close(timed_out):
                return timed_out
            # The answer arrived in the meantime.
            return self.result(tenant_id, station_id, unique_id)
        return call

    def wait(
        self, tenant_id: str, station_id: str, unique_id: str, wait_s: float, poll_s: float = 0.1
    ) -> OutgoingCall:
        """Wait up to `wait_s` for the call to end; return it as it then stands."""
        deadline = self._clock.now() + timedelta(seconds=wait_s)
        while True:
            call = self.result(tenant_id, station_id, unique_id)
            if call.state is not CallState.PENDING or self._clock.now() >= deadline:
                return call
            self._sleep(poll_s)
