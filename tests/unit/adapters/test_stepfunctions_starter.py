"""StepFunctionsStarter: a reused execution name starts nothing; other failures propagate."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from csms.adapters.stepfunctions import StepFunctionsStarter

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:Billing"


class _Client:
    def __init__(self, error: str | None = None) -> None:
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def start_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error is not None:
            raise ClientError({"Error": {"Code": self.error, "Message": "x"}}, "StartExecution")
        return {"executionArn": f"{ARN}:{kwargs['name']}"}


def test_starter_starts_the_named_execution_with_a_client_made_once() -> None:
    # GIVEN a starter whose client is made on first use
    client, made = _Client(), list[int]()

    def factory() -> _Client:
        made.append(1)
        return client

    starter = StepFunctionsStarter(ARN, factory)
    # WHEN starting two executions
    assert starter.start("a-r1", '{"x":1}') is True
    assert starter.start("b-r1", "{}") is True
    # THEN both went to the state machine under their names, through one client
    assert [(c["stateMachineArn"], c["name"]) for c in client.calls] == [
        (ARN, "a-r1"),
        (ARN, "b-r1"),
    ]
    assert made == [1]


def test_starter_reused_name_starts_nothing() -> None:
    # GIVEN Step Functions refuses the name WHEN starting THEN the starter says not started
    assert (
        StepFunctionsStarter(ARN, lambda: _Client("ExecutionAlreadyExists")).start("a", "{}")
        is False
    )


def test_starter_other_errors_propagate() -> None:
    # GIVEN another refusal WHEN starting THEN it is raised (EventBridge retries the event)
    with pytest.raises(ClientError):
        StepFunctionsStarter(ARN, lambda: _Client("AccessDeniedException")).start("a", "{}")
