"""CSMS -> station commands: send now or queue, deliver in order, match answers, report ends.

One CSMS-initiated CALL may be outstanding per station (OCPP-J). A command that cannot go out at
once - the station is offline, another call is outstanding, or the connection turned out to be
gone (API Gateway's reconnect gap) - waits in the station's queue for its time-to-live. The queue
moves on its own events: the station's first message on a new connection (`deliver_on_connect`),
each answer to an outstanding call, a call found past its deadline, and a new command that finds
the slot free. Nothing on the station's ordinary message path reads the queue: the connection's
binding says at connect time whether there is anything to deliver.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import timedelta
from typing import Any

from csms.domain.command_records import (
    MAX_COMMAND_TTL,
    CommandRecord,
    CommandState,
    QueuedCommand,
)
from csms.domain.commands import (
    Command,
    CommandStatus,
    LocalListEntry,
    LocalListUpdate,
    SendLocalListCommand,
    StopChargingCommand,
)
from csms.domain.connection import ConnectionBinding
from csms.domain.errors import (
    CallInProgressError,
    CallNotFoundError,
    CommandNotSupportedError,
    InvalidReferenceError,
    ResourceInUseError,
    StationNotFoundError,
    StationOfflineError,
)
from csms.domain.notifications import NoteKind, StationNote
from csms.domain.sessions import session_id
from csms.domain.station import ProtocolVersion, Station
from csms.domain.tokens import AuthorizationStatus
from csms.services.ports import (
    CallEncoder,
    CallRepository,
    Clock,
    EncodedCall,
    FrameSender,
    IdGenerator,
    Page,
    SessionRepository,
    StationNoteRepository,
    StationRepository,
    TokenRepository,
)

# Status notifications that report on a command's progress, by the CALL that asked for them.
PROGRESS_KINDS: dict[str, NoteKind] = {
    "UpdateFirmware": NoteKind.FIRMWARE_STATUS,
    "GetDiagnostics": NoteKind.LOG_STATUS,
    "GetLog": NoteKind.LOG_STATUS,
}
# How many of a station's latest notes of a kind are read to find a command's progress.
_PROGRESS_NOTES = 50
# A bound on one delivery pass, against a queue that misbehaves (each turn removes one entry).
_MAX_DELIVERIES = 100


class _ConnectionGoneError(Exception):
    """The connection was gone when a CALL was sent; the command went back to the queue."""


def stored_request(encoded: EncodedCall) -> dict[str, Any]:
    """The payload to keep: secrets (an AuthorizationKey, a password) replaced by "***"."""
    return dict(encoded.redacted)


class CommandService:
    """Sends, queues and delivers commands; one outstanding call per station at a time."""

    # Bound on the per-container memory of connections already delivered on.
    _DRAINED_CAP = 4096

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
        notes: StationNoteRepository | None = None,
        sessions: SessionRepository | None = None,
        tokens: TokenRepository | None = None,
    ) -> None:
        self._stations = stations
        self._calls = calls
        self._encoder = encoder
        self._sender = sender
        self._clock = clock
        self._new_id = new_id
        self._timeout = timedelta(seconds=timeout_s)
        self._sleep = sleep
        self._notes = notes
        self._sessions = sessions
        self._tokens = tokens
        # Connections this container has already delivered the queue on (see deliver_on_connect).
        self._drained: set[str] = set()

    # -- sending -------------------------------------------------------------------------------
    def send(
        self, tenant_id: str, station_id: str, command: Command, ttl: timedelta
    ) -> CommandRecord:
        """Send the command now if the station can take it, else queue it for `ttl`.

        Raises CommandNotSupportedError, with nothing stored, when the station's version (the
        one it last spoke, or is pinned to) cannot carry the command.
        """
        station = self._station(tenant_id, station_id)
        command = self._resolve(tenant_id, station_id, command)
        now = self._clock.now()
        protocol = station.protocol or station.pinned_protocol
        encoded = self._encoder.encode(protocol, "0", command) if protocol is not None else None
        record = CommandRecord(
            id=self._new_id(),
            station_id=station_id,
            tenant_id=tenant_id,
            action=command.action,
            state=CommandState.QUEUED,
            queued_at=now,
            expires_at=now + min(ttl, MAX_COMMAND_TTL),
            request=stored_request(encoded) if encoded is not None else None,
            protocol=protocol,
            ocpp_action=encoded.action if encoded is not None else None,
        )
        if station.online and station.connection_id and station.protocol:
            try:
                return self._send_now(
                    record, command, station.connection_id, station.protocol, from_queue=False
                )
            except CallInProgressError:
                self._calls.add(record, command)
            except _ConnectionGoneError:
                pass
        else:
            self._calls.add(record, command)
        # The slot may have been freed, or the station may have (re)connected, since we looked:
        # without this turn the command could wait for an event that already happened.
        self._deliver_to(station_id)
        return self._calls.get(station_id, record.id) or record

    # -- resolving what the API names -----------------------------------------------------------
    def _resolve(self, tenant_id: str, station_id: str, command: Command) -> Command:
        """Fill in what the station needs and the caller only named.

        A session's transaction, a local list's version and its tokens' statuses.
        """
        if isinstance(command, StopChargingCommand):
            return self._resolve_stop(tenant_id, station_id, command)
        if isinstance(command, SendLocalListCommand):
            return self._resolve_local_list(tenant_id, station_id, command)
        return command

    def _resolve_stop(
        self, tenant_id: str, station_id: str, command: StopChargingCommand
    ) -> StopChargingCommand:
        """The session's transaction id and, for a 1.6 session, its integer alias."""
        if self._sessions is None:
            return command
        sid = command.session_id or session_id(station_id, command.transaction_id or "")
        session = self._sessions.get(sid)
        if session is None or session.tenant_id != tenant_id or session.station_id != station_id:
            if command.session_id is None:
                # A transaction the CSMS does not know (yet): the station may.
                return command
            raise InvalidReferenceError("sessionId", "session at this station", sid)
        return command.model_copy(
            update={
                "transaction_id": session.transaction_id,
                "ocpp16_transaction_id": session.ocpp16_id,
            }
        )

    def _resolve_local_list(
        self, tenant_id: str, station_id: str, command: SendLocalListCommand
    ) -> SendLocalListCommand:
        """The station's next list version when none is given, and known tokens' statuses.

        In a differential update, a known token the caller left without a status gets its
        stored one; an unknown token stays without: it is deleted from the station's list.
        """
        update: dict[str, Any] = {}
        if getattr(command, "version", None) is None:
            update["version"] = self._calls.next_list_version(station_id)
        if self._tokens is not None and command.update_type is LocalListUpdate.DIFFERENTIAL:
            tokens = self._tokens
            update["entries"] = tuple(_entry(tokens, tenant_id, e) for e in command.entries)
        return command.model_copy(update=update) if update else command

    def _send_now(
        self,
        record: CommandRecord,
        command: Command,
        connection_id: str,
        protocol: ProtocolVersion,
        *,
        from_queue: bool,
    ) -> CommandRecord:
        """Take the slot and send the CALL; raises CallInProgressError when the slot is taken.

        A queued record someone else took in the meantime comes back unchanged (still Queued).
        """
        encoded = self._encoder.encode(protocol, record.id, command)
        now = self._clock.now()
        pending = record.sent(now, self._timeout, protocol, encoded.action, stored_request(encoded))
        if not self._calls.open(pending, now, from_queue=from_queue):
            return record
        try:
            self._sender.send(connection_id, encoded.frame)
        except StationOfflineError:
            # API Gateway's GoneException: the station is between two connections. Its next
            # connection delivers the queue.
            self._calls.requeue(pending.requeued(), command)
            raise _ConnectionGoneError from None
        return pending

    # -- delivering the queue ------------------------------------------------------------------
    def deliver_on_connect(self, binding: ConnectionBinding) -> None:
        """Deliver what waited for this connection, once (its first message triggers this).

        The binding's flag was set at connect time by `has_queued`; a container that cached the
        binding delivers at most once per connection.
        """
        if not binding.deliver_queue or binding.connection_id in self._drained:
            return
        self._drained.add(binding.connection_id)
        if len(self._drained) > self._DRAINED_CAP:
            self._drained.clear()
            self._drained.add(binding.connection_id)
        self.deliver(binding.station_id, binding.connection_id, binding.protocol)

    def has_queued(self, station_id: str) -> bool:
        """Whether a station that connects has commands waiting (one read per connect)."""
        return self._calls.has_queued(station_id)

    def deliver(self, station_id: str, connection_id: str, protocol: ProtocolVersion) -> None:
        """Send the oldest queued command on this connection if the slot is free.

        Expired commands on the way are recorded as such and never sent; a command the
        connection's version cannot carry fails. Stops once one call is outstanding.
        """
        for _ in range(_MAX_DELIVERIES):
            head = self._calls.head(station_id)
            if head is None:
                return
            if not self._deliver_head(head, connection_id, protocol):
                return

    def _deliver_head(
        self, head: QueuedCommand, connection_id: str, protocol: ProtocolVersion
    ) -> bool:
        """Deliver or drop the head of the queue; False when delivery has to stop here."""
        record, now = head.record, self._clock.now()
        if record.effective_state(now) is CommandState.EXPIRED:
            self._calls.drop(record.ended(CommandState.EXPIRED))
            return True
        try:
            sent = self._send_now(record, head.command, connection_id, protocol, from_queue=True)
        except CommandNotSupportedError as exc:
            self._calls.drop(
                record.ended(
                    CommandState.FAILED,
                    answered_at=now,
                    protocol=protocol,
                    error_code="NotSupported",
                    error_description=str(exc),
                )
            )
            return True
        except (CallInProgressError, _ConnectionGoneError):
            return False
        # Sent: one call is outstanding now. Not sent: someone else took it; look again.
        return sent.state is CommandState.QUEUED

    def _deliver_to(self, station_id: str) -> None:
        """Move the station's queue, if it is online."""
        station = self._stations.get(station_id)
        if (
            station is not None
            and station.online
            and station.connection_id is not None
            and station.protocol is not None
        ):
            self.deliver(station_id, station.connection_id, station.protocol)

    # -- answers -------------------------------------------------------------------------------
    def pending(self, station_id: str, command_id: str) -> CommandRecord | None:
        """The call a CALLRESULT/CALLERROR answers, if it is still waiting for one."""
        record = self._calls.get(station_id, command_id)
        if record is None or record.effective_state(self._clock.now()) is not CommandState.PENDING:
            return None
        return record

    def answer(
        self, record: CommandRecord, status: CommandStatus | None, response: dict[str, Any]
    ) -> bool:
        """Record the station's CALLRESULT; False if the call had already ended."""
        return self._calls.close(
            record.ended(
                CommandState.ANSWERED,
                answered_at=self._clock.now(),
                status=status,
                response=response,
            )
        )

    def fail(self, record: CommandRecord, error_code: str, description: str) -> bool:
        """Record the station's CALLERROR; False if the call had already ended."""
        return self._calls.close(
            record.ended(
                CommandState.FAILED,
                answered_at=self._clock.now(),
                error_code=error_code,
                error_description=description,
            )
        )

    # -- reading -------------------------------------------------------------------------------
    def result(self, tenant_id: str, station_id: str, command_id: str) -> CommandRecord:
        """The command as it stands; a timeout or an expiry it reached is recorded now.

        A call found past its deadline frees the slot, so the queue moves on.
        """
        record = self._calls.get(station_id, command_id)
        if record is None or record.tenant_id != tenant_id:
            raise CallNotFoundError(station_id, command_id)
        state = record.effective_state(self._clock.now())
        if state is record.state:
            return record
        if state is CommandState.TIMED_OUT:
            if self._calls.close(record.ended(state)):
                self._deliver_to(station_id)
        else:
            self._calls.drop(record.ended(state))
        # Recorded by us, or by whoever got there first (an answer may have won the race).
        return self.result(tenant_id, station_id, command_id)

    def wait(
        self,
        tenant_id: str,
        station_id: str,
        command_id: str,
        wait_s: float,
        poll_s: float = 0.1,
    ) -> CommandRecord:
        """Wait up to `wait_s` for the command to end; return it as it then stands."""
        deadline = self._clock.now() + timedelta(seconds=wait_s)
        while True:
            record = self.result(tenant_id, station_id, command_id)
            if record.state.final or self._clock.now() >= deadline:
                return record
            self._sleep(poll_s)

    def history(
        self,
        tenant_id: str,
        station_id: str,
        limit: int,
        cursor: str | None = None,
        *,
        states: Collection[CommandState] = (),
        action: str | None = None,
    ) -> Page[CommandRecord]:
        """The station's commands, newest first, as they stand now; filtered by state/action."""
        self._station(tenant_id, station_id)
        now = self._clock.now()

        def keep(record: CommandRecord) -> bool:
            return (not states or record.effective_state(now) in states) and (
                action is None or record.action == action
            )

        page = self._calls.history(station_id, limit, cursor, keep)
        return Page(items=[r.as_of(now) for r in page.items], next_cursor=page.next_cursor)

    def progress(self, record: CommandRecord) -> list[StationNote]:
        """The status notifications a firmware or log command brought, oldest first.

        Those received since the station answered the command and, where both carry one, with
        its request id.
        """
        kind = PROGRESS_KINDS.get(record.ocpp_action or "")
        if (
            kind is None
            or self._notes is None
            or record.answered_at is None
            or record.state is not CommandState.ANSWERED
        ):
            return []
        since = record.answered_at
        request_id = (record.request or {}).get("requestId")
        notes = self._notes.list(record.station_id, kind, _PROGRESS_NOTES).items
        return sorted(
            (
                n
                for n in notes
                if n.received_at >= since
                and (request_id is None or n.reference is None or n.reference == request_id)
            ),
            key=lambda n: (n.received_at, n.at),
        )

    # -- cancelling ----------------------------------------------------------------------------
    def cancel(self, tenant_id: str, station_id: str, command_id: str) -> CommandRecord:
        """Take a queued command out of the queue; ResourceInUseError once it was sent or ended."""
        record = self.result(tenant_id, station_id, command_id)
        if record.state is CommandState.QUEUED:
            cancelled = record.ended(CommandState.CANCELLED)
            if self._calls.drop(cancelled):
                return cancelled
            record = self.result(tenant_id, station_id, command_id)
        why = "it was sent already" if record.sent_at is not None else "it has ended"
        raise ResourceInUseError("command", command_id, f"it cannot be cancelled: {why}")

    def _station(self, tenant_id: str, station_id: str) -> Station:
        station = self._stations.get(station_id)
        if station is None or station.tenant_id != tenant_id:
            raise StationNotFoundError(station_id)
        return station


def _entry(tokens: TokenRepository, tenant_id: str, entry: LocalListEntry) -> LocalListEntry:
    """A local list entry with the stored status of its token, if it has none and is known."""
    if entry.status is not None:
        return entry
    token = tokens.get(tenant_id, entry.id_token)
    if token is None:
        return entry
    return entry.model_copy(
        update={
            "status": AuthorizationStatus(token.status.value),
            "expires_at": token.expires_at,
            "group_id_token": token.parent_id_token,
        }
    )
