"""The billing workflow: state machine type and retries, its trigger, schedule and grants."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template
from tests.infra.test_rebalance_stack import allowed_actions, function_of, rules_targeting
from tests.infra.test_stack import references, resources

from csms_infra.assembly import STRIPE_SECRET_ARN, build_app
from csms_infra.billing import (
    BILLING_ALERT,
    BILLING_BILL,
    BILLING_CLOSE_MONTH,
    BILLING_PREAUTH,
    BILLING_START,
    LAMBDA_SERVICE_ERRORS,
    REJECTED_ERROR,
    RETRYABLE_ERROR,
)
from csms_infra.stack import API, EVT_REBALANCE, WS_MESSAGE
from csms_local.emulation import event_rules


def _state_machine(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The billing state machine (operations has the escalation's)."""
    [(logical_id, machine)] = [
        (logical_id, machine)
        for logical_id, machine in resources(template, "AWS::StepFunctions::StateMachine").items()
        if logical_id.startswith("Billing")
    ]
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


SECRET_ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:csms/stripe-AbC123"
# The functions that call Stripe (and so may read its keys), and some that do not.
PAYING = (BILLING_BILL, BILLING_CLOSE_MONTH, BILLING_PREAUTH, API)
NOT_PAYING = (BILLING_START, BILLING_ALERT, WS_MESSAGE, EVT_REBALANCE)


@pytest.fixture(scope="module")
def with_secret() -> dict[str, Any]:
    """The template synthesized with Stripe's secret named in the context."""
    _, stack = build_app(context={STRIPE_SECRET_ARN: SECRET_ARN}, skip_bundling=True, nag=True)
    template: dict[str, Any] = dict(Template.from_stack(stack).to_json())
    return template


def _secret_reads(template: dict[str, Any], function: dict[str, Any]) -> list[Any]:
    """The resources of the statements that let the function's role read a secret."""
    [role] = references(function["Role"])
    found = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if role not in set(references(policy["Properties"]["Roles"])):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            action = statement["Action"]
            actions = [action] if isinstance(action, str) else action
            if "secretsmanager:GetSecretValue" in actions:
                found.append(statement["Resource"])
    return found


def test_billing_preauth_runs_on_transaction_started_with_retries_and_dead_letters(
    template: dict[str, Any],
) -> None:
    # GIVEN the pre-authorisation function
    preauth_fn, preauth = function_of(template, BILLING_PREAUTH)
    # WHEN looking for the rule that invokes it and its asynchronous invocation settings
    [rule] = rules_targeting(template, preauth_fn)
    [invoke_config] = [
        r["Properties"]
        for r in resources(template, "AWS::Lambda::EventInvokeConfig").values()
        if preauth_fn in set(references(r["Properties"]["FunctionName"]))
    ]
    # THEN TransactionStarted of csms.sessions on the CSMS bus invokes it, retried for an
    # hour at most (a late hold is of no use), then a dead-letter queue an alarm watches
    assert rule["EventPattern"] == {
        "source": ["csms.sessions"],
        "detail-type": ["TransactionStarted"],
    }
    [bus] = references(rule["EventBusName"])
    assert template["Resources"][bus]["Type"] == "AWS::Events::EventBus"
    [target] = rule["Targets"]
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 3600
    [queue] = references(target["DeadLetterConfig"]["Arn"])
    assert template["Resources"][queue]["Type"] == "AWS::SQS::Queue"
    # AND a failing invocation (the provider unreachable) is retried twice by Lambda, then
    # goes to the same queue
    assert invoke_config["MaximumRetryAttempts"] == 2
    destination = invoke_config["DestinationConfig"]["OnFailure"]["Destination"]
    assert list(references(destination)) == [queue]
    alarmed = {
        ref
        for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
        for dimension in alarm["Properties"].get("Dimensions", [])
        for ref in references(dimension["Value"])
    }
    assert queue in alarmed
    # AND it uses the table (the hold is a table write) and sends its failures to the queue,
    # with no wildcard action: it reaches neither stations nor the bus
    actions = allowed_actions(template, preauth)
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "sqs:SendMessage"} <= actions
    prefixes = ("dynamodb:", "sqs:", "logs:", "xray:")
    assert not {a for a in actions if not a.startswith(prefixes)}
    assert not [a for a in actions if a.endswith(":*")]
    assert preauth["Timeout"] == 60


def test_billing_preauth_rule_is_routed_by_the_local_runtime(template: dict[str, Any]) -> None:
    # GIVEN the rules the local runtime reads from the template (csms local)
    rules = event_rules(template)
    started = {"source": "csms.sessions", "detail-type": "TransactionStarted", "detail": {}}
    # WHEN a TransactionStarted arrives on the bus
    handlers = {rule.handler for rule in rules if rule.matches(started)}
    # THEN the pre-authorisation handler runs for it, in process (as it does in AWS)
    assert BILLING_PREAUTH in handlers


def test_billing_without_stripe_secret_no_function_reads_a_secret(
    template: dict[str, Any],
) -> None:
    # GIVEN the default template (no `csms:stripeSecretArn`: the invoice-only provider)
    for handler in (*PAYING, *NOT_PAYING):
        _, props = function_of(template, handler)
        # THEN no function is told of a secret or may read one
        assert "CSMS_STRIPE_SECRET_ARN" not in props["Environment"]["Variables"]
        assert _secret_reads(template, props) == []
    assert not resources(template, "AWS::SecretsManager::Secret")


def test_billing_stripe_secret_is_read_only_by_the_functions_that_call_stripe(
    with_secret: dict[str, Any],
) -> None:
    # GIVEN the template synthesized with Stripe's secret in the context (cdk-nag passing)
    template = with_secret
    # THEN the secret is the operator's (imported, not made: its keys never pass through
    # CloudFormation)
    assert not resources(template, "AWS::SecretsManager::Secret")
    # AND the functions that call Stripe are told its ARN and may read exactly that secret
    for handler in PAYING:
        _, props = function_of(template, handler)
        assert props["Environment"]["Variables"]["CSMS_STRIPE_SECRET_ARN"] == SECRET_ARN
        assert _secret_reads(template, props) == [SECRET_ARN], handler
    # AND the others neither know of it nor may read it
    for handler in NOT_PAYING:
        _, props = function_of(template, handler)
        assert "CSMS_STRIPE_SECRET_ARN" not in props["Environment"]["Variables"]
        assert _secret_reads(template, props) == [], handler


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:secretsmanager:eu-central-1:123456789012:secret:csms/stripe",
        "csms/stripe",
        "arn:aws:ssm:eu-central-1:123456789012:parameter/stripe-AbC123",
    ],
)
def test_billing_stripe_secret_context_must_be_a_complete_secret_arn(arn: str) -> None:
    # GIVEN a context value that is not a secret's complete ARN (a partial ARN, a name,
    # another service's ARN)
    # WHEN synthesizing
    # THEN the app refuses it with the form it wants, before making anything
    with pytest.raises(ValueError, match="complete ARN"):
        build_app(context={STRIPE_SECRET_ARN: arn}, skip_bundling=True, nag=False)
