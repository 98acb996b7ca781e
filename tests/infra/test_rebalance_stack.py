"""The load management functions: their triggers, schedule, environment and grants."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template
from tests.infra.test_stack import references, resources

from csms_infra.assembly import REBALANCE_MINUTES, build_app
from csms_infra.stack import (
    EVT_REBALANCE,
    REBALANCE_DETAIL_TYPES,
    REBALANCE_SOURCES,
    SCHED_REBALANCE,
)


def function_of(template: dict[str, Any], handler: str) -> tuple[str, dict[str, Any]]:
    """The logical id and properties of the function with this handler."""
    [(logical_id, props)] = [
        (logical_id, fn["Properties"])
        for logical_id, fn in resources(template, "AWS::Lambda::Function").items()
        if fn["Properties"]["Handler"] == handler
    ]
    return logical_id, props


def rules_targeting(template: dict[str, Any], function_id: str) -> list[dict[str, Any]]:
    return [
        rule["Properties"]
        for rule in resources(template, "AWS::Events::Rule").values()
        for target in rule["Properties"]["Targets"]
        if function_id in set(references(target["Arn"]))
    ]


def allowed_actions(template: dict[str, Any], function: dict[str, Any]) -> set[str]:
    [role] = references(function["Role"])
    actions: set[str] = set()
    for policy in resources(template, "AWS::IAM::Policy").values():
        if role not in set(references(policy["Properties"]["Roles"])):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            action = statement["Action"]
            actions.update([action] if isinstance(action, str) else action)
    return actions


def test_rebalance_runs_on_session_and_load_events_of_the_bus(template: dict[str, Any]) -> None:
    # GIVEN the synthesized template
    function_id, _ = function_of(template, EVT_REBALANCE)
    # WHEN looking for the rules that invoke the rebalance
    [rule] = rules_targeting(template, function_id)
    # THEN one rule on the CSMS bus matches the session starts and ends, load changes and the
    # schedule's requests, retried twice and dropped once older than five minutes
    assert rule["EventPattern"] == {
        "source": list(REBALANCE_SOURCES),
        "detail-type": list(REBALANCE_DETAIL_TYPES),
    }
    assert set(REBALANCE_DETAIL_TYPES) == {
        "TransactionStarted",
        "TransactionEnded",
        "LoadChanged",
        "RebalanceRequested",
    }
    [bus_id] = references(rule["EventBusName"])
    assert template["Resources"][bus_id]["Type"] == "AWS::Events::EventBus"
    [target] = rule["Targets"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 300}


def test_rebalance_schedule_asks_every_minute_by_default(template: dict[str, Any]) -> None:
    # GIVEN the synthesized template (no context)
    function_id, _ = function_of(template, SCHED_REBALANCE)
    # WHEN looking for the rule that invokes the fan-out
    [rule] = rules_targeting(template, function_id)
    # THEN it is a schedule of one minute (on the default bus, as schedules are)
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert "EventPattern" not in rule


def test_rebalance_schedule_period_comes_from_the_context() -> None:
    # GIVEN an operator who wants a rebalance every 5 minutes
    _, stack = build_app(context={REBALANCE_MINUTES: "5"}, skip_bundling=True, nag=False)
    # WHEN synthesizing
    template = dict(Template.from_stack(stack).to_json())
    function_id, _ = function_of(template, SCHED_REBALANCE)
    # THEN the schedule says so
    [rule] = rules_targeting(template, function_id)
    assert rule["ScheduleExpression"] == "rate(5 minutes)"


def test_rebalance_schedule_period_out_of_range_is_refused() -> None:
    # GIVEN a period of 0 minutes WHEN synthesizing THEN it is refused, naming the setting
    with pytest.raises(ValueError, match=REBALANCE_MINUTES):
        build_app(context={REBALANCE_MINUTES: "0"}, skip_bundling=True, nag=False)


def test_rebalance_functions_have_their_settings(template: dict[str, Any]) -> None:
    # GIVEN both load management functions
    for handler in (EVT_REBALANCE, SCHED_REBALANCE):
        _, props = function_of(template, handler)
        variables = props["Environment"]["Variables"]
        # THEN each knows the table, the bus, the stations' management endpoint and how long
        # a profile may wait for its station
        assert {
            "CSMS_TABLE_NAME",
            "CSMS_EVENT_BUS_NAME",
            "CSMS_WS_MANAGEMENT_ENDPOINT",
            "CSMS_REBALANCE_PROFILE_TTL_S",
        } <= set(variables), handler
    _, rebalance = function_of(template, EVT_REBALANCE)
    assert rebalance["Timeout"] == 60


def test_rebalance_functions_get_least_privilege_grants(template: dict[str, Any]) -> None:
    # GIVEN the two functions' roles
    _, rebalance = function_of(template, EVT_REBALANCE)
    _, schedule = function_of(template, SCHED_REBALANCE)
    rebalance_actions = allowed_actions(template, rebalance)
    schedule_actions = allowed_actions(template, schedule)
    # THEN the rebalance reads and writes the table and sends CALLs to stations, and puts no
    # events; the schedule reads the table and puts events, and writes nothing
    assert {
        "dynamodb:Query",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "execute-api:ManageConnections",
    } <= rebalance_actions
    assert "events:PutEvents" not in rebalance_actions
    assert {"dynamodb:Query", "events:PutEvents"} <= schedule_actions
    assert not {a for a in schedule_actions if a in {"dynamodb:PutItem", "dynamodb:UpdateItem"}}
    assert "execute-api:ManageConnections" not in schedule_actions
    for actions in (rebalance_actions, schedule_actions):
        assert not [a for a in actions if a.endswith(":*")]
