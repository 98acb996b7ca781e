"""Operations' constructs: the alert detector's trigger and dead letters, the sweep's schedule."""

from __future__ import annotations

from typing import Any

from tests.infra.test_rebalance_stack import allowed_actions, function_of, rules_targeting
from tests.infra.test_stack import resources

from csms_infra.operations import ALERT_DETAIL_TYPES, ALERT_SOURCES, EVT_ALERTS, SCHED_ALERTS


def test_operations_detector_runs_on_station_events_with_a_dead_letter_queue(
    template: dict[str, Any],
) -> None:
    # GIVEN the synthesized template
    function_id, props = function_of(template, EVT_ALERTS)
    # WHEN looking at the rules that invoke the detector
    [rule] = rules_targeting(template, function_id)
    # THEN one rule on the bus matches the station events the detector reads, retried and
    # dead-lettered; the detector may use the table and has its thresholds set
    assert rule["EventPattern"] == {
        "source": list(ALERT_SOURCES),
        "detail-type": list(ALERT_DETAIL_TYPES),
    }
    [target] = rule["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 10
    assert "DeadLetterConfig" in target
    allowed = allowed_actions(template, props)
    assert "dynamodb:PutItem" in allowed
    # Its events ride in its writes (outbox) and it sends nothing to stations.
    assert not {"events:PutEvents", "execute-api:ManageConnections"} & allowed
    assert props["Environment"]["Variables"]["CSMS_ALERT_OFFLINE_GRACE_S"] == "120"


def test_operations_sweep_runs_every_minute(template: dict[str, Any]) -> None:
    # GIVEN the synthesized template
    function_id, _ = function_of(template, SCHED_ALERTS)
    # WHEN looking at the rules that invoke the sweep
    [rule] = rules_targeting(template, function_id)
    # THEN it is a schedule of one minute
    assert rule["ScheduleExpression"] == "rate(1 minute)"


def test_operations_alarms_watch_dead_letters_and_sweep_errors(template: dict[str, Any]) -> None:
    # GIVEN the synthesized template
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    # WHEN looking for the alarms of the detector's queue and of the sweep
    descriptions = {alarm["Properties"].get("AlarmDescription") for alarm in alarms}
    # THEN both exist
    assert "Station events could not be checked for faults" in descriptions
    assert "The alert sweep failed five minutes in a row" in descriptions
