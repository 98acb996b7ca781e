"""Operations (issue 7): fault detection and alerts; more constructs join by section.

Alerts: station events on the bus -> the detector (csms.handlers.evt_alerts), which watches
conditions and closes alerts; a schedule every minute -> the sweep (csms.handlers.sched_alerts),
which opens alerts for conditions that lasted their hold-down. Both keep their state in the
table; AlertOpened/AlertClosed leave through the outbox like every other event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# Handler strings into the runtime package.
EVT_ALERTS = "csms.handlers.evt_alerts.lambda_handler"
SCHED_ALERTS = "csms.handlers.sched_alerts.lambda_handler"

ALERT_SOURCES = ("csms.stations",)
ALERT_DETAIL_TYPES = (
    "ConnectorStatusChanged",
    "StationConnected",
    "StationDisconnected",
    "StationBooted",
)
# The sweep's period: an alert opens at most this long after its hold-down ended.
ALERT_SWEEP_EVERY = Duration.minutes(1)


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
    ) -> None:
        super().__init__(scope, construct_id)
        self._alerts(table, bus, environment, make_function)

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
        self.detector_dead_letter_alarm = cloudwatch.Alarm(
            self,
            "AlertDetectorDlqNotEmpty",
            alarm_description="Station events could not be checked for faults",
            metric=self.detector_dead_letters.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5)
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.sweep_errors_alarm = cloudwatch.Alarm(
            self,
            "AlertSweepFailing",
            alarm_description="The alert sweep failed five minutes in a row",
            metric=self.sweep.function.metric_errors(period=Duration.minutes(1)),
            threshold=1,
            evaluation_periods=5,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
