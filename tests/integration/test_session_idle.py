"""Idle fees on moto: charging states through the WebSocket handler, then priced and billed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.integration.conftest import Ctx, connect_event, message_event, seed_station
from tests.integration.test_api import call_api

from csms.adapters.dynamo_tariffs import DynamoTariffRepository
from csms.domain.billing.assignment import TariffAssignment
from csms.domain.billing.tariff import Tariff
from csms.domain.seed import Seed
from csms.domain.sessions import ChargingState, session_id
from csms.handlers import _runtime, ws_connect, ws_message
from csms.services.tariffs import TariffVersion

T = "default"
OWNER = {"sub": "owner-1", "tenant_id": T, "role": "owner"}
# Recent enough for the meter time window, whatever day the tests run.
START = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)


def at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _send(frame: list[Any]) -> list[Any]:
    result = ws_message.lambda_handler(message_event("conn-1", json.dumps(frame)), Ctx())
    reply: list[Any] = json.loads(result["body"])
    return reply


def _world(runtime: _runtime.Runtime, protocol: str) -> None:
    """CP-1 at site-1, connected; site-1's tariff: 0.50 EUR/kWh, idle 0.10 EUR/min after 10."""
    seed_station(runtime, protocol=protocol)
    runtime.seeds.load(T, Seed.model_validate({"tokens": [{"idToken": "TAG-1"}]}))
    tariff = Tariff.model_validate(
        {
            "id": "public",
            "version": 1,
            "name": "Public",
            "currency": "EUR",
            "prices": {"energyPerKwh": "0.50"},
            "idleFee": {"rate": {"amount": "0.10", "per": "minute"}, "graceMinutes": 10},
        }
    )
    tariffs = DynamoTariffRepository()
    assert tariffs.create_tariff(T, TariffVersion(tariff, START - timedelta(days=1)))
    assert tariffs.create_assignment(T, TariffAssignment(tariff_id="public", site_id="site-1"))
    connected = ws_connect.lambda_handler(connect_event("CP-1", protocols=protocol), Ctx())
    assert connected["statusCode"] == 200


def _price(sid: str) -> dict[str, Any]:
    """The session's price as the API answers it (final once ended)."""
    status, _, body = call_api("GET", f"/v1/sessions/{sid}/price", claims=OWNER)
    assert status == 200, body
    price: dict[str, Any] = body["price"]
    return price


def event(seq: int, kind: str, minutes: int, wh: int, state: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {"transactionId": "TX-I"}
    if state is not None:
        info["chargingState"] = state
    body: dict[str, Any] = {
        "eventType": kind,
        "timestamp": at(minutes),
        "triggerReason": "ChargingStateChanged" if state else "MeterValuePeriodic",
        "seqNo": seq,
        "transactionInfo": info,
        "meterValue": [{"timestamp": at(minutes), "sampledValue": [{"value": wh}]}],
    }
    if kind == "Started":
        body["evse"] = {"id": 1, "connectorId": 1}
        body["idToken"] = {"idToken": "TAG-1", "type": "ISO14443"}
    if kind == "Ended":
        body["triggerReason"] = "StopAuthorized"
        info["stoppedReason"] = "Local"
    return body


def test_session_201_suspended_ev_until_the_end_is_priced_and_billed_with_an_idle_fee(
    runtime: _runtime.Runtime,
) -> None:
    # GIVEN site-1's tariff: 0.50 EUR/kWh and 0.10 EUR a minute idle after 10 free minutes
    _world(runtime, "ocpp2.0.1")
    # WHEN the station charges 8 kWh in 30 minutes, reports SuspendedEV (the EV is full), and
    # ends the transaction an hour later, the events arriving out of order
    frames = {
        0: event(0, "Started", 0, 0, "Charging"),
        1: event(1, "Updated", 30, 8000, "SuspendedEV"),
        2: event(2, "Updated", 60, 8000, None),
        3: event(3, "Ended", 90, 8000, "EVConnected"),
    }
    for seq in (0, 2, 3, 1):
        assert _send([2, f"te-{seq}", "TransactionEvent", frames[seq]])[0] == 3
    sid = session_id("CP-1", "TX-I")
    # THEN each state is kept with its event's chunk
    chunks = runtime.sessions.chunks(T, sid, 10).items
    assert [c.charging_state for c in chunks] == [
        ChargingState.CHARGING,
        ChargingState.SUSPENDED_EV,
        None,
        ChargingState.EV_CONNECTED,
    ]
    # AND the final price has 60 idle minutes, 50 billed: 4.00 energy + 5.00 idle
    price = _price(sid)
    assert (price["idleMinutes"], price["billedIdleMinutes"]) == ("60", "50")
    assert Decimal(price["totalInclTax"]) == Decimal("9.00")
    # AND billing prices the same idle fee into the CDR
    billed = _runtime.billing_service().bill_session(T, sid, START + timedelta(hours=2))
    cdr = next(c for c in _runtime.billing().repository.list_cdrs(T, 10).items)
    assert cdr.id == billed.cdr_id
    assert cdr.total_parking_cost.incl_vat == Decimal("5.00")
    assert cdr.total_cost.incl_vat == Decimal("9.00")


def _status(n: int, minutes: int, status: str) -> list[Any]:
    body = {"connectorId": 1, "errorCode": "NoError", "status": status, "timestamp": at(minutes)}
    return [2, f"sn-{n}", "StatusNotification", body]


def _meter(n: int, tx: int, minutes: int, wh: int) -> list[Any]:
    value = [{"timestamp": at(minutes), "sampledValue": [{"value": str(wh)}]}]
    body = {"connectorId": 1, "transactionId": tx, "meterValue": value}
    return [2, f"mv-{n}", "MeterValues", body]


def test_session_16_status_suspended_ev_is_kept_and_priced_as_idle(
    runtime: _runtime.Runtime,
) -> None:
    # GIVEN a 1.6 station at site-1 under the idle-fee tariff, a transaction started on it
    _world(runtime, "ocpp1.6")
    start = {"connectorId": 1, "idTag": "TAG-1", "meterStart": 1000, "timestamp": at(0)}
    tx = _send([2, "s-1", "StartTransaction", start])[2]["transactionId"]
    sid = session_id("CP-1", str(tx))
    # WHEN it reports Charging, 4 kWh by 20 minutes, SuspendedEV at 25 (the EV is full) and
    # the same register until the stop at 85, then Finishing
    frames = [
        _status(1, 1, "Charging"),
        _meter(1, tx, 10, 3000),
        _meter(2, tx, 20, 5000),
        _status(2, 25, "SuspendedEV"),
        _status(3, 26, "SuspendedEV"),  # a repeat changes nothing
        _meter(3, tx, 40, 5000),
    ]
    for frame in frames:
        assert _send(frame)[0] == 3
    live = _price(sid)
    view = runtime.sessions.view(T, sid)
    stop = {"transactionId": tx, "idTag": "TAG-1", "meterStop": 5000, "timestamp": at(85)}
    assert _send([2, "e-1", "StopTransaction", stop])[0] == 3
    assert _send(_status(4, 86, "Finishing"))[0] == 3
    # THEN the two state changes were kept with the session, before its meter chunks, and the
    # live figures still come from the newest meter reading
    chunks = runtime.sessions.chunks(T, sid, 20).items
    assert [c.charging_state for c in chunks[:2]] == [
        ChargingState.CHARGING,
        ChargingState.SUSPENDED_EV,
    ]
    assert all(c.charging_state is None for c in chunks[2:])
    assert view.totals.energy_wh == Decimal(4000)
    # AND the live price already showed the idle time so far
    assert Decimal(live["idleMinutes"]) > 0
    # AND the final price counts idle from SuspendedEV to the stop: 60 minutes, 50 billed
    final = _price(sid)
    assert (final["idleMinutes"], final["billedIdleMinutes"]) == ("60", "50")
    assert Decimal(final["totalInclTax"]) == Decimal("7.00")
