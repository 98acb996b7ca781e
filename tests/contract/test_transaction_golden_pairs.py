"""Golden transaction frames of 1.6 and 2.0.1 for the same session give equal domain objects.

1.6 StartTransaction / MeterValues / StopTransaction and 2.0.1 TransactionEvent Started /
Updated / Ended tell one session: message by message they map to the same readings, token and
times, and replayed whole they give the same session. What only one version can say is set
aside by name and asserted on its own:
- ids: 1.6 transaction ids come from the CSMS counter (kept as `ocpp16_id`), 2.0.1 ids from
  the station; the protocol differs;
- the token type: 1.6 idTag has none;
- the charging state: 2.0.1 reports it in TransactionEvent (1.6 in StatusNotification);
- seqNo bookkeeping (2.0.1 only).
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.conftest import World
from tests.contract import golden
from tests.fakes import T0, a_binding, a_station

from csms.domain.meter import normalize
from csms.domain.sessions import ChargingState, SessionState, StopReason, session_id
from csms.domain.station import ProtocolVersion
from csms.domain.tokens import IdToken, IdTokenType
from csms.ocpp.v16 import transactions as t16
from csms.ocpp.v201 import transactions as t201

V16, V201 = ProtocolVersion.OCPP16, ProtocolVersion.OCPP201
TOKEN = "04A2B3C4D5E6F7"
# The golden session runs 08:00-08:59; the CSMS hears of it afterwards.
LATER = T0 + timedelta(hours=1)
TX201 = "b7c3e1f0-5d2a-4f6e-9a1b-2c3d4e5f6a7b"
# Fields only one version can fill, or that name the transaction differently (see above).
VERSION_SPECIFIC = {
    "id",
    "transaction_id",
    "ocpp16_id",
    "protocol",
    "token_type",
    "charging_state",
    "charging_state_seq",
    "seq_no",
    "token_seq",
    "updated_at",
    "version",
}


def test_authorize_pair_presents_the_same_token() -> None:
    # GIVEN Authorize in both versions
    # WHEN the token is read from each
    old = golden.payload(V16, "authorize")["idTag"]
    new = t201.presented(golden.payload(V201, "authorize")["idToken"])
    # THEN the value is the same; only 2.0.1 says what kind of token it is
    assert new.value == old
    assert new.type is IdTokenType.ISO14443


@pytest.mark.parametrize(
    ("name", "read16", "read201"),
    [
        (
            "transaction_meter_values",
            lambda p: p["meterValue"],
            lambda p: p["meterValue"],
        ),
        ("meter_values_station", lambda p: p["meterValue"], lambda p: p["meterValue"]),
        ("transaction_ended", lambda p: p["transactionData"], lambda p: p["meterValue"]),
    ],
)
def test_meter_value_pairs_normalise_to_equal_readings(name: str, read16, read201) -> None:  # type: ignore[no-untyped-def]
    # GIVEN the same meter values in both versions' units (kWh/kW strings, Wh/W numbers with
    # multipliers)
    from csms.ocpp.common.mapping import readings

    old = readings(read16(golden.payload(V16, name)), t16.sampled_value)
    new = readings(read201(golden.payload(V201, name)), t201.sampled_value)
    # WHEN normalised to base units
    old_kept, old_anomalies = normalize(old, LATER)
    new_kept, new_anomalies = normalize(new, LATER)
    # THEN the readings are equal, sample by sample, and nothing was anomalous
    assert old_kept == new_kept
    assert old_kept
    assert old_anomalies == new_anomalies == []


def _replay(world: World, version: ProtocolVersion) -> list[list[Any]]:
    world.clock.at = LATER
    world.stations_repo.register(a_station())
    world.tokens.create("tenant-a", IdToken(id_token=TOKEN, group_id="fleet"), T0)
    # The 1.6 golden frames carry transactionId 1001: the counter's next number.
    world.sessions_repo.counter = 1000
    binding = a_binding(protocol=version, connection_id=f"conn-{version.value}")
    world.stations_repo.bind(binding)
    replies: list[list[Any]] = []
    for name in (
        "authorize",
        "transaction_started",
        "transaction_meter_values",
        "transaction_ended",
    ):
        frame = golden.frame(version, name)
        reply = world.dispatcher.handle(binding.connection_id, json.dumps(frame))
        assert reply is not None
        replies.append(json.loads(reply))
    return replies


def test_transaction_golden_sequences_give_equal_sessions(world: World) -> None:
    # GIVEN the same session told as golden frames by a 1.6 and a 2.0.1 station
    # WHEN each is replayed through the dispatcher
    old_replies = _replay(world, V16)
    new_replies = _replay(world, V201)
    old = world.sessions_repo.get(session_id("CP-1", "1001"))
    new = world.sessions_repo.get(session_id("CP-1", TX201))
    assert old is not None
    assert new is not None
    # THEN every CALL got a CALLRESULT, and the sessions are equal but for what only one
    # version says
    assert [r[0] for r in old_replies + new_replies] == [3] * 8
    assert old.model_dump(exclude=VERSION_SPECIFIC) == new.model_dump(exclude=VERSION_SPECIFIC)
    # AND those are as each version tells them
    assert (old.ocpp16_id, old.transaction_id, new.ocpp16_id, new.transaction_id) == (
        1001,
        "1001",
        None,
        TX201,
    )
    assert (old.token_type, new.token_type) == (None, IdTokenType.ISO14443)
    assert (old.charging_state, new.charging_state) == (None, ChargingState.EV_CONNECTED)
    # AND the shared facts are the golden ones
    assert new.state is SessionState.ENDED
    assert new.id_token == TOKEN
    assert new.group_id == "fleet"
    assert new.evse is not None
    assert (new.evse.evse_id, new.evse.connector_id) == (2, 1)
    assert new.energy_wh == Decimal(7400)
    assert new.stop_reason is StopReason.EV_DISCONNECTED
    assert new.anomalies == ()
