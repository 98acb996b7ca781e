"""Partner webhooks (issue 7): the bus -> fan-out -> queue -> delivery, with a dead-letter queue.

The fan-out (csms.handlers.evt_webhooks) keeps a copy of each event for every matching
subscription and queues one delivery each; the delivery (csms.handlers.sqs_webhooks) posts it
signed and, when the receiver fails, hides the message for its backoff (at most 12 hours).
After MAX_RECEIVES attempts, which span the 3 days Standard Webhooks asks for, the redrive
policy moves the message to the dead-letter queue, and an alarm tells the operator.
Signing secrets are Secrets Manager secrets under SECRETS_PATH, created by the API function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

EVT_WEBHOOKS = "csms.handlers.evt_webhooks.lambda_handler"
SQS_WEBHOOKS = "csms.handlers.sqs_webhooks.lambda_handler"

# The domain events partners may subscribe to (csms.domain.webhooks.SOURCE_DETAIL_TYPES; a
# test keeps the two lists equal).
WEBHOOK_SOURCES = ("csms.sessions", "csms.billing", "csms.stations", "csms.alerts")
WEBHOOK_DETAIL_TYPES = (
    "TransactionStarted",
    "TransactionEnded",
    "InvoiceFinalized",
    "InvoicePaid",
    "PaymentFailed",
    "StationConnected",
    "StationDisconnected",
    "AlertOpened",
    "AlertClosed",
    "AlertEscalated",
)
# csms.domain.webhooks.attempts_to_cover(): attempts with exponential backoff (30 s doubling,
# at most 12 h apart) until 3 days after the first. A test keeps the two equal.
MAX_RECEIVES = 17
# Each delivery waits at most 10 s for its receiver; a batch of 5 fits the timeout.
DELIVERY_BATCH = 5
DELIVERY_TIMEOUT = Duration.seconds(70)
# Where the signing secrets live (csms.adapters.webhook_aws uses the same path).
SECRETS_PATH = "csms/webhooks"
# What the API function does with the secrets (create, rotate, delete) and the delivery reads.
SECRET_ADMIN_ACTIONS = (
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:DeleteSecret",
    "secretsmanager:TagResource",
)

FunctionFactory = Callable[..., Any]


class PartnerWebhooks(Construct):
    """The webhook queue and its dead-letter queue, the two functions, the rule and alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        environment: Mapping[str, str],
        make_function: FunctionFactory,
        api_function: lambda_.Function,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self,
            "DeliveryDlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "DeliveryQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # Three days of retries plus the last 12-hour wait, with a margin.
            retention_period=Duration.days(4),
            # AWS's advice for a Lambda event source: six times the function's timeout.
            visibility_timeout=Duration.seconds(DELIVERY_TIMEOUT.to_seconds() * 6),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letters, max_receive_count=MAX_RECEIVES
            ),
        )
        environment = {**environment, "CSMS_WEBHOOK_QUEUE_URL": self.queue.queue_url}
        self.fan_out = make_function("WebhookFanOut", EVT_WEBHOOKS, environment, 30)
        self.delivery = make_function(
            "WebhookDelivery", SQS_WEBHOOKS, environment, int(DELIVERY_TIMEOUT.to_seconds())
        )
        secrets = Stack.of(self).format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{SECRETS_PATH}/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        # Subscriptions, copies and the log.
        table.grant_read_write_data(self.fan_out.function)
        table.grant_read_write_data(self.delivery.function)
        self.queue.grant_send_messages(self.fan_out.function)
        # Receive, delete and ChangeMessageVisibility (the backoff).
        self.queue.grant_consume_messages(self.delivery.function)
        self.delivery.function.add_to_role_policy(
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secrets])
        )
        self.delivery.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=DELIVERY_BATCH,
                report_batch_item_failures=True,
                max_concurrency=10,
            )
        )
        # The API creates, rotates and deletes secrets and queues replays.
        api_function.add_environment("CSMS_WEBHOOK_QUEUE_URL", self.queue.queue_url)
        self.queue.grant_send_messages(api_function)
        api_function.add_to_role_policy(
            iam.PolicyStatement(actions=list(SECRET_ADMIN_ACTIONS), resources=[secrets])
        )

        self.fan_out_dead_letters = sqs.Queue(
            self,
            "FanOutDlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.fan_out.function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.fan_out_dead_letters),
            retry_attempts=2,
            max_event_age=Duration.hours(6),
        )
        self.rule = events.Rule(
            self,
            "OnPartnerEvents",
            description="Fan events out to the partner webhook subscriptions",
            event_bus=bus,
            event_pattern=events.EventPattern(
                source=list(WEBHOOK_SOURCES), detail_type=list(WEBHOOK_DETAIL_TYPES)
            ),
            targets=[
                targets.LambdaFunction(
                    self.fan_out.function,
                    retry_attempts=10,
                    max_event_age=Duration.hours(6),
                    dead_letter_queue=self.fan_out_dead_letters,
                )
            ],
        )
        # Alarms without actions: an operator subscribes a topic where they are told.
        self.dead_letter_alarm = _not_empty(
            self,
            "DeliveryDlqNotEmpty",
            self.dead_letters,
            "Webhook deliveries failed for 3 days and were given up (replay them when fixed)",
        )
        self.fan_out_dead_letter_alarm = _not_empty(
            self,
            "FanOutDlqNotEmpty",
            self.fan_out_dead_letters,
            "Events could not be fanned out to webhook subscriptions",
        )
        self.backlog_alarm = cloudwatch.Alarm(
            self,
            "DeliveryBacklogOld",
            alarm_description="A webhook delivery has waited more than 12 hours (receiver down?)",
            metric=self.queue.metric_approximate_age_of_oldest_message(period=Duration.minutes(15)),
            threshold=Duration.hours(12).to_seconds(),
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )


def _not_empty(
    scope: Construct, construct_id: str, queue: sqs.IQueue, text: str
) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=text,
        metric=queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(5)),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
