"""Operations (issue 7): fault detection, alerts and their escalation, by section.

Alerts: station events on the bus -> the detector (csms.handlers.evt_alerts), which watches
conditions and closes alerts; a schedule every minute -> the sweep (csms.handlers.sched_alerts),
which opens alerts for conditions that lasted their hold-down. Both keep their state in the
table; AlertOpened/AlertClosed leave through the outbox like every other event.

Escalation: AlertOpened of a fault -> the starter (csms.handlers.sfn_escalation.start_handler)
-> the escalation state machine, one execution per alert: wait, soft reset, wait, hard reset,
wait, ticket + e-mail (SES) + partner webhook, stopping as soon as a step finds the fault cleared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import pairwise
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

# Handler strings into the runtime package.
EVT_ALERTS = "csms.handlers.evt_alerts.lambda_handler"
SCHED_ALERTS = "csms.handlers.sched_alerts.lambda_handler"
ESCALATION_START = "csms.handlers.sfn_escalation.start_handler"
ESCALATION_STEP = "csms.handlers.sfn_escalation.step_handler"

ALERT_SOURCES = ("csms.stations", "csms.sessions")
ALERT_DETAIL_TYPES = (
    "ConnectorStatusChanged",
    "StationConnected",
    "StationDisconnected",
    "StationBooted",
    # Failed starts (csms.sessions): a refused token at Authorize or StartTransaction.
    "TokenAuthorized",
    "TransactionStarted",
    # No energy while charging: a session's progress (at most one per 5 min) and its end.
    "TransactionUpdated",
    "TransactionEnded",
)
# The sweep's period: an alert opens at most this long after its hold-down ended.
ALERT_SWEEP_EVERY = Duration.minutes(1)

# Escalation: the alerts that start it (csms.domain.escalation.ESCALATED_KINDS), the wait before
# each step by default, and the steps in order (csms.domain.escalation.EscalationAction).
ESCALATION_SOURCE = "csms.alerts"
ESCALATION_DETAIL_TYPE = "AlertOpened"
ESCALATED_KINDS = ("faulted",)
ESCALATION_WAIT = Duration.minutes(5)
ESCALATION_STEPS = (
    ("SoftReset", "soft-reset"),
    ("HardReset", "hard-reset"),
    ("Escalate", "escalate"),
)
# The step task's refusal of its input (csms.handlers.sfn_escalation): never retried.
INVALID_STEP_ERROR = "InvalidStepInputError"
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)


# (construct id, handler, environment, timeout in seconds) -> a HandlerFunction of the stack.
FunctionFactory = Callable[..., Any]


class Operations(Construct):
    """Operations' functions, rules, queues and alarms (one section per concern)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        environment: Mapping[str, str],
        make_function: FunctionFactory,
        ws_stage: apigwv2.WebSocketStage,
        log_retention: logs.RetentionDays,
        escalation_wait: Duration = ESCALATION_WAIT,
        notify_from: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._alerts(table, bus, environment, make_function)
        self._escalation(
            table,
            bus=bus,
            environment={
                **environment,
                "CSMS_WS_MANAGEMENT_ENDPOINT": ws_stage.callback_url,
                "CSMS_ESCALATION_WAIT_S": str(int(escalation_wait.to_seconds())),
                **({"CSMS_NOTIFY_FROM": notify_from} if notify_from else {}),
            },
            make_function=make_function,
            ws_stage=ws_stage,
            log_retention=log_retention,
            wait=escalation_wait,
            notify_from=notify_from,
        )

    def _alarm(
        self,
        construct_id: str,
        description: str,
        metric: cloudwatch.IMetric,
        evaluation_periods: int = 1,
    ) -> cloudwatch.Alarm:
        """An alarm when the metric reaches 1 (no action: operators subscribe where told)."""
        return cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=1,
            evaluation_periods=evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    # -- alerts (fault detection) ----------------------------------------------------------------

    def _alerts(
        self,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        environment: Mapping[str, str],
        make_function: FunctionFactory,
    ) -> None:
        environment = {
            **environment,
            "CSMS_ALERT_HOLD_DOWN_S": "60",
            "CSMS_ALERT_OFFLINE_GRACE_S": "120",
        }
        self.detector = make_function("AlertDetector", EVT_ALERTS, environment, 30)
        # Markers, due entries, alerts, boot times; reads the station for its site.
        table.grant_read_write_data(self.detector.function)
        self.detector_dead_letters = sqs.Queue(
            self,
            "AlertDetectorDlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.detector.function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.detector_dead_letters),
            retry_attempts=2,
            max_event_age=Duration.hours(6),
        )
        self.detector_rule = events.Rule(
            self,
            "OnStationEvents",
            description="Watch station events for faults, outages and reboot loops",
            event_bus=bus,
            event_pattern=events.EventPattern(
                source=list(ALERT_SOURCES), detail_type=list(ALERT_DETAIL_TYPES)
            ),
            targets=[
                targets.LambdaFunction(
                    self.detector.function,
                    retry_attempts=10,
                    max_event_age=Duration.hours(6),
                    dead_letter_queue=self.detector_dead_letters,
                )
            ],
        )
        self.sweep = make_function("AlertSweep", SCHED_ALERTS, environment, 60)
        table.grant_read_write_data(self.sweep.function)
        self.sweep_rule = events.Rule(
            self,
            "AlertSweepSchedule",
            description="Open alerts for conditions that outlasted their hold-down",
            schedule=events.Schedule.rate(ALERT_SWEEP_EVERY),
            # The next minute sweeps again: due entries stay until handled.
            targets=[targets.LambdaFunction(self.sweep.function, retry_attempts=0)],
        )
        # Alarms without actions: an operator subscribes a topic where they are told.
        self.detector_dead_letter_alarm = self._alarm(
            "AlertDetectorDlqNotEmpty",
            "Station events could not be checked for faults",
            self.detector_dead_letters.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5)
            ),
        )
        self.sweep_errors_alarm = self._alarm(
            "AlertSweepFailing",
            "The alert sweep failed five minutes in a row",
            self.sweep.function.metric_errors(period=Duration.minutes(1)),
            evaluation_periods=5,
        )

    # -- escalation (the cheap fixes first, then people) ------------------------------------------

    def _escalation(
        self,
        table: dynamodb.ITable,
        *,
        bus: events.IEventBus,
        environment: Mapping[str, str],
        make_function: FunctionFactory,
        ws_stage: apigwv2.WebSocketStage,
        log_retention: logs.RetentionDays,
        wait: Duration,
        notify_from: str | None,
    ) -> None:
        # The steps read the alert and the port's status, queue Resets (the command table) and
        # send them over the station's connection, open tickets, write the alert's notes.
        self.escalation_step = make_function("EscalationStep", ESCALATION_STEP, environment, 30)
        table.grant_read_write_data(self.escalation_step.function)
        ws_stage.grant_management_api_access(self.escalation_step.function)
        if notify_from:
            stack = Stack.of(self)
            domain = notify_from.rpartition("@")[2]
            self.escalation_step.function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["ses:SendEmail"],
                    # SES checks the sending identity: the address, or its verified domain.
                    resources=[
                        stack.format_arn(service="ses", resource="identity", resource_name=name)
                        for name in (notify_from, domain)
                    ],
                )
            )
        self.escalation_logs = logs.LogGroup(self, "EscalationLogs", retention=log_retention)
        self.escalation = sfn.StateMachine(
            self,
            "Escalation",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(self._escalation_definition()),
            comment="Escalate a fault: soft reset, hard reset, then a ticket, e-mail and webhook",
            # Three waits and the steps' retries; an execution never runs past this.
            timeout=Duration.seconds(3 * int(wait.to_seconds()) + 3600),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.escalation_logs,
                level=sfn.LogLevel.ALL,
                # The input holds ids and a wait only: no secrets, no personal data.
                include_execution_data=True,
            ),
        )
        self.escalation_dead_letters = sqs.Queue(
            self,
            "EscalationStartDlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.escalation_start = make_function(
            "EscalationStart",
            ESCALATION_START,
            {**environment, "CSMS_ESCALATION_STATE_MACHINE_ARN": self.escalation.state_machine_arn},
            10,
        )
        # The starter notes "escalation started" on the alert.
        table.grant_read_write_data(self.escalation_start.function)
        self.escalation.grant_start_execution(self.escalation_start.function)
        self.escalation_start.function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.escalation_dead_letters), retry_attempts=2
        )
        self.escalation_rule = events.Rule(
            self,
            "OnFaultAlert",
            description="Start the escalation workflow when a fault alert opens",
            event_bus=bus,
            event_pattern=events.EventPattern(
                source=[ESCALATION_SOURCE],
                detail_type=[ESCALATION_DETAIL_TYPE],
                detail={"data": {"kind": list(ESCALATED_KINDS)}},
            ),
            targets=[
                targets.LambdaFunction(
                    self.escalation_start.function,
                    retry_attempts=10,
                    max_event_age=Duration.hours(6),
                    dead_letter_queue=self.escalation_dead_letters,
                )
            ],
        )
        self.escalation_failed_alarm = self._alarm(
            "EscalationFailing",
            "A fault escalation failed: a station may not have been reset or its ticket not opened",
            self.escalation.metric_failed(period=Duration.minutes(5)),
        )
        self.escalation_dead_letter_alarm = self._alarm(
            "EscalationStartDlqNotEmpty",
            "A fault alert's escalation could not be started",
            self.escalation_dead_letters.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5)
            ),
        )

    def _escalation_definition(self) -> sfn.IChainable:
        """Wait, step, stop if cleared; three times (see ESCALATION_STEPS)."""
        cleared = sfn.Succeed(self, "Cleared", comment="The fault cleared: nothing more to do")
        failed = sfn.Fail(
            self, "EscalationFailed", error="EscalationFailed", cause="A step failed for good"
        )
        links: list[tuple[sfn.Wait, sfn.Choice]] = []
        for name, action in ESCALATION_STEPS:
            wait = sfn.Wait(
                self,
                f"WaitBefore{name}",
                time=sfn.WaitTime.seconds_path("$.waitSeconds"),
                comment="Give the station time to recover (or to boot after a reset)",
            )
            step = tasks.LambdaInvoke(
                self,
                name,
                lambda_function=self.escalation_step.function,
                comment=f"Check the fault, then {action} (EscalationService.step)",
                payload=sfn.TaskInput.from_object(
                    {
                        "tenantId": sfn.JsonPath.string_at("$.tenantId"),
                        "alertId": sfn.JsonPath.string_at("$.alertId"),
                        "action": action,
                    }
                ),
                payload_response_only=True,
                retry_on_service_exceptions=False,
                result_path="$.step",
            )
            step.add_retry(errors=[INVALID_STEP_ERROR], max_attempts=0)
            step.add_retry(
                errors=list(LAMBDA_SERVICE_ERRORS),
                interval=Duration.seconds(2),
                backoff_rate=2.0,
                max_attempts=6,
                max_delay=Duration.minutes(1),
                jitter_strategy=sfn.JitterType.FULL,
            )
            step.add_retry(
                errors=["States.ALL"],
                interval=Duration.seconds(10),
                backoff_rate=2.0,
                max_attempts=5,
                max_delay=Duration.minutes(5),
                jitter_strategy=sfn.JitterType.FULL,
            )
            step.add_catch(failed, errors=["States.ALL"], result_path="$.error")
            check = sfn.Choice(self, f"ClearedAfter{name}")
            check.when(sfn.Condition.boolean_equals("$.step.cleared", True), cleared)
            wait.next(step).next(check)
            links.append((wait, check))
        for (_, check), (next_wait, _) in pairwise(links):
            check.otherwise(next_wait)
        links[-1][1].otherwise(
            sfn.Succeed(self, "Escalated", comment="People were told; a ticket is open")
        )
        return links[0][0]
