"""A retransmitted CALL (same station, same unique id) gets the same reply and changes nothing.

Every golden CALL a station sends, in both versions, is handled twice; the second time must
answer exactly as the first, publish no event and leave every repository as it was (DESIGN §4,
issue 3 item 4).
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest
from tests.conftest import World
from tests.contract import golden
from tests.fakes import T0, a_binding, a_station

from csms.domain.station import ProtocolVersion
from csms.domain.tokens import IdToken

V16, V201 = ProtocolVersion.OCPP16, ProtocolVersion.OCPP201
# The golden frames are stamped 2026-11-24T08:00-08:59; the CSMS hears them afterwards.
LATER = T0 + timedelta(hours=1)


def _calls() -> list[Any]:
    return [
        pytest.param(version, name, id=f"{golden.FOLDERS[version]}-{name}")
        for version in (V16, V201)
        for name in golden.station_calls(version)
    ]


def _state(world: World) -> dict[str, Any]:
    """Everything the fakes hold (the publisher aside: it is checked on its own)."""
    repos = {
        "stations": world.stations_repo,
        "log": world.log,
        "statuses": world.statuses,
        "calls": world.calls,
        "tokens": world.tokens,
        "sessions": world.sessions_repo,
        "notes": world.notes,
        "needs": world.needs,
    }
    return {
        name: copy.deepcopy({k: v for k, v in vars(repo).items() if k != "outbox"})
        for name, repo in repos.items()
    }


@pytest.mark.parametrize(("version", "name"), _calls())
def test_retransmitted_call_gets_the_same_reply_and_changes_nothing(
    world: World, version: ProtocolVersion, name: str
) -> None:
    # GIVEN a connected station of the version, a known token, and a golden CALL handled once
    world.clock.at = LATER
    world.stations_repo.register(a_station())
    binding = a_binding(protocol=version)
    world.stations_repo.bind(binding)
    world.tokens.create("tenant-a", IdToken(id_token="04A2B3C4D5E6F7"), T0)
    raw = json.dumps(golden.frame(version, name))
    first = world.dispatcher.handle(binding.connection_id, raw)
    published = len(world.events.events)
    before = _state(world)
    # WHEN the station sends the very same CALL again (its answer was lost)
    world.clock.advance(30)
    again = world.dispatcher.handle(binding.connection_id, raw)
    # THEN the answer is the same, no event is published and nothing changed
    assert first is not None
    assert json.loads(first)[0] == 3, first
    assert again == first or _same_but_time(first, again)
    assert len(world.events.events) == published
    assert _state(world) == before


def _same_but_time(first: str, again: str | None) -> bool:
    """Heartbeat and BootNotification tell the current time: only that may differ."""
    assert again is not None
    one, two = json.loads(first)[2], json.loads(again)[2]
    return one.keys() == two.keys() and {k: v for k, v in one.items() if k != "currentTime"} == {
        k: v for k, v in two.items() if k != "currentTime"
    }
