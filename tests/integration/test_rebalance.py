"""The rebalance flow on moto: a session starts, its event reaches the rebalance, a profile goes.

The stations, sessions, commands and the bus are the real adapters on the emulated table and
bus, built from the synthesized template; the event is the one the outbox relay published.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from tests.integration.conftest import Ctx, connect_event, message_event
from tests.integration.test_api import call_api
from tests.integration.test_api_commands import frames as frames  # noqa: PLC0414 - the fixture
from tests.unit.services.test_rebalance import Loads

from csms.domain.load.config import SiteLoadConfig, StationLoad
from csms.domain.seed import Seed
from csms.handlers import _runtime, evt_rebalance, sched_rebalance, ws_connect, ws_message
from csms.services.ports import ManagedSite
from csms.settings import RebalanceSettings, load_settings
from csms_local import emulation

SITE = "site-1"
STARTED_AT = "2026-11-24T08:00:00Z"
Frames = list[tuple[str, list[Any]]]


@pytest.fixture
def loads() -> Loads:
    """The site's load store: an 11 kW limit shared by two 11 kW stations."""
    return Loads(
        config=SiteLoadConfig(
            site_id=SITE,
            limit_kw=11,
            stations=(
                StationLoad(station_id="CP-201", max_kw=11),
                StationLoad(station_id="CP-16", max_kw=11),
            ),
        )
    )


@pytest.fixture
def rebalance(
    aws: emulation.EmulatedResources,
    frames: Frames,
    loads: Loads,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both handlers on the emulation, with the load store above."""
    del aws, frames
    _runtime.reset()
    built = _runtime.build_rebalancer(load_settings(RebalanceSettings), loads=loads)
    monkeypatch.setattr(evt_rebalance, "rebalancer", lambda: built)
    monkeypatch.setattr(sched_rebalance, "rebalancer", lambda: built)


def _says(connection_id: str, frame: list[Any]) -> Any:
    result = ws_message.lambda_handler(message_event(connection_id, json.dumps(frame)), Ctx())
    return json.loads(result["body"]) if result.get("body") else None


def _online(station_id: str, protocol: str) -> str:
    """The station registered at the site, connected and booted; its connection id."""
    runtime = _runtime.gateway()
    runtime.seeds.load(
        "default",
        Seed.model_validate(
            {
                "sites": [{"id": SITE, "name": "Depot", "limitKw": 11}],
                "stations": [
                    {
                        "id": station_id,
                        "siteId": SITE,
                        "password": "integration-pass-1",
                        "protocol": protocol,
                    }
                ],
                "tokens": [{"idToken": "TAG-1", "status": "Accepted"}],
            }
        ),
    )
    connection_id = f"conn-{station_id}"
    event = connect_event(station_id, connection_id, protocols=protocol)
    assert ws_connect.lambda_handler(event, Ctx())["statusCode"] == 200
    boot: dict[str, Any]
    if protocol == "ocpp1.6":
        boot = {"chargePointVendor": "V", "chargePointModel": "M"}
    else:
        boot = {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}
    _says(connection_id, [2, "boot", "BootNotification", boot])
    return connection_id


def _published(aws: emulation.EmulatedResources) -> Callable[[], list[dict[str, Any]]]:
    pump = emulation.OutboxPump(aws.table_name)

    def drain() -> list[dict[str, Any]]:
        pump.pump()
        return emulation.drain_events(aws.events_queue_url)

    return drain


def _of_type(events: list[dict[str, Any]], detail_type: str) -> dict[str, Any]:
    [event] = [e for e in events if e["detail-type"] == detail_type]
    return event


def _profiles(frames: Frames, connection_id: str) -> list[dict[str, Any]]:
    return [
        call[3]
        for conn, call in frames
        if conn == connection_id and call[0] == 2 and call[2] == "SetChargingProfile"
    ]


def test_rebalance_201_transaction_started_sends_a_tx_profile_to_the_evse(
    aws: emulation.EmulatedResources, rebalance: None, frames: Frames
) -> None:
    # GIVEN a 2.0.1 station of the site, connected
    published = _published(aws)
    conn = _online("CP-201", "ocpp2.0.1")
    published()
    # WHEN a transaction starts on EVSE 1 and its TransactionStarted reaches the rebalance
    started = {
        "eventType": "Started",
        "timestamp": STARTED_AT,
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "TX-201", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "TAG-1", "type": "ISO14443"},
    }
    _says(conn, [2, "t0", "TransactionEvent", started])
    event = _of_type(published(), "TransactionStarted")
    result = evt_rebalance.lambda_handler(event, Ctx("rebalance"))
    # THEN the event named the site, and the station got a TxProfile for TX-201 in amperes
    assert event["detail"]["data"]["site_id"] == SITE
    assert result["rebalanced"] is True
    assert result["sent"] == ["CP-201/1"]
    [payload] = _profiles(frames, conn)
    assert payload["evseId"] == 1
    profile = payload["chargingProfile"]
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["transactionId"] == "TX-201"
    [schedule] = profile["chargingSchedule"]
    assert schedule["chargingRateUnit"] == "A"
    [period] = schedule["chargingSchedulePeriod"]
    assert period["numberPhases"] == 3
    assert 6 <= period["limit"] <= 11_000 / (230 * 3)


def test_rebalance_16_start_routed_from_the_template_rule_sends_a_tx_profile(
    aws: emulation.EmulatedResources,
    rebalance: None,
    frames: Frames,
    template: dict[str, Any],
) -> None:
    # GIVEN a 1.6 station of the site, connected, and the template's rules routed locally
    router = emulation.EventRouter(emulation.event_rules(template), aws.routing_queue_url)
    pump = emulation.OutboxPump(aws.table_name)
    conn = _online("CP-16", "ocpp1.6")
    pump.pump()
    router.route()
    frames.clear()
    # WHEN it starts a transaction and the outbox relay publishes its event
    start = {"connectorId": 1, "idTag": "TAG-1", "meterStart": 0, "timestamp": STARTED_AT}
    reply = _says(conn, [2, "s1", "StartTransaction", start])
    pump.pump()
    ran: list[str] = []
    for event in emulation.drain_events(aws.routing_queue_url):
        ran += [rule.handler for rule in router.rules if rule.matches(event)]
        router.deliver(event)
    # THEN the rebalance rule ran (besides others that listen to TransactionStarted: billing's
    # pre-authorisation, partner webhooks) and the station got a 1.6 TxProfile naming its
    # transaction
    assert "csms.handlers.evt_rebalance.lambda_handler" in ran
    [payload] = _profiles(frames, conn)
    assert payload["connectorId"] == 1
    profile = payload["csChargingProfiles"]
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["transactionId"] == reply[2]["transactionId"]
    assert profile["chargingSchedule"]["chargingRateUnit"] == "A"


def test_rebalance_schedule_fans_out_one_request_per_managed_site(
    aws: emulation.EmulatedResources, rebalance: None, loads: Loads, frames: Frames
) -> None:
    # GIVEN 12 managed sites (more than one PutEvents batch) and a session at one of them
    loads.sites = [ManagedSite("default", SITE)] + [
        ManagedSite("other", f"site-{n:02}") for n in range(11)
    ]
    conn = _online("CP-201", "ocpp2.0.1")
    started = {
        "eventType": "Started",
        "timestamp": STARTED_AT,
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "TX-9", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
    }
    _says(conn, [2, "t0", "TransactionEvent", started])
    emulation.drain_events(aws.events_queue_url)
    # WHEN the schedule runs
    result = sched_rebalance.lambda_handler({"detail-type": "Scheduled Event"}, Ctx("schedule"))
    # THEN one RebalanceRequested per site is on the bus, naming tenant and site
    requests = [
        e for e in emulation.drain_events(aws.events_queue_url) if e["source"] == "csms.load"
    ]
    assert result == {"requested": 12, "failed": 0}
    assert sorted(
        (e["detail"]["data"]["tenant_id"], e["detail"]["data"]["site_id"]) for e in requests
    ) == sorted((s.tenant_id, s.site_id) for s in loads.sites)
    assert {e["detail-type"] for e in requests} == {"RebalanceRequested"}
    # AND the request for the site with the session rebalances it (found without a trigger)
    mine = next(e for e in requests if e["detail"]["data"]["site_id"] == SITE)
    outcome = evt_rebalance.lambda_handler(mine, Ctx("rebalance"))
    assert outcome["sent"] == ["CP-201/1"]
    assert len(_profiles(frames, conn)) == 1


def test_rebalance_event_without_tenant_or_site_changes_nothing(
    aws: emulation.EmulatedResources, rebalance: None, loads: Loads
) -> None:
    # GIVEN events that name no tenant, or a station with no site
    no_tenant = {"detail-type": "LoadChanged", "detail": {"data": {"site_id": SITE}}}
    no_site = {
        "detail-type": "TransactionStarted",
        "detail": {"metadata": {"tenant_id": "default", "station_id": "CP-GONE"}, "data": {}},
    }
    # WHEN they reach the rebalance
    results = [evt_rebalance.lambda_handler(e, Ctx("rebalance")) for e in (no_tenant, no_site)]
    # THEN nothing is rebalanced or stored
    assert [r["rebalanced"] for r in results] == [False, False]
    assert loads.puts == 0
    del aws


def test_rebalance_puts_requests_on_the_emulated_bus_with_the_envelope(
    aws: emulation.EmulatedResources,
) -> None:
    # GIVEN one entry built for a site
    entry = sched_rebalance.request_entry(
        ManagedSite("t1", "s1"), aws.event_bus_name, "e-1", datetime(2026, 11, 24, tzinfo=UTC)
    )
    # WHEN put on the bus
    client: Any = boto3.client("events", region_name=emulation.REGION)
    client.put_events(Entries=[entry])
    # THEN it arrives in the `{metadata, data}` envelope of every CSMS event
    [event] = emulation.drain_events(aws.events_queue_url)
    assert event["source"] == "csms.load"
    assert event["detail"]["metadata"]["tenant_id"] == "t1"
    assert event["detail"]["data"] == {"tenant_id": "t1", "site_id": "s1", "reason": "periodic"}


@pytest.fixture
def dynamo_rebalance(
    aws: emulation.EmulatedResources, frames: Frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rebalance handler on the emulation with the real load store (DynamoDB)."""
    del aws, frames
    _runtime.reset()
    built = _runtime.build_rebalancer(load_settings(RebalanceSettings))
    monkeypatch.setattr(evt_rebalance, "rebalancer", lambda: built)


def _calls(frames: Frames, connection_id: str, action: str) -> list[list[Any]]:
    return [c for conn, c in frames if conn == connection_id and c[0] == 2 and c[2] == action]


def test_rebalance_load_view_and_turning_load_management_off_on_dynamodb(
    aws: emulation.EmulatedResources, dynamo_rebalance: None, frames: Frames
) -> None:
    # GIVEN a 2.0.1 station of the site charging under load management set through the API,
    # its TxProfile sent by the rebalance of TransactionStarted
    published = _published(aws)
    conn = _online("CP-201", "ocpp2.0.1")
    config = {"limitKw": 11, "stations": [{"stationId": "CP-201", "maxKw": 22}]}
    status, _, _ = call_api("PUT", f"/v1/sites/{SITE}/load-config", body=config)
    assert status == 201
    published()
    started = {
        "eventType": "Started",
        "timestamp": STARTED_AT,
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "TX-OFF", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "TAG-1", "type": "ISO14443"},
    }
    _says(conn, [2, "t0", "TransactionEvent", started])
    evt_rebalance.lambda_handler(_of_type(published(), "TransactionStarted"), Ctx("rebalance"))
    [profile] = _calls(frames, conn, "SetChargingProfile")
    # WHEN the station accepts it, and the load view is read before any other rebalance
    _says(conn, [3, profile[1], {"status": "Accepted"}])
    status, _, load = call_api("GET", f"/v1/sites/{SITE}/load")
    # THEN the view shows the profile accepted, not pending
    assert status == 200, load
    [evse] = [c for c in load["connectors"] if c["sessionId"]]
    assert evse["delivery"]["state"] == "accepted"
    assert evse["delivery"]["accepted"] is True
    # WHEN load management is turned off and its LoadChanged reaches the rebalance
    status, _, _ = call_api("DELETE", f"/v1/sites/{SITE}/load-config")
    assert status == 204
    changed = _of_type(published(), "LoadChanged")
    result = evt_rebalance.lambda_handler(changed, Ctx("rebalance"))
    # THEN the TxProfile is cleared by its id, so the station is no longer throttled
    assert result["rebalanced"] is False
    assert result["cleared"] == ["CP-201/1"]
    [clear] = _calls(frames, conn, "ClearChargingProfile")
    assert clear[3] == {"chargingProfileId": profile[3]["chargingProfile"]["id"]}
    # AND the allocation is gone, so the same event once more clears nothing
    assert _runtime.api().load_repository.state("default", SITE).allocation is None
    again = evt_rebalance.lambda_handler(changed, Ctx("rebalance"))
    assert again["cleared"] == []
    assert len(_calls(frames, conn, "ClearChargingProfile")) == 1


def test_rebalance_gives_a_new_session_its_vehicles_usual_departure_on_dynamodb(
    aws: emulation.EmulatedResources, dynamo_rebalance: None, frames: Frames
) -> None:
    # GIVEN a fleet van with a usual departure (17:30 every day, site time UTC), a charging
    # priority and its RFID card, made through the API, and a managed site
    published = _published(aws)
    conn = _online("CP-201", "ocpp2.0.1")
    group = {"id": "vans", "kind": "fleet", "name": "Vans"}
    assert call_api("POST", "/v1/groups", body=group)[0] == 201
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    van = {
        "id": "van-7",
        "name": "Van 7",
        "groupId": "vans",
        "batteryKwh": 75,
        "idTokens": ["TAG-VAN-7"],
        "departure": {"time": "17:30", "days": days},
        "chargingPriority": 8,
    }
    status, _, body = call_api("POST", "/v1/vehicles", body=van)
    assert status == 201, body
    config = {"limitKw": 11, "stations": [{"stationId": "CP-201", "maxKw": 22}]}
    assert call_api("PUT", f"/v1/sites/{SITE}/load-config", body=config)[0] == 201
    published()
    # WHEN the van's card starts a transaction and its TransactionStarted is rebalanced
    started = {
        "eventType": "Started",
        "timestamp": STARTED_AT,
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "TX-VAN", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "TAG-VAN-7", "type": "ISO14443"},
    }
    _says(conn, [2, "t0", "TransactionEvent", started])
    evt_rebalance.lambda_handler(_of_type(published(), "TransactionStarted"), Ctx("rebalance"))
    # THEN the session's needs on DynamoDB are the van's: the next 17:30 (the rebalance runs
    # on the real clock), priority 8
    state = _runtime.api().load_repository.state("default", SITE)
    [needs] = state.needs.values()
    assert needs.departure is not None
    assert (needs.departure.hour, needs.departure.minute) == (17, 30)
    assert timedelta(0) < needs.departure - datetime.now(UTC) <= timedelta(days=1)
    assert (needs.priority, needs.source.value) == (8, "usual-departure")
    assert len(_calls(frames, conn, "SetChargingProfile")) == 1
