"""The billing state machine run in this process (`csms local` has no Step Functions).

The same tasks as in AWS (csms.handlers.sfn_billing: Bill, and Alert when billing fails for
good) with the state machine's contract: an execution name runs once (Step Functions refuses
a name used before, so a duplicate TransactionEnded bills nothing twice), the Bill task is
retried on BillingRetryableError and on unexpected errors, never on BillingRejectedError,
and a failure ends in the Alert task. The retries follow at once instead of after the AWS
backoff (a laptop has no use for waiting minutes); exactly once is BillingService's either way.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from csms.handlers import sfn_billing
from csms_local.gateway import LambdaContextStub

logger = logging.getLogger(__name__)


class InProcessBillingWorkflow:
    """Starts billing executions in this process (see the module docstring)."""

    def __init__(self, attempts: int = 3) -> None:
        self.attempts = attempts
        self.names: set[str] = set()
        self.failed: list[str] = []

    def start(self, name: str, execution_input: str) -> bool:
        """Run the execution now; False when one of that name ran already."""
        if name in self.names:
            return False
        self.names.add(name)
        request: dict[str, Any] = json.loads(execution_input)
        error: Exception | None = None
        for _ in range(self.attempts):
            try:
                sfn_billing.bill_handler(request, LambdaContextStub(function_name="bill"))
                return True
            except sfn_billing.BillingRejectedError as exc:
                error = exc
                break
            except Exception as exc:  # the state machine retries States.ALL too
                error = exc
        self.failed.append(name)
        cause = json.dumps({"errorMessage": str(error), "errorType": type(error).__name__})
        sfn_billing.alert_handler(
            {**request, "error": {"Error": type(error).__name__, "Cause": cause}},
            LambdaContextStub(function_name="alert"),
        )
        return True
