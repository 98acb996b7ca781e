"""The billing workflow's cost model: transitions from its definition, logs, bill per session."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cost.billing import (
    WORKFLOW_LINES,
    WorkflowPrices,
    WorkflowUsage,
    billed_transitions,
    billing_bill,
    execution_log_bytes,
    history,
    line_total,
    per_unit,
    state_machine_definition,
    success_path,
    workflow_lines,
)
from cost.billing_run import (
    BILLING_HANDLERS,
    KindResult,
    _months,
    billing_memory,
    is_resident,
    kind_figures,
    merge,
    render_markdown,
)
from cost.pricing import GB, MILLION, FunctionUsage, Line, Usage, bill
from cost.profile import Profile

# The shape CDK synthesizes for the billing state machine (infra/csms_infra/billing.py): a
# definition string joined around the functions' ARNs.
_BILL_ARN = {"Fn::GetAtt": ["BillingBillFunction", "Arn"]}
_ALERT_ARN = {"Fn::GetAtt": ["BillingAlertFunction", "Arn"]}
BILLING_TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Machine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "DefinitionString": {
                    "Fn::Join": [
                        "",
                        [
                            '{"StartAt":"Bill","States":{"Bill":{"Next":"Billed","Retry":[],'
                            '"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Alert"}],'
                            '"Type":"Task","ResultPath":"$.billed","Resource":"',
                            _BILL_ARN,
                            '"},"Billed":{"Type":"Succeed"},"Alert":{"Next":"NotBilled",'
                            '"Type":"Task","Resource":"',
                            _ALERT_ARN,
                            '"},"NotBilled":{"Type":"Fail"}}}',
                        ],
                    ]
                }
            },
        },
        "Bill": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Handler": BILLING_HANDLERS["billing_bill"], "MemorySize": 256},
        },
        "Relay": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Handler": "csms.handlers.stream_outbox.lambda_handler"},
        },
    }
}
INPUT = json.dumps({"tenantId": "default", "sessionId": "S-1", "revision": 1})
OUTPUT = json.dumps({"sessionId": "S-1", "revision": 1, "cdrId": "cdr-1", "invoiceId": "inv-1"})


def _definition() -> dict[str, Any]:
    return state_machine_definition(BILLING_TEMPLATE)


# -- the definition ----------------------------------------------------------------------------
def test_state_machine_definition_resolves_the_joined_string_around_function_arns() -> None:
    # GIVEN a template whose definition string is joined around the functions' ARNs
    # WHEN the definition is read
    definition = _definition()

    # THEN it is the state machine, with the tokens replaced by a function ARN
    assert definition["StartAt"] == "Bill"
    assert definition["States"]["Bill"]["Resource"].startswith("arn:aws:lambda:")


def test_state_machine_definition_takes_a_plain_string_as_it_is() -> None:
    # GIVEN a definition given as a plain string
    template = {
        "Resources": {
            "M": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"DefinitionString": '{"StartAt":"A","States":{}}'},
            }
        }
    }
    # WHEN it is read THEN it is parsed as it is
    assert state_machine_definition(template) == {"StartAt": "A", "States": {}}


@pytest.mark.parametrize(
    "resources",
    [
        {},
        {
            "A": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {}},
            "B": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {}},
        },
        {"A": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {"DefinitionString": 1}}},
    ],
)
def test_state_machine_definition_refuses_a_template_without_exactly_one_readable_machine(
    resources: dict[str, Any],
) -> None:
    # GIVEN no machine, two machines, or a definition that is no string
    # WHEN it is read THEN it is refused rather than guessed
    with pytest.raises(ValueError, match=r"state machine|definition"):
        state_machine_definition({"Resources": resources})


# -- transitions -------------------------------------------------------------------------------
def test_success_path_follows_next_to_the_succeed_state_not_the_catch() -> None:
    # GIVEN the billing state machine (Bill -> Billed, Catch -> Alert -> NotBilled)
    # WHEN its success path is walked
    # THEN it enters Bill then Billed only
    assert success_path(_definition()) == ["Bill", "Billed"]


def test_billed_transitions_count_states_entered_retries_and_start_and_end() -> None:
    # GIVEN the billing state machine
    definition = _definition()

    # WHEN transitions are counted
    # THEN the states entered are 2; retries add one each; START and END add two
    assert billed_transitions(definition, start_and_end=False) == 2
    assert billed_transitions(definition) == 4
    assert billed_transitions(definition, retries=3) == 7


def test_success_path_ends_at_a_state_marked_end() -> None:
    # GIVEN a Pass -> Task(End) machine
    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Next": "T"}, "T": {"Type": "Task", "End": True}},
    }
    # WHEN walked THEN both are entered
    assert success_path(definition) == ["P", "T"]


@pytest.mark.parametrize(
    ("states", "match"),
    [
        ({"A": {"Type": "Choice"}}, "not modelled"),
        ({"A": {"Type": "Fail"}}, "Fail"),
        ({"A": {"Type": "Pass", "Next": "A"}}, "loops"),
        ({"A": {"Type": "Pass"}}, "no terminal"),
    ],
)
def test_success_path_refuses_what_it_cannot_walk(states: dict[str, Any], match: str) -> None:
    # GIVEN a branching, failing, looping or endless machine
    # WHEN its success path is walked THEN it is refused
    with pytest.raises(ValueError, match=match):
        success_path({"StartAt": "A", "States": states})


# -- the state machine's logs ------------------------------------------------------------------
def test_history_of_a_lambda_task_has_lambda_function_events() -> None:
    # GIVEN the billing machine (its Bill task's resource is a function ARN)
    # WHEN the history of a successful execution is listed
    kinds = [kind for kind, _ in history(_definition())]

    # THEN it starts and ends the execution around the task's and the Succeed state's events
    assert kinds == [
        "ExecutionStarted",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        "SucceedStateEntered",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]


def test_history_of_a_service_task_has_task_events() -> None:
    # GIVEN a task that is no function ARN (an SDK integration)
    definition = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": 1}},
    }
    # WHEN listed THEN the task's events are Task* events
    assert [k for k, _ in history(definition)][2:5] == [
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
    ]


def test_execution_log_bytes_grow_with_the_data_the_execution_carries() -> None:
    # GIVEN the billing machine and a small and a large task output
    definition = _definition()
    small = execution_log_bytes(definition, INPUT, OUTPUT)
    large_output = json.dumps({**json.loads(OUTPUT), "pad": "x" * 1000})

    # WHEN the larger output is logged
    large = execution_log_bytes(definition, INPUT, large_output)

    # THEN each record is a few hundred bytes, and the output shows in every record that
    # carries it: the task's result, the two exits and the execution's end
    assert 9 * 200 < small < 9 * 1000
    assert large - small >= 4 * 1000


# -- the bill ----------------------------------------------------------------------------------
def test_workflow_usage_adds_one_execution_with_its_transitions_and_logs() -> None:
    # GIVEN no usage
    usage = WorkflowUsage()

    # WHEN two executions are added, one with a retry
    usage.add_execution(_definition(), INPUT, OUTPUT, retries=0)
    usage.add_execution(_definition(), INPUT, OUTPUT, retries=1)

    # THEN states entered, billed transitions and log bytes add up
    assert (usage.executions, usage.states_entered, usage.transitions) == (2, 5, 9)
    assert usage.log_bytes == 2 * execution_log_bytes(_definition(), INPUT, OUTPUT)


def test_workflow_lines_price_transitions_logs_and_traces_at_list_prices() -> None:
    # GIVEN a million executions' worth of transitions, a GB of logs and a million traces
    usage = WorkflowUsage(transitions=4 * MILLION, log_bytes=GB, traces=MILLION)

    # WHEN priced
    lines = workflow_lines(usage)

    # THEN 0.025 USD per 1,000 transitions, 0.50 per GB, 5.00 per million traces
    assert [line.name for line in lines] == list(WORKFLOW_LINES)
    assert [line.usd for line in lines] == pytest.approx([100.0, 0.5, 5.0])
    assert WorkflowPrices().as_dict()["sfn_transition_per_thousand"] == 0.025


def test_billing_bill_keeps_the_station_lines_that_apply_and_adds_the_workflows() -> None:
    # GIVEN one Bill invocation of 100 ms at 256 MB with 2 WRU and a relay invocation
    usage = Usage(dynamodb_wru=2, eventbridge_entries=1, eventbridge_units=1)
    usage.function("billing_bill", 256).add(0.1, 0.05, 100)
    usage.function("stream_outbox", 256).add(0.005, 0.004, 50)
    workflow = WorkflowUsage(transitions=4)

    # WHEN billed
    lines = billing_bill(usage, workflow)

    # THEN no WebSocket line, the station lines' figures unchanged, the workflow's appended
    names = [line.name for line in lines]
    assert "API Gateway messages" not in names
    assert names[-3:] == list(WORKFLOW_LINES)
    by_name = {line.name: line for line in bill(usage)}
    assert all(by_name[line.name] == line for line in lines[:-3])
    assert line_total(lines) == pytest.approx(line_total(bill(usage)) + 4 * 0.025 / 1000)


def test_per_unit_divides_quantities_and_dollars_and_refuses_nothing_to_divide_by() -> None:
    # GIVEN a bill of 10 sessions
    lines = [Line("x", 10, "u", 1.0)]
    # WHEN divided THEN each session's share is a tenth
    assert per_unit(lines, 10) == [Line("x", 1.0, "u", 0.1)]
    # AND dividing by no sessions is refused
    with pytest.raises(ValueError, match="positive"):
        per_unit(lines, 0)


# -- the run's pure helpers --------------------------------------------------------------------
def test_billing_memory_reads_the_functions_present_and_leaves_out_the_absent() -> None:
    # GIVEN a template with the Bill function and the relay (no memory set: 128 MB)
    # WHEN the memory is read
    memory = billing_memory(BILLING_TEMPLATE)

    # THEN those two are there; the pre-authorisation, absent, is left out (its step skipped)
    assert memory == {"billing_bill": 256, "stream_outbox": 128}


def test_residents_are_told_apart_by_their_tokens() -> None:
    assert is_resident("RESIDENT-01")
    assert not is_resident("ADHOC-01")


def test_months_are_those_the_sessions_end_in() -> None:
    # GIVEN 8 days of sessions starting 3 days before a month ends
    start = datetime(2026, 10, 29, tzinfo=UTC)
    # WHEN the months to close are listed THEN both months are there, in order
    assert _months(Profile(days=8), start) == ["2026-10", "2026-11"]


def _kind(count: int) -> KindResult:
    result = KindResult(count=count, stripe_calls=2 * count)
    result.usage.function("billing_bill", 256).add(0.2, 0.1, 400)
    result.usage.dynamodb_wru = 20.0
    result.invocations["billing_bill"] = count
    result.workflow.add_execution(_definition(), INPUT, OUTPUT, retries=0)
    return result


def test_kind_figures_are_per_session_and_price_stripe_latency() -> None:
    # GIVEN two sessions' usage with 4 Stripe calls
    figures = kind_figures(_kind(2))

    # THEN the figures are per session
    assert figures["count"] == 2
    assert figures["dynamodb_wru"] == 10.0
    assert figures["stripe_calls"] == 2.0
    assert figures["transitions"] == 2.0
    assert figures["total_usd"] == pytest.approx(sum(line["usd"] for line in figures["lines"]))
    # AND 100 ms more per Stripe call costs 2 x 0.1 s x 0.25 GB per session at the GB-s price
    assert figures["usd_per_stripe_latency_step"] == pytest.approx(2 * 0.1 * 0.25 * 0.0000133334)
    # AND a kind with no sessions says only that
    assert kind_figures(KindResult()) == {"count": 0}


def test_merge_adds_meters_and_functions() -> None:
    # GIVEN a usage and a part of it
    into = Usage(dynamodb_rru=1)
    part = Usage(dynamodb_rru=2, dynamodb_wru=3, eventbridge_entries=1, eventbridge_units=1)
    part.functions["f"] = FunctionUsage(256, invocations=1, billed_ms=5, log_bytes=7)

    # WHEN merged twice
    merge(into, part)
    merge(into, part)

    # THEN every meter is the sum
    assert (into.dynamodb_rru, into.dynamodb_wru, into.eventbridge_units) == (5, 6, 2)
    assert (into.functions["f"].invocations, into.functions["f"].billed_ms) == (2, 10)


def test_render_markdown_shows_each_provider_kind_and_total() -> None:
    # GIVEN one provider's figures for ad-hoc sessions and statements (no monthly sessions)
    run = {
        "provider": "invoice-only",
        "sessions": 6,
        "notes": ["no pre-authorisation function in the template: not priced"],
        "events": {"CdrCreated": 6},
        "by_kind": {
            "ad-hoc": kind_figures(_kind(2)),
            "monthly": {"count": 0},
            "close": kind_figures(_kind(1)),
        },
        "transitions": {"path": ["Bill", "Billed"], "states_entered": 2, "billed": 4},
    }
    meta = {
        "replayed": "6 sessions",
        "region": "us-east-1",
        "prices_as_of": "2025-11-01",
        "date": "2026-11-24",
        "duration_s": 50.0,
        "python": "3.11",
        "assumptions": ["none"],
    }
    # WHEN rendered
    text = render_markdown({"meta": meta, "runs": [run]})

    # THEN the table has a column pair per kind present, the totals, and the notes
    assert "## Provider: invoice-only" in text
    assert "per ad-hoc session | USD | per statement | USD" in text
    assert "monthly session" not in text.split("## Provider")[1].split("\n\n")[1]
    assert "| **Total** |" in text
    assert "Bill -> Billed: 2 states entered, 4 transitions priced" in text
    assert "Note: no pre-authorisation function" in text
