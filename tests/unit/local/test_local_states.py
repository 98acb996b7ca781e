"""The local runner of the template's state machines: the states we use, refusals, retries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from csms_local import emulation, states
from csms_local.errors import TemplateError
from csms_local.states import Execution, LocalStateMachine

FN = "function:tests.handler"


def _machine(states_: dict[str, Any], start: str, **options: Any) -> LocalStateMachine:
    return LocalStateMachine({"StartAt": start, "States": states_}, background=False, **options)


class Calls:
    """A stand-in for Lambda: answers from a script, records what it was asked."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.payloads: list[Any] = []

    def __call__(self, handler: str, payload: Any) -> Any:
        assert handler == "tests.handler"
        self.payloads.append(payload)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class FlakyError(Exception):
    pass


class RefusedError(Exception):
    pass


def _task(**extra: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": FN,
        "Parameters": {"id.$": "$.id", "fixed": 1, "nested": {"who.$": "$.who.name"}},
        "ResultPath": "$.result",
        **extra,
    }


def test_task_gets_its_parameters_and_its_result_lands_at_the_result_path() -> None:
    # GIVEN a task then a choice on its result
    calls = Calls({"ok": True})
    machine = _machine(
        {
            "Call": _task(Next="Check"),
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.result.ok", "BooleanEquals": True, "Next": "Done"}],
                "Default": "Bad",
            },
            "Done": {"Type": "Succeed"},
            "Bad": {"Type": "Fail", "Error": "Bad", "Cause": "not ok"},
        },
        "Call",
        invoke=calls,
    )
    # WHEN an execution runs
    assert machine.start("run-1", json.dumps({"id": "a-1", "who": {"name": "ops"}}))
    execution = machine.executions["run-1"]
    # THEN the task got its filled-in parameters and the choice read its result
    assert calls.payloads == [{"id": "a-1", "fixed": 1, "nested": {"who": "ops"}}]
    assert (execution.status, execution.states) == ("SUCCEEDED", ["Call", "Check", "Done"])
    assert execution.output == {"id": "a-1", "who": {"name": "ops"}, "result": {"ok": True}}


def test_a_name_runs_once() -> None:
    calls = Calls({}, {})
    machine = _machine({"Call": _task(End=True)}, "Call", invoke=calls)
    assert machine.start("same", json.dumps({"id": "1", "who": {"name": "x"}}))
    assert not machine.start("same", json.dumps({"id": "1", "who": {"name": "x"}}))
    assert len(calls.payloads) == 1


def test_retries_follow_the_first_matching_retrier_then_the_catch() -> None:
    # GIVEN a task that fails twice with a retried error, and a refusal that is never retried
    definition = {
        "Call": _task(
            Next="Done",
            Retry=[
                {"ErrorEquals": ["RefusedError"], "MaxAttempts": 0},
                {"ErrorEquals": ["States.ALL"], "MaxAttempts": 2},
            ],
            Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught", "ResultPath": "$.error"}],
        ),
        "Done": {"Type": "Succeed"},
        "Caught": {"Type": "Pass", "Next": "Failed"},
        "Failed": {"Type": "Fail", "Error": "GaveUp", "Cause": "failed for good"},
    }
    document = json.dumps({"id": "1", "who": {"name": "x"}})
    flaky = Calls(FlakyError("a"), FlakyError("b"), {"ok": True})
    refused = Calls(RefusedError("no"))
    exhausted = Calls(FlakyError("a"), FlakyError("b"), FlakyError("c"))
    results: dict[str, Execution] = {}
    for name, calls in (("flaky", flaky), ("refused", refused), ("exhausted", exhausted)):
        machine = _machine(definition, "Call", invoke=calls)
        machine.start(name, document)
        results[name] = machine.executions[name]
    # THEN the flaky task succeeded on its third attempt
    assert results["flaky"].status == "SUCCEEDED"
    assert len(flaky.payloads) == 3
    # AND the refusal went to the catch at once, and the execution failed there
    assert len(refused.payloads) == 1
    assert results["refused"].states == ["Call", "Caught", "Failed"]
    assert results["refused"].status == "FAILED"
    assert results["refused"].error == "GaveUp: failed for good"
    # AND retries run out after their maximum
    assert len(exhausted.payloads) == 3
    assert results["exhausted"].status == "FAILED"


def test_an_error_nothing_catches_fails_the_execution() -> None:
    machine = _machine({"Call": _task(End=True)}, "Call", invoke=Calls(FlakyError("boom")))
    machine.start("x", json.dumps({"id": "1", "who": {"name": "x"}}))
    execution = machine.executions["x"]
    assert execution.status == "FAILED"
    assert execution.error == "FlakyError: boom"


def test_waits_read_their_seconds_and_a_stop_aborts_a_waiting_execution() -> None:
    # GIVEN a wait of an hour read from the input, run in the background
    machine = LocalStateMachine(
        {
            "StartAt": "Wait",
            "States": {
                "Wait": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Short"},
                "Short": {"Type": "Wait", "Seconds": 0, "Next": "Done"},
                "Done": {"Type": "Succeed"},
            },
        }
    )
    machine.start("long", json.dumps({"wait": 3600}))
    execution = machine.executions["long"]
    assert not execution.done.wait(0.05)
    # WHEN the runtime stops
    machine.stop()
    # THEN the execution ends at once, aborted in its wait
    assert execution.done.wait(5)
    assert (execution.status, execution.states) == ("ABORTED", ["Wait"])


def test_scaled_waits_pass_quickly() -> None:
    machine = LocalStateMachine(
        {
            "StartAt": "Wait",
            "States": {
                "Wait": {"Type": "Wait", "Seconds": 600, "Next": "Done"},
                "Done": {"Type": "Succeed"},
            },
        },
        time_scale=0.0,
    )
    machine.start("quick", "{}")
    execution = machine.executions["quick"]
    assert execution.done.wait(5)
    assert execution.status == "SUCCEEDED"


def test_choice_on_strings_and_a_missing_variable_takes_the_default() -> None:
    definition = {
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.kind", "StringEquals": "fault", "Next": "Fault"}],
            "Default": "Other",
        },
        "Fault": {"Type": "Succeed"},
        "Other": {"Type": "Succeed"},
    }
    seen = {}
    for name, document in (("a", {"kind": "fault"}), ("b", {"kind": "x"}), ("c", {})):
        machine = _machine(definition, "Check")
        machine.start(name, json.dumps(document))
        seen[name] = machine.executions[name].states[-1]
    assert seen == {"a": "Fault", "b": "Other", "c": "Other"}


def test_choice_without_a_match_or_default_and_a_missing_path_fail() -> None:
    choice = {"Variable": "$.x", "BooleanEquals": True, "Next": "D"}
    no_default = _machine(
        {"Check": {"Type": "Choice", "Choices": [choice]}, "D": {"Type": "Succeed"}}, "Check"
    )
    no_default.start("a", json.dumps({"x": False}))
    assert no_default.executions["a"].error == "States.NoChoiceMatched"
    missing = _machine({"Call": _task(End=True)}, "Call", invoke=Calls({}))
    missing.start("b", json.dumps({"who": {"name": "x"}}))
    assert missing.executions["b"].error == "States.Runtime: $.id is not in the input"


def test_pass_and_result_paths_of_dollar_and_null() -> None:
    machine = _machine(
        {
            "Set": {"Type": "Pass", "Result": {"a": 1}, "ResultPath": "$.set", "Next": "Replace"},
            "Replace": _task(ResultPath="$", Next="Discard"),
            "Discard": _task(ResultPath=None, End=True),
        },
        "Set",
        invoke=Calls({"id": "2", "who": {"name": "y"}}, {"ignored": True}),
    )
    machine.start("p", json.dumps({"id": "1", "who": {"name": "x"}}))
    assert machine.executions["p"].output == {"id": "2", "who": {"name": "y"}}


def test_unsupported_states_and_tasks_are_refused_when_loaded() -> None:
    with pytest.raises(TemplateError, match="is a Map"):
        LocalStateMachine({"StartAt": "M", "States": {"M": {"Type": "Map"}}})
    with pytest.raises(TemplateError, match="calls no function"):
        LocalStateMachine(
            {
                "StartAt": "T",
                "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage"}},
            }
        )


def test_a_looping_definition_stops() -> None:
    machine = _machine({"Loop": {"Type": "Pass", "Next": "Loop"}}, "Loop")
    machine.start("loop", "{}")
    assert machine.executions["loop"].error == "States.Runtime: too many transitions"


def test_template_definitions_resolve_function_arns_to_handlers() -> None:
    # GIVEN the synthesized template (`make test` synthesizes it first)
    template = emulation.load_template(synth_if_missing=False)
    machines = states.state_machines(template)
    # THEN the escalation machine's tasks call the step handler, and it can be run here
    escalation = states.state_machine(template, "OperationsEscalation")
    resources = {s.get("Resource") for s in escalation["States"].values() if s["Type"] == "Task"}
    assert resources == {"function:csms.handlers.sfn_escalation.step_handler"}
    assert len(machines) >= 2
    LocalStateMachine(escalation)
    with pytest.raises(TemplateError, match="expected one state machine"):
        states.state_machine(template, "Nothing")


def test_a_state_machine_without_a_definition_is_refused() -> None:
    template = {"Resources": {"M": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {}}}}
    with pytest.raises(TemplateError, match="no definition"):
        states.state_machines(template)
    plain = {
        "Resources": {
            "M": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"DefinitionString": json.dumps({"StartAt": "A", "States": {}})},
            }
        }
    }
    assert states.state_machines(plain) == {"M": {"StartAt": "A", "States": {}}}
