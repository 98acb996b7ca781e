"""Transaction routes of both versions, end to end through `world.dispatcher.handle`."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.conftest import World
from tests.fakes import T0, a_binding, a_station

from csms.domain.meter import AnomalyKind, Measurand
from csms.domain.sessions import (
    ChargingState,
    MeterMark,
    Session,
    SessionState,
    StopReason,
    session_id,
)
from csms.domain.station import ProtocolVersion
from csms.domain.tokens import IdToken, IdTokenType, TokenStatus
from csms.ocpp.common.frames import CALL_RESULT
from csms.ocpp.common.schemas import validate

V16 = ProtocolVersion.OCPP16
V201 = ProtocolVersion.OCPP201
SCHEMA_VERSION = {V16: "1.6", V201: "2.0.1"}


def ts(minutes: float = 0) -> str:
    moment = T0 + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def bound(world: World, protocol: ProtocolVersion, station_id: str = "CP-1") -> None:
    world.stations_repo.register(a_station(id=station_id))
    world.stations_repo.bind(
        a_binding(
            station_id=station_id,
            connection_id=f"conn-{station_id}",
            protocol=protocol,
            site_id="site-1",
        )
    )
    world.tokens.create(
        "tenant-a",
        IdToken(
            id_token="CARD-1",
            type=None if protocol is V16 else IdTokenType.ISO14443,
            expires_at=T0 + timedelta(days=365),
            group_id="fleet",
            parent_id_token="FLEET-MASTER",
        ),
        T0,
    )


def call(
    world: World, protocol: ProtocolVersion, unique_id: str, action: str, payload: dict[str, Any]
) -> Any:
    """Send a CALL and return the CALLRESULT payload, checked against the official schema."""
    raw = world.dispatcher.handle("conn-CP-1", json.dumps([2, unique_id, action, payload]))
    assert raw is not None
    reply = json.loads(raw)
    assert reply[:2] == [3, unique_id], reply
    validate(SCHEMA_VERSION[protocol], CALL_RESULT, action, reply[2])
    return reply[2]


def call_error(world: World, unique_id: str, action: str, payload: dict[str, Any]) -> str:
    """Send a CALL and return the CALLERROR's code."""
    raw = world.dispatcher.handle("conn-CP-1", json.dumps([2, unique_id, action, payload]))
    assert raw is not None
    reply = json.loads(raw)
    assert reply[:2] == [4, unique_id], reply
    assert reply[4] == {}
    code: str = reply[2]
    return code


def session_of(world: World, transaction_id: str) -> Session:
    session = world.sessions_repo.get(session_id("CP-1", transaction_id))
    assert session is not None
    return session


def sampled_16(value: str, measurand: str, unit: str, **more: str) -> dict[str, str]:
    return {"value": value, "measurand": measurand, "unit": unit, **more}


def sampled_201(value: float, measurand: str, unit: str, multiplier: int = 0) -> dict[str, Any]:
    return {
        "value": value,
        "measurand": measurand,
        "unitOfMeasure": {"unit": unit, "multiplier": multiplier},
    }


# -- 1.6 ---------------------------------------------------------------------------------------

START_16 = {"connectorId": 1, "idTag": "CARD-1", "meterStart": 1000, "timestamp": ts(0)}


def test_route_16_authorize_answers_id_tag_info(world: World) -> None:
    # GIVEN a 1.6 station and CARD-1 (expiring in a year, with a parent)
    bound(world, V16)
    # WHEN it sends Authorize
    reply = call(world, V16, "a-1", "Authorize", {"idTag": "card-1"})
    # THEN idTagInfo says Accepted, with expiry and parent
    assert reply == {
        "idTagInfo": {
            "status": "Accepted",
            "expiryDate": "2027-11-24T08:00:00.000Z",
            "parentIdTag": "FLEET-MASTER",
        }
    }


def test_route_16_authorize_unknown_tag_is_invalid(world: World) -> None:
    # GIVEN a 1.6 station
    bound(world, V16)
    # WHEN it presents an unknown tag of the full 20 characters
    reply = call(world, V16, "a-1", "Authorize", {"idTag": "X" * 20})
    # THEN it is Invalid
    assert reply == {"idTagInfo": {"status": "Invalid"}}


def test_route_16_authorize_blocked_tag(world: World) -> None:
    # GIVEN a blocked tag
    bound(world, V16)
    world.tokens.create("tenant-a", IdToken(id_token="LOST", status=TokenStatus.BLOCKED), T0)
    # WHEN / THEN Authorize says Blocked
    assert call(world, V16, "a-1", "Authorize", {"idTag": "LOST"}) == {
        "idTagInfo": {"status": "Blocked"}
    }


def test_route_16_id_tag_of_21_characters_is_property_constraint_violation(world: World) -> None:
    # GIVEN a 1.6 station
    bound(world, V16)
    # WHEN it sends an idTag longer than CiString20, in Authorize and StartTransaction
    # THEN each is a PropertyConstraintViolation and nothing is recorded
    assert call_error(world, "a-1", "Authorize", {"idTag": "X" * 21}) == (
        "PropertyConstraintViolation"
    )
    assert call_error(world, "s-1", "StartTransaction", {**START_16, "idTag": "X" * 21}) == (
        "PropertyConstraintViolation"
    )
    assert world.events.events == []
    assert world.sessions_repo.sessions == {}


def test_route_16_start_transaction_assigns_a_transaction_id(world: World) -> None:
    # GIVEN a 1.6 station
    bound(world, V16)
    # WHEN it starts two transactions
    first = call(world, V16, "s-1", "StartTransaction", {**START_16, "reservationId": 9})
    second = call(
        world,
        V16,
        "s-2",
        "StartTransaction",
        {"connectorId": 2, "idTag": "OTHER", "meterStart": 0, "timestamp": ts(1)},
    )
    # THEN they get transactionIds 1 and 2 with their idTagInfo
    assert first == {
        "transactionId": 1,
        "idTagInfo": {
            "status": "Accepted",
            "expiryDate": "2027-11-24T08:00:00.000Z",
            "parentIdTag": "FLEET-MASTER",
        },
    }
    assert second == {"transactionId": 2, "idTagInfo": {"status": "Invalid"}}
    # AND the session is recorded, version-neutral
    session = session_of(world, "1")
    assert session.evse is not None
    assert (session.evse.evse_id, session.evse.connector_id) == (1, 1)
    assert (session.id_token, session.group_id, session.reservation_id) == ("CARD-1", "fleet", 9)
    assert session.meter_start == MeterMark(wh=Decimal(1000), at=T0)
    assert session.site_id == "site-1"


def test_route_16_start_transaction_retransmitted_gets_the_same_reply(world: World) -> None:
    # GIVEN a started transaction
    bound(world, V16)
    first = call(world, V16, "s-1", "StartTransaction", START_16)
    # WHEN the same CALL comes again (same unique id), and again from the queue (new id)
    again = call(world, V16, "s-1", "StartTransaction", START_16)
    queued = call(world, V16, "s-9", "StartTransaction", START_16)
    # THEN the replies are the same and one session exists
    assert first == again == queued
    assert len(world.sessions_repo.sessions) == 1


def test_route_16_start_transaction_on_connector_0_is_property_constraint_violation(
    world: World,
) -> None:
    # GIVEN a 1.6 station
    bound(world, V16)
    # WHEN it starts a transaction on connector 0 (StartTransaction: connectorId "SHALL be > 0")
    code = call_error(world, "s-1", "StartTransaction", {**START_16, "connectorId": 0})
    # THEN the CALLERROR is PropertyConstraintViolation and nothing is recorded
    assert code == "PropertyConstraintViolation"
    assert world.sessions_repo.sessions == {}
    assert world.sessions_repo.counter == 0


def test_route_16_meter_values_with_transaction(world: World) -> None:
    # GIVEN a started transaction
    bound(world, V16)
    call(world, V16, "s-1", "StartTransaction", START_16)
    world.clock.at = T0 + timedelta(minutes=5, seconds=1)
    # WHEN the station sends a full meter value: register in kWh, power, currents per phase,
    # voltage, SoC, a temperature and a signed value
    payload = {
        "connectorId": 1,
        "transactionId": 1,
        "meterValue": [
            {
                "timestamp": ts(5),
                "sampledValue": [
                    sampled_16(
                        "2.5",
                        "Energy.Active.Import.Register",
                        "kWh",
                        context="Sample.Periodic",
                        format="Raw",
                        location="Outlet",
                    ),
                    sampled_16("7.4", "Power.Active.Import", "kW"),
                    sampled_16("10.5", "Current.Import", "A", phase="L1"),
                    sampled_16("10.5", "Current.Import", "A", phase="L2"),
                    sampled_16("11", "Current.Import", "A", phase="L3"),
                    sampled_16("231", "Voltage", "V", phase="L1"),
                    sampled_16("80", "SoC", "Percent", location="EV"),
                    sampled_16("35", "Temperature", "Celsius"),
                    {"value": "AB12CD", "format": "SignedData"},
                ],
            }
        ],
    }
    reply = call(world, V16, "m-1", "MeterValues", payload)
    # THEN the reply is empty
    assert reply == {}
    # AND the reading is kept in base units in a chunk, and the live totals run to it
    sid = session_id("CP-1", "1")
    [chunk] = world.sessions_repo.chunk_store[sid].values()
    [reading] = chunk.readings
    assert reading.energy_wh == Decimal(2500)
    assert reading.total(Measurand.POWER) == Decimal(7400)
    assert reading.total(Measurand.CURRENT) == Decimal(32)
    assert reading.total(Measurand.VOLTAGE) == Decimal(231)
    assert reading.total(Measurand.SOC) == Decimal(80)
    assert len(reading.samples) == 7
    totals = world.sessions.view("tenant-a", sid).totals
    assert (totals.energy_wh, totals.power_w, totals.soc) == (
        Decimal(1500),
        Decimal(7400),
        Decimal(80),
    )
    assert session_of(world, "1").anomalies == ()


def test_route_16_meter_values_without_transaction_on_connector_0(world: World) -> None:
    # GIVEN a 1.6 station
    bound(world, V16)
    # WHEN it sends its main meter on connector 0, outside any transaction (no unit: Wh)
    reply = call(
        world,
        V16,
        "m-1",
        "MeterValues",
        {
            "connectorId": 0,
            "meterValue": [{"timestamp": ts(0), "sampledValue": [{"value": "987654"}]}],
        },
    )
    # THEN it is accepted and kept with the station
    assert reply == {}
    [(_, station, evse, reading)] = world.sessions_repo.station_readings
    assert (station, evse.evse_id, evse.connector_id) == ("CP-1", 0, 0)
    assert reading.energy_wh == Decimal(987654)
    assert world.sessions_repo.sessions == {}


def test_route_16_meter_values_with_energy_in_amperes_is_accepted_with_anomaly(
    world: World,
) -> None:
    # GIVEN a started transaction
    bound(world, V16)
    call(world, V16, "s-1", "StartTransaction", START_16)
    # WHEN a meter value gives the energy register in A
    reply = call(
        world,
        V16,
        "m-1",
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": 1,
            "meterValue": [
                {
                    "timestamp": ts(0),
                    "sampledValue": [sampled_16("16", "Energy.Active.Import.Register", "A")],
                }
            ],
        },
    )
    # THEN the station hears {} (MeterValues.conf has nothing to refuse with)
    assert reply == {}
    # AND the anomaly is on the session, which stays consistent
    session = session_of(world, "1")
    [anomaly] = session.anomalies
    assert anomaly.kind is AnomalyKind.BAD_UNIT
    assert "Energy.Active.Import.Register=16 A" in anomaly.detail
    assert session.state is SessionState.ACTIVE
    assert session.meter_start == MeterMark(wh=Decimal(1000), at=T0)


def test_route_16_stop_transaction_with_transaction_data(world: World) -> None:
    # GIVEN a started transaction
    bound(world, V16)
    call(world, V16, "s-1", "StartTransaction", START_16)
    world.clock.at = T0 + timedelta(minutes=61)
    # WHEN it stops with the same card, a reason and its transaction data
    payload = {
        "transactionId": 1,
        "idTag": "CARD-1",
        "meterStop": 16400,
        "timestamp": ts(60),
        "reason": "EVDisconnected",
        "transactionData": [
            {
                "timestamp": ts(0),
                "sampledValue": [
                    sampled_16(
                        "1.000", "Energy.Active.Import.Register", "kWh", context="Transaction.Begin"
                    )
                ],
            },
            {
                "timestamp": ts(60),
                "sampledValue": [
                    sampled_16(
                        "16.4", "Energy.Active.Import.Register", "kWh", context="Transaction.End"
                    )
                ],
            },
        ],
    }
    reply = call(world, V16, "t-1", "StopTransaction", payload)
    # THEN idTagInfo accepts the card
    assert reply["idTagInfo"]["status"] == "Accepted"
    # AND the session ended with 15400 Wh over an hour
    session = session_of(world, "1")
    assert session.state is SessionState.ENDED
    assert session.stop_reason is StopReason.EV_DISCONNECTED
    assert session.energy_wh == Decimal(15400)
    assert session.duration == timedelta(hours=1)
    assert session.anomalies == ()
    # AND a retransmission gets the same reply and changes nothing
    writes = world.sessions_repo.writes
    assert call(world, V16, "t-1", "StopTransaction", payload) == reply
    assert world.sessions_repo.writes == writes


def test_route_16_stop_transaction_without_id_tag_answers_empty(world: World) -> None:
    # GIVEN a started transaction
    bound(world, V16)
    call(world, V16, "s-1", "StartTransaction", START_16)
    # WHEN it stops without idTag and reason (DeAuthorized is sent by some stations; none here)
    reply = call(
        world,
        V16,
        "t-1",
        "StopTransaction",
        {"transactionId": 1, "meterStop": 1200, "timestamp": ts(10)},
    )
    # THEN the reply is empty and the reason is Local (the 1.6 default)
    assert reply == {}
    session = session_of(world, "1")
    assert session.stop_reason is StopReason.LOCAL
    assert session.energy_wh == Decimal(200)


def test_route_16_stop_transaction_of_unknown_transaction(world: World) -> None:
    # GIVEN a 1.6 station whose StartTransaction never reached the CSMS
    bound(world, V16)
    world.clock.at = T0 + timedelta(minutes=31)
    # WHEN it stops transaction 4711 with its data
    reply = call(
        world,
        V16,
        "t-1",
        "StopTransaction",
        {
            "transactionId": 4711,
            "meterStop": 3000,
            "timestamp": ts(30),
            "reason": "Local",
            "transactionData": [
                {
                    "timestamp": ts(0),
                    "sampledValue": [
                        sampled_16(
                            "500",
                            "Energy.Active.Import.Register",
                            "Wh",
                            context="Transaction.Begin",
                        )
                    ],
                }
            ],
        },
    )
    # THEN it is accepted, and an ended session records what is known and what was missing
    assert reply == {}
    session = session_of(world, "4711")
    assert session.state is SessionState.ENDED
    assert session.ocpp16_id == 4711
    assert session.energy_wh == Decimal(2500)
    assert [a.kind for a in session.anomalies] == [AnomalyKind.START_MISSING]


# -- 2.0.1 -------------------------------------------------------------------------------------

ID_TOKEN = {"idToken": "CARD-1", "type": "ISO14443"}


def tx_event(kind: str, seq_no: int, minutes: float, **over: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": kind,
        "timestamp": ts(minutes),
        "triggerReason": "MeterValuePeriodic",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "TX-201"},
    }
    payload.update(over)
    return payload


def meter_value_201(minutes: float, *sampled: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"timestamp": ts(minutes), "sampledValue": list(sampled)}]


STARTED_201 = tx_event(
    "Started",
    0,
    0,
    triggerReason="Authorized",
    idToken=ID_TOKEN,
    evse={"id": 1, "connectorId": 1},
    transactionInfo={"transactionId": "TX-201", "chargingState": "Charging", "remoteStartId": 7},
    meterValue=meter_value_201(0, sampled_201(1000, "Energy.Active.Import.Register", "Wh")),
)
UPDATED_201 = tx_event(
    "Updated",
    1,
    10,
    transactionInfo={"transactionId": "TX-201", "chargingState": "Charging"},
    meterValue=meter_value_201(
        10,
        sampled_201(2.5, "Energy.Active.Import.Register", "kWh"),
        sampled_201(7.4, "Power.Active.Import", "kW"),
        sampled_201(55, "SoC", "Percent"),
    ),
)
ENDED_201 = tx_event(
    "Ended",
    2,
    20,
    triggerReason="EVCommunicationLost",
    transactionInfo={
        "transactionId": "TX-201",
        "chargingState": "EVConnected",
        "stoppedReason": "EVDisconnected",
    },
    meterValue=meter_value_201(20, sampled_201(5, "Energy.Active.Import.Register", "Wh", 3)),
)


def test_route_201_authorize_answers_id_token_info(world: World) -> None:
    # GIVEN a 2.0.1 station and CARD-1 (ISO14443, with expiry and a parent)
    bound(world, V201)
    # WHEN it sends Authorize
    reply = call(world, V201, "a-1", "Authorize", {"idToken": ID_TOKEN})
    # THEN idTokenInfo says Accepted, with the cache expiry and the group token
    assert reply == {
        "idTokenInfo": {
            "status": "Accepted",
            "cacheExpiryDateTime": "2027-11-24T08:00:00.000Z",
            "groupIdToken": {"idToken": "FLEET-MASTER", "type": "Central"},
        }
    }


def test_route_201_authorize_wrong_type_and_no_authorization(world: World) -> None:
    # GIVEN a 2.0.1 station and CARD-1 stored as ISO14443
    bound(world, V201)
    # WHEN CARD-1 comes as an eMAID, and a NoAuthorization token comes
    wrong_type = call(
        world, V201, "a-1", "Authorize", {"idToken": {"idToken": "CARD-1", "type": "eMAID"}}
    )
    free = call(
        world, V201, "a-2", "Authorize", {"idToken": {"idToken": "", "type": "NoAuthorization"}}
    )
    # THEN the first is Invalid, the second Accepted
    assert wrong_type == {"idTokenInfo": {"status": "Invalid"}}
    assert free == {"idTokenInfo": {"status": "Accepted"}}


def test_route_201_id_token_of_37_characters_is_property_constraint_violation(
    world: World,
) -> None:
    # GIVEN a 2.0.1 station
    bound(world, V201)
    # WHEN it sends an idToken longer than CiString36
    code = call_error(
        world, "a-1", "Authorize", {"idToken": {"idToken": "X" * 37, "type": "ISO14443"}}
    )
    # THEN it is a PropertyConstraintViolation
    assert code == "PropertyConstraintViolation"


def test_route_201_transaction_events_started_updated_ended(world: World) -> None:
    # GIVEN a 2.0.1 station
    bound(world, V201)
    world.clock.at = T0 + timedelta(minutes=21)
    # WHEN it sends Started, Updated and Ended
    started = call(world, V201, "e-0", "TransactionEvent", STARTED_201)
    updated = call(world, V201, "e-1", "TransactionEvent", UPDATED_201)
    ended = call(world, V201, "e-2", "TransactionEvent", ENDED_201)
    # THEN Started (with a token) gets idTokenInfo, the others an empty response
    assert started["idTokenInfo"]["status"] == "Accepted"
    assert updated == ended == {}
    # AND the session holds what the events said, in base units
    session = session_of(world, "TX-201")
    assert session.protocol is ProtocolVersion.OCPP201
    assert session.state is SessionState.ENDED
    assert (session.id_token, session.token_type) == ("CARD-1", IdTokenType.ISO14443)
    assert (session.remote_start_id, session.group_id) == (7, "fleet")
    assert session.meter_start == MeterMark(wh=Decimal(1000), at=T0)
    assert session.meter_last == MeterMark(wh=Decimal(5000), at=T0 + timedelta(minutes=20))
    assert session.energy_wh == Decimal(4000)
    assert session.charging_state is ChargingState.EV_CONNECTED
    assert session.stop_reason is StopReason.EV_DISCONNECTED
    assert session.soc == Decimal(55)
    assert session.ocpp16_id is None
    # AND the Updated's power was read exactly (7.4 kW -> 7400 W)
    chunks = world.sessions_repo.chunk_store[session.id]
    assert chunks["0000000001"].latest(Measurand.POWER) == Decimal(7400)


def test_route_201_transaction_event_retransmitted_changes_nothing(world: World) -> None:
    # GIVEN the three events applied
    bound(world, V201)
    world.clock.at = T0 + timedelta(minutes=21)
    replies = [
        call(world, V201, f"e-{n}", "TransactionEvent", payload)
        for n, payload in enumerate((STARTED_201, UPDATED_201, ENDED_201))
    ]
    writes, published = world.sessions_repo.writes, len(world.events.events)
    # WHEN each is sent again, with its unique id and from the offline queue with a new one
    again = [
        call(world, V201, f"e-{n}", "TransactionEvent", payload)
        for n, payload in enumerate((STARTED_201, UPDATED_201, ENDED_201))
    ]
    queued = call(world, V201, "q-2", "TransactionEvent", {**ENDED_201, "offline": True})
    # THEN the replies are the same and nothing is written or published
    assert again == replies
    assert queued == {}
    assert (world.sessions_repo.writes, len(world.events.events)) == (writes, published)


def test_route_201_transaction_event_evse_id_out_of_range(world: World) -> None:
    # GIVEN a 2.0.1 station
    bound(world, V201)
    # WHEN a TransactionEvent names EVSE 100000
    code = call_error(world, "e-0", "TransactionEvent", {**STARTED_201, "evse": {"id": 100000}})
    # THEN it is a PropertyConstraintViolation and nothing is recorded
    assert code == "PropertyConstraintViolation"
    assert world.sessions_repo.sessions == {}


def test_route_201_transaction_event_evse_without_connector_is_connector_1(world: World) -> None:
    # GIVEN a 2.0.1 station
    bound(world, V201)
    # WHEN a Started names EVSE 2 without connector
    call(world, V201, "e-0", "TransactionEvent", {**STARTED_201, "evse": {"id": 2}})
    # THEN the session is on EVSE 2, connector 1
    evse = session_of(world, "TX-201").evse
    assert evse is not None
    assert (evse.evse_id, evse.connector_id) == (2, 1)


def test_route_201_meter_values_outside_transactions(world: World) -> None:
    # GIVEN a 2.0.1 station
    bound(world, V201)
    # WHEN it sends the station's main meter (EVSE 0) and EVSE 1's meter
    main = call(
        world,
        V201,
        "m-1",
        "MeterValues",
        {
            "evseId": 0,
            "meterValue": meter_value_201(
                0, sampled_201(1234.5, "Energy.Active.Import.Register", "kWh")
            ),
        },
    )
    evse1 = call(
        world,
        V201,
        "m-2",
        "MeterValues",
        {"evseId": 1, "meterValue": meter_value_201(0, sampled_201(230, "Voltage", "V"))},
    )
    # THEN both are accepted and kept with the station, in base units
    assert main == evse1 == {}
    kept = [
        (evse.evse_id, evse.connector_id, r)
        for _, _, evse, r in world.sessions_repo.station_readings
    ]
    assert [(e, c) for e, c, _ in kept] == [(0, 0), (1, 1)]
    assert kept[0][2].energy_wh == Decimal(1234500)
    assert kept[1][2].total(Measurand.VOLTAGE) == Decimal(230)


def test_route_201_meter_values_evse_id_out_of_range(world: World) -> None:
    # GIVEN a 2.0.1 station
    bound(world, V201)
    # WHEN it sends MeterValues for EVSE 100000
    code = call_error(
        world,
        "m-1",
        "MeterValues",
        {"evseId": 100000, "meterValue": meter_value_201(0, sampled_201(1, "Voltage", "V"))},
    )
    # THEN it is a PropertyConstraintViolation
    assert code == "PropertyConstraintViolation"


def test_route_201_energy_with_wrong_unit_is_accepted_with_anomaly(world: World) -> None:
    # GIVEN a started 2.0.1 transaction
    bound(world, V201)
    world.clock.at = T0 + timedelta(minutes=6)
    call(world, V201, "e-0", "TransactionEvent", STARTED_201)
    # WHEN an Updated gives the energy register in A
    reply = call(
        world,
        V201,
        "e-1",
        "TransactionEvent",
        tx_event(
            "Updated",
            1,
            5,
            meterValue=meter_value_201(5, sampled_201(16, "Energy.Active.Import.Register", "A")),
        ),
    )
    # THEN it is accepted, and the anomaly is on the session
    assert reply == {}
    session = session_of(world, "TX-201")
    assert [a.kind for a in session.anomalies] == [AnomalyKind.BAD_UNIT]
    assert session.meter_start == MeterMark(wh=Decimal(1000), at=T0)


@pytest.mark.parametrize("protocol", [V16, V201], ids=["1.6", "2.0.1"])
def test_route_authorize_is_published_once_per_unique_id(
    world: World, protocol: ProtocolVersion
) -> None:
    # GIVEN a bound station
    bound(world, protocol)
    payload = {"idTag": "CARD-1"} if protocol is V16 else {"idToken": ID_TOKEN}
    # WHEN it sends Authorize twice under one unique id
    first = call(world, protocol, "a-1", "Authorize", payload)
    again = call(world, protocol, "a-1", "Authorize", payload)
    # THEN the replies are equal and TokenAuthorized is published once
    assert first == again
    assert [e.detail_type for e in world.events.events] == ["TokenAuthorized"]
