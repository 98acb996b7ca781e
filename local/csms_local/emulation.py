"""AWS emulated in process with moto, its resources created from the synthesized CDK template.

Reading the table and bus definitions from the template means the local runtime and the tests
cannot drift from what `cdk deploy` creates.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from csms_local.errors import TemplateError

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "cdk.out" / "CsmsStack.template.json"
REGION = "us-east-1"

logger = logging.getLogger(__name__)


def load_template(path: Path = TEMPLATE_PATH, *, synth_if_missing: bool = True) -> dict[str, Any]:
    """Read the synthesized template, synthesizing it first (offline) when it is missing."""
    if not path.exists() and synth_if_missing:
        synthesize(path.parent)
    try:
        template: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise TemplateError(f"no synthesized template at {path}: run `make synth`") from None
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path} is not valid JSON ({exc.msg}): run `make synth`") from None
    return template


def synthesize(outdir: Path) -> None:
    """Run the CDK app with bundling skipped (offline, no AWS credentials needed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = str(REPO_ROOT / "infra")
    completed = subprocess.run(  # noqa: S603 - fixed command, our own module
        [sys.executable, "-m", "csms_infra.synth", "--outdir", str(outdir)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise TemplateError(f"cdk synth failed: {completed.stderr.strip()[-2000:]}")


def resources_of(template: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    """Properties of every resource of one type."""
    return [
        resource.get("Properties", {})
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == resource_type
    ]


@dataclass(frozen=True)
class ScheduledJob:
    """An EventBridge schedule rule of the template and the handler it invokes."""

    rule: str
    every_s: float
    handler: str

    def run(self) -> Any:
        """Invoke the handler as the schedule would, in this process."""
        from csms_local.gateway import LambdaContextStub

        module_name, _, function_name = self.handler.rpartition(".")
        function = getattr(importlib.import_module(module_name), function_name)
        event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
        return function(event, LambdaContextStub(self.rule))


_RATE_UNITS = {
    "minute": 60,
    "minutes": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86400,
    "days": 86400,
}


def scheduled_jobs(template: dict[str, Any]) -> list[ScheduledJob]:
    """Schedule rules (`rate(...)`) whose targets are functions of the template.

    moto's EventBridge never fires schedules, so the local runtime runs these itself.
    """
    resources = template.get("Resources", {})
    jobs = []
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        expression = properties.get("ScheduleExpression", "")
        if resource.get("Type") != "AWS::Events::Rule" or not expression.startswith("rate("):
            continue
        amount, unit = expression.removeprefix("rate(").removesuffix(")").split()
        for target in properties.get("Targets", []):
            function_id = target.get("Arn", {}).get("Fn::GetAtt", [None])[0]
            function = resources.get(function_id, {})
            if function.get("Type") == "AWS::Lambda::Function":
                handler = function["Properties"]["Handler"]
                jobs.append(ScheduledJob(logical_id, int(amount) * _RATE_UNITS[unit], handler))
    return jobs


@dataclass(frozen=True)
class EventRule:
    """An EventBridge pattern rule of the template and the handler it invokes.

    moto's EventBridge cannot invoke Lambda targets, so the local runtime matches the events
    itself and calls the handler in this process, as Lambda would (asynchronously, once).
    """

    rule: str
    pattern: dict[str, Any]
    handler: str

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether EventBridge would deliver this event to the rule."""
        return pattern_matches(self.pattern, event)

    def run(self, event: dict[str, Any]) -> Any:
        """Invoke the handler with the event, in this process."""
        from csms_local.gateway import LambdaContextStub

        module_name, _, function_name = self.handler.rpartition(".")
        function = getattr(importlib.import_module(module_name), function_name)
        return function(event, LambdaContextStub(self.rule))


def pattern_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge's matching for what our rules use: exact values, `prefix`, `exists`.

    Every field of the pattern must match; a list matches when any of its values matches the
    event's value (or any of the event's values, when that is a list); a nested object matches
    the event's object field by field. An operator we do not know matches nothing, so a rule
    that uses one is never delivered by mistake.
    """
    for key, expected in pattern.items():
        present = key in event
        value = event.get(key)
        if isinstance(expected, dict):
            if not isinstance(value, dict) or not pattern_matches(expected, value):
                return False
            continue
        if not isinstance(expected, list):
            return False
        values = value if isinstance(value, list) else [value]
        if not any(_value_matches(item, present, values) for item in expected):
            return False
    return True


def _value_matches(item: Any, present: bool, values: list[Any]) -> bool:
    if isinstance(item, dict):
        if set(item) == {"prefix"}:
            return any(isinstance(v, str) and v.startswith(item["prefix"]) for v in values)
        if set(item) == {"exists"}:
            return present is bool(item["exists"])
        return False
    return present and item in values


def event_rules(template: dict[str, Any]) -> list[EventRule]:
    """Pattern rules (`EventPattern`) whose targets are functions of the template."""
    resources = template.get("Resources", {})
    rules = []
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        pattern = properties.get("EventPattern")
        if resource.get("Type") != "AWS::Events::Rule" or not isinstance(pattern, dict):
            continue
        if properties.get("State", "ENABLED") != "ENABLED":
            continue
        for target in properties.get("Targets", []):
            function_id = target.get("Arn", {}).get("Fn::GetAtt", [None])[0]
            function = resources.get(function_id, {})
            if function.get("Type") == "AWS::Lambda::Function":
                rules.append(EventRule(logical_id, pattern, function["Properties"]["Handler"]))
    return rules


class EventRouter:
    """Delivers the bus's events to the template's pattern rules with function targets.

    Every event on the bus reaches the routing queue (see `create_resources`); `route()`
    takes what arrived and invokes each matching rule's handler. A handler that fails is
    logged and the event is not retried (EventBridge would retry an asynchronous invocation
    twice; locally, the next trigger or schedule does the work again).
    """

    def __init__(self, rules: list[EventRule], queue_url: str) -> None:
        self.rules = rules
        self._queue_url = queue_url

    def route(self) -> int:
        """Deliver what arrived; return how many handler invocations there were."""
        if not self.rules:
            return 0
        invoked = 0
        for event in drain_events(self._queue_url):
            invoked += self.deliver(event)
        return invoked

    def deliver(self, event: dict[str, Any]) -> int:
        """Invoke every rule that matches one event; return how many did."""
        invoked = 0
        for rule in self.rules:
            if not rule.matches(event):
                continue
            invoked += 1
            try:
                rule.run(event)
            except Exception:
                logger.exception(
                    "event rule handler failed",
                    extra={"rule": rule.rule, "detail_type": event.get("detail-type")},
                )
        return invoked


def table_definition(template: dict[str, Any], table_name: str) -> dict[str, Any]:
    """CreateTable arguments for the template's single table."""
    tables = resources_of(template, "AWS::DynamoDB::Table")
    if len(tables) != 1:
        raise TemplateError(f"expected one DynamoDB table in the template, found {len(tables)}")
    props = tables[0]
    definition: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    stream = props.get("StreamSpecification")
    if stream:
        definition["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    if props.get("GlobalSecondaryIndexes"):
        definition["GlobalSecondaryIndexes"] = [
            {
                "IndexName": g["IndexName"],
                "KeySchema": g["KeySchema"],
                "Projection": g["Projection"],
            }
            for g in props["GlobalSecondaryIndexes"]
        ]
    return definition


@dataclass(frozen=True)
class EmulatedResources:
    """Names of what was created in the emulation."""

    table_name: str
    event_bus_name: str
    events_queue_url: str
    # Every event again, for the EventRouter (so that routing and inspection do not compete).
    routing_queue_url: str = ""


def create_resources(
    template: dict[str, Any], table_name: str = "csms-local", bus_name: str = "csms-events"
) -> EmulatedResources:
    """Create the table and the bus, plus two queues that receive every event.

    One is for inspection (tests drain it), the other for the EventRouter, which delivers
    the events to the template's rules with function targets.
    """
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(**table_definition(template, table_name))
    buses = resources_of(template, "AWS::Events::EventBus")
    if len(buses) != 1:
        raise TemplateError(f"expected one EventBridge bus in the template, found {len(buses)}")
    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name=bus_name)
    queues = [_all_events_queue(events, bus_name, name) for name in ("events", "routing")]
    return EmulatedResources(table_name, bus_name, queues[0], queues[1])


def _all_events_queue(events: Any, bus_name: str, name: str) -> str:
    """A queue that receives every event of the bus; its URL."""
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url: str = sqs.create_queue(QueueName=f"csms-local-{name}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    rule = "local-all-events" if name == "events" else f"local-all-events-{name}"
    events.put_rule(
        Name=rule,
        EventBusName=bus_name,
        EventPattern=json.dumps({"source": [{"prefix": "csms."}]}),
    )
    events.put_targets(
        Rule=rule,
        EventBusName=bus_name,
        Targets=[{"Id": f"local-{name}-queue", "Arn": queue_arn}],
    )
    return queue_url


class OutboxPump:
    """The table stream -> outbox relay path that AWS runs as an event source mapping.

    Each `pump()` reads what the stream gained since the last one and hands the records to
    the relay handler, as Lambda would; the local runtime pumps continuously, tests when they
    want the events.
    """

    def __init__(self, table_name: str) -> None:
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        self._arn = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        # moto answers the streams API only at its regional endpoint.
        self._streams = boto3.client(
            "dynamodbstreams",
            region_name=REGION,
            endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com",
        )
        self._iterators: dict[str, str] = {}

    def pump(self) -> int:
        """Relay every new record; return how many records were read."""
        from csms.handlers import stream_outbox
        from csms_local.gateway import LambdaContextStub

        shards = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        count = 0
        for shard in shards:
            shard_id = shard["ShardId"]
            iterator = (
                self._iterators.get(shard_id)
                or self._streams.get_shard_iterator(
                    StreamArn=self._arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            while True:
                page = self._streams.get_records(ShardIterator=iterator, Limit=100)
                records = page["Records"]
                if records:
                    result = stream_outbox.lambda_handler(
                        {"Records": records}, LambdaContextStub("stream-outbox")
                    )
                    if result["batchItemFailures"]:
                        return count  # retried from the same iterator next time
                    count += len(records)
                iterator = page["NextShardIterator"]
                self._iterators[shard_id] = iterator
                if not records:
                    break
        return count


def bound_moto_memory() -> None:
    """Keep moto's DynamoDB transactions cheap in memory and time (idempotent).

    moto backs up every table a transaction touches with `copy.deepcopy` before it writes (to
    roll back if a later condition fails), and its models record every instance ever created.
    So each transaction kept a whole copy of the table alive (10 GB in a bench run), and cost
    time in proportion to the table (0.3 s with a few hundred items). Two fixes:
    - the record serves only moto's introspection API, so it is emptied after each transaction;
    - when every condition of the transaction holds before it starts (each item is named once,
      so no write of the transaction can change another's condition), nothing can roll back and
      the backup is skipped. Otherwise moto runs as it is, backup and cancellation reasons
      included.
    """
    import moto.dynamodb.models as dynamodb_models
    from moto.core.base_backend import model_data  # type: ignore[attr-defined]
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    if getattr(original, "_csms_bounded", False):
        return
    real_copy = dynamodb_models.copy  # type: ignore[attr-defined]
    table_type = dynamodb_models.Table  # type: ignore[attr-defined]

    class _NoTableBackup:
        """`copy` as moto's DynamoDB models see it while a transaction cannot roll back."""

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            if isinstance(value, table_type):
                return value
            return real_copy.deepcopy(value, memo)

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        try:
            if _conditions_hold(self, transact_items):
                dynamodb_models.copy = _NoTableBackup  # type: ignore[attr-defined,assignment]
            original(self, transact_items)
        finally:
            dynamodb_models.copy = real_copy  # type: ignore[attr-defined]
            for model in model_data["dynamodb"].values():
                model.instances_tracked.clear()  # type: ignore[attr-defined]

    transact_write_items._csms_bounded = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _conditions_hold(backend: Any, transact_items: list[dict[str, Any]]) -> bool:
    """Whether a transaction names each item once and all its conditions hold now.

    Any doubt (a malformed request, an unknown table) answers False: moto then decides, with
    its backup.
    """
    from moto.dynamodb.comparisons import get_filter_expression

    seen: set[tuple[str, str]] = set()
    try:
        for item in transact_items:
            [(op_type, op)] = item.items()
            table = backend.get_table(op["TableName"])
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            name = (op["TableName"], json.dumps(key, sort_keys=True))
            if name in seen:
                return False
            seen.add(name)
            condition = op.get("ConditionExpression")
            if condition is None:
                continue
            current = backend.get_item(op["TableName"], key)
            expression = get_filter_expression(
                condition,
                op.get("ExpressionAttributeNames"),
                op.get("ExpressionAttributeValues"),
            )
            if not expression.expr(current):
                return False
    except Exception:
        return False
    return True


# moto's DynamoDB is not thread-safe: a transaction deep-copies the table while another
# request thread writes to it ("dictionary changed size during iteration"). DynamoDB
# serializes nothing, but the local gateway runs handlers in threads, so every DynamoDB and
# Streams request of this process goes through one lock.
_DYNAMODB_LOCK = threading.RLock()


def serialize_moto_dynamodb() -> None:
    """Make moto's DynamoDB and Streams handle one request at a time (idempotent)."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        original = handler.call_action
        if getattr(original, "_csms_serialized", False):
            continue

        def call_action(self: Any, _original: Any = original) -> Any:
            with _DYNAMODB_LOCK:
                return _original(self)

        call_action._csms_serialized = True  # type: ignore[attr-defined]
        handler.call_action = call_action  # type: ignore[method-assign]


@contextmanager
def mocked_aws() -> Iterator[None]:
    """Moto's in-process emulation, with fake credentials so no real account is ever used."""
    from moto import mock_aws

    bound_moto_memory()
    serialize_moto_dynamodb()
    fake = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }
    saved = {key: os.environ.get(key) for key in fake}
    os.environ.update(fake)
    try:
        with mock_aws():
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def drain_events(queue_url: str) -> list[dict[str, Any]]:
    """Every event delivered to the inspection queue so far, removed from it."""
    sqs = boto3.client("sqs", region_name=REGION)
    events: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not messages:
            return events
        for message in messages:
            events.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
