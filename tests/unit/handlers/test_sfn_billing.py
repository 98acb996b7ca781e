"""The billing workflow's functions: execution names, task errors, alert, monthly close."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from csms.domain.errors import (
    BillingConflictError,
    ConcurrentModificationError,
    PaymentProviderError,
    SessionNotPriceableError,
)
from csms.handlers import _runtime, sfn_billing
from csms.services.billing import BillingOutcome
from csms.services.billing_month import (
    MonthlyClose,
    StatementRef,
    is_transient,
    previous_month,
)


class _Ctx(LambdaContext):
    def __init__(self) -> None:
        self._function_name = "billing"
        self._memory_limit_in_mb = 256
        self._invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:billing"
        self._aws_request_id = "req-1"


def _ended(tenant: str = "t-1", session: str = "S-1", revision: int = 1) -> dict[str, Any]:
    return {
        "id": "evt-1",
        "source": "csms.sessions",
        "detail-type": "TransactionEnded",
        "detail": {
            "metadata": {"tenant_id": tenant, "station_id": "CS-1"},
            "data": {"tenant_id": tenant, "session_id": session, "revision": revision},
        },
    }


class _Starter:
    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def start(self, name: str, execution_input: str) -> bool:
        if name in self.names:
            return False
        self.names[name] = execution_input
        return True


class _Billing:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, str]] = []
        self.closed: list[tuple[str, str, str]] = []
        self.fail_for: dict[str, Exception] = {}

    def bill_session(self, tenant_id: str, session_id: str, now: datetime) -> BillingOutcome:
        self.calls.append((tenant_id, session_id))
        if self.error is not None:
            raise self.error
        return BillingOutcome(session_id=session_id, revision=1, cdr_id="cdr-1", invoice=None)

    def finalize_month(self, tenant_id: str, account_id: str, month: str, now: datetime) -> None:
        if account_id in self.fail_for:
            raise self.fail_for[account_id]
        self.closed.append((tenant_id, account_id, month))


class _Statements:
    def __init__(self, *refs: StatementRef) -> None:
        self.refs = refs
        self.asked: list[str] = []

    def statements_to_close(self, month: str) -> list[StatementRef]:
        self.asked.append(month)
        return list(self.refs)


@pytest.fixture
def starter(monkeypatch: pytest.MonkeyPatch) -> _Starter:
    fake = _Starter()
    monkeypatch.setattr(_runtime, "billing_workflow", lambda: fake)
    return fake


def test_execution_name_is_stable_safe_and_per_revision() -> None:
    # GIVEN requests for two revisions of a session with characters a name may not hold
    first = sfn_billing.bill_request_of(_ended("t:1", "S/1 x" * 20, 1))
    second = sfn_billing.bill_request_of(_ended("t:1", "S/1 x" * 20, 2))
    assert first is not None
    assert second is not None
    # WHEN naming their executions
    name1, name2 = sfn_billing.execution_name(first), sfn_billing.execution_name(second)
    # THEN each name is at most 80 safe characters, the same every time, and differs by revision
    for name in (name1, name2):
        assert len(name) <= 80
        assert all(c.isalnum() or c in "-_" for c in name)
    assert name1 == sfn_billing.execution_name(first)
    assert name1 != name2
    # AND sessions whose ids sanitize alike still get different names
    other = sfn_billing.bill_request_of(_ended("t:1", "S_1 x" * 20, 1))
    assert other is not None
    assert sfn_billing.execution_name(other) != name1


def test_start_handler_starts_once_per_session_revision(starter: _Starter) -> None:
    # GIVEN a TransactionEnded event delivered twice
    event = _ended()
    # WHEN the starter handles both
    first = sfn_billing.start_handler(event, _Ctx())
    again = sfn_billing.start_handler(event, _Ctx())
    # THEN one execution was started, with the session as its input
    assert first["started"] is True
    assert again["started"] is False
    [payload] = starter.names.values()
    assert json.loads(payload) == {
        "revision": 1,
        "sessionId": "S-1",
        "stationId": "CS-1",
        "tenantId": "t-1",
    }


@pytest.mark.parametrize(
    "detail",
    [{}, {"data": {"tenant_id": "t-1"}}, {"data": {"session_id": "S-1"}}, {"data": "x"}],
)
def test_start_handler_event_without_a_session_starts_nothing(
    starter: _Starter, detail: Any
) -> None:
    # GIVEN an event that names no tenant or no session WHEN the starter handles it
    result = sfn_billing.start_handler({"detail": detail}, _Ctx())
    # THEN nothing starts, and it says why
    assert result["started"] is False
    assert "no tenant or session" in result["why"]
    assert starter.names == {}


def test_bill_handler_bills_and_reports_the_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the billing service
    billing = _Billing()
    monkeypatch.setattr(_runtime, "billing_service", lambda: billing)
    # WHEN the Bill task runs on the execution input
    result = sfn_billing.bill_handler(
        {"tenantId": "t-1", "sessionId": "S-1", "revision": 1}, _Ctx()
    )
    # THEN the session was billed and the outcome is the task's result
    assert billing.calls == [("t-1", "S-1")]
    assert result == {
        "sessionId": "S-1",
        "revision": 1,
        "cdrId": "cdr-1",
        "invoiceId": None,
        "invoiceState": None,
    }


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (PaymentProviderError("timeout", retryable=True), sfn_billing.BillingRetryableError),
        (ConcurrentModificationError("session-billing", "S-1"), sfn_billing.BillingRetryableError),
        (PaymentProviderError("bad key", retryable=False), sfn_billing.BillingRejectedError),
        (SessionNotPriceableError("S-1", "no stop"), sfn_billing.BillingRejectedError),
        (BillingConflictError("invoice", "i-1", "closed"), sfn_billing.BillingRejectedError),
    ],
)
def test_bill_handler_names_errors_for_the_state_machine(
    monkeypatch: pytest.MonkeyPatch, error: Exception, raised: type[Exception]
) -> None:
    # GIVEN billing that fails with a domain error
    monkeypatch.setattr(_runtime, "billing_service", lambda: _Billing(error))
    # WHEN the Bill task runs THEN it raises the error name the retry policy knows
    with pytest.raises(raised):
        sfn_billing.bill_handler({"tenantId": "t-1", "sessionId": "S-1"}, _Ctx())


def test_bill_handler_other_errors_keep_their_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN billing that fails outside the domain (an AWS call, a bug)
    monkeypatch.setattr(_runtime, "billing_service", lambda: _Billing(OSError("reset")))
    # WHEN the Bill task runs THEN the error passes unchanged (retried a few times, then alerted)
    with pytest.raises(OSError, match="reset"):
        sfn_billing.bill_handler({"tenantId": "t-1", "sessionId": "S-1"}, _Ctx())


def test_bill_handler_bad_input_is_rejected() -> None:
    # GIVEN an input without a session WHEN the Bill task runs THEN it is refused for good
    with pytest.raises(sfn_billing.BillingRejectedError, match="not a billing request"):
        sfn_billing.bill_handler({"tenantId": "t-1"}, _Ctx())


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (json.dumps({"errorType": "X", "errorMessage": "card declined"}), "card declined"),
        ("plain text", "plain text"),
        (json.dumps(["not", "a", "dict"]), "None"),
        (None, "None"),
    ],
)
def test_alert_handler_logs_an_alert_with_the_reason(
    cause: Any, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the state of a failed Bill task
    error: dict[str, Any] = {"Error": "X", "Cause": cause}
    state = {"tenantId": "t-1", "sessionId": "S-1", "revision": 2, "error": error}
    # WHEN the Alert task runs
    result = sfn_billing.alert_handler(state, _Ctx())
    # THEN an ALERT naming the session and the reason is logged
    assert result["alerted"] is True
    assert result["session_id"] == "S-1"
    if reason != "None":
        assert result["reason"] == reason
    assert any("ALERT billing failed" in r.getMessage() for r in caplog.records)


def test_previous_month_crosses_the_year() -> None:
    assert previous_month(datetime(2026, 1, 1, 12, tzinfo=UTC)) == "2025-12"
    assert previous_month(datetime(2026, 3, 31, 23, tzinfo=UTC)) == "2026-02"


def test_is_transient_only_for_provider_failures_and_races() -> None:
    assert is_transient(PaymentProviderError("x", retryable=True))
    assert not is_transient(PaymentProviderError("x", retryable=False))
    assert is_transient(ConcurrentModificationError("invoice", "i"))
    assert not is_transient(BillingConflictError("invoice", "i", "closed"))


def test_close_month_handler_closes_each_statement_and_retries_the_transient(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN three statements of October: one closes, one is refused, one fails for now
    billing = _Billing()
    billing.fail_for = {
        "bad": BillingConflictError("invoice", "i", "currency"),
        "later": PaymentProviderError("timeout", retryable=True),
    }
    statements = _Statements(
        StatementRef("t-1", "good"), StatementRef("t-1", "bad"), StatementRef("t-2", "later")
    )
    close = MonthlyClose(billing=billing, statements=statements)  # type: ignore[arg-type]
    monkeypatch.setattr(_runtime, "billing_month", lambda: close)
    # WHEN the schedule runs for October
    with pytest.raises(sfn_billing.MonthCloseIncompleteError, match="1 statements"):
        sfn_billing.close_month_handler({"month": "2026-10"}, _Ctx())
    # THEN the good one closed, the refused one is alerted, the retry is left to the schedule
    assert statements.asked == ["2026-10"]
    assert billing.closed == [("t-1", "good", "2026-10")]
    assert any("statement not closed" in r.getMessage() for r in caplog.records)


def test_close_month_handler_defaults_to_last_month(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN nothing to close WHEN the schedule runs with its scheduled event
    statements = _Statements()
    close = MonthlyClose(billing=_Billing(), statements=statements)  # type: ignore[arg-type]
    monkeypatch.setattr(_runtime, "billing_month", lambda: close)
    result = sfn_billing.close_month_handler({"detail-type": "Scheduled Event"}, _Ctx())
    # THEN last month was closed, with nothing in it
    assert statements.asked == [previous_month(datetime.now(UTC))]
    assert result["closed"] == 0
    assert result["retry"] == 0
