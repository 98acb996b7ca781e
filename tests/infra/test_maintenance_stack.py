"""Maintenance's constructs: the daily plan run, its schedule, permissions and alarm."""

from __future__ import annotations

from typing import Any

from tests.infra.test_rebalance_stack import allowed_actions, function_of, rules_targeting
from tests.infra.test_stack import resources

from csms_infra.maintenance import SCHED_MAINTENANCE


def test_maintenance_plan_run_is_scheduled_daily_with_table_access(
    template: dict[str, Any],
) -> None:
    # GIVEN the synthesized template
    function_id, props = function_of(template, SCHED_MAINTENANCE)
    # WHEN looking at the rules that invoke the plan run and at what it may do
    [rule] = rules_targeting(template, function_id)
    allowed = allowed_actions(template, props)
    # THEN it runs once a day, retried, and may read and write the table but sends nothing
    assert rule["ScheduleExpression"] == "rate(1 day)"
    [target] = rule["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    assert {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:BatchGetItem"} <= allowed
    assert not {a for a in allowed if not a.startswith(("dynamodb:", "logs:", "xray:"))}
    assert props["Timeout"] == 300


def test_maintenance_plan_run_failures_raise_an_alarm(template: dict[str, Any]) -> None:
    # GIVEN the synthesized template
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    # WHEN looking for the plan run's alarm
    [alarm] = [
        a["Properties"]
        for a in alarms
        if a["Properties"].get("AlarmDescription") == "The daily maintenance plan run failed"
    ]
    # THEN it watches the function's errors
    assert alarm["MetricName"] == "Errors"
    assert alarm["Threshold"] == 1
