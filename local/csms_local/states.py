"""Step Functions state machines of the template, run in this process (`csms local`).

moto keeps state machines but cannot run Lambda tasks, so the local runtime runs the template's
own definitions: the states, their order, waits, choices, retries and catches are exactly what
`cdk deploy` creates. It understands what our definitions use: Wait (Seconds, SecondsPath), Task
(a Lambda function of the template, `Parameters` with `.$` paths, `ResultPath`, Retry, Catch),
Choice (BooleanEquals, StringEquals, Default), Pass, Succeed and Fail. A state machine that uses
anything else is refused when it is loaded, never half-run.

Each execution runs in a daemon thread; its name runs once (Step Functions refuses a name used
before). Retries follow at once instead of after their interval (a laptop has no use for
waiting); the waits of Wait states are kept, scaled by `time_scale` for tests.
"""

from __future__ import annotations

import copy
import importlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from csms_local.errors import TemplateError
from csms_local.gateway import LambdaContextStub

logger = logging.getLogger(__name__)

_FUNCTION = "function:"
_SUPPORTED = frozenset({"Wait", "Task", "Choice", "Pass", "Succeed", "Fail"})
# A runaway definition (a loop through a Choice) stops here.
_MAX_TRANSITIONS = 1000


class ExecutionFailedError(Exception):
    """A Fail state was reached, or an error no Catch handles."""


def _resolve(parts: list[Any], resources: dict[str, Any]) -> str:
    """A DefinitionString's Fn::Join, its function ARNs replaced by `function:{Handler}`."""
    text = []
    for part in parts:
        if isinstance(part, str):
            text.append(part)
            continue
        logical_id = part.get("Fn::GetAtt", [None])[0] if isinstance(part, dict) else None
        resource = resources.get(str(logical_id), {})
        if resource.get("Type") == "AWS::Lambda::Function":
            text.append(_FUNCTION + resource["Properties"]["Handler"])
        else:
            # Partition, region, account: nothing the local run needs.
            text.append("local")
    return "".join(text)


def state_machines(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state machine of the template by logical id, its definition as JSON."""
    resources = template.get("Resources", {})
    found: dict[str, dict[str, Any]] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::StepFunctions::StateMachine":
            continue
        definition = resource.get("Properties", {}).get("DefinitionString")
        if isinstance(definition, dict) and "Fn::Join" in definition:
            text = _resolve(definition["Fn::Join"][1], resources)
        elif isinstance(definition, str):
            text = definition
        else:
            raise TemplateError(f"state machine {logical_id} has no definition string")
        found[logical_id] = json.loads(text)
    return found


def state_machine(template: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The one state machine whose logical id starts with `prefix`."""
    matching = [d for lid, d in state_machines(template).items() if lid.startswith(prefix)]
    if len(matching) != 1:
        raise TemplateError(f"expected one state machine named {prefix}*, found {len(matching)}")
    return matching[0]


def _path(document: Any, path: str) -> Any:
    """A JSONPath of the simple kind ($, $.a.b)."""
    if path == "$":
        return document
    value = document
    for name in path.removeprefix("$.").split("."):
        if not isinstance(value, dict) or name not in value:
            raise ExecutionFailedError(f"States.Runtime: {path} is not in the input")
        value = value[name]
    return value


def _with_result(document: Any, path: str | None, result: Any) -> Any:
    """ResultPath: where the task's result goes (None discards it, $ replaces the input)."""
    if path is None:
        return document
    if path == "$":
        return result
    updated = copy.deepcopy(document)
    target = updated
    names = path.removeprefix("$.").split(".")
    for name in names[:-1]:
        target = target.setdefault(name, {})
    target[names[-1]] = result
    return updated


def _parameters(template: Any, document: Any) -> Any:
    """Parameters with `key.$` paths filled in from the state's input."""
    if isinstance(template, dict):
        filled = {}
        for key, value in template.items():
            if key.endswith(".$"):
                filled[key[:-2]] = _path(document, value)
            else:
                filled[key] = _parameters(value, document)
        return filled
    if isinstance(template, list):
        return [_parameters(item, document) for item in template]
    return template


def _check(definition: dict[str, Any]) -> None:
    for name, state in definition.get("States", {}).items():
        kind = state.get("Type")
        if kind not in _SUPPORTED:
            raise TemplateError(f"state {name} is a {kind}, which csms local cannot run")
        if kind == "Task" and not str(state.get("Resource", "")).startswith(_FUNCTION):
            raise TemplateError(f"task {name} calls no function of the template")


@dataclass
class Execution:
    """One execution: its states in order, its status and its output."""

    name: str
    status: str = "RUNNING"
    states: list[str] = field(default_factory=list)
    output: Any = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


class LocalStateMachine:
    """Runs executions of one definition in threads (see the module docstring)."""

    def __init__(
        self,
        definition: dict[str, Any],
        *,
        time_scale: float = 1.0,
        invoke: Callable[[str, Any], Any] | None = None,
        background: bool = True,
    ) -> None:
        _check(definition)
        self.definition = definition
        self.time_scale = time_scale
        # False (tests): an execution runs to its end inside `start`, in the caller's thread.
        self.background = background
        self.executions: dict[str, Execution] = {}
        self._invoke = invoke or _invoke_handler
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def start(self, name: str, execution_input: str) -> bool:
        """Start the execution `name` in a thread; False when one of that name exists."""
        with self._lock:
            if name in self.executions:
                return False
            execution = self.executions[name] = Execution(name)
        document = json.loads(execution_input)
        if not self.background:
            self._run(execution, document)
            return True
        thread = threading.Thread(
            target=self._run, args=(execution, document), name=f"sfn-{name}", daemon=True
        )
        thread.start()
        return True

    def stop(self) -> None:
        """Stop every running execution at its next wait (the local runtime is stopping)."""
        self._stopping.set()

    def _run(self, execution: Execution, document: Any) -> None:
        try:
            execution.output = self.run(execution, document)
            execution.status = "SUCCEEDED"
        except _AbortedError:
            execution.status = "ABORTED"
        except ExecutionFailedError as exc:
            execution.status = "FAILED"
            execution.error = str(exc)
            logger.error(
                "state machine execution failed",
                extra={"execution": execution.name, "error": str(exc)},
            )
        finally:
            execution.done.set()

    def run(self, execution: Execution, document: Any) -> Any:
        """Run to the end in this thread; the output (or ExecutionFailedError)."""
        states = self.definition["States"]
        name: str | None = self.definition["StartAt"]
        for _ in range(_MAX_TRANSITIONS):
            if name is None:
                return document
            state = states[name]
            execution.states.append(name)
            kind = state["Type"]
            if kind == "Succeed":
                return document
            if kind == "Fail":
                raise ExecutionFailedError(
                    f"{state.get('Error', 'Failed')}: {state.get('Cause', '')}"
                )
            if kind == "Wait":
                seconds = state.get("Seconds")
                if seconds is None:
                    seconds = _path(document, state["SecondsPath"])
                if self._stopping.wait(float(seconds) * self.time_scale):
                    raise _AbortedError
                name = state.get("Next")
            elif kind == "Pass":
                document = _with_result(
                    document, state.get("ResultPath", "$"), state.get("Result", document)
                )
                name = state.get("Next")
            elif kind == "Choice":
                name = _choose(state, document)
            else:
                document, name = self._task(state, document)
            if state.get("End"):
                return document
        raise ExecutionFailedError("States.Runtime: too many transitions")

    def _task(self, state: dict[str, Any], document: Any) -> tuple[Any, str | None]:
        handler = str(state["Resource"]).removeprefix(_FUNCTION)
        payload = _parameters(state.get("Parameters", {}), document)
        attempts: dict[int, int] = {}
        while True:
            try:
                result = self._invoke(handler, payload)
            except Exception as exc:  # a Lambda function's error, by its class name
                error = type(exc).__name__
                retrier = _matching(state.get("Retry", []), error)
                if retrier is not None:
                    index, rule = retrier
                    attempts[index] = attempts.get(index, 0) + 1
                    if attempts[index] <= int(rule.get("MaxAttempts", 3)):
                        continue
                catcher = _matching(state.get("Catch", []), error)
                if catcher is None:
                    raise ExecutionFailedError(f"{error}: {exc}") from exc
                _, rule = catcher
                failure = {"Error": error, "Cause": str(exc)}
                return _with_result(document, rule.get("ResultPath", "$"), failure), rule["Next"]
            return _with_result(document, state.get("ResultPath", "$"), result), state.get("Next")


class _AbortedError(Exception):
    """The runtime stopped during a wait."""


def _matching(rules: list[dict[str, Any]], error: str) -> tuple[int, dict[str, Any]] | None:
    """The first retrier or catcher naming the error (States.ALL names every error)."""
    for index, rule in enumerate(rules):
        names = rule.get("ErrorEquals", [])
        if error in names or "States.ALL" in names or "States.TaskFailed" in names:
            return index, rule
    return None


def _choose(state: dict[str, Any], document: Any) -> str | None:
    for choice in state.get("Choices", []):
        value = _path(document, choice["Variable"]) if _has(document, choice["Variable"]) else None
        if "BooleanEquals" in choice and value is choice["BooleanEquals"]:
            return str(choice["Next"])
        if "StringEquals" in choice and value == choice["StringEquals"]:
            return str(choice["Next"])
    default = state.get("Default")
    if default is None:
        raise ExecutionFailedError("States.NoChoiceMatched")
    return str(default)


def _has(document: Any, path: str) -> bool:
    try:
        _path(document, path)
    except ExecutionFailedError:
        return False
    return True


def _invoke_handler(handler: str, payload: Any) -> Any:
    """Call a function of the template in this process, as Lambda would."""
    module_name, _, function_name = handler.rpartition(".")
    function = getattr(importlib.import_module(module_name), function_name)
    return function(payload, LambdaContextStub(function_name=handler))
