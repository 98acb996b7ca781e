"""The billing workflow's AWS cost per session: its own meters and their arithmetic (pure).

What one ended session costs beyond the station's messages (`cost.replay` prices those):
the pre-authorisation function (every TransactionStarted reaches it), the starter function
(every TransactionEnded), one Standard Step Functions execution running the Bill task, the
outbox relay's invocations and the events billing writes publish (CdrCreated,
InvoiceFinalized...), and per monthly statement the close's share. Lambda, DynamoDB,
EventBridge and Lambda's logs are metered as the station model meters them (`cost.pricing`);
this module adds what only the workflow has:

- Step Functions Standard state transitions, from the state machine's definition in the
  synthesized template: the states a successful execution enters (following `StartAt` and
  `Next` to a terminal state) plus each retry; and, by the conservative reading of AWS's
  pricing page ("START and END both count"), two more per execution. AWS's own definition
  ("a transition each time a step of your workflow is executed") gives the lower figure, the
  states entered: both are reported, the conservative one is priced;
- the state machine's logs (level ALL, execution data included): the history events of a
  successful execution as CloudWatch Logs records, sized with the execution's real input and
  the Bill task's real output (vended logs, priced as standard ingestion in the first tier);
- X-Ray traces (tracing is active on the state machine and the functions): at most one trace
  per trigger root (an EventBridge or stream delivery); the X-Ray sampling rule records fewer
  (1 a second and 5% of the rest), so this is the worst case.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cost.pricing import GB, MILLION, Line, Prices, Usage, bill

# The same date as cost.pricing: these list prices had not changed since.
WORKFLOW_PRICES_AS_OF = "2025-11-01"
# Entered-state history events each state type writes in a successful run, in order.
_HISTORY = {
    "Task": (
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
    ),
    # A Task whose Resource is a function's ARN (LambdaInvoke with payload_response_only).
    "Lambda": (
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
    ),
    "Pass": ("PassStateEntered", "PassStateExited"),
    "Succeed": ("SucceedStateEntered", "SucceedStateExited"),
    "Wait": ("WaitStateEntered", "WaitStateExited"),
}
_TERMINAL = {"Succeed", "Fail"}
# A placeholder for the template's tokens (function ARNs) inside the definition string.
_TOKEN = "arn:aws:lambda:us-east-1:000000000000:function:bench"  # noqa: S105 - an ARN
# The parts of one CloudWatch Logs record of a Step Functions history event that are not
# the event's details (sizes of a typical record: ids, timestamps, the execution's ARN).
_EXECUTION_ARN = (
    "arn:aws:states:us-east-1:000000000000:execution:BillingStateMachine6A2F73A6-abcdefghijkl:"
)


@dataclass(frozen=True)
class WorkflowPrices:
    """USD, us-east-1, list prices of the workflow's own meters (first tier, no free tier)."""

    sfn_transition_per_thousand: float = 0.025  # Step Functions Standard state transitions
    vended_logs_per_gb: float = 0.50  # CloudWatch vended logs to CloudWatch Logs, first 10 TB
    xray_trace_per_million: float = 5.00  # X-Ray traces recorded

    def as_dict(self) -> dict[str, float]:
        """For the JSON results."""
        return asdict(self)


def state_machine_definition(template: Mapping[str, Any]) -> dict[str, Any]:
    """The billing state machine's definition from the synthesized template (tokens faked)."""
    machines = [
        r["Properties"]
        for r in template.get("Resources", {}).values()
        if r.get("Type") == "AWS::StepFunctions::StateMachine"
    ]
    if len(machines) != 1:
        msg = f"expected one state machine in the template, found {len(machines)}"
        raise ValueError(msg)
    body = machines[0].get("DefinitionString")
    text = _resolved(body)
    definition: dict[str, Any] = json.loads(text)
    return definition


def _resolved(body: Any) -> str:
    """A definition string, with Fn::Join resolved and any other token as a placeholder ARN."""
    if isinstance(body, str):
        return body
    if isinstance(body, Mapping) and "Fn::Join" in body:
        separator, parts = body["Fn::Join"]
        return str(separator).join(p if isinstance(p, str) else _TOKEN for p in parts)
    msg = f"not a definition string: {body!r}"
    raise ValueError(msg)


def success_path(definition: Mapping[str, Any]) -> list[str]:
    """The states a successful execution enters, from StartAt to its terminal state.

    Only linear definitions are walked (Task, Pass, Wait, Succeed): a Choice, Parallel or Map
    would need the input to decide, and the model refuses them rather than guess.
    """
    states: Mapping[str, Any] = definition["States"]
    name: str | None = definition["StartAt"]
    path: list[str] = []
    while name is not None:
        if name in path:
            msg = f"the success path loops at {name!r}"
            raise ValueError(msg)
        state = states[name]
        kind = state["Type"]
        if kind == "Fail":
            msg = f"the success path ends in the Fail state {name!r}"
            raise ValueError(msg)
        if kind not in _HISTORY:
            msg = f"a {kind} state ({name!r}) is not modelled"
            raise ValueError(msg)
        path.append(name)
        if kind in _TERMINAL or state.get("End"):
            return path
        name = state.get("Next")
    msg = "the success path has no terminal state"
    raise ValueError(msg)


def billed_transitions(
    definition: Mapping[str, Any], *, retries: int = 0, start_and_end: bool = True
) -> int:
    """State transitions billed for one successful execution (see the module docstring)."""
    entered = len(success_path(definition)) + retries
    return entered + (2 if start_and_end else 0)


def history(definition: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (event type, state name) history events of a successful execution, in order."""
    states = definition["States"]
    events = [("ExecutionStarted", "")]
    for name in success_path(definition):
        events += [(kind, name) for kind in _HISTORY[_history_kind(states[name])]]
    events.append(("ExecutionSucceeded", ""))
    return events


def _history_kind(state: Mapping[str, Any]) -> str:
    kind: str = state["Type"]
    if kind == "Task" and str(state.get("Resource", "")).startswith("arn:aws:lambda:"):
        return "Lambda"
    return kind


def _record(n: int, kind: str, details: Mapping[str, Any]) -> str:
    record = {
        "id": str(n),
        "type": kind,
        "details": details,
        "previous_event_id": str(n - 1),
        "event_timestamp": "1764000000000",
        "execution_arn": _EXECUTION_ARN + "default_0123456789abcdef-r1-0123456789abcdef",
        "redrive_count": "0",
    }
    return json.dumps(record, separators=(",", ":"))


def execution_log_bytes(
    definition: Mapping[str, Any], execution_input: str, task_output: str
) -> int:
    """Bytes the state machine logs (level ALL, with data) for one successful execution.

    The input is the execution's (what the starter sent); each Task's result lands in the
    state's output (`ResultPath`), so the states after it carry input and result.
    """
    details_none: dict[str, Any] = {}
    state_in = {"input": execution_input, "inputDetails": {"truncated": False}}
    merged = json.dumps({**json.loads(execution_input), "billed": json.loads(task_output)})
    state_out = {"output": merged, "outputDetails": {"truncated": False}}
    sizes = 0
    for n, (kind, name) in enumerate(history(definition), start=1):
        details: Mapping[str, Any]
        if kind == "ExecutionStarted":
            details = {**state_in, "roleArn": "arn:aws:iam::000000000000:role/bench"}
        elif kind.endswith("StateEntered"):
            details = {"name": name, **state_in}
        elif kind in ("TaskScheduled", "LambdaFunctionScheduled"):
            details = {"input": execution_input, "resource": _TOKEN, "timeoutInSeconds": 120}
        elif kind in ("TaskSucceeded", "LambdaFunctionSucceeded"):
            details = {"output": task_output, "outputDetails": {"truncated": False}}
        elif kind.endswith("StateExited"):
            details = {"name": name, **state_out}
        elif kind == "ExecutionSucceeded":
            details = state_out
        else:
            details = details_none
        sizes += len(_record(n, kind, details).encode())
    return sizes


@dataclass
class WorkflowUsage:
    """What the workflow's own meters counted for a set of sessions."""

    executions: int = 0
    states_entered: int = 0
    transitions: int = 0  # billed (the conservative convention)
    log_bytes: int = 0  # the state machine's log records
    traces: int = 0  # trigger roots (the worst case of sampling)

    def add_execution(
        self, definition: Mapping[str, Any], execution_input: str, task_output: str, retries: int
    ) -> None:
        """One successful execution with `retries` retried attempts of its tasks."""
        self.executions += 1
        self.states_entered += billed_transitions(definition, retries=retries, start_and_end=False)
        self.transitions += billed_transitions(definition, retries=retries)
        self.log_bytes += execution_log_bytes(definition, execution_input, task_output)


WORKFLOW_LINES = (
    "Step Functions transitions",
    "Step Functions logs",
    "X-Ray traces",
)


def workflow_lines(usage: WorkflowUsage, prices: WorkflowPrices | None = None) -> list[Line]:
    """The workflow's own lines of the bill (WORKFLOW_LINES order)."""
    p = prices or WorkflowPrices()
    return [
        Line(
            WORKFLOW_LINES[0],
            usage.transitions,
            "transitions",
            usage.transitions * p.sfn_transition_per_thousand / 1000,
        ),
        Line(
            WORKFLOW_LINES[1],
            usage.log_bytes / GB,
            "GB",
            usage.log_bytes / GB * p.vended_logs_per_gb,
        ),
        Line(
            WORKFLOW_LINES[2],
            usage.traces,
            "traces",
            usage.traces * p.xray_trace_per_million / MILLION,
        ),
    ]


# The station model's lines a workflow never uses (no WebSocket in billing).
_NOT_BILLING = {"API Gateway messages", "API Gateway connection minutes"}


def billing_bill(
    usage: Usage,
    workflow: WorkflowUsage,
    prices: Prices | None = None,
    workflow_prices: WorkflowPrices | None = None,
) -> list[Line]:
    """The bill of a set of sessions: the station model's lines that apply, then the workflow's."""
    lines = [line for line in bill(usage, prices) if line.name not in _NOT_BILLING]
    return lines + workflow_lines(workflow, workflow_prices)


def per_unit(lines: Sequence[Line], count: int) -> list[Line]:
    """A bill divided by `count` (sessions, statements)."""
    if count <= 0:
        msg = "count must be positive"
        raise ValueError(msg)
    return [Line(x.name, x.quantity / count, x.unit, x.usd / count) for x in lines]


def line_total(lines: Iterable[Line]) -> float:
    """The bill's total."""
    return sum(line.usd for line in lines)
