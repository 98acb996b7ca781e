"""Charging sessions, one model for both OCPP versions.

A session is what 1.6 calls a transaction (CSMS-assigned integer id) and 2.0.1 a transaction
(station-assigned string id). Its identity is the station plus the transaction id, hashed into
one opaque string (`session_id`), so that every message finds its session without an index.

The session keeps its start and its newest meter register; samples live in small chunk items
(`MeterChunk`), one per message, so a MeterValues never rewrites the session. The live totals
are the session's marks merged with its newest chunk (`SessionTotals`).

Merging is order-independent, so retransmissions and offline queues delivered late or out of
order give the same session as in-order delivery (`merge_event`):
- the start is the earliest reading seen, the last register the newest one;
- the state fields a 2.0.1 event carries (charging state, ...) follow the highest seqNo that
  set them, the driver's token the lowest seqNo that carried one;
- the idle period's start is not merged into the session at all: each event's charging state
  stays with its chunk, and `reported_idle` reads them in seqNo order (exact whatever the
  arrival order; pricing reads every chunk anyway);
- Ended is final whatever arrives after it; other missing facts (EVSE, remote start id) are
  filled in by any event that has them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from csms.domain.connector import ConnectorStatus, EvseRef, OccupancyDetail, StatusReport
from csms.domain.meter import Anomaly, AnomalyKind, Measurand, RawReading, Reading
from csms.domain.station import ProtocolVersion
from csms.domain.tokens import Authorization, IdTokenType, token_key

# Anomalies kept on a session; later ones are counted, not stored (the item stays small).
MAX_ANOMALIES = 10


class SessionState(StrEnum):
    """Whether the session is still running."""

    ACTIVE = "Active"
    ENDED = "Ended"


class ChargingState(StrEnum):
    """2.0.1 ChargingStateEnumType; 1.6 tells the same through StatusNotification."""

    CHARGING = "Charging"
    EV_CONNECTED = "EVConnected"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    IDLE = "Idle"


class StopReason(StrEnum):
    """Why a session ended.

    1.6 Reason and 2.0.1 ReasonEnumType together, plus the CSMS's own Abandoned (closed by the
    cleanup job).
    """

    DE_AUTHORIZED = "DeAuthorized"
    EMERGENCY_STOP = "EmergencyStop"
    ENERGY_LIMIT_REACHED = "EnergyLimitReached"
    EV_DISCONNECTED = "EVDisconnected"
    GROUND_FAULT = "GroundFault"
    HARD_RESET = "HardReset"
    IMMEDIATE_RESET = "ImmediateReset"
    LOCAL = "Local"
    LOCAL_OUT_OF_CREDIT = "LocalOutOfCredit"
    MASTER_PASS = "MasterPass"  # noqa: S105 - a stop reason, not a password
    OTHER = "Other"
    OVERCURRENT_FAULT = "OvercurrentFault"
    POWER_LOSS = "PowerLoss"
    POWER_QUALITY = "PowerQuality"
    REBOOT = "Reboot"
    REMOTE = "Remote"
    SOC_LIMIT_REACHED = "SOCLimitReached"
    SOFT_RESET = "SoftReset"
    STOPPED_BY_EV = "StoppedByEV"
    TIME_LIMIT_REACHED = "TimeLimitReached"
    TIMEOUT = "Timeout"
    UNLOCK_COMMAND = "UnlockCommand"
    ABANDONED = "Abandoned"


class EventType(StrEnum):
    """2.0.1 TransactionEventEnumType; 1.6 Start/StopTransaction map to Started/Ended."""

    STARTED = "Started"
    UPDATED = "Updated"
    ENDED = "Ended"


def session_id(station_id: str, transaction_id: str) -> str:
    """The session's id: opaque, URL-safe, the same for every message of the transaction."""
    digest = hashlib.sha256(f"{station_id}\x00{transaction_id}".encode()).digest()
    return base64.b32encode(digest[:15]).decode().lower()


class MeterMark(BaseModel):
    """An energy register reading at an instant."""

    model_config = ConfigDict(frozen=True)

    wh: Decimal
    at: datetime


def _earlier(a: MeterMark | None, b: MeterMark | None) -> MeterMark | None:
    if a is None or (b is not None and b.at < a.at):
        return b
    return a


def _later(a: MeterMark | None, b: MeterMark | None) -> MeterMark | None:
    if a is None or (b is not None and b.at > a.at):
        return b
    return a


class MeterChunk(BaseModel):
    """The readings of one message of a session, with what they say about the totals.

    `key` orders the chunks of a session and makes a retransmitted message land on the same
    chunk: the seqNo in 2.0.1, the first timestamp plus a digest of the content in 1.6.
    """

    model_config = ConfigDict(frozen=True)

    session_id: str
    key: str
    readings: tuple[Reading, ...] = ()
    seq_no: int | None = None
    event_type: EventType | None = None
    # The charging state the message reported and when (the idle period is read from these).
    charging_state: ChargingState | None = None
    state_at: datetime | None = None

    @property
    def register(self) -> MeterMark | None:
        """The newest energy register among the readings."""
        for reading in reversed(self.readings):
            wh = reading.energy_wh
            if wh is not None:
                return MeterMark(wh=wh, at=reading.timestamp)
        return None

    @property
    def first_register(self) -> MeterMark | None:
        """The oldest energy register among the readings."""
        for reading in self.readings:
            wh = reading.energy_wh
            if wh is not None:
                return MeterMark(wh=wh, at=reading.timestamp)
        return None

    def latest(self, measurand: Measurand) -> Decimal | None:
        """The newest total of a measurand among the readings."""
        for reading in reversed(self.readings):
            value = reading.total(measurand)
            if value is not None:
                return value
        return None

    @property
    def last_at(self) -> datetime | None:
        """Time of the newest reading."""
        return self.readings[-1].timestamp if self.readings else None


class ReportedIdle(BaseModel):
    """What a session's charging states say about its idle period (idle fees).

    `charged` is False when no Charging was ever reported (many 1.6 stations report no state,
    and a missed report is possible): the register then has to tell. Else `charging_ended_at`
    is when charging stopped and never resumed (None: it charges still) and `ev_left_at` when
    the EV was disconnected (2.0.1 Idle, 1.6 Available) before the session ended.
    """

    model_config = ConfigDict(frozen=True)

    charged: bool = False
    charging_ended_at: datetime | None = None
    ev_left_at: datetime | None = None


def reported_idle(chunks: Iterable[MeterChunk]) -> ReportedIdle:
    """The idle period the charging states of a session's chunks report, in seqNo order.

    Charging clears it; the first state after the last Charging in which the EV could charge
    but does not (SuspendedEV, EVConnected, Idle) starts it; SuspendedEVSE neither starts nor
    clears it: the station paused the session (a charging profile, load management), which is
    not the driver's doing, so a session held at zero owes no idle fee for it. Idle (no EV
    connected) ends it, a connected state after that forgets the end. Ordered by seqNo
    (2.0.1), else by the report's time (1.6), so a late event cannot undo a newer one whatever
    the arrival order.
    """
    reports: list[tuple[int, datetime, ChargingState]] = sorted(
        (-1 if c.seq_no is None else c.seq_no, c.state_at, c.charging_state)
        for c in chunks
        if c.charging_state is not None and c.state_at is not None
    )
    charged = False
    ended: datetime | None = None
    left: datetime | None = None
    for _, at, state in reports:
        if state is ChargingState.CHARGING:
            charged, ended, left = True, None, None
            continue
        if state is ChargingState.SUSPENDED_EVSE:
            left = None
            continue
        ended = ended or at
        left = (left or at) if state is ChargingState.IDLE else None
    if not charged:
        return ReportedIdle()
    return ReportedIdle(charged=True, charging_ended_at=ended, ev_left_at=left)


# What a 1.6 connector status says of the charging state of the session on it (1.6 has no
# charging state of its own). Finishing: the transaction stopped, the EV still plugged in;
# Available while a session is open: the EV left (StopTransactionOnEVSideDisconnect=false).
_STATUS_16_STATES: dict[tuple[ConnectorStatus, OccupancyDetail | None], ChargingState] = {
    (ConnectorStatus.OCCUPIED, OccupancyDetail.CHARGING): ChargingState.CHARGING,
    (ConnectorStatus.OCCUPIED, OccupancyDetail.SUSPENDED_EV): ChargingState.SUSPENDED_EV,
    (ConnectorStatus.OCCUPIED, OccupancyDetail.SUSPENDED_EVSE): ChargingState.SUSPENDED_EVSE,
    (ConnectorStatus.OCCUPIED, OccupancyDetail.FINISHING): ChargingState.EV_CONNECTED,
    (ConnectorStatus.AVAILABLE, None): ChargingState.IDLE,
}


def charging_state_of(report: StatusReport) -> ChargingState | None:
    """The charging state a 1.6 StatusNotification tells (None: it tells none)."""
    if report.evse.is_station:
        return None
    return _STATUS_16_STATES.get((report.status, report.detail))


def chunk_key_status(at: datetime, state: ChargingState) -> str:
    """Key of the chunk keeping a 1.6 status's charging state.

    "!" sorts before every meter chunk key, so the newest chunk of a session (its live
    figures) stays a meter reading; the time and state make a repeated report land on it.
    """
    return f"!status#{at.astimezone(UTC).isoformat()}#{state.value}"


def chunk_key_16(raw: Sequence[RawReading], at: datetime, extra: str = "") -> str:
    """1.6 chunk key: the first reading's time plus a digest of the message as sent.

    A retransmission (same content) lands on the same key, however the station numbered it,
    even when none of its values could be kept; two different messages with the same timestamp
    do not collide. `extra` adds what else identifies the message (a stop's meterStop).
    """
    first = raw[0].timestamp if raw else at
    body = "|".join(
        [extra]
        + [
            f"{r.timestamp.isoformat()};"
            + ",".join(
                f"{x.measurand}/{x.phase}/{x.value}/{x.unit}/{x.multiplier}/{x.context}"
                for x in r.samples
            )
            for r in raw
        ]
    )
    digest = hashlib.sha256(body.encode()).hexdigest()[:10]
    return f"{first.astimezone(UTC).isoformat()}#{digest}"


def chunk_key_seq(seq_no: int) -> str:
    """2.0.1 chunk key: the event's seqNo, zero-padded so that keys sort numerically."""
    return f"{seq_no:010d}"


class Session(BaseModel):
    """A charging session (version-neutral).

    `version` counts the writes of the session item; every write is conditional on it, so two
    invocations handling one session at once cannot lose an update.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    station_id: str
    transaction_id: str
    protocol: ProtocolVersion
    ocpp16_id: int | None = None
    site_id: str | None = None
    evse: EvseRef | None = None
    state: SessionState = SessionState.ACTIVE
    id_token: str | None = None
    token_type: IdTokenType | None = None
    group_id: str | None = None
    authorization: Authorization | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    meter_start: MeterMark | None = None
    meter_last: MeterMark | None = None
    meter_stop_wh: Decimal | None = None
    power_w: Decimal | None = None
    soc: Decimal | None = None
    stop_reason: StopReason | None = None
    # The token presented to stop (1.6 StopTransaction idTag, 2.0.1 Ended idToken).
    stop_token: str | None = None
    charging_state: ChargingState | None = None
    remote_start_id: int | None = None
    reservation_id: int | None = None
    offline: bool = False
    start_known: bool = False
    meter_start_known: bool = False
    seq_no: int | None = None
    # The seqNo of the event the token came from: the lowest one names the driver.
    token_seq: int | None = None
    charging_state_seq: int | None = None
    anomalies: tuple[Anomaly, ...] = ()
    anomaly_count: int = 0
    closed_by_cleanup: bool = False
    revision: int = 0
    updated_at: datetime
    version: int = 0

    @property
    def stopped_by(self) -> str | None:
        """The token that stopped the session when it is not the one that started it."""
        if self.stop_token is None or self.id_token is None:
            return self.stop_token if self.id_token is None else None
        return None if token_key(self.stop_token) == token_key(self.id_token) else self.stop_token

    @property
    def energy_wh(self) -> Decimal | None:
        """Energy delivered so far (final when ended), never negative."""
        return energy_between(self.meter_start, self.meter_last)

    @property
    def duration(self) -> timedelta | None:
        """Time from start to stop (or to the newest reading while active), never negative."""
        end = self.stopped_at or (self.meter_last.at if self.meter_last else None)
        if self.started_at is None or end is None:
            return None
        return max(end - self.started_at, timedelta(0))

    @property
    def last_activity(self) -> datetime:
        """The newest instant the session item knows of."""
        times = [self.updated_at]
        times += [t for t in (self.started_at, self.meter_last and self.meter_last.at) if t]
        return max(times)

    def noting(self, *found: Anomaly) -> Session:
        """The session with anomalies recorded (the first MAX_ANOMALIES kept in full)."""
        if not found:
            return self
        kept = (*self.anomalies, *found)[:MAX_ANOMALIES]
        return self.model_copy(
            update={"anomalies": kept, "anomaly_count": self.anomaly_count + len(found)}
        )


def energy_between(start: MeterMark | None, last: MeterMark | None) -> Decimal | None:
    """Register difference, never negative (a decreasing register is an anomaly, not credit)."""
    if start is None or last is None:
        return None
    return max(last.wh - start.wh, Decimal(0))


class SessionTotals(BaseModel):
    """What a session has delivered so far: its item merged with its newest chunk."""

    model_config = ConfigDict(frozen=True)

    energy_wh: Decimal | None
    meter_last: MeterMark | None
    power_w: Decimal | None
    soc: Decimal | None
    duration: timedelta | None


def totals(session: Session, newest: MeterChunk | None) -> SessionTotals:
    """Live totals: the newest register of the session item and of its newest chunk."""
    last = session.meter_last
    power, soc = session.power_w, session.soc
    if newest is not None and session.state is SessionState.ACTIVE:
        mark = newest.register
        if mark is not None and (last is None or mark.at > last.at):
            last = mark
            power = newest.latest(Measurand.POWER)
            newest_soc = newest.latest(Measurand.SOC)
            soc = newest_soc if newest_soc is not None else soc
    end = session.stopped_at or (last.at if last else None)
    duration = max(end - session.started_at, timedelta(0)) if session.started_at and end else None
    return SessionTotals(
        energy_wh=energy_between(session.meter_start, last),
        meter_last=last,
        power_w=power,
        soc=soc,
        duration=duration,
    )


def decreasing(previous: MeterMark | None, chunk: MeterChunk) -> Anomaly | None:
    """A register below the previous newest one (meter replaced, or bad data)."""
    first = chunk.first_register
    if previous is None or first is None or first.at <= previous.at or first.wh >= previous.wh:
        return None
    return Anomaly(
        kind=AnomalyKind.DECREASING_ENERGY,
        at=first.at,
        detail=f"register {first.wh} Wh after {previous.wh} Wh",
    )


class TransactionFacts(BaseModel):
    """What one transaction message says, version-neutral (1.6 Start/Stop or a 2.0.1 event)."""

    model_config = ConfigDict(frozen=True)

    event_type: EventType
    timestamp: datetime
    seq_no: int | None = None
    evse: EvseRef | None = None
    id_token: str | None = None
    token_type: IdTokenType | None = None
    authorization: Authorization | None = None
    charging_state: ChargingState | None = None
    stop_reason: StopReason | None = None
    remote_start_id: int | None = None
    reservation_id: int | None = None
    offline: bool = False
    meter_start: MeterMark | None = None
    meter_stop: MeterMark | None = None
    readings: tuple[Reading, ...] = ()


def new_session(
    *,
    tenant_id: str,
    station_id: str,
    transaction_id: str,
    protocol: ProtocolVersion,
    now: datetime,
    ocpp16_id: int | None = None,
    group_id: str | None = None,
    site_id: str | None = None,
) -> Session:
    """An empty session, before any fact is merged into it."""
    return Session(
        id=session_id(station_id, transaction_id),
        tenant_id=tenant_id,
        station_id=station_id,
        transaction_id=transaction_id,
        protocol=protocol,
        ocpp16_id=ocpp16_id,
        group_id=group_id,
        site_id=site_id,
        updated_at=now,
    )


def merge(session: Session, facts: TransactionFacts, now: datetime) -> Session:
    """Merge one message into the session; commutative, so arrival order does not matter.

    Retransmissions are filtered before (by chunk key); merging the same facts twice gives the
    same session anyway, except for `updated_at`.
    """
    update: dict[str, object] = {"updated_at": now}
    update.update(_fill(session, facts))
    update.update(_meter(session, facts))
    if facts.event_type is EventType.ENDED:
        update.update(_end(session, facts))
    merged = session.model_copy(update=update)
    if merged.state is SessionState.ENDED and merged.protocol is ProtocolVersion.OCPP201:
        # 2.0.1 has no meterStop field: the stop register is the newest register, and a late
        # event with a newer one moves it.
        last = merged.meter_last
        merged = merged.model_copy(update={"meter_stop_wh": last.wh if last else None})
    return merged


def _fill(session: Session, facts: TransactionFacts) -> dict[str, object]:
    update: dict[str, object] = {}
    if facts.seq_no is not None and (session.seq_no is None or facts.seq_no > session.seq_no):
        update["seq_no"] = facts.seq_no
    # Facts missing so far are taken from whichever message has them.
    if session.evse is None and facts.evse is not None:
        update["evse"] = facts.evse
    # The driver's token: from the lowest seqNo that carried one (an Ended may name the token
    # that stopped the session and arrive first); without seqNo, the first heard of.
    if facts.id_token is not None and (
        session.id_token is None
        or (
            facts.seq_no is not None
            and session.token_seq is not None
            and facts.seq_no < session.token_seq
        )
    ):
        update["id_token"] = facts.id_token
        update["token_type"] = facts.token_type
        update["token_seq"] = facts.seq_no
    if session.authorization is None and facts.authorization is not None:
        update["authorization"] = facts.authorization
    if session.group_id is None and facts.authorization is not None:
        update["group_id"] = facts.authorization.group_id
    if session.remote_start_id is None and facts.remote_start_id is not None:
        update["remote_start_id"] = facts.remote_start_id
    if session.reservation_id is None and facts.reservation_id is not None:
        update["reservation_id"] = facts.reservation_id
    if facts.offline:
        update["offline"] = True
    # Each state field follows the highest seqNo that set it (2.0.1), so a late event cannot
    # undo a newer one; without seqNo (1.6 delivers in order) the latest arrival wins.
    state_seq = session.charging_state_seq
    if facts.charging_state is not None and (
        facts.seq_no is None or state_seq is None or facts.seq_no > state_seq
    ):
        update["charging_state"] = facts.charging_state
        update["charging_state_seq"] = facts.seq_no
    return update


def _meter(session: Session, facts: TransactionFacts) -> dict[str, object]:
    update: dict[str, object] = {}
    # The start: what a Started event (1.6 StartTransaction) says, else the earliest reading.
    marks = [
        MeterMark(wh=wh, at=r.timestamp) for r in facts.readings if (wh := r.energy_wh) is not None
    ]
    explicit = facts.meter_start or (marks[0] if marks else None)
    if facts.event_type is EventType.STARTED:
        update["start_known"] = True
        update["started_at"] = facts.timestamp
    elif not session.start_known:
        first = facts.readings[0].timestamp if facts.readings else facts.timestamp
        if session.started_at is None or first < session.started_at:
            update["started_at"] = first
    if facts.event_type is EventType.STARTED and explicit is not None:
        update["meter_start_known"] = True
        update["meter_start"] = explicit
    elif not session.meter_start_known:
        update["meter_start"] = _earlier(session.meter_start, marks[0] if marks else None)
    meter_last = session.meter_last
    for mark in [*marks[-1:], facts.meter_stop]:
        meter_last = _later(meter_last, mark)
    update["meter_last"] = meter_last
    if meter_last is not session.meter_last and facts.readings:
        newest = facts.readings[-1]
        if meter_last is not None and newest.timestamp >= meter_last.at:
            update["power_w"] = newest.total(Measurand.POWER)
            soc = newest.total(Measurand.SOC)
            update["soc"] = soc if soc is not None else session.soc
    return update


def _end(session: Session, facts: TransactionFacts) -> dict[str, object]:
    if session.state is SessionState.ENDED and not session.closed_by_cleanup:
        return {}  # the first Ended stands; a second one (1.6 resend) changes nothing
    return {
        "state": SessionState.ENDED,
        "stopped_at": facts.timestamp,
        "stop_reason": facts.stop_reason or StopReason.LOCAL,
        "stop_token": facts.id_token,
        "meter_stop_wh": facts.meter_stop.wh if facts.meter_stop else None,
        "closed_by_cleanup": False,
        "power_w": None,
    }


def consistency_anomalies(before: Session | None, after: Session) -> list[Anomaly]:
    """What became inconsistent by a merge: stop before start, meter stop below start."""
    found: list[Anomaly] = []
    if after.stopped_at is not None and (before is None or before.stopped_at is None):
        if after.started_at is not None and after.stopped_at < after.started_at:
            found.append(
                Anomaly(
                    kind=AnomalyKind.STOP_BEFORE_START,
                    at=after.stopped_at,
                    detail=f"stop {after.stopped_at.isoformat()} before start "
                    f"{after.started_at.isoformat()}",
                )
            )
        if (
            after.meter_stop_wh is not None
            and after.meter_start is not None
            and after.meter_stop_wh < after.meter_start.wh
        ):
            found.append(
                Anomaly(
                    kind=AnomalyKind.METER_STOP_BELOW_START,
                    at=after.stopped_at,
                    detail=f"meterStop {after.meter_stop_wh} Wh below start "
                    f"{after.meter_start.wh} Wh",
                )
            )
    return found


def abandon(session: Session, now: datetime, last_seen: datetime) -> Session:
    """Close a session its station never reported the end of (the cleanup job)."""
    return session.model_copy(
        update={
            "state": SessionState.ENDED,
            "stopped_at": last_seen,
            "stop_reason": StopReason.ABANDONED,
            "closed_by_cleanup": True,
            "power_w": None,
            "updated_at": now,
        }
    ).noting(
        Anomaly(
            kind=AnomalyKind.ABANDONED,
            at=now,
            detail=f"no report since {last_seen.isoformat()}; closed by the cleanup job",
        )
    )
