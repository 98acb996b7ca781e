"""Fault escalation on moto: a Faulted port, its alert, and the template's state machine run.

The station is a 1.6 charger on the real WebSocket handlers; its events go through the outbox
relay and the template's rules (the detector, the escalation starter, partner webhooks); the
escalation runs the synthesized state machine (csms_local.states) with waits of 0 s, calling the
real step handler. Frames the CSMS sends are captured; the station answers them in the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from tests.integration.conftest import Ctx, connect_event, message_event
from tests.integration.test_api import call_api
from tests.integration.test_api_commands import frames as frames  # noqa: PLC0414 - the fixture
from tests.unit.services.test_escalation_service import an_alert, opened_event

from csms.adapters.dynamo_alerts import DynamoAlertRepository
from csms.adapters.outbox import OutboxEncoder
from csms.adapters.system import new_uuid
from csms.domain.alerts import Watch, WatchState
from csms.domain.escalation import execution_name
from csms.domain.seed import Seed
from csms.handlers import _runtime, sched_alerts, sfn_escalation, ws_connect, ws_message
from csms_local import emulation, queues, states
from csms_local.states import Execution, LocalStateMachine

Frames = list[tuple[str, list[Any]]]
STATION = "CP-9"
OWNER = {"sub": "op-1", "tenant_id": "default", "role": "owner"}
# The states every execution passes that gets as far as the hard reset.
THROUGH_HARD_RESET = [
    "WaitBeforeSoftReset",
    "SoftReset",
    "ClearedAfterSoftReset",
    "WaitBeforeHardReset",
    "HardReset",
    "ClearedAfterHardReset",
]
CONNECTION = "conn-9"


class Flow:
    """The emulated bus and the escalation machine, with helpers to drive the station."""

    def __init__(
        self, aws: emulation.EmulatedResources, template: dict[str, Any], frames: Frames
    ) -> None:
        self.router = emulation.EventRouter(emulation.event_rules(template), aws.routing_queue_url)
        self.pump = emulation.OutboxPump(aws.table_name)
        self.frames = frames
        # Executions run inline (in the thread of the rule that starts them): deterministic.
        self.machine = LocalStateMachine(
            states.state_machine(template, "OperationsEscalation"),
            invoke=self._invoke,
            background=False,
        )
        self.queue_url = aws.routing_queue_url
        # What the station does after each step's task ran (by action).
        self.after: dict[str, Callable[[], object]] = {}
        self.routed: list[dict[str, Any]] = []
        self.answered: set[str] = set()
        self.count = 0

    def _invoke(self, handler: str, payload: Any) -> Any:
        assert handler == "csms.handlers.sfn_escalation.step_handler"
        result = sfn_escalation.step_handler(payload, Ctx())
        reaction = self.after.get(payload["action"])
        if reaction is not None:
            reaction()
        return result

    def says(self, frame: list[Any]) -> Any:
        body = ws_message.lambda_handler(message_event(CONNECTION, json.dumps(frame)), Ctx())
        return json.loads(body["body"]) if body.get("body") else None

    def status(self, status: str, error_code: str = "NoError") -> None:
        payload = {"connectorId": 1, "status": status, "errorCode": error_code}
        if status == "Faulted":
            payload["vendorErrorCode"] = "E-42"
        self.count += 1
        assert self.says([2, f"sn-{self.count}", "StatusNotification", payload]) == [
            3,
            f"sn-{self.count}",
            {},
        ]

    def deliver(self) -> None:
        """Relay the outbox and run every rule the events match (as EventBridge would)."""
        for _ in range(5):
            self.pump.pump()
            events = emulation.drain_events(self.queue_url)
            if not events:
                return
            for event in events:
                self.routed.append(event)
                self.router.deliver(event)

    def answer_resets(self) -> list[str]:
        """Answer every Reset sent so far with Accepted; their types."""
        kinds = []
        for _, frame in list(self.frames):
            if frame[0] == 2 and frame[2] == "Reset" and frame[1] not in self.answered:
                self.answered.add(frame[1])
                kinds.append(frame[3]["type"])
                self.says([3, frame[1], {"status": "Accepted"}])
        return kinds

    def resets_sent(self) -> list[str]:
        """The types of the Resets the CSMS sent the station, in order."""
        return [f[3]["type"] for _, f in self.frames if f[0] == 2 and f[2] == "Reset"]

    def execution(self, alert_id: str) -> Execution:
        """The execution the starter ran for the alert."""
        execution = self.machine.executions[execution_name("default", alert_id)]
        assert execution.done.is_set()
        return execution


@pytest.fixture
def flow(
    aws: emulation.EmulatedResources,
    frames: Frames,
    template: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Flow]:
    monkeypatch.setenv("CSMS_ALERT_HOLD_DOWN_S", "0")
    monkeypatch.setenv("CSMS_ESCALATION_WAIT_S", "0")
    monkeypatch.setenv("CSMS_NOTIFY_OUTBOX_DIR", str(tmp_path / "outbox"))
    # The partner webhook fan-out rule also runs; it needs its queue.
    for name, value in queues.create_queues(template)[1].items():
        monkeypatch.setenv(name, value)
    _runtime.reset()
    built = Flow(aws, template, frames)
    _runtime.run_escalation_workflow_with(built.machine)
    _runtime.gateway().seeds.load(
        "default",
        Seed.model_validate(
            {
                "sites": [{"id": "site-1", "name": "Depot", "limitKw": 50}],
                "stations": [
                    {
                        "id": STATION,
                        "siteId": "site-1",
                        "password": "integration-pass-1",
                        "protocol": "ocpp1.6",
                    }
                ],
            }
        ),
    )
    event = connect_event(STATION, CONNECTION, password="integration-pass-1", protocols="ocpp1.6")
    assert ws_connect.lambda_handler(event, Ctx())["statusCode"] == 200
    built.says([2, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}])
    built.status("Available")
    built.deliver()
    yield built
    _runtime.run_escalation_workflow_with(None)


def _fault(flow: Flow) -> str:
    """The port reports Faulted; the detector watches, the sweep opens the alert; its id."""
    flow.status("Faulted", "GroundFailure")
    flow.deliver()
    assert sched_alerts.lambda_handler({}, Ctx())["opened"] == 1
    # AlertOpened -> the escalation starter (and partner webhooks); the workflow runs inline
    flow.deliver()
    status, _, page = call_api("GET", "/v1/alerts")
    assert status == 200
    [alert] = page["items"]
    return str(alert["id"])


def _alert(alert_id: str) -> dict[str, Any]:
    status, _, alert = call_api("GET", f"/v1/alerts/{alert_id}")
    assert status == 200
    return dict(alert)


def test_escalation_fault_that_stays_is_reset_soft_then_hard_then_ticketed_and_mailed(
    flow: Flow, tmp_path: Path
) -> None:
    # GIVEN the tenant's contact e-mail, and a station that accepts resets but stays Faulted
    status, _, _ = call_api(
        "PATCH", "/v1/tenant", body={"contactEmail": "ops@example.com"}, claims=OWNER
    )
    assert status == 200
    flow.after = {"soft-reset": flow.answer_resets, "hard-reset": flow.answer_resets}
    # WHEN a port faults and its alert opens
    alert_id = _fault(flow)
    execution = flow.execution(alert_id)
    # THEN the template's state machine ran every step and ended Escalated
    assert execution.status == "SUCCEEDED"
    assert execution.states == [
        *THROUGH_HARD_RESET,
        "WaitBeforeEscalate",
        "Escalate",
        "ClearedAfterEscalate",
        "Escalated",
    ]
    # AND the station got a soft Reset, then a hard one
    resets = flow.resets_sent()
    assert resets == ["Soft", "Hard"]
    # AND every step is on the alert, in order
    alert = _alert(alert_id)
    actions = [step["action"] for step in alert["steps"]]
    assert actions == [
        "escalation started",
        "soft reset",
        "hard reset",
        "maintenance ticket",
        "operator e-mail",
        "partner webhook",
    ]
    outcomes = {step["action"]: step["outcome"] for step in alert["steps"]}
    assert outcomes["soft reset"].startswith("Reset Soft: Pending")
    # AND a high-priority ticket names the alert and the port
    ticket_id = outcomes["maintenance ticket"]
    status, _, ticket = call_api("GET", f"/v1/tickets/{ticket_id}")
    assert status == 200
    assert (ticket["stationId"], ticket["evseId"], ticket["priority"]) == (STATION, 1, "high")
    assert ticket["alertIds"] == [alert_id]
    assert "GroundFailure" in ticket["title"]
    # AND the e-mail is in the outbox, to the contact, naming the ticket and what was tried
    [mail] = list((tmp_path / "outbox").glob("*.eml"))
    text = mail.read_text()
    assert "To: ops@example.com" in text
    assert ticket_id in text
    assert "hard reset" in text
    # AND AlertEscalated left through the outbox to the partner webhook rule
    flow.deliver()
    escalated = [e for e in flow.routed if e["detail-type"] == "AlertEscalated"]
    assert len(escalated) == 1
    assert escalated[0]["detail"]["data"]["ticket_id"] == ticket_id


def test_escalation_stops_when_the_fault_clears_after_the_soft_reset(flow: Flow) -> None:
    # GIVEN a station that recovers from the soft reset (reports Available after it)
    def recover() -> None:
        flow.answer_resets()
        flow.status("Available")
        flow.deliver()  # the detector closes the alert

    flow.after = {"soft-reset": recover}
    # WHEN a port faults and its alert opens
    alert_id = _fault(flow)
    execution = flow.execution(alert_id)
    # THEN the workflow stopped at the next check: no hard reset, no ticket
    assert execution.status == "SUCCEEDED"
    assert execution.states == [*THROUGH_HARD_RESET, "Cleared"]
    resets = flow.resets_sent()
    assert resets == ["Soft"]
    alert = _alert(alert_id)
    assert alert["state"] == "closed"
    actions = [step["action"] for step in alert["steps"]]
    assert actions == ["escalation started", "soft reset", "escalation stopped"]
    status, _, tickets = call_api("GET", "/v1/tickets")
    assert status == 200
    assert tickets["items"] == []


def test_escalation_one_workflow_per_alert_even_when_the_event_comes_twice(flow: Flow) -> None:
    # GIVEN an open fault alert whose workflow started
    flow.after = {}
    alert_id = _fault(flow)
    flow.execution(alert_id)
    opened = [e for e in flow.routed if e["detail-type"] == "AlertOpened"]
    assert len(opened) == 1
    # WHEN the AlertOpened event is delivered again (EventBridge delivers at least once)
    again = sfn_escalation.start_handler(opened[0], Ctx())
    # THEN nothing new starts and the alert notes the start once
    assert again == {"outcome": "already started"}
    assert len(flow.machine.executions) == 1
    actions = [step["action"] for step in _alert(alert_id)["steps"]]
    assert actions.count("escalation started") == 1


def test_escalation_without_a_contact_email_notes_why_none_was_sent(flow: Flow) -> None:
    # GIVEN no contact e-mail in the tenant profile
    flow.after = {"soft-reset": flow.answer_resets, "hard-reset": flow.answer_resets}
    # WHEN a fault outlasts both resets
    alert_id = _fault(flow)
    flow.execution(alert_id)
    # THEN the ticket is open and the alert says why no e-mail went
    outcomes = {s["action"]: s["outcome"] for s in _alert(alert_id)["steps"]}
    assert outcomes["operator e-mail"] == "not sent: the tenant profile has no contact e-mail"
    assert outcomes["maintenance ticket"]


def test_escalation_starter_on_aws_starts_a_step_functions_execution_named_after_the_alert(
    aws: emulation.EmulatedResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a state machine in (emulated) Step Functions and the starter configured for it
    client: Any = boto3.client("stepfunctions", region_name=emulation.REGION)
    arn = client.create_state_machine(
        name="escalation",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/escalation",
    )["stateMachineArn"]
    monkeypatch.setenv("CSMS_ESCALATION_STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("CSMS_ESCALATION_WAIT_S", "120")
    _runtime.run_escalation_workflow_with(None)
    _runtime.reset()
    alert = an_alert()
    pending = Watch(
        key=alert.key, state=WatchState.PENDING, since=alert.opened_at, due_at=alert.opened_at
    )
    repository = DynamoAlertRepository(OutboxEncoder(new_uuid))
    assert repository.watch(pending)
    assert repository.open(pending, alert, [])
    data = json.loads(opened_event(alert).model_dump_json())
    event = {"id": "e1", "detail-type": "AlertOpened", "detail": {"data": data}}
    # WHEN the starter gets the alert's event twice
    first = sfn_escalation.start_handler(event, Ctx())
    second = sfn_escalation.start_handler(event, Ctx())
    # THEN one execution runs, named after the alert, with the wait in its input (Step Functions
    # answers a repeated start of a running execution with the same input as it did the first)
    assert first == second == {"outcome": "started"}
    [execution] = client.list_executions(stateMachineArn=arn)["executions"]
    assert execution["name"] == execution_name(alert.key.tenant_id, alert.alert_id)
    described = client.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {
        "tenantId": alert.key.tenant_id,
        "alertId": alert.alert_id,
        "waitSeconds": 120,
    }
