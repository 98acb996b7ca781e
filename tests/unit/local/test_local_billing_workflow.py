"""`csms local` runs the billing state machine in process, with its contract."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from csms.domain.errors import PaymentProviderError, SessionNotPriceableError
from csms.handlers import _runtime, sfn_billing
from csms_local.gateway import LambdaContextStub
from csms_local.workflows import InProcessBillingWorkflow


class Billing:
    """BillingService's bill_session, failing as told before it succeeds."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls: list[tuple[str, str]] = []

    def bill_session(self, tenant_id: str, session_id: str, now: Any) -> Any:
        self.calls.append((tenant_id, session_id))
        if self.failures:
            raise self.failures.pop(0)
        return SimpleNamespace(session_id=session_id, revision=1, cdr_id="cdr-1", invoice=None)


@pytest.fixture
def workflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessBillingWorkflow]:
    local = InProcessBillingWorkflow()
    _runtime.run_billing_workflow_with(local)
    yield local
    _runtime.run_billing_workflow_with(None)


def ended(session_id: str = "tx-1") -> dict[str, Any]:
    """A TransactionEnded event as the bus delivers it."""
    return {
        "id": "evt-1",
        "source": "csms.sessions",
        "detail-type": "TransactionEnded",
        "detail": {
            "metadata": {"tenant_id": "default", "station_id": "CP-1"},
            "data": {"session_id": session_id},
        },
    }


def start(event: dict[str, Any]) -> dict[str, Any]:
    return sfn_billing.start_handler(event, LambdaContextStub(function_name="start"))


def test_local_billing_workflow_bills_a_session_once_for_a_repeated_event(
    workflow: InProcessBillingWorkflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the billing service
    billing = Billing()
    monkeypatch.setattr(_runtime, "billing_service", lambda: billing)
    # WHEN the same TransactionEnded arrives twice
    first, second = start(ended()), start(ended())
    # THEN one execution ran and billed once; the second start is refused by its name
    assert (first["started"], second["started"]) == (True, False)
    assert first["execution"] == second["execution"]
    assert billing.calls == [("default", "tx-1")]
    assert workflow.failed == []


def test_local_billing_workflow_retries_what_may_pass_later(
    workflow: InProcessBillingWorkflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a payment provider that cannot be reached twice
    unreachable = PaymentProviderError("api_connection_error", retryable=True)
    billing = Billing(unreachable, unreachable)
    monkeypatch.setattr(_runtime, "billing_service", lambda: billing)
    # WHEN the session ends
    start(ended())
    # THEN the Bill task ran a third time and succeeded: no alert
    assert len(billing.calls) == 3
    assert workflow.failed == []


@pytest.mark.parametrize(
    ("failures", "calls"),
    [
        ([SessionNotPriceableError("tx-1", "no start")], 1),
        ([PaymentProviderError("api_connection_error", retryable=True)] * 3, 3),
    ],
)
def test_local_billing_workflow_alerts_when_billing_fails_for_good(
    workflow: InProcessBillingWorkflow,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failures: list[Exception],
    calls: int,
) -> None:
    # GIVEN billing refused for good, or failing on every attempt
    billing = Billing(*failures)
    monkeypatch.setattr(_runtime, "billing_service", lambda: billing)
    alerts: list[dict[str, Any]] = []

    def record_alert(event: dict[str, Any], context: Any) -> dict[str, Any]:
        alerts.append(event)
        return {}

    monkeypatch.setattr(sfn_billing, "alert_handler", record_alert)
    # WHEN the session ends
    start(ended())
    # THEN a refusal is not retried, a failure is retried as often as the workflow allows,
    # and either ends in the Alert task with the error
    assert len(billing.calls) == calls
    assert workflow.failed == [start(ended())["execution"]]
    [alert] = alerts
    assert alert["sessionId"] == "tx-1"
    assert alert["error"]["Error"] in {"BillingRejectedError", "BillingRetryableError"}
