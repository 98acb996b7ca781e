"""Step Functions: starting a workflow execution under a name that makes it happen once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError


class StepFunctionsStarter:
    """Starts executions of one state machine; the client is created on first use."""

    def __init__(self, state_machine_arn: str, client_factory: Callable[[], Any]) -> None:
        self.state_machine_arn = state_machine_arn
        self._factory = client_factory
        self._client: Any = None

    def start(self, name: str, execution_input: str) -> bool:
        """Start the execution `name`; False when an execution of that name exists already.

        Step Functions refuses a name used in the last 90 days (ExecutionAlreadyExists), so a
        duplicate trigger starts nothing. (A start repeated while the first one still runs,
        with the same input, is answered like the first: True, and still nothing new runs.)
        """
        if self._client is None:
            self._client = self._factory()
        try:
            self._client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=execution_input
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return False
            raise
        return True
