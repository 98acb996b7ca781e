"""The billing workflow: state machine type and retries, its trigger, schedule and grants."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.test_rebalance_stack import allowed_actions, function_of, rules_targeting
from tests.infra.test_stack import references, resources

from csms_infra.billing import (
    BILLING_ALERT,
    BILLING_BILL,
    BILLING_CLOSE_MONTH,
    BILLING_START,
    LAMBDA_SERVICE_ERRORS,
    REJECTED_ERROR,
    RETRYABLE_ERROR,
)


def _state_machine(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [(logical_id, machine)] = resources(template, "AWS::StepFunctions::StateMachine").items()
    return logical_id, machine["Properties"]


def _definition(props: dict[str, Any]) -> dict[str, Any]:
    """The ASL with each function's ARN replaced by `<logical id>`."""
    parts = props["DefinitionString"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else f"<{p['Fn::GetAtt'][0]}>" for p in parts)
    definition: dict[str, Any] = json.loads(text)
    return definition


def test_billing_state_machine_is_standard_logged_and_traced(template: dict[str, Any]) -> None:
    # GIVEN the synthesized template
    # WHEN reading the billing state machine
    _, props = _state_machine(template)
    # THEN it is a Standard workflow (exactly-once state transitions, 90-day name memory),
    # traced, logging every event to a log group with retention
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    [destination] = props["LoggingConfiguration"]["Destinations"]
    [group] = references(destination["CloudWatchLogsLogGroup"]["LogGroupArn"])
    assert template["Resources"][group]["Properties"]["RetentionInDays"] > 0


def test_billing_bill_task_retries_what_may_pass_and_alerts_on_the_rest(
    template: dict[str, Any],
) -> None:
    # GIVEN the state machine's definition
    _, props = _state_machine(template)
    definition = _definition(props)
    bill_fn, _ = function_of(template, BILLING_BILL)
    alert_fn, _ = function_of(template, BILLING_ALERT)
    states = definition["States"]
    # WHEN reading the Bill task
    bill = states[definition["StartAt"]]
    assert bill["Resource"] == f"<{bill_fn}>"
    retries = {tuple(r["ErrorEquals"]): r for r in bill["Retry"]}
    # THEN refusals are never retried, provider failures and races are retried with backoff
    # (8 attempts, capped at 5 minutes apart), Lambda's own failures likewise, anything else
    # 3 times (States.ALL last, as ASL requires)
    assert bill["Retry"][0] == {"ErrorEquals": [REJECTED_ERROR], "MaxAttempts": 0}
    provider = retries[(RETRYABLE_ERROR,)]
    assert (provider["MaxAttempts"], provider["BackoffRate"], provider["MaxDelaySeconds"]) == (
        8,
        2,
        300,
    )
    assert retries[LAMBDA_SERVICE_ERRORS]["MaxAttempts"] == 6
    assert bill["Retry"][-1]["ErrorEquals"] == ["States.ALL"]
    assert bill["Retry"][-1]["MaxAttempts"] == 3
    # AND any error that is left goes to the Alert task, then to a Fail state
    [catch] = bill["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    alert = states[catch["Next"]]
    assert alert["Resource"] == f"<{alert_fn}>"
    assert states[alert["Next"]]["Type"] == "Fail"
    assert states[bill["Next"]]["Type"] == "Succeed"


def test_billing_starts_on_transaction_ended_through_the_starter(template: dict[str, Any]) -> None:
    # GIVEN the starter function
    start_fn, start = function_of(template, BILLING_START)
    machine_id, _ = _state_machine(template)
    # WHEN looking for the rule that invokes it
    [rule] = rules_targeting(template, start_fn)
    # THEN it matches TransactionEnded of csms.sessions on the CSMS bus, retried for a day,
    # with a dead-letter queue; the starter knows the state machine and may start it only
    assert rule["EventPattern"] == {
        "source": ["csms.sessions"],
        "detail-type": ["TransactionEnded"],
    }
    [bus] = references(rule["EventBusName"])
    assert template["Resources"][bus]["Type"] == "AWS::Events::EventBus"
    [target] = rule["Targets"]
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 86_400
    assert "DeadLetterConfig" in target
    arn = start["Environment"]["Variables"]["CSMS_BILLING_STATE_MACHINE_ARN"]
    assert list(references(arn)) == [machine_id]
    actions = allowed_actions(template, start)
    assert "states:StartExecution" in actions
    assert not [a for a in actions if a.startswith(("dynamodb:", "events:", "execute-api:"))]


def test_billing_monthly_close_runs_on_the_first_at_noon_utc(template: dict[str, Any]) -> None:
    # GIVEN the monthly close function
    close_fn, close = function_of(template, BILLING_CLOSE_MONTH)
    # WHEN looking for its schedule
    [rule] = rules_targeting(template, close_fn)
    # THEN it runs on the 1st at 12:00 UTC (last month is over in every timezone), retried
    assert rule["ScheduleExpression"] == "cron(0 12 1 * ? *)"
    [target] = rule["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    assert close["Timeout"] == 900


def test_billing_functions_get_least_privilege_grants(template: dict[str, Any]) -> None:
    # GIVEN the workflow's functions
    _, bill = function_of(template, BILLING_BILL)
    _, alert = function_of(template, BILLING_ALERT)
    _, close = function_of(template, BILLING_CLOSE_MONTH)
    # THEN billing and the close use the table only (their events ride in its writes); the
    # alert only logs; none reaches stations or the bus, and no action is a wildcard
    for props in (bill, close):
        actions = allowed_actions(template, props)
        assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"} <= actions
        assert not {a for a in actions if not a.startswith(("dynamodb:", "logs:", "xray:"))}
    assert not {a for a in allowed_actions(template, alert) if not a.startswith(("logs:", "xray:"))}
    for props in (bill, alert, close):
        assert not [a for a in allowed_actions(template, props) if a.endswith(":*")]


def test_billing_state_machine_may_invoke_its_two_functions_only(template: dict[str, Any]) -> None:
    # GIVEN the state machine's role
    _, props = _state_machine(template)
    [role] = references(props["RoleArn"])
    bill_fn, _ = function_of(template, BILLING_BILL)
    alert_fn, _ = function_of(template, BILLING_ALERT)
    invoked: set[str] = set()
    for policy in resources(template, "AWS::IAM::Policy").values():
        if role not in set(references(policy["Properties"]["Roles"])):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Action"] == "lambda:InvokeFunction":
                invoked.update(references(statement["Resource"]))
    # THEN it invokes the Bill and Alert functions and nothing else
    assert invoked == {bill_fn, alert_fn}


def test_billing_failures_raise_alarms(template: dict[str, Any]) -> None:
    # GIVEN the template's alarms
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    metrics = {(a.get("Namespace"), a.get("MetricName")) for a in alarms}
    # THEN a failed execution and a dead-lettered start each raise one
    assert ("AWS/States", "ExecutionsFailed") in metrics
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in metrics
