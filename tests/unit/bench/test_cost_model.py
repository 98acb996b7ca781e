"""The cost model's pure parts: prices and metering, the month's profile, the bill, the report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench_aws import event_entry_size, outbox_events
from bench_env import meter_samples, meter_values_payload_16, transaction_event_payload
from bench_report import target_text, target_verdict
from cost.pricing import (
    GB,
    LAMBDA_PLATFORM_LOG_BYTES,
    LINES,
    FunctionUsage,
    Prices,
    Usage,
    bill,
    billed_ms,
    event_units,
    gb_seconds,
    shares,
    total,
    ws_message_units,
)
from cost.profile import Kind, Profile, Step, counts, label, month, session_start
from cost.report import TARGET_USD, dominant, render_markdown, scaled, station_result, verdict


# -- metering --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "units"),
    [(0, 1), (1, 1), (32 * 1024, 1), (32 * 1024 + 1, 2), (100 * 1024, 4), (128 * 1024, 4)],
)
def test_ws_message_units_are_32_kb_increments(size: int, units: int) -> None:
    assert ws_message_units(size) == units


@pytest.mark.parametrize(("size", "units"), [(0, 1), (65_536, 1), (65_537, 2), (200_000, 4)])
def test_event_units_are_64_kb_chunks(size: int, units: int) -> None:
    assert event_units(size) == units


@pytest.mark.parametrize(
    ("seconds", "ms"), [(0.0, 1), (0.0004, 1), (0.001, 1), (0.0011, 2), (0.0153, 16), (1.0, 1000)]
)
def test_lambda_duration_rounds_up_to_the_millisecond(seconds: float, ms: int) -> None:
    assert billed_ms(seconds) == ms


def test_gb_seconds_at_the_configured_memory() -> None:
    assert gb_seconds(1000, 1024) == 1.0
    assert gb_seconds(4000, 256) == 1.0
    assert gb_seconds(2, 512) == pytest.approx(0.001)


def test_function_usage_adds_invocations_and_platform_log_lines() -> None:
    usage = FunctionUsage(memory_mb=256)
    usage.add(wall_s=0.0101, cpu_s=0.004, log_bytes=120)
    usage.add(wall_s=0.0002, cpu_s=0.0001, log_bytes=0)
    assert usage.invocations == 2
    assert usage.billed_ms == 11 + 1
    assert usage.gb_seconds == pytest.approx(0.012 * 0.25)
    assert usage.ingested_log_bytes == 120 + 2 * LAMBDA_PLATFORM_LOG_BYTES
    # CPU at 256 MB's share of a vCPU (256 / 1769): 4 ms of CPU become ~27.6 ms.
    assert usage.billed_ms_cpu_scaled == 34 + 1
    assert usage.gb_seconds_cpu_scaled > usage.gb_seconds


def test_event_entry_size_follows_the_eventbridge_rule() -> None:
    entry = {
        "Time": "2025-01-01T00:00:00Z",
        "Source": "csms.sessions",
        "DetailType": "TransactionUpdated",
        "Detail": '{"a":"é"}',
        "Resources": ["arn:x"],
        "EventBusName": "ignored",
    }
    assert event_entry_size(entry) == 14 + 13 + 18 + 10 + 5
    assert event_entry_size({"Detail": "{}"}) == 2


def test_outbox_events_counts_a_new_outbox_only() -> None:
    outbox = json.dumps([{"t": "TransactionUpdated", "i": "1", "d": {}}] * 2)
    after = {"outbox": {"S": outbox}, "outbox_id": {"S": "b"}}
    assert outbox_events(None, after) == 2
    assert outbox_events({"outbox_id": {"S": "a"}}, after) == 2
    assert outbox_events({"outbox_id": {"S": "b"}}, after) == 0
    assert outbox_events(after, {"PK": {"S": "x"}}) == 0
    assert outbox_events(None, None) == 0


# -- prices ----------------------------------------------------------------------------------------
def _usage() -> Usage:
    usage = Usage(
        ws_messages=2_000_000,
        ws_message_units=2_000_000,
        ws_connection_minutes=4_000_000,
        dynamodb_wru=1_000_000,
        dynamodb_rru=2_000_000,
        eventbridge_entries=500_000,
        eventbridge_units=500_000,
    )
    message = usage.function("ws_message", 256)
    message.invocations, message.billed_ms, message.log_bytes = 1_000_000, 4_000_000, GB
    relay = usage.function("stream_outbox", 256)
    relay.invocations, relay.billed_ms = 500_000, 4_000_000
    return usage


def test_bill_prices_each_line_at_list_prices() -> None:
    lines = {line.name: line for line in bill(_usage(), Prices())}
    assert list(lines) == list(LINES)
    assert lines["API Gateway messages"].usd == pytest.approx(2.00)
    assert lines["API Gateway connection minutes"].usd == pytest.approx(1.00)
    assert lines["Lambda requests"].usd == pytest.approx(0.20)
    assert lines["Lambda GB-s"].quantity == pytest.approx(1000.0)
    assert lines["Lambda GB-s"].usd == pytest.approx(0.0133334)
    assert lines["DynamoDB writes"].usd == pytest.approx(0.625)
    assert lines["DynamoDB reads"].usd == pytest.approx(0.25)
    assert lines["EventBridge"].usd == pytest.approx(0.50)
    # 1 GB logged + 250 B of platform lines per handler invocation.
    logs_gb = (GB + 250 * 1_000_000) / GB
    assert lines["CloudWatch Logs"].usd == pytest.approx(logs_gb * 0.50)
    relay_usd = 0.10 + 1000 * 0.0000133334 + 250 * 500_000 / GB * 0.50
    assert lines["Outbox relay (Lambda)"].usd == pytest.approx(relay_usd)
    assert total(lines.values()) == pytest.approx(sum(x.usd for x in lines.values()))
    assert sum(shares(lines.values()).values()) == pytest.approx(1.0)


def test_scaled_bill_multiplies_quantities_and_dollars() -> None:
    (line,) = scaled(bill(_usage())[:1], 15)
    assert line.quantity == 30_000_000
    assert line.usd == pytest.approx(30.0)


# -- the profile -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (
            "1.6",
            {
                "$connect": 360,
                "$disconnect": 360,
                "Heartbeat": 8640,
                "Authorize": 45,
                "StartTransaction": 45,
                "MeterValues": 8100,
                "StopTransaction": 45,
                "StatusNotification Preparing": 45,
                "StatusNotification Charging": 45,
                "StatusNotification Finishing": 45,
                "StatusNotification Available": 45,
            },
        ),
        (
            "2.0.1",
            {
                "$connect": 360,
                "$disconnect": 360,
                "Heartbeat": 8640,
                "Authorize": 45,
                "TransactionEvent Started": 45,
                "TransactionEvent Updated": 8100,
                "TransactionEvent Ended": 45,
                "StatusNotification Occupied": 45,
                "StatusNotification Available": 45,
            },
        ),
    ],
)
def test_profile_month_has_the_public_l2_message_counts(
    version: str, expected: dict[str, int]
) -> None:
    assert dict(counts(month(Profile(), version))) == expected


def test_profile_two_days_are_a_fifteenth_of_the_month() -> None:
    for version in ("1.6", "2.0.1"):
        whole = counts(month(Profile(), version))
        two_days = counts(month(Profile(days=2), version))
        assert {k: v * 15 for k, v in two_days.items()} == dict(whole)


def test_profile_steps_are_ordered_and_every_call_is_on_a_connection() -> None:
    steps = month(Profile(), "2.0.1")
    assert steps == sorted(steps)
    connected = False
    for step in steps:
        if step.kind is Kind.CONNECT:
            assert not connected
            connected = True
        elif step.kind is Kind.DISCONNECT:
            assert connected
            connected = False
        else:
            assert connected, step
    assert not connected


def test_profile_sessions_are_three_hours_with_a_reading_a_minute() -> None:
    profile = Profile()
    steps = [s for s in month(profile, "1.6") if s.session == 1]
    start = session_start(profile, 1)
    readings = [s for s in steps if s.action == "MeterValues"]
    assert [s.at - start for s in readings[:2]] == [60, 120]
    assert readings[-1].at - start == 3 * 3600
    assert [s.index for s in readings] == list(range(1, 181))
    stop = next(s for s in steps if s.action == "StopTransaction")
    assert stop.at > readings[-1].at
    assert session_start(profile, 44) + profile.session_s + 300 < profile.seconds


def test_profile_labels_and_unknown_versions() -> None:
    assert label(Step(0, Kind.CONNECT)) == "$connect"
    assert label(Step(0, Kind.CALL, "TransactionEvent", "Ended")) == "TransactionEvent Ended"
    with pytest.raises(ValueError, match="unknown OCPP version"):
        month(Profile(), "2.1")


# -- payloads --------------------------------------------------------------------------------------
def test_meter_samples_carry_the_realistic_set_in_each_version() -> None:
    v16 = meter_samples("1.6", 1234, 55)
    v201 = meter_samples("2.0.1", 1234, 55)
    measurands = [s["measurand"] for s in v16]
    assert measurands == [
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Current.Import",
        "Current.Import",
        "Voltage",
        "SoC",
    ]
    assert [s.get("phase") for s in v16][2:6] == ["L1", "L2", "L3", "L1-N"]
    assert v16[0] == {
        "value": "1234",
        "context": "Sample.Periodic",
        "measurand": "Energy.Active.Import.Register",
        "location": "Outlet",
        "unit": "Wh",
    }
    assert v201[0]["value"] == 1234
    assert v201[0]["unitOfMeasure"] == {"unit": "Wh"}
    assert v201[2]["value"] == 10.7


def test_transaction_payloads() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=1)
    mv = meter_values_payload_16(7, at, 1000, 50)
    assert mv["transactionId"] == 7
    assert mv["meterValue"][0]["timestamp"] == "2025-01-01T00:01:00.000Z"
    started = transaction_event_payload(
        "Started", "TX", seq_no=0, at=at, register_wh=1, soc=1, token="T"
    )
    assert started["idToken"] == {"idToken": "T", "type": "ISO14443"}
    assert started["evse"] == {"id": 1, "connectorId": 1}
    assert len(started["meterValue"][0]["sampledValue"]) == 1
    ended = transaction_event_payload("Ended", "TX", seq_no=9, at=at, register_wh=2, soc=1)
    assert ended["transactionInfo"] == {"transactionId": "TX", "stoppedReason": "EVDisconnected"}
    assert "idToken" not in ended


# -- report ----------------------------------------------------------------------------------------
def test_write_targets_are_rendered_and_judged() -> None:
    meter = {"writes": 1, "write_bytes": 1024}
    assert target_text(meter) == "<= 1 write of <= 1 KB"
    assert target_text({"writes": 3}) == "<= 3 writes"
    assert target_text(None) == "-"
    assert target_verdict({"writes": 1, "max_write_bytes": 900}, meter) == "ok"
    assert target_verdict({"writes": 1, "max_write_bytes": 1100}, meter) == "OVER"
    assert target_verdict({"writes": 4, "max_write_bytes": 10}, {"writes": 3}) == "OVER"
    assert target_verdict({"writes": 4}, None) == ""


def test_station_result_and_markdown() -> None:
    usage = _usage()
    result = station_result(
        "1.6",
        usage,
        days=2,
        messages={"Heartbeat": 576},
        events={"TransactionUpdated": 3},
        wall_ms={"Heartbeat": 57.6},
        duration_s=12.0,
        by_message={"Heartbeat": usage},
    )
    assert result["scale_to_month"] == 15
    assert result["total_usd"] == pytest.approx(15 * total(bill(usage)))
    assert result["by_message_usd"]["Heartbeat"] == pytest.approx(result["total_usd"])
    assert result["mean_wall_ms"] == {"Heartbeat": 0.1}
    assert dominant(result, 1)[0][0] == "API Gateway messages"
    assert verdict(TARGET_USD) == "within target"
    assert verdict(TARGET_USD + 0.001) == "ABOVE target"
    results: dict[str, Any] = {
        "meta": {
            "replayed": "2 days",
            "region": "us-east-1",
            "prices_as_of": "2025-11-01",
            "date": "today",
            "duration_s": 12.0,
            "python": "3.11",
            "moto": "5",
            "assumptions": ["none."],
        },
        "stations": [result],
    }
    text = render_markdown(results)
    assert "| API Gateway messages | 30,000,000 messages (32 KB units) | 30.000000 |" in text
    assert "| Heartbeat | 8,640 | 0.1 |" in text
    assert "| TransactionUpdated | 45 |" in text
    assert "ABOVE target (<= 0.045)" in text


def test_recorder_keeps_billed_payload_sizes_and_write_images() -> None:
    from types import SimpleNamespace

    from bench_aws import AwsRecorder
    from bench_cost import TableSpec

    class Probe:
        items: dict[str, Any] = {}

        def get_item(self, **kwargs: Any) -> Any:
            item = self.items.get(kwargs["Key"]["PK"]["S"])
            return {"Item": item} if item else {}

    table = TableSpec("PK", None)
    probe = Probe()
    recorder = AwsRecorder("t", table, probe)

    def call(service: str, operation: str, params: Any, effect: Any = None) -> None:
        model = SimpleNamespace(name=operation, service_model=SimpleNamespace(service_name=service))
        context: dict[str, Any] = {}
        recorder._before(params=params, model=model, context=context)
        if effect:
            effect()
        recorder._after(
            http_response=SimpleNamespace(status_code=200),
            parsed={"Entries": [{}]},
            model=model,
            context=context,
        )

    outbox = json.dumps([{"t": "TokenAuthorized", "i": "1", "d": {}}])
    item = {"PK": {"S": "A"}, "outbox": {"S": outbox}, "outbox_id": {"S": "o1"}}

    def put() -> None:
        probe.items["A"] = item

    with recorder.capture() as capture:
        call("events", "PutEvents", {"Entries": [{"Detail": "{}", "Source": "s"}]})
        call("apigatewaymanagementapi", "PostToConnection", {"Data": b"[2,1]"})
        call("dynamodb", "PutItem", {"Item": item}, put)
    assert capture.payloads == [("PutEvents", (3,)), ("PostToConnection", (5,))]
    (write,) = capture.dynamodb
    assert write.images == ((None, item),)
    assert write.writes[0].events == 1
    assert capture.probe_wall_s > 0
