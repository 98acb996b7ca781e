"""The pre-authorisation handler: a TransactionStarted envelope read, the service asked once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from csms.adapters.events import envelope_json
from csms.domain.connector import EvseRef
from csms.domain.errors import PaymentProviderError
from csms.domain.events import TransactionStarted
from csms.domain.station import ProtocolVersion
from csms.handlers import _runtime, evt_preauth
from csms.services.billing import Hold
from csms.services.preauth import PreauthOutcome, PreauthResult, StartedSession

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class _Ctx(LambdaContext):
    def __init__(self) -> None:
        self._function_name = "preauth"
        self._memory_limit_in_mb = 256
        self._invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:preauth"
        self._aws_request_id = "req-1"


def _event(started: TransactionStarted, detail_type: str = "TransactionStarted") -> dict[str, Any]:
    """The event as EventBridge delivers it (the envelope the outbox relay publishes)."""
    return {
        "id": "evt-1",
        "source": "csms.sessions",
        "detail-type": detail_type,
        "detail": json.loads(envelope_json(started, "e-1")),
    }


def _started(**over: Any) -> TransactionStarted:
    fields: dict[str, Any] = {
        "station_id": "CP-1",
        "tenant_id": "t-1",
        "occurred_at": T0,
        "session_id": "S1",
        "transaction_id": "TX-1",
        "evse": EvseRef(evse_id=2, connector_id=1),
        "protocol": ProtocolVersion.OCPP201,
        "site_id": "site-1",
        "id_token": "anna",
        "group_id": "staff",
        "started_at": T0,
        "meter_start_wh": Decimal(0),
    }
    return TransactionStarted(**(fields | over))


class _Service:
    def __init__(self, result: PreauthResult | Exception) -> None:
        self.result = result
        self.asked: list[StartedSession] = []

    def preauthorize(self, started: StartedSession) -> PreauthResult:
        self.asked.append(started)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_evt_preauth_reads_the_started_session_from_the_envelope() -> None:
    # GIVEN a TransactionStarted as published
    event = _event(_started())
    # WHEN reading it
    started = evt_preauth.started_of(event)
    # THEN every fact the service needs comes from the event itself
    assert started == StartedSession(
        tenant_id="t-1",
        session_id="S1",
        station_id="CP-1",
        site_id="site-1",
        evse_id=2,
        id_token="anna",
        group_id="staff",
        started_at=T0,
    )


def test_evt_preauth_session_without_its_start_uses_when_it_was_heard_of() -> None:
    # GIVEN a session first heard of without its start time, with no EVSE, in UTC+2
    heard = datetime(2026, 11, 23, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    event = _event(_started(started_at=None, occurred_at=heard, evse=None))
    # WHEN reading it
    started = evt_preauth.started_of(event)
    # THEN the tariff is looked up at the moment it was heard of, in UTC
    assert started is not None
    assert started.started_at == T0
    assert started.started_at.tzinfo is UTC
    assert started.evse_id is None


@pytest.mark.parametrize(
    "event",
    [
        _event(_started(), detail_type="TransactionEnded"),
        {"detail-type": "TransactionStarted", "detail": {"data": {"tenant_id": "t-1"}}},
        {"detail-type": "TransactionStarted"},
    ],
    ids=["other-type", "incomplete", "no-detail"],
)
def test_evt_preauth_drops_what_is_not_a_session_start(
    event: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an event that is not a usable TransactionStarted
    service = _Service(AssertionError("not to be asked"))
    monkeypatch.setattr(_runtime, "preauth", lambda: service)
    # WHEN it is delivered
    summary = evt_preauth.lambda_handler(event, _Ctx())
    # THEN it is dropped (retrying could not mend it) without asking the service
    assert summary["outcome"] == "dropped"
    assert service.asked == []


def test_evt_preauth_reports_the_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a service that holds 50 EUR
    hold = Hold(reference="pi_1", amount_minor=5000, currency="EUR")
    service = _Service(PreauthResult(PreauthOutcome.HELD, "held", hold))
    monkeypatch.setattr(_runtime, "preauth", lambda: service)
    # WHEN a start is delivered
    summary = evt_preauth.lambda_handler(_event(_started()), _Ctx())
    # THEN the service was asked once for that session and the hold is reported
    assert [s.session_id for s in service.asked] == ["S1"]
    assert summary == {
        "outcome": "held",
        "why": "held",
        "tenantId": "t-1",
        "sessionId": "S1",
        "hold": {"reference": "pi_1", "amountMinor": 5000, "currency": "EUR"},
    }


def test_evt_preauth_skipped_start_reports_why(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a service with nothing to hold
    service = _Service(PreauthResult(PreauthOutcome.SKIPPED, "the tariff is free"))
    monkeypatch.setattr(_runtime, "preauth", lambda: service)
    # WHEN a start is delivered
    summary = evt_preauth.lambda_handler(_event(_started()), _Ctx())
    # THEN the outcome says so, with no hold
    assert (summary["outcome"], summary["why"]) == ("skipped", "the tariff is free")
    assert "hold" not in summary


def test_evt_preauth_unreachable_provider_fails_the_invocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a provider that cannot be reached
    service = _Service(PaymentProviderError("connection_error", retryable=True))
    monkeypatch.setattr(_runtime, "preauth", lambda: service)
    # WHEN a start is delivered
    # THEN the invocation fails, so that Lambda retries it (then the dead-letter queue)
    with pytest.raises(PaymentProviderError):
        evt_preauth.lambda_handler(_event(_started()), _Ctx())
