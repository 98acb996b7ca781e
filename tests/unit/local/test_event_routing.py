"""The local runtime's EventBridge rules: patterns read from the template, matched in process."""

from __future__ import annotations

from typing import Any

import pytest

from csms_local import emulation
from csms_local.emulation import EventRouter, event_rules, pattern_matches

STARTED = {
    "source": "csms.sessions",
    "detail-type": "TransactionStarted",
    "detail": {"metadata": {"tenant_id": "t1"}, "data": {"site_id": "s1", "evse": None}},
}


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ({"source": ["csms.sessions"]}, True),
        ({"source": ["csms.load", "csms.sessions"], "detail-type": ["TransactionStarted"]}, True),
        ({"source": ["csms.sessions"], "detail-type": ["TransactionEnded"]}, False),
        ({"source": [{"prefix": "csms."}]}, True),
        ({"source": [{"prefix": "aws."}]}, False),
        ({"detail": {"data": {"site_id": ["s1"]}}}, True),
        ({"detail": {"data": {"site_id": ["s2"]}}}, False),
        ({"detail": {"data": {"site_id": [{"exists": True}]}}}, True),
        ({"detail": {"data": {"station_id": [{"exists": False}]}}}, True),
        ({"detail": {"data": {"station_id": [{"exists": True}]}}}, False),
        # A field that is null is present: exists matches it, a value does not.
        ({"detail": {"data": {"evse": [{"exists": True}]}}}, True),
        ({"detail": {"metadata": ["t1"]}}, False),
        ({"detail": {"nothing": {"deeper": ["x"]}}}, False),
        ({"source": "csms.sessions"}, False),
        ({"source": [{"anything-but": "x"}]}, False),
    ],
)
def test_pattern_matches_like_eventbridge_for_what_our_rules_use(
    pattern: dict[str, Any], matches: bool
) -> None:
    # GIVEN a TransactionStarted event and a rule pattern
    # WHEN matching THEN exact values, prefixes, exists and nesting behave as in EventBridge, and
    # an operator we do not implement matches nothing (never a delivery by mistake)
    assert pattern_matches(pattern, STARTED) is matches


def test_pattern_matches_any_value_of_a_list_field() -> None:
    # GIVEN an event whose field is a list (EventBridge matches if any element does)
    event = {"resources": ["arn:a", "arn:b"]}
    # WHEN / THEN
    assert pattern_matches({"resources": ["arn:b"]}, event)
    assert not pattern_matches({"resources": ["arn:c"]}, event)


def _function(handler: str) -> dict[str, Any]:
    return {"Type": "AWS::Lambda::Function", "Properties": {"Handler": handler}}


def test_event_rules_are_the_templates_pattern_rules_with_function_targets() -> None:
    # GIVEN a template with a pattern rule on a function, a schedule rule, a disabled rule, and
    # a pattern rule on a queue
    pattern = {"source": ["csms.sessions"], "detail-type": ["TransactionStarted"]}
    template = {
        "Resources": {
            "Fn": _function("pkg.mod.handler"),
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "OnEvents": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": pattern,
                    "Targets": [{"Arn": {"Fn::GetAtt": ["Fn", "Arn"]}, "Id": "t"}],
                },
            },
            "Schedule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "ScheduleExpression": "rate(1 minute)",
                    "Targets": [{"Arn": {"Fn::GetAtt": ["Fn", "Arn"]}, "Id": "t"}],
                },
            },
            "Disabled": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": pattern,
                    "State": "DISABLED",
                    "Targets": [{"Arn": {"Fn::GetAtt": ["Fn", "Arn"]}, "Id": "t"}],
                },
            },
            "ToQueue": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": pattern,
                    "Targets": [{"Arn": {"Fn::GetAtt": ["Queue", "Arn"]}, "Id": "q"}],
                },
            },
        }
    }
    # WHEN reading its event rules
    rules = event_rules(template)
    # THEN only the enabled pattern rule with a function target is routed, with its handler
    assert [(r.rule, r.handler, r.pattern) for r in rules] == [
        ("OnEvents", "pkg.mod.handler", pattern)
    ]


def test_event_router_invokes_every_matching_handler_and_survives_a_failing_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN two rules for TransactionStarted (one whose handler fails) and one for another type
    calls: list[tuple[str, str]] = []

    def run(rule: emulation.EventRule, event: dict[str, Any]) -> None:
        calls.append((rule.rule, event["detail-type"]))
        if rule.rule == "Broken":
            raise RuntimeError("handler failed")

    monkeypatch.setattr(emulation.EventRule, "run", run)
    started = {"source": ["csms.sessions"], "detail-type": ["TransactionStarted"]}
    router = EventRouter(
        [
            emulation.EventRule("Broken", started, "x.y"),
            emulation.EventRule("Rebalance", started, "x.y"),
            emulation.EventRule("Billing", {"detail-type": ["TransactionEnded"]}, "x.y"),
        ],
        queue_url="unused",
    )
    # WHEN a TransactionStarted is delivered
    invoked = router.deliver(STARTED)
    # THEN both of its rules ran, in order, and the failure did not stop the second
    assert invoked == 2
    assert calls == [("Broken", "TransactionStarted"), ("Rebalance", "TransactionStarted")]


def test_event_router_without_rules_reads_nothing() -> None:
    # GIVEN a template without pattern rules WHEN routing THEN the queue is not even read
    assert EventRouter([], queue_url="never-read").route() == 0
