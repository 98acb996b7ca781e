"""cdk-nag (AwsSolutions) checks and every acknowledgment of the stack, each with its reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from aws_cdk import Acknowledgment, App, CfnElement, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from csms_infra.layer import RUNTIME
from csms_infra.stack import API as API_HANDLER
from csms_infra.stack import WS_STAGE, CsmsStack


def add_checks(app: App) -> None:
    """Run the AwsSolutions pack on synth: an unacknowledged finding fails the synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def _ack(scope: IConstruct, reasons: Mapping[str, str]) -> None:
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=rule, reason=reason) for rule, reason in reasons.items())
    )


def _ref(stack: CsmsStack, construct: IConstruct) -> str:
    """How cdk-nag prints a reference to the construct's CloudFormation resource."""
    return stack.get_logical_id(cast(CfnElement, construct.node.default_child))


def acknowledge(stack: CsmsStack) -> None:
    """Record why each remaining finding is accepted. This is the only place that does so."""
    table, ws_api = _ref(stack, stack.table), _ref(stack, stack.ws_api)
    for handler in stack.handlers.values():
        _ack(
            handler.role,
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support "
                    "no resource-level permissions."
                ),
                f"AwsSolutions-IAM5[Resource::<{table}.Arn>/index/*]": (
                    "Queries on the table's GSIs (listing by tenant, site, time) need the index "
                    "ARNs; the wildcard covers only the indexes of this one table."
                ),
                (
                    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:"
                    f"<AWS::AccountId>:<{ws_api}>/{WS_STAGE}/*/@connections/*]"
                ): (
                    "Connection ids exist only at run time; the grant covers POST/GET/DELETE on "
                    "@connections of this API's stage and nothing else."
                ),
            },
        )
        _ack(
            handler.function,
            {
                "AwsSolutions-L1": (
                    f"Pinned to {RUNTIME.name}: the dependencies layer is built from cp312 wheels "
                    "(layers/build.py); the runtime moves together with that build, not alone."
                ),
            },
        )
    _ack(
        stack.ws_api,
        {
            "AwsSolutions-APIG4": (
                "Stations authenticate with HTTP Basic Auth (OCPP security profiles 1 and 2), "
                "verified against a salted hash by the $connect handler, which must also choose "
                "the subprotocol; $default and $disconnect cannot carry an authorizer and run on "
                "an already authenticated connection."
            ),
        },
    )
    _ack(
        stack.outbox_dlq,
        {
            "AwsSolutions-SQS3": (
                "This queue is itself the dead-letter queue of the outbox relay's stream "
                "mapping (it holds batches that failed all retries, for an operator to replay)."
            ),
        },
    )
    billing = stack.billing
    _ack(
        billing.state_machine.role,
        {
            **{
                f"AwsSolutions-IAM5[Resource::<{_ref(stack, fn.function)}.Arn>:*]": (
                    "CDK's Lambda task grant: invoking the function's versions and aliases; "
                    "the wildcard covers qualifiers of this one function only."
                )
                for fn in (billing.bill, billing.alert)
            },
            "AwsSolutions-IAM5[Resource::*]": (
                "X-Ray tracing and CloudWatch Logs delivery of the state machine "
                "(logs:CreateLogDelivery and friends) support no resource-level permissions."
            ),
        },
    )
    _ack(
        billing.dead_letters,
        {
            "AwsSolutions-SQS3": (
                "This queue is itself the dead-letter queue of the billing rule's target and "
                "of the starter's asynchronous invocations (an alarm watches its depth)."
            ),
        },
    )
    _ack(
        billing.preauth_dead_letters,
        {
            "AwsSolutions-SQS3": (
                "This queue is itself the dead-letter queue of the pre-authorisation rule's "
                "target and of its asynchronous invocations (an alarm watches its depth)."
            ),
        },
    )
    _ack(
        stack.operations.detector_dead_letters,
        {
            "AwsSolutions-SQS3": (
                "This queue is itself the dead-letter queue of the alert detector's rule target "
                "and of its asynchronous invocations (an alarm watches its depth)."
            ),
        },
    )
    operations = stack.operations
    step = _ref(stack, operations.escalation_step.function)
    _ack(
        operations.escalation.role,
        {
            f"AwsSolutions-IAM5[Resource::<{step}.Arn>:*]": (
                "CDK's Lambda task grant: invoking the function's versions and aliases; "
                "the wildcard covers qualifiers of this one function only."
            ),
            "AwsSolutions-IAM5[Resource::*]": (
                "X-Ray tracing and CloudWatch Logs delivery of the state machine "
                "(logs:CreateLogDelivery and friends) support no resource-level permissions."
            ),
        },
    )
    _ack(
        operations.escalation_dead_letters,
        {
            "AwsSolutions-SQS3": (
                "This queue is itself the dead-letter queue of the escalation rule's target and "
                "of the starter's asynchronous invocations (an alarm watches its depth)."
            ),
        },
    )
    _acknowledge_webhooks(stack)
    _ack(
        stack.openapi_route,
        {
            "AwsSolutions-APIG4": (
                "The OpenAPI document describes the public interface and holds no data; tools "
                "read it before anyone signs in. Every other /v1 route has the JWT authorizer."
            ),
        },
    )
    _ack(
        stack.webhook_route,
        {
            "AwsSolutions-APIG4": (
                "Stripe's webhook cannot present a JWT: the function accepts a delivery only "
                "when its Stripe-Signature (HMAC-SHA256 under the endpoint's signing secret, "
                "timestamp within tolerance) holds for the raw body, and applies each event once."
            ),
        },
    )
    if stack.api_gateway_log_role is not None:
        _ack(
            stack.api_gateway_log_role,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]": (
                    "The account-level role API Gateway uses to write WebSocket access logs; "
                    "this AWS managed policy is the documented one for it and grants logs only."
                ),
            },
        )
    _ack(
        stack.distribution,
        {
            "AwsSolutions-CFR1": (
                "Stations sit wherever the operator has sites; each needs its own credentials, "
                "so a country allow-list adds nothing but support cases."
            ),
            "AwsSolutions-CFR2": (
                "Only WebSocket handshakes pass this distribution; they are throttled at the API "
                "Gateway stage and refused without station credentials. An operator may attach a "
                "WAF web ACL (us-east-1) without changing this stack."
            ),
            "AwsSolutions-CFR3": (
                "Handshakes are logged by the API Gateway stage access log and the $connect "
                "handler's connection log; CloudFront standard logs would add an ACL-enabled S3 "
                "bucket for the same facts."
            ),
            "AwsSolutions-CFR4": (
                "The default *.cloudfront.net certificate fixes the viewer security policy; a "
                "minimum of TLS 1.2 needs a custom domain and an ACM certificate, which an "
                "operator adds per deployment."
            ),
        },
    )


def _acknowledge_webhooks(stack: CsmsStack) -> None:
    """Partner webhooks (csms_infra.webhooks): the dead-letter queues and the secrets' path."""
    webhooks = stack.webhooks
    for queue, what in (
        (webhooks.dead_letters, "of the webhook delivery queue's redrive policy"),
        (webhooks.fan_out_dead_letters, "of the fan-out's rule target and async invocations"),
    ):
        _ack(
            queue,
            {
                "AwsSolutions-SQS3": (
                    f"This queue is itself the dead-letter queue {what} (an alarm watches its "
                    "depth)."
                ),
            },
        )
    secrets = (
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:"
        "<AWS::AccountId>:secret:csms/webhooks/*]"
    )
    reason = (
        "One signing secret per webhook subscription, created at run time by the API under "
        "csms/webhooks/{tenant}/{id}: their names are not known at deploy time; the wildcard "
        "covers that path only."
    )
    for function in (stack.handlers[API_HANDLER].role, webhooks.delivery.role):
        _ack(function, {secrets: reason})
