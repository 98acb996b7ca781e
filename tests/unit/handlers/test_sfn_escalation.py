"""The escalation handlers: inputs that do not parse never reach the service."""

from __future__ import annotations

from typing import Any

import pytest

from csms.handlers import sfn_escalation


class _Ctx:
    function_name = "test"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "req-1"


@pytest.mark.parametrize(
    "event",
    [
        {"tenantId": "t1", "alertId": "a1", "action": "explode"},
        {"tenantId": "", "alertId": "a1", "action": "soft-reset"},
        {"alertId": "a1", "action": "soft-reset"},
    ],
    ids=["unknown-action", "empty-tenant", "no-tenant"],
)
def test_step_input_that_does_not_parse_is_refused_by_name(event: dict[str, Any]) -> None:
    # WHEN the state machine hands the step a broken input
    with pytest.raises(sfn_escalation.InvalidStepInputError) as raised:
        sfn_escalation.step_handler(event, _Ctx())  # type: ignore[arg-type]
    # THEN the error names the field (and the state machine never retries this error)
    assert "escalation step input invalid at" in str(raised.value)


@pytest.mark.parametrize(
    "event",
    [
        {"detail-type": "AlertOpened", "detail": {"data": {"alert_id": 1}}},
        {"detail-type": "AlertOpened", "detail": "text"},
        {"detail-type": "AlertOpened"},
    ],
    ids=["bad-data", "detail-not-an-object", "no-detail"],
)
def test_start_event_that_does_not_parse_is_dropped(event: dict[str, Any]) -> None:
    # WHEN the rule delivers an event that is no AlertOpened
    outcome = sfn_escalation.start_handler(event, _Ctx())  # type: ignore[arg-type]
    # THEN it is dropped (retrying could not mend it)
    assert outcome == {"outcome": "dropped"}
