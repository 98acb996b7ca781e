"""The fault escalation workflow's Lambda functions: its starter and its step task.

AlertOpened (csms.alerts) -> `start_handler` (EventBridge rule target) starts the escalation
state machine for a fault alert, named after the alert, so a duplicate event starts nothing and
one workflow runs per port and fault at a time. The state machine (infra/csms_infra/operations.py)
waits, then runs `step_handler` for the soft reset, the hard reset and the escalation to people,
waiting between them and stopping as soon as a step answers `cleared` (csms.services.escalation).

An input that does not parse is dropped (starter) or refused with InvalidStepInputError (task,
never retried by the state machine); anything else that fails raises, so EventBridge's and the
state machine's retries apply (every step is idempotent on the alert's notes).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from csms.domain.escalation import EscalationAction
from csms.domain.events import AlertOpened
from csms.handlers import _runtime
from csms.handlers._runtime import logger


class InvalidStepInputError(Exception):
    """The task's input names no alert or no known action (the state machine's bug)."""


class _StepInput(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    tenant_id: str = Field(alias="tenantId", min_length=1, max_length=64)
    alert_id: str = Field(alias="alertId", min_length=1, max_length=128)
    action: EscalationAction


@logger.inject_lambda_context(clear_state=True)
def start_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Start the escalation of a fault alert (AlertOpened on the bus)."""
    del context
    detail = event.get("detail")
    try:
        opened = AlertOpened.model_validate(
            detail.get("data") if isinstance(detail, dict) else None
        )
    except ValidationError:
        logger.warning(
            "escalation start dropped: not an AlertOpened", extra={"id": event.get("id")}
        )
        return {"outcome": "dropped"}
    outcome = _runtime.escalation().start(opened)
    logger.info(
        "escalation start",
        extra={"outcome": outcome, "alert_id": opened.alert_id, "station_id": opened.station_id},
    )
    return {"outcome": outcome}


@logger.inject_lambda_context(clear_state=True)
def step_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One step of the workflow; `cleared` True stops it."""
    del context
    try:
        step = _StepInput.model_validate(event)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise InvalidStepInputError(f"escalation step input invalid at {fields}") from None
    cleared = _runtime.escalation().step(step.tenant_id, step.alert_id, step.action)
    logger.info(
        "escalation step",
        extra={"action": step.action.value, "alert_id": step.alert_id, "cleared": cleared},
    )
    return {"cleared": cleared}
