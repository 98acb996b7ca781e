"""Partner webhooks' constructs: the fan-out rule, the queue and its redrive, the delivery."""

from __future__ import annotations

from typing import Any

from tests.infra.test_rebalance_stack import allowed_actions, function_of, rules_targeting
from tests.infra.test_stack import references, resources

from csms.domain.webhooks import SOURCE_DETAIL_TYPES, attempts_to_cover
from csms_infra.stack import API
from csms_infra.webhooks import (
    EVT_WEBHOOKS,
    MAX_RECEIVES,
    SQS_WEBHOOKS,
    WEBHOOK_DETAIL_TYPES,
    WEBHOOK_SOURCES,
)


def _queue_of(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return dict(template["Resources"][logical_id]["Properties"])


def test_webhooks_fan_out_runs_on_partner_events_with_a_dead_letter_queue(
    template: dict[str, Any],
) -> None:
    # GIVEN the synthesized template
    function_id, props = function_of(template, EVT_WEBHOOKS)
    # WHEN looking at the rules that invoke the fan-out
    [rule] = rules_targeting(template, function_id)
    # THEN one rule matches exactly the events the domain maps to webhooks, retried and
    # dead-lettered; the fan-out may queue deliveries and use the table, nothing more
    assert rule["EventPattern"] == {
        "source": list(WEBHOOK_SOURCES),
        "detail-type": list(WEBHOOK_DETAIL_TYPES),
    }
    assert set(WEBHOOK_DETAIL_TYPES) == set(SOURCE_DETAIL_TYPES)
    [target] = rule["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 10
    assert "DeadLetterConfig" in target
    allowed = allowed_actions(template, props)
    assert {"sqs:SendMessage", "dynamodb:PutItem", "dynamodb:BatchWriteItem"} <= allowed
    assert not {"execute-api:ManageConnections", "secretsmanager:GetSecretValue"} & allowed
    assert "CSMS_WEBHOOK_QUEUE_URL" in props["Environment"]["Variables"]


def test_webhooks_queue_redrives_to_a_dead_letter_queue_after_three_days_of_attempts(
    template: dict[str, Any],
) -> None:
    # GIVEN the delivery function's SQS event source
    function_id, props = function_of(template, SQS_WEBHOOKS)
    [mapping] = [
        m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if function_id in set(references(m["Properties"]["FunctionName"]))
    ]
    [queue_id] = references(mapping["EventSourceArn"])
    queue = _queue_of(template, queue_id)
    # WHEN reading its redrive policy and the mapping's settings
    redrive = queue["RedrivePolicy"]
    # THEN the receive count equals the domain's schedule (3 days of backoff), batches report
    # partial failures, messages outlive the retries, and the hidden time covers a batch
    assert MAX_RECEIVES == attempts_to_cover() == redrive["maxReceiveCount"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["MessageRetentionPeriod"] >= 3 * 86_400 + 43_200
    assert queue["VisibilityTimeout"] >= 6 * props["Timeout"]
    allowed = allowed_actions(template, props)
    assert {"sqs:ChangeMessageVisibility", "sqs:DeleteMessage"} <= allowed
    assert "secretsmanager:GetSecretValue" in allowed
    assert "secretsmanager:CreateSecret" not in allowed


def test_webhooks_api_function_manages_secrets_and_queues_replays(
    template: dict[str, Any],
) -> None:
    # GIVEN the API function
    _, props = function_of(template, API)
    # WHEN reading its grants and environment
    allowed = allowed_actions(template, props)
    # THEN it can create, rotate and delete signing secrets and queue replays
    assert {
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:DeleteSecret",
        "sqs:SendMessage",
    } <= allowed
    assert "CSMS_WEBHOOK_QUEUE_URL" in props["Environment"]["Variables"]


def test_webhooks_alarms_watch_dead_letters_and_the_backlog(template: dict[str, Any]) -> None:
    # GIVEN the synthesized template
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    # WHEN looking for the webhook alarms
    descriptions = {alarm["Properties"].get("AlarmDescription") for alarm in alarms}
    # THEN the delivery and fan-out dead-letter queues and the backlog's age are watched
    assert any("given up" in str(d) for d in descriptions)
    assert "Events could not be fanned out to webhook subscriptions" in descriptions
    assert any("waited more than 12 hours" in str(d) for d in descriptions)


def test_no_deployed_function_allows_private_webhook_endpoints(template: dict[str, Any]) -> None:
    # GIVEN every function of the stack
    functions = resources(template, "AWS::Lambda::Function").values()
    # THEN none sets the local runtime's switch: in AWS, private and loopback endpoints are
    # refused (SSRF); only `csms local` allows them (tests/unit/local/test_local_environment.py)
    for function in functions:
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        assert "CSMS_WEBHOOKS_ALLOW_PRIVATE" not in variables, function["Properties"]["Handler"]
