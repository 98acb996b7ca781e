"""Shared fixtures: services wired to in-memory fakes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from csms.ocpp.dispatch import OcppCallEncoder, OcppDispatcher
from csms.services.commands import CommandService
from csms.services.notifications import NotificationService
from csms.services.seeding import SeedService
from csms.services.sessions import SessionService
from csms.services.stations import StationService
from tests.fakes import (
    FixedClock,
    InMemoryCallRepository,
    InMemoryChargingNeedsRepository,
    InMemoryConnectionLog,
    InMemoryConnectorStatusRepository,
    InMemoryEventPublisher,
    InMemoryFrameSender,
    InMemorySeedRepository,
    InMemorySessionRepository,
    InMemoryStationNoteRepository,
    InMemoryStationRepository,
    InMemoryTokenRepository,
    PlainHasher,
    SequentialIds,
)


@dataclass
class World:
    """Every fake and the services built on them."""

    clock: FixedClock
    stations_repo: InMemoryStationRepository
    log: InMemoryConnectionLog
    statuses: InMemoryConnectorStatusRepository
    calls: InMemoryCallRepository
    events: InMemoryEventPublisher
    sender: InMemoryFrameSender
    seeds_repo: InMemorySeedRepository
    tokens: InMemoryTokenRepository
    sessions_repo: InMemorySessionRepository
    hasher: PlainHasher
    stations: StationService
    commands: CommandService
    seeds: SeedService
    sessions: SessionService
    notes: InMemoryStationNoteRepository
    needs: InMemoryChargingNeedsRepository
    notifications: NotificationService
    dispatcher: OcppDispatcher


@pytest.fixture
def world() -> World:
    clock = FixedClock()
    events = InMemoryEventPublisher()
    stations_repo = InMemoryStationRepository(events)
    log = InMemoryConnectionLog(events)
    statuses = InMemoryConnectorStatusRepository(events)
    calls = InMemoryCallRepository()
    sender = InMemoryFrameSender()
    tokens = InMemoryTokenRepository()
    seeds_repo = InMemorySeedRepository(tokens)
    sessions_repo = InMemorySessionRepository(events)
    sessions = SessionService(sessions=sessions_repo, tokens=tokens, clock=clock)
    hasher = PlainHasher()
    notes = InMemoryStationNoteRepository()
    needs = InMemoryChargingNeedsRepository()
    notifications = NotificationService(notes=notes, needs=needs, clock=clock)
    stations = StationService(
        stations=stations_repo,
        connection_log=log,
        statuses=statuses,
        hasher=hasher,
        clock=clock,
        heartbeat_interval_s=300,
        has_queued_commands=calls.has_queued,
    )
    commands = CommandService(
        stations=stations_repo,
        calls=calls,
        encoder=OcppCallEncoder(),
        sender=sender,
        clock=clock,
        new_id=SequentialIds("call"),
        timeout_s=30,
        sleep=clock.advance,
        notes=notes,
        sessions=sessions_repo,
        tokens=tokens,
    )
    return World(
        clock=clock,
        stations_repo=stations_repo,
        log=log,
        statuses=statuses,
        calls=calls,
        events=events,
        sender=sender,
        seeds_repo=seeds_repo,
        tokens=tokens,
        sessions_repo=sessions_repo,
        hasher=hasher,
        stations=stations,
        commands=commands,
        seeds=SeedService(stations=stations_repo, seeds=seeds_repo, hasher=hasher),
        sessions=sessions,
        notes=notes,
        needs=needs,
        notifications=notifications,
        dispatcher=OcppDispatcher(
            stations=stations,
            commands=commands,
            sessions=sessions,
            notifications=notifications,
        ),
    )
