"""Fault escalation: the cheap fixes first, then people.

An alert of an escalated kind starts one workflow (Step Functions in AWS, a thread in
`csms local`): wait; if the fault holds, soft reset; wait; hard reset; wait; if it still holds,
open a maintenance ticket, e-mail the operator and tell partners (`alert.escalated`). Each step
first checks the condition and the workflow stops as soon as it has cleared. Every step is
written onto the alert (`Alert.steps`), so the operator sees what was tried and when.

One workflow per port and fault: the execution is named after the alert, and one alert is open
per (station, port, kind) at a time (csms.domain.alerts), so a duplicate start starts nothing.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Final

from csms.domain.alerts import Alert, AlertKind, AlertStep
from csms.domain.commands import ResetKind

# Kinds a reset may cure. An offline station cannot be told to reset; a reboot loop is made worse
# by one; the remaining detectors do not describe a fault in the charger itself.
ESCALATED_KINDS: Final = frozenset({AlertKind.FAULTED})
# Step Functions execution names: at most 80 characters of [A-Za-z0-9_-].
_NAME_LENGTH: Final = 80


class EscalationAction(StrEnum):
    """What one task of the workflow does, in the order the workflow runs them."""

    SOFT_RESET = "soft-reset"
    HARD_RESET = "hard-reset"
    ESCALATE = "escalate"

    @property
    def reset_kind(self) -> ResetKind | None:
        """The Reset this action sends (1.6 Soft/Hard; 2.0.1 OnIdle/Immediate); None: none."""
        return {
            EscalationAction.SOFT_RESET: ResetKind.SOFT,
            EscalationAction.HARD_RESET: ResetKind.HARD,
        }.get(self)


# The labels of the steps written onto an alert (`AlertStep.action`).
STEP_STARTED: Final = "escalation started"
STEP_CLEARED: Final = "escalation stopped"
STEP_TICKET: Final = "maintenance ticket"
STEP_EMAIL: Final = "operator e-mail"
STEP_PARTNERS: Final = "partner webhook"


def step_label(action: EscalationAction) -> str:
    """The step an action writes onto the alert."""
    return action.value.replace("-", " ")


def execution_name(tenant_id: str, alert_id: str) -> str:
    """The workflow's name: one per alert (and so per port and fault at a time).

    Alert ids are unique within a tenant; the tenant's digest makes the name unique in the
    state machine, which all tenants share.
    """
    tenant = hashlib.sha256(tenant_id.encode()).hexdigest()[:10]
    return f"{alert_id}-{tenant}"[:_NAME_LENGTH]


def escalates(alert: Alert) -> bool:
    """Whether an alert's kind starts the workflow."""
    return alert.key.kind in ESCALATED_KINDS


def done(alert: Alert, label: str) -> AlertStep | None:
    """The step of this label already on the alert (a retried task finds its earlier work)."""
    return next((step for step in alert.steps if step.action == label), None)


def describe(alert: Alert) -> str:
    """One line naming the fault, for a ticket's title and an e-mail's subject."""
    where = alert.key.station_id
    if alert.key.evse is not None:
        where += f" EVSE {alert.key.evse.evse_id} connector {alert.key.evse.connector_id}"
    code = alert.details.error_code or alert.details.vendor_error_code
    return f"{alert.key.kind.value.capitalize()}: {where}" + (f" ({code})" if code else "")
