"""The fault escalation: its state machine, starter rule, step function, alarms and context."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.infra.test_rebalance_stack import allowed_actions, function_of, rules_targeting
from tests.infra.test_stack import resources

from csms_infra.assembly import ESCALATION_WAIT_MINUTES, NOTIFY_FROM, build_app
from csms_infra.operations import ESCALATION_START, ESCALATION_STEP


def _definition(template: dict[str, Any]) -> dict[str, Any]:
    """The escalation state machine's definition, its function ARNs as `fn:{logical id}`."""
    [machine] = [
        m
        for logical_id, m in resources(template, "AWS::StepFunctions::StateMachine").items()
        if logical_id.startswith("OperationsEscalation")
    ]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(
        p if isinstance(p, str) else f"fn:{p.get('Fn::GetAtt', ['?'])[0]}" for p in parts
    )
    definition: dict[str, Any] = json.loads(text)
    return definition


def test_escalation_state_machine_waits_then_resets_soft_hard_then_escalates(
    template: dict[str, Any],
) -> None:
    # GIVEN the escalation state machine
    definition = _definition(template)
    states = definition["States"]
    step_id, _ = function_of(template, ESCALATION_STEP)
    # THEN it starts with a wait read from the input, and each step is wait -> task -> check
    assert definition["StartAt"] == "WaitBeforeSoftReset"
    order = []
    name: str | None = "WaitBeforeSoftReset"
    while name in states and states[name]["Type"] != "Succeed":
        order.append(name)
        state = states[name]
        name = state.get("Next") or state.get("Default")
    order.append(str(name))
    assert order == [
        "WaitBeforeSoftReset",
        "SoftReset",
        "ClearedAfterSoftReset",
        "WaitBeforeHardReset",
        "HardReset",
        "ClearedAfterHardReset",
        "WaitBeforeEscalate",
        "Escalate",
        "ClearedAfterEscalate",
        "Escalated",
    ]
    for step, action in (
        ("SoftReset", "soft-reset"),
        ("HardReset", "hard-reset"),
        ("Escalate", "escalate"),
    ):
        wait, task, check = states[f"WaitBefore{step}"], states[step], states[f"ClearedAfter{step}"]
        assert wait["SecondsPath"] == "$.waitSeconds"
        # The task calls the step function with the alert and its action, keeps its answer
        assert task["Resource"] == f"fn:{step_id}"
        assert task["Parameters"] == {
            "tenantId.$": "$.tenantId",
            "alertId.$": "$.alertId",
            "action": action,
        }
        assert task["ResultPath"] == "$.step"
        # A bad input is never retried; anything else is, and then the execution fails
        retriers = task["Retry"]
        assert retriers[0] == {"ErrorEquals": ["InvalidStepInputError"], "MaxAttempts": 0}
        assert retriers[-1]["ErrorEquals"] == ["States.ALL"]
        assert [c["Next"] for c in task["Catch"]] == ["EscalationFailed"]
        # AND a cleared condition stops the workflow after every step
        assert check["Choices"] == [
            {"Variable": "$.step.cleared", "BooleanEquals": True, "Next": "Cleared"}
        ]
    assert states["Cleared"]["Type"] == "Succeed"
    assert states["EscalationFailed"]["Type"] == "Fail"


def test_escalation_machine_logs_traces_and_has_a_timeout(template: dict[str, Any]) -> None:
    [machine] = [
        m["Properties"]
        for logical_id, m in resources(template, "AWS::StepFunctions::StateMachine").items()
        if logical_id.startswith("OperationsEscalation")
    ]
    definition = _definition(template)
    # THEN the whole execution is logged and traced, and it ends within three waits and an hour
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["StateMachineType"] == "STANDARD"
    assert definition["TimeoutSeconds"] == 3 * 300 + 3600


def test_escalation_starter_runs_on_fault_alerts_only_with_dead_letters(
    template: dict[str, Any],
) -> None:
    # GIVEN the starter function
    function_id, props = function_of(template, ESCALATION_START)
    [rule] = rules_targeting(template, function_id)
    # THEN its rule matches AlertOpened of faults only, retried and dead-lettered
    assert rule["EventPattern"] == {
        "source": ["csms.alerts"],
        "detail-type": ["AlertOpened"],
        "detail": {"data": {"kind": ["faulted"]}},
    }
    [target] = rule["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 10
    assert "DeadLetterConfig" in target
    # AND it may start executions and note the start on the alert, with the wait it passes on
    allowed = allowed_actions(template, props)
    assert "states:StartExecution" in allowed
    assert "dynamodb:PutItem" in allowed
    variables = props["Environment"]["Variables"]
    assert variables["CSMS_ESCALATION_WAIT_S"] == "300"
    assert "CSMS_ESCALATION_STATE_MACHINE_ARN" in variables


def test_escalation_step_may_send_to_stations_but_no_mail_without_a_sender(
    template: dict[str, Any],
) -> None:
    # GIVEN the step function of a stack deployed without csms:notifyFrom
    _, props = function_of(template, ESCALATION_STEP)
    allowed = allowed_actions(template, props)
    # THEN it may use the table and station connections, and nothing of SES
    assert {"dynamodb:PutItem", "execute-api:ManageConnections"} <= allowed
    assert not {a for a in allowed if a.startswith("ses:")}
    assert "CSMS_NOTIFY_FROM" not in props["Environment"]["Variables"]


def test_escalation_alarms_watch_failed_executions_and_the_dead_letters(
    template: dict[str, Any],
) -> None:
    descriptions = {
        alarm["Properties"].get("AlarmDescription")
        for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
    }
    assert "A fault alert's escalation could not be started" in descriptions
    assert any(d and d.startswith("A fault escalation failed") for d in descriptions)


def test_escalation_context_sets_the_sender_and_the_wait() -> None:
    # GIVEN a deployment with a sender address and a 10-minute wait
    context = {NOTIFY_FROM: "alerts@example.com", ESCALATION_WAIT_MINUTES: "10"}
    # WHEN synthesizing
    _, stack = build_app(context=context, skip_bundling=True, nag=False)
    from aws_cdk.assertions import Template

    template = dict(Template.from_stack(stack).to_json())
    _, props = function_of(template, ESCALATION_STEP)
    # THEN the step function sends from that address, allowed to only that identity (or its
    # domain), and every wait is 10 minutes
    variables = props["Environment"]["Variables"]
    assert variables["CSMS_NOTIFY_FROM"] == "alerts@example.com"
    assert variables["CSMS_ESCALATION_WAIT_S"] == "600"
    [role] = props["Role"]["Fn::GetAtt"][:1]
    statements = [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if role in json.dumps(policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "ses:SendEmail"
    ]
    [statement] = statements
    resources_text = json.dumps(statement["Resource"])
    assert "identity/alerts@example.com" in resources_text
    assert "identity/example.com" in resources_text
    assert _definition(template)["TimeoutSeconds"] == 3 * 600 + 3600


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (NOTIFY_FROM, "not-an-address", "must be an e-mail address"),
        (ESCALATION_WAIT_MINUTES, "0", "1 to 60 whole minutes"),
        (ESCALATION_WAIT_MINUTES, "soon", "1 to 60 whole minutes"),
    ],
)
def test_escalation_context_that_is_wrong_is_refused_by_name(
    key: str, value: str, message: str
) -> None:
    # WHEN synthesizing with a wrong value
    with pytest.raises(ValueError, match=message) as raised:
        build_app(context={key: value}, skip_bundling=True, nag=False)
    # THEN the error names the context key
    assert key in str(raised.value)
