"""The bench's pure helpers: DynamoDB item sizes and capacity units, the recorder, the report."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest

from bench_aws import AwsRecorder, Capture, DynamoCall, ItemCost
from bench_cost import (
    IndexSpec,
    IndexWrite,
    Projection,
    TableSpec,
    index_writes,
    item_size,
    number_size,
    read_units,
    value_size,
    write_cost,
    write_units,
)
from bench_env import connect_event, lambda_environment
from bench_report import (
    operation_signature,
    percentile,
    render_markdown,
    summarize_capture,
    summarize_cpu,
)

DEFINITION: dict[str, Any] = {
    "KeySchema": [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "GSI1",
            "KeySchema": [
                {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
}
TABLE = TableSpec.from_definition(DEFINITION)


def s(text: str) -> dict[str, str]:
    return {"S": text}


# -- sizes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1", 2),
        ("12", 2),
        ("123", 3),
        ("1000", 2),
        ("0.001", 2),
        ("-12.50", 3),
        ("1767225600", 5),
        ("0", 1),
        ("1.5E+10", 2),
    ],
)
def test_number_size_counts_significant_digits(text: str, size: int) -> None:
    assert number_size(text) == size


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "abc"}, 3),
        ({"S": "é"}, 2),
        ({"N": "123"}, 3),
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"B": b"\x00\x01"}, 2),
        ({"B": base64.b64encode(b"\x00\x01").decode()}, 2),
        ({"SS": ["a", "bb"]}, 3),
        ({"NS": ["1", "123"]}, 5),
        ({"L": []}, 3),
        ({"L": [{"S": "a"}, {"S": "bc"}]}, 3 + 2 + 3),
        ({"M": {}}, 3),
        ({"M": {"k": {"S": "v"}}}, 3 + 1 + 1 + 1),
        ({"L": [{"M": {"ab": {"N": "1"}}}]}, 3 + (3 + 2 + 2 + 1) + 1),
    ],
)
def test_value_size_follows_the_developer_guide(value: Mapping[str, Any], size: int) -> None:
    assert value_size(value) == size


def test_value_size_rejects_what_is_not_an_attribute_value() -> None:
    with pytest.raises(ValueError, match="unknown attribute type"):
        value_size({"X": 1})
    with pytest.raises(ValueError, match="exactly one type"):
        value_size({"S": "a", "N": "1"})


def test_item_size_adds_names_and_values() -> None:
    assert item_size({"PK": s("STATION#1"), "online": {"BOOL": True}}) == 2 + 9 + 6 + 1
    assert item_size(None) == 0
    assert item_size({}) == 0


# -- units -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "units"), [(0, 1), (1, 1), (1024, 1), (1025, 2), (3000, 3)])
def test_write_units_per_started_kilobyte(size: int, units: int) -> None:
    assert write_units(size) == units
    assert write_units(size, transactional=True) == 2 * units


def test_read_units_per_started_4_kb() -> None:
    assert read_units(0, consistent=True) == 1
    assert read_units(4096, consistent=True) == 1
    assert read_units(4097, consistent=True) == 2
    assert read_units(100, consistent=False) == 0.5
    assert read_units(100, consistent=True, transactional=True) == 2


# -- tables and indexes ----------------------------------------------------------------------------
def test_table_spec_from_a_definition() -> None:
    assert TABLE.key_names == ("PK", "SK")
    assert TABLE.indexes == (IndexSpec("GSI1", "GSI1PK", "GSI1SK", Projection.ALL),)
    item = {"PK": s("A"), "SK": s("B"), "x": s("y")}
    assert TABLE.key_of(item) == {"PK": s("A"), "SK": s("B")}
    assert TABLE.key_label(item) == "A/B"


def test_index_writes_for_a_sparse_all_projection_index() -> None:
    plain: dict[str, Any] = {"PK": s("A"), "SK": s("B")}
    indexed: dict[str, Any] = {**plain, "GSI1PK": s("T"), "GSI1SK": s("A")}
    changed: dict[str, Any] = {**indexed, "online": {"BOOL": True}}
    moved: dict[str, Any] = {**indexed, "GSI1PK": s("U")}
    size = item_size(indexed)

    assert index_writes(TABLE, None, plain) == []
    assert index_writes(TABLE, plain, {**plain, "x": s("y")}) == []
    assert index_writes(TABLE, None, indexed) == [IndexWrite("GSI1", "put", size)]
    assert index_writes(TABLE, indexed, indexed) == []
    assert index_writes(TABLE, indexed, changed) == [
        IndexWrite("GSI1", "update", item_size(changed))
    ]
    assert index_writes(TABLE, indexed, moved) == [
        IndexWrite("GSI1", "delete", size),
        IndexWrite("GSI1", "put", item_size(moved)),
    ]
    assert index_writes(TABLE, indexed, None) == [IndexWrite("GSI1", "delete", size)]


def test_keys_only_index_ignores_other_attributes() -> None:
    table = TableSpec(
        hash_key="PK",
        range_key=None,
        indexes=(IndexSpec("BY_T", "T", None, Projection.KEYS_ONLY),),
    )
    before = {"PK": s("A"), "T": s("x"), "big": s("a" * 100)}
    after = {**before, "big": s("b" * 200)}
    assert index_writes(table, before, after) == []
    assert index_writes(table, None, after) == [IndexWrite("BY_T", "put", 2 + 1 + 1 + 1)]


def test_write_cost_charges_the_larger_image() -> None:
    small = {"PK": s("A"), "SK": s("B")}
    large = {**small, "body": s("x" * 2000)}
    assert write_cost(TABLE, large, small).units == 2
    assert write_cost(TABLE, small, large, transactional=True).units == 4
    assert write_cost(TABLE, None, None).units == 1


# -- recorder --------------------------------------------------------------------------------------
class _Probe:
    """A table in a dict, answering GetItem like botocore."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def get_item(self, *, TableName: str, Key: Mapping[str, Any], ConsistentRead: bool) -> Any:  # noqa: N803
        del TableName, ConsistentRead
        item = self.items.get((Key["PK"]["S"], Key["SK"]["S"]))
        return {"Item": item} if item is not None else {}


def _model(service: str, operation: str) -> Any:
    return SimpleNamespace(name=operation, service_model=SimpleNamespace(service_name=service))


def _call(
    recorder: AwsRecorder,
    *,
    operation: str,
    params: Mapping[str, Any],
    parsed: Mapping[str, Any],
    effect: Any = None,
    service: str = "dynamodb",
) -> None:
    model = _model(service, operation)
    context: dict[str, Any] = {}
    recorder._before(params=params, model=model, context=context)
    if effect is not None:
        effect()
    recorder._after(
        http_response=SimpleNamespace(status_code=200), parsed=parsed, model=model, context=context
    )


def test_recorder_costs_reads_and_writes_from_measured_images() -> None:
    probe = _Probe()
    recorder = AwsRecorder("t", TABLE, probe)
    item = {"PK": s("A"), "SK": s("B"), "GSI1PK": s("T"), "GSI1SK": s("A")}

    def put() -> None:
        probe.items["A", "B"] = item

    def grow() -> None:
        probe.items["A", "B"] = {**item, "body": s("x" * 1100)}

    _call(recorder, operation="GetItem", params={"Key": TABLE.key_of(item)}, parsed={})
    with recorder.capture() as capture:
        _call(recorder, operation="PutItem", params={"Item": item}, parsed={}, effect=put)
        _call(
            recorder,
            operation="GetItem",
            params={"Key": TABLE.key_of(item), "ConsistentRead": True},
            parsed={"Item": item},
        )
        _call(
            recorder,
            operation="UpdateItem",
            params={"Key": TABLE.key_of(item)},
            parsed={},
            effect=grow,
        )
        _call(
            recorder,
            operation="PutEvents",
            params={},
            parsed={"Entries": [{}, {}]},
            service="events",
        )

    put_call, get_call, update_call = capture.dynamodb
    assert put_call.writes == (
        ItemCost("A/B", item_size(item), 1, 1, f"GSI1 put {item_size(item)} B"),
    )
    assert get_call.reads == (ItemCost("A/B", item_size(item), 1.0),)
    assert get_call.consistent
    assert update_call.wcu == 2
    assert update_call.index_wcu == 2
    assert capture.other == [("events", "PutEvents", 2)]


def test_recorder_doubles_transactions() -> None:
    probe = _Probe()
    recorder = AwsRecorder("t", TABLE, probe)
    slot = {"PK": s("A"), "SK": s("CALL#OUTSTANDING")}
    record = {"PK": s("A"), "SK": s("CALL#1"), "body": s("{}")}
    params = {"TransactItems": [{"Put": {"Item": slot}}, {"Put": {"Item": record}}]}

    def write() -> None:
        probe.items["A", "CALL#OUTSTANDING"] = slot
        probe.items["A", "CALL#1"] = record

    with recorder.capture() as capture:
        _call(recorder, operation="TransactWriteItems", params=params, parsed={}, effect=write)
    (call,) = capture.dynamodb
    assert [w.key for w in call.writes] == ["Put A/CALL#OUTSTANDING", "Put A/CALL#1"]
    assert call.wcu == 4


# -- report ----------------------------------------------------------------------------------------
def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99) == 99
    assert percentile(values, 50) == 50
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7
    assert percentile([3.0, 1.0, 2.0], 0) == 1
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match="within"):
        percentile([1.0], 101)


def test_summarize_cpu() -> None:
    summary = summarize_cpu([1.0, 2.0, 3.0, 10.0])
    assert summary == {"n": 4, "median_ms": 2.5, "p99_ms": 10.0, "mean_ms": 4.0, "max_ms": 10.0}


def _capture() -> Capture:
    return Capture(
        dynamodb=[
            DynamoCall("GetItem", True, (ItemCost("CONN#1/META", 130, 1.0),), (), True),
            DynamoCall(
                "PutItem", False, (), (ItemCost("S/META", 300, 1, 1, "GSI1 update 300 B"),), True
            ),
        ],
        other=[("events", "PutEvents", 1)],
    )


def test_summarize_capture_totals() -> None:
    summary = summarize_capture(_capture())
    assert summary["operations"] == {"GetItem": 1, "PutItem": 1}
    assert (summary["reads"], summary["writes"]) == (1, 1)
    assert (summary["read_bytes"], summary["write_bytes"]) == (130, 300)
    assert (summary["rcu"], summary["wcu"], summary["gsi_wcu"]) == (1.0, 1, 1)
    assert summary["events_published"] == 1
    assert operation_signature(summary) == [("GetItem", 1), ("PutItem", 1)]


def test_render_markdown_has_every_section() -> None:
    results = {
        "meta": {
            "python": "3.11",
            "machine": "Linux x86_64",
            "cpus": 2,
            "moto": "5",
            "date": "today",
            "load_average_1m": [0.5, 0.7],
        },
        "messages": [
            {
                "label": "Heartbeat",
                "version": "2.0.1",
                "note": "",
                "cpu_target": True,
                "dynamodb": summarize_capture(_capture()),
                "cpu": summarize_cpu([0.1, 0.2]),
            }
        ],
        "cold": {
            "runs_compiled": 5,
            "runs_source": 3,
            "imports": {"csms.handlers.ws_message": {"compiled_s": 0.3, "source_s": None}},
            "first_message": {
                "Heartbeat": {
                    "import_s": 0.3,
                    "call_wall_s": 0.1,
                    "call_cpu_s": 0.05,
                    "total_s": 0.4,
                }
            },
        },
    }
    text = render_markdown(results)
    assert "| Heartbeat | 2.0.1 | GetItem x1, PutItem x1 | 130 | 300 | 1 | 1 | 1 | 1 | - |" in text
    assert "| Heartbeat | 2.0.1 | 2 | 0.15 | 0.20 | 0.15 | 0.20 | 3 | - | ok |" in text
    assert "| `csms.handlers.ws_message` | 300 | - |" in text
    assert "| Heartbeat | 300 | 100 | 50 | 400 |" in text


# -- events ----------------------------------------------------------------------------------------
def test_connect_event_carries_basic_auth_and_the_station_in_the_query() -> None:
    event = connect_event("CS-1", "secret-pw", "c1", "ocpp1.6")
    token = event["headers"]["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(token) == b"CS-1:secret-pw"
    assert event["queryStringParameters"] == {"station": "CS-1"}
    assert event["requestContext"]["connectionId"] == "c1"


def test_lambda_environment_keeps_literal_non_csms_variables() -> None:
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "h.lambda_handler",
                    "Environment": {
                        "Variables": {
                            "POWERTOOLS_LOG_LEVEL": "INFO",
                            "CSMS_TABLE_NAME": {"Ref": "Table"},
                            "CSMS_HEARTBEAT_INTERVAL_S": "300",
                            "OTHER": {"Ref": "X"},
                        }
                    },
                },
            }
        }
    }
    assert lambda_environment(template, "h.lambda_handler") == {"POWERTOOLS_LOG_LEVEL": "INFO"}
    assert lambda_environment(template, "nope") == {}
