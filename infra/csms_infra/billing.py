"""The billing workflow: TransactionEnded -> starter -> Standard state machine -> Bill, once.

A starter function names each execution after the tenant, session and revision (EventBridge's
Step Functions target cannot name executions), so a duplicate event is refused by Step
Functions itself. The state machine retries the Bill task on the errors that may pass and
alerts on the rest; the monthly schedule closes last month's statements. The exactly-once
work is BillingService's (functions/csms/services/billing.py).

TransactionStarted -> the pre-authorisation function (csms.handlers.evt_preauth) holds money
on an ad-hoc driver's saved card; EventBridge and Lambda retry it, then its dead-letter queue.

Stripe's keys: optionally a Secrets Manager secret the operator made (its complete ARN in the
`csms:stripeSecretArn` context). Only the functions that call Stripe may read it: the Bill task,
the monthly close, the pre-authorisation (and the API function, for refunds and Stripe's
webhooks: `grant_payments`). Without it, payments go to the built-in "invoice only" provider.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

# Handler strings into the runtime package (csms.handlers.sfn_billing).
BILLING_START = "csms.handlers.sfn_billing.start_handler"
BILLING_BILL = "csms.handlers.sfn_billing.bill_handler"
BILLING_ALERT = "csms.handlers.sfn_billing.alert_handler"
BILLING_CLOSE_MONTH = "csms.handlers.sfn_billing.close_month_handler"
BILLING_PREAUTH = "csms.handlers.evt_preauth.lambda_handler"

BILLING_SOURCE = "csms.sessions"
BILLING_DETAIL_TYPE = "TransactionEnded"
PREAUTH_DETAIL_TYPE = "TransactionStarted"
# The environment variable that names Stripe's secret to the functions (csms.settings).
STRIPE_SECRET_ENV = "CSMS_STRIPE_SECRET_ARN"  # noqa: S105 - a variable name, not a secret

# Error names the Bill task raises (the exception class names in csms.handlers.sfn_billing).
RETRYABLE_ERROR = "BillingRetryableError"
REJECTED_ERROR = "BillingRejectedError"
# Lambda's own transient failures (the service, not the function).
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)


class RetryPolicy:
    """One retrier of the Bill task: its errors, first wait, growth, attempts and cap."""

    def __init__(
        self, errors: tuple[str, ...], interval_s: int, backoff: float, attempts: int, max_s: int
    ) -> None:
        self.errors = errors
        self.interval = Duration.seconds(interval_s)
        self.backoff = backoff
        self.attempts = attempts
        self.max_delay = Duration.seconds(max_s)


# A provider that is down or slow, or a write race: 10 s, 20 s, ... up to 5 min apart, for
# about 25 minutes in all (8 more attempts), every retry with the same idempotency keys.
PROVIDER_RETRY = RetryPolicy((RETRYABLE_ERROR,), 10, 2.0, 8, 300)
# Lambda throttled or failing: 2 s, 4 s, ... up to 1 min apart (6 more attempts).
SERVICE_RETRY = RetryPolicy(LAMBDA_SERVICE_ERRORS, 2, 2.0, 6, 60)
# Anything else (a failed AWS call, a timeout, a bug): 3 more attempts, then the alert.
OTHER_RETRY = RetryPolicy(("States.ALL",), 5, 2.0, 3, 60)

# The 1st of each month at 12:00 UTC: last month has ended in every timezone (UTC-12..+14).
MONTHLY_CLOSE = events.Schedule.cron(minute="0", hour="12", day="1", month="*", year="*")

FunctionFactory = Callable[..., Any]
"""Makes a HandlerFunction: (construct_id, handler, environment, **options)."""


class BillingWorkflow(Construct):
    """The billing state machine, its starter rule, the monthly close, and their alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        environment: dict[str, str],
        make_function: FunctionFactory,
        log_retention: logs.RetentionDays,
        stripe_secret_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # Imported, not made: the keys never pass through CloudFormation, and deleting the
        # stack leaves them to the operator.
        self.stripe_secret: secretsmanager.ISecret | None = (
            secretsmanager.Secret.from_secret_complete_arn(self, "StripeKeys", stripe_secret_arn)
            if stripe_secret_arn
            else None
        )
        self._stripe_secret_arn = stripe_secret_arn
        payment_environment = self._payment_environment(environment)
        # Billing reads and writes the table only: its events ride in the writes (outbox).
        self.bill = make_function("BillingBill", BILLING_BILL, payment_environment, timeout=120)
        table.grant_read_write_data(self.bill.function)
        self._grant_secret(self.bill.function)
        # The alert only logs: no data, no events.
        self.alert = make_function("BillingAlert", BILLING_ALERT, environment, timeout=10)

        self.state_machine_logs = logs.LogGroup(self, "Logs", retention=log_retention)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(self._definition()),
            comment="Bill an ended session once: price, CDR, invoice, payment",
            # A bill waits at most ~25 min of provider retries; nothing should run longer.
            timeout=Duration.hours(1),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.state_machine_logs,
                level=sfn.LogLevel.ALL,
                # The input holds ids only (tenant, session, revision, station): no secrets.
                include_execution_data=True,
            ),
        )

        # Events EventBridge or the starter could not hand over, for an operator to replay.
        self.dead_letters = sqs.Queue(
            self,
            "StartDlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.start = make_function(
            "BillingStart",
            BILLING_START,
            {
                **environment,
                "CSMS_BILLING_STATE_MACHINE_ARN": self.state_machine.state_machine_arn,
            },
            timeout=10,
        )
        self.state_machine.grant_start_execution(self.start.function)
        self.start.function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.dead_letters), retry_attempts=2
        )
        self.rule = events.Rule(
            self,
            "OnTransactionEnded",
            description="Start the billing workflow for every ended (or corrected) session",
            event_bus=bus,
            event_pattern=events.EventPattern(
                source=[BILLING_SOURCE], detail_type=[BILLING_DETAIL_TYPE]
            ),
            targets=[
                targets.LambdaFunction(
                    self.start.function,
                    retry_attempts=20,
                    max_event_age=Duration.hours(24),
                    dead_letter_queue=self.dead_letters,
                )
            ],
        )

        self.close_month = make_function(
            "BillingCloseMonth", BILLING_CLOSE_MONTH, payment_environment, timeout=900
        )
        table.grant_read_write_data(self.close_month.function)
        self._grant_secret(self.close_month.function)
        self.schedule = events.Rule(
            self,
            "MonthlyClose",
            description="Finalize and collect last month's statements",
            schedule=MONTHLY_CLOSE,
            targets=[targets.LambdaFunction(self.close_month.function, retry_attempts=2)],
        )

        self._preauthorization(table, bus, payment_environment, make_function)

        # Alarms without actions: an operator subscribes a topic where they are told.
        self.failed_alarm = cloudwatch.Alarm(
            self,
            "ExecutionsFailed",
            alarm_description="A session could not be billed (see the ALERT in the logs)",
            metric=self.state_machine.metric_failed(period=Duration.minutes(5)),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dead_letter_alarm = cloudwatch.Alarm(
            self,
            "StartDlqNotEmpty",
            alarm_description="An ended session's billing could not be started",
            metric=self.dead_letters.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5)
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def grant_payments(self, function: lambda_.Function) -> None:
        """Let another function call Stripe too (the API: refunds, Stripe's webhooks)."""
        if self._stripe_secret_arn:
            function.add_environment(STRIPE_SECRET_ENV, self._stripe_secret_arn)
        self._grant_secret(function)

    def _payment_environment(self, environment: dict[str, str]) -> dict[str, str]:
        if not self._stripe_secret_arn:
            return environment
        return {**environment, STRIPE_SECRET_ENV: self._stripe_secret_arn}

    def _grant_secret(self, function: lambda_.IFunction) -> None:
        if self.stripe_secret is not None:
            self.stripe_secret.grant_read(function)

    def _preauthorization(
        self,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        environment: dict[str, str],
        make_function: FunctionFactory,
    ) -> None:
        """TransactionStarted -> a hold on the driver's saved card (csms.services.preauth)."""
        # At most ~3 Stripe attempts of 10 s each (the client's own retries), then the reads.
        self.preauth = make_function("BillingPreauth", BILLING_PREAUTH, environment, timeout=60)
        # Reads accounts, tariffs and the ledger; writes the hold only (first write wins).
        table.grant_read_write_data(self.preauth.function)
        self._grant_secret(self.preauth.function)
        self.preauth_dead_letters = sqs.Queue(
            self,
            "PreauthDlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        # A provider that stays unreachable: two more tries by Lambda, then the queue. The
        # session is still billed at its end (the saved card is charged without a hold).
        self.preauth.function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.preauth_dead_letters),
            retry_attempts=2,
            max_event_age=Duration.hours(1),
        )
        self.preauth_rule = events.Rule(
            self,
            "OnTransactionStarted",
            description="Pre-authorise the payment of an ad-hoc session when it starts",
            event_bus=bus,
            event_pattern=events.EventPattern(
                source=[BILLING_SOURCE], detail_type=[PREAUTH_DETAIL_TYPE]
            ),
            targets=[
                targets.LambdaFunction(
                    self.preauth.function,
                    retry_attempts=10,
                    # A hold made hours after the start is of little use: the session may
                    # have ended and been charged.
                    max_event_age=Duration.hours(1),
                    dead_letter_queue=self.preauth_dead_letters,
                )
            ],
        )
        self.preauth_dead_letter_alarm = cloudwatch.Alarm(
            self,
            "PreauthDlqNotEmpty",
            alarm_description="A session start could not be pre-authorised (charged at its end)",
            metric=self.preauth_dead_letters.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5)
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _definition(self) -> sfn.IChainable:
        bill = tasks.LambdaInvoke(
            self,
            "Bill",
            lambda_function=self.bill.function,
            comment="Price the session, write its CDR and invoice, collect (BillingService)",
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path="$.billed",
        )
        # Refusals first, with no attempts: States.ALL below must not retry them.
        bill.add_retry(errors=[REJECTED_ERROR], max_attempts=0)
        for policy in (PROVIDER_RETRY, SERVICE_RETRY, OTHER_RETRY):
            bill.add_retry(
                errors=list(policy.errors),
                interval=policy.interval,
                backoff_rate=policy.backoff,
                max_attempts=policy.attempts,
                max_delay=policy.max_delay,
                jitter_strategy=sfn.JitterType.FULL,
            )
        alert = tasks.LambdaInvoke(
            self,
            "Alert",
            lambda_function=self.alert.function,
            comment="Log an ALERT: the session is not billed",
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path=sfn.JsonPath.DISCARD,
        )
        alert.add_retry(errors=list(LAMBDA_SERVICE_ERRORS), max_attempts=3)
        failed = sfn.Fail(
            self, "NotBilled", error="BillingFailed", cause="The session could not be billed"
        )
        bill.add_catch(alert.next(failed), errors=["States.ALL"], result_path="$.error")
        return bill.next(sfn.Succeed(self, "Billed"))
