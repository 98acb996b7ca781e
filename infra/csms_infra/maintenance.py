"""Maintenance (issue 7): the daily run of preventive maintenance plans.

A schedule once a day -> csms.handlers.sched_maintenance, which opens a ticket for every plan
that fell due (by days, or by kWh delivered since its last service). Tickets, plans and service
records live in the table; the API function serves them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

SCHED_MAINTENANCE = "csms.handlers.sched_maintenance.lambda_handler"
# Plans count in days; a daily run opens a due plan's ticket within a day of it falling due.
# A rate, not a cron: the local runtime runs `rate(...)` schedules of the template itself.
MAINTENANCE_RUN = events.Schedule.rate(Duration.days(1))

# (construct id, handler, environment, timeout in seconds) -> a HandlerFunction of the stack.
FunctionFactory = Callable[..., Any]


class MaintenanceJobs(Construct):
    """The daily plan run, its schedule and its alarm."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        environment: Mapping[str, str],
        make_function: FunctionFactory,
    ) -> None:
        super().__init__(scope, construct_id)
        # Reads plans, stations and sessions (energy since a service); writes tickets and plans.
        self.run = make_function("MaintenancePlanRun", SCHED_MAINTENANCE, environment, 300)
        table.grant_read_write_data(self.run.function)
        self.rule = events.Rule(
            self,
            "MaintenancePlanSchedule",
            description="Open tickets for preventive maintenance plans that fell due",
            schedule=MAINTENANCE_RUN,
            # Retried by EventBridge; a run that still fails is made good by the next day's run,
            # since a due plan stays due until its ticket is noted on it.
            targets=[targets.LambdaFunction(self.run.function, retry_attempts=2)],
        )
        # Without an action: an operator subscribes a topic where they are told.
        self.errors_alarm = cloudwatch.Alarm(
            self,
            "MaintenancePlanRunFailing",
            alarm_description="The daily maintenance plan run failed",
            metric=self.run.function.metric_errors(period=Duration.hours(1)),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
