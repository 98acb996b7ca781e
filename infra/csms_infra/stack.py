"""The CSMS stack: station gateway (CloudFront + WebSocket API), operator HTTP API, data, events."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import jsii
from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from csms_infra.billing import BillingWorkflow
from csms_infra.layer import ARCHITECTURE, RUNTIME, dependencies_layer
from csms_infra.maintenance import MaintenanceJobs
from csms_infra.operations import ESCALATION_WAIT, Operations
from csms_infra.paths import EDGE_DIR, FUNCTIONS_DIR
from csms_infra.webhooks import PartnerWebhooks

STACK_ID = "CsmsStack"
WS_STAGE = "prod"
EVENT_BUS_NAME = "csms-events"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH

# Handler strings into the runtime package (never imported here: infra stays runtime-free).
WS_CONNECT = "csms.handlers.ws_connect.lambda_handler"
WS_MESSAGE = "csms.handlers.ws_message.lambda_handler"
WS_DISCONNECT = "csms.handlers.ws_disconnect.lambda_handler"
API = "csms.handlers.api.lambda_handler"
# The one operator API path that carries no JWT (csms.handlers.api.PUBLIC_ROUTES lists it).
STRIPE_WEBHOOK_PATH = "/v1/payments/stripe/webhook"
STREAM_OUTBOX = "csms.handlers.stream_outbox.lambda_handler"
SESSION_CLEANUP = "csms.handlers.sched_session_cleanup.lambda_handler"
# How often the cleanup job looks for sessions their stations stopped reporting on.
SESSION_CLEANUP_SCHEDULE = Duration.hours(1)
# Load management: a rebalance per site on session and load events, and periodically.
EVT_REBALANCE = "csms.handlers.evt_rebalance.lambda_handler"
SCHED_REBALANCE = "csms.handlers.sched_rebalance.lambda_handler"
REBALANCE_EVERY = Duration.minutes(1)
# The events that change what a site's sessions may draw (RebalanceRequested: the schedule's).
REBALANCE_SOURCES = ("csms.sessions", "csms.load")
REBALANCE_DETAIL_TYPES = (
    "TransactionStarted",
    "TransactionEnded",
    "LoadChanged",
    "RebalanceRequested",
)

# Headers of the WebSocket opening handshake (RFC 6455 section 4.1) that the origin must see;
# Sec-WebSocket-Protocol carries the OCPP version offer ("ocpp2.0.1, ocpp1.6").
WEBSOCKET_HEADERS = (
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
)


# What the api function may do to the operator user pool (csms.adapters.cognito).
USER_DIRECTORY_ACTIONS = (
    "cognito-idp:AdminCreateUser",
    "cognito-idp:AdminUpdateUserAttributes",
    "cognito-idp:AdminDeleteUserAttributes",
    "cognito-idp:AdminDisableUser",
    "cognito-idp:AdminEnableUser",
    "cognito-idp:AdminDeleteUser",
    "cognito-idp:AdminUserGlobalSignOut",
)


@jsii.implements(apigwv2.IAccessLogSettings)
class _JsonAccessLog:
    """Stage access logs as one JSON object per line, so Logs Insights can query the fields."""

    def __init__(self, log_group: logs.ILogGroup, fields: Mapping[str, str]) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)
        self._format = apigw.AccessLogFormat.custom(json.dumps(dict(fields)))

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat | None:
        return self._format


class HandlerFunction(Construct):
    """One Lambda function of the runtime package with its own role and log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: Mapping[str, str],
        memory_size: int = 256,
        timeout: Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION)
        # An own role instead of AWSLambdaBasicExecutionRole: it may write to its log group only.
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            handler=handler,
            code=code,
            layers=[layer],
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            memory_size=memory_size,
            timeout=timeout or Duration.seconds(10),
            role=self.role,
            log_group=self.log_group,
            # Powertools writes JSON itself; the JSON format makes the platform lines JSON too and
            # AWS_LAMBDA_LOG_LEVEL agree with POWERTOOLS_LOG_LEVEL.
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                "POWERTOOLS_SERVICE_NAME": "csms",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                "POWERTOOLS_METRICS_NAMESPACE": "csms",
                **environment,
            },
        )


class CsmsStack(Stack):
    """Everything one operator deploys (the message path is in DESIGN.md, section 1)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str = STACK_ID,
        *,
        console_origins: Sequence[str] = (),
        create_api_gateway_log_role: bool = True,
        rebalance_every: Duration = REBALANCE_EVERY,
        stripe_secret_arn: str | None = None,
        escalation_wait: Duration = ESCALATION_WAIT,
        notify_from: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)

        self.table = self._table()
        self.bus = events.EventBus(self, "EventBus", event_bus_name=EVENT_BUS_NAME)

        self.ws_api = apigwv2.WebSocketApi(
            self, "StationGateway", description="OCPP-J WebSocket endpoint of charging stations"
        )
        self.ws_stage = apigwv2.WebSocketStage(
            self,
            "StationGatewayStage",
            web_socket_api=self.ws_api,
            stage_name=WS_STAGE,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=500, burst_limit=1000),
            access_log_settings=_JsonAccessLog(
                self._access_log_group("StationGatewayAccessLogs"),
                {
                    "requestId": "$context.requestId",
                    "requestTime": "$context.requestTimeEpoch",
                    "connectionId": "$context.connectionId",
                    "eventType": "$context.eventType",
                    "routeKey": "$context.routeKey",
                    "status": "$context.status",
                    "integrationStatus": "$context.integration.status",
                    "error": "$context.error.message",
                    "integrationError": "$context.integration.error",
                },
            ),
        )
        self.api_gateway_log_role: iam.Role | None = None
        if create_api_gateway_log_role:
            # WebSocket (like REST) access logging needs the account-wide CloudWatch role of API
            # Gateway; without it the stage fails to deploy. Set the context flag
            # csms:apiGatewayLogRole=false if the account already has one.
            self.api_gateway_log_role, account = self._api_gateway_account()
            self.ws_stage.node.add_dependency(account)

        code = lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=["__pycache__", "*.pyc"])
        layer = dependencies_layer(self, "Dependencies")
        environment = {
            "CSMS_TABLE_NAME": self.table.table_name,
            "CSMS_EVENT_BUS_NAME": self.bus.event_bus_name,
            "CSMS_WS_MANAGEMENT_ENDPOINT": self.ws_stage.callback_url,
            "CSMS_HEARTBEAT_INTERVAL_S": "300",
            "CSMS_CALL_TIMEOUT_S": "30",
        }

        def handler_function(construct_id: str, handler: str, **options: Any) -> HandlerFunction:
            fn = HandlerFunction(
                self,
                construct_id,
                handler=handler,
                code=code,
                layer=layer,
                environment=environment,
                **options,
            )
            self.table.grant_read_write_data(fn.function)
            self.bus.grant_put_events_to(fn.function)
            # Every function may reply or send a CALL to a station over its connection.
            self.ws_stage.grant_management_api_access(fn.function)
            return fn

        # API Gateway gives up on an integration after 29 s, so no handler may run longer.
        self.handlers = {
            # Verifying an argon2 hash is CPU- and memory-bound: 512 MB buys both.
            WS_CONNECT: handler_function("WsConnect", WS_CONNECT, memory_size=512),
            WS_MESSAGE: handler_function("WsMessage", WS_MESSAGE, timeout=Duration.seconds(28)),
            WS_DISCONNECT: handler_function("WsDisconnect", WS_DISCONNECT),
            API: handler_function("Api", API, timeout=Duration.seconds(29)),
        }
        self.handlers[STREAM_OUTBOX] = self._outbox_relay(code, layer)
        self.handlers[SESSION_CLEANUP] = self._session_cleanup(code, layer)
        self.handlers[EVT_REBALANCE], self.handlers[SCHED_REBALANCE] = self._rebalance(
            code, layer, environment, rebalance_every
        )
        self.billing = self._billing(code, layer, stripe_secret_arn)
        # Refunds and Stripe's webhooks are answered by the API function.
        self.billing.grant_payments(self.handlers[API].function)
        self.operations = self._operations(code, layer, escalation_wait, notify_from)
        self.webhooks = self._webhooks(code, layer)
        self.maintenance = self._maintenance(code, layer)

        def ws_route(name: str, handler: str, *, return_response: bool = False) -> None:
            self.ws_api.add_route(
                name,
                integration=integrations.WebSocketLambdaIntegration(
                    f"{handler.split('.')[-2]}-integration", self.handlers[handler].function
                ),
                return_response=return_response,
            )

        ws_route("$connect", WS_CONNECT)
        ws_route("$disconnect", WS_DISCONNECT)
        # OCPP-J frames are JSON arrays, so no route selection applies: everything lands on
        # $default, and the handler's return value (CALLRESULT/CALLERROR) is the route response.
        ws_route("$default", WS_MESSAGE, return_response=True)

        self.distribution = self._station_edge()
        self.user_pool, self.user_pool_client = self._operator_pool()
        # The users endpoints keep the pool's users (role, sites) in step with their records.
        api_function = self.handlers[API].function
        api_function.add_environment("CSMS_USER_POOL_ID", self.user_pool.user_pool_id)
        self.user_pool.grant(api_function, *USER_DIRECTORY_ACTIONS)
        operator_api = self._operator_api(self.handlers[API].function, console_origins)
        self.http_api, self.http_stage, self.openapi_route, self.webhook_route = operator_api

        CfnOutput(
            self,
            "StationWebSocketUrl",
            value=f"wss://{self.distribution.distribution_domain_name}/ocpp/{{stationId}}",
            description="Where charging stations connect (OCPP-J, Basic Auth)",
        )
        CfnOutput(self, "HttpApiUrl", value=self.http_stage.url)
        CfnOutput(self, "UserPoolId", value=self.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.user_pool_client.user_pool_client_id)
        CfnOutput(self, "TableName", value=self.table.table_name)
        CfnOutput(self, "EventBusName", value=self.bus.event_bus_name)

    def _billing(
        self, code: lambda_.Code, layer: lambda_.ILayerVersion, stripe_secret_arn: str | None
    ) -> BillingWorkflow:
        """The billing workflow (csms_infra.billing): its functions join `self.handlers`."""

        def make_function(
            construct_id: str, handler: str, environment: Mapping[str, str], *, timeout: int
        ) -> HandlerFunction:
            fn = HandlerFunction(
                self,
                construct_id,
                handler=handler,
                code=code,
                layer=layer,
                environment=environment,
                timeout=Duration.seconds(timeout),
            )
            self.handlers[handler] = fn
            return fn

        return BillingWorkflow(
            self,
            "Billing",
            table=self.table,
            bus=self.bus,
            environment={
                "CSMS_TABLE_NAME": self.table.table_name,
                "CSMS_EVENT_BUS_NAME": self.bus.event_bus_name,
            },
            make_function=make_function,
            stripe_secret_arn=stripe_secret_arn,
            log_retention=LOG_RETENTION,
        )

    def _operations(
        self,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        escalation_wait: Duration,
        notify_from: str | None,
    ) -> Operations:
        """Operations (csms_infra.operations): its functions join `self.handlers`."""

        def make_function(
            construct_id: str, handler: str, environment: Mapping[str, str], timeout: int
        ) -> HandlerFunction:
            fn = HandlerFunction(
                self,
                construct_id,
                handler=handler,
                code=code,
                layer=layer,
                environment=environment,
                timeout=Duration.seconds(timeout),
            )
            self.handlers[handler] = fn
            return fn

        return Operations(
            self,
            "Operations",
            table=self.table,
            bus=self.bus,
            environment={
                "CSMS_TABLE_NAME": self.table.table_name,
                "CSMS_EVENT_BUS_NAME": self.bus.event_bus_name,
            },
            make_function=make_function,
            ws_stage=self.ws_stage,
            log_retention=LOG_RETENTION,
            escalation_wait=escalation_wait,
            notify_from=notify_from,
        )

    def _webhooks(self, code: lambda_.Code, layer: lambda_.ILayerVersion) -> PartnerWebhooks:
        """Partner webhooks (csms_infra.webhooks): its functions join `self.handlers`."""

        def make_function(
            construct_id: str, handler: str, environment: Mapping[str, str], timeout: int
        ) -> HandlerFunction:
            fn = HandlerFunction(
                self,
                construct_id,
                handler=handler,
                code=code,
                layer=layer,
                environment=environment,
                timeout=Duration.seconds(timeout),
            )
            self.handlers[handler] = fn
            return fn

        return PartnerWebhooks(
            self,
            "Webhooks",
            table=self.table,
            bus=self.bus,
            environment={
                "CSMS_TABLE_NAME": self.table.table_name,
                "CSMS_EVENT_BUS_NAME": self.bus.event_bus_name,
            },
            make_function=make_function,
            api_function=self.handlers[API].function,
        )

    def _maintenance(self, code: lambda_.Code, layer: lambda_.ILayerVersion) -> MaintenanceJobs:
        """Maintenance (csms_infra.maintenance): its function joins `self.handlers`."""

        def make_function(
            construct_id: str, handler: str, environment: Mapping[str, str], timeout: int
        ) -> HandlerFunction:
            fn = HandlerFunction(
                self,
                construct_id,
                handler=handler,
                code=code,
                layer=layer,
                environment=environment,
                timeout=Duration.seconds(timeout),
            )
            self.handlers[handler] = fn
            return fn

        return MaintenanceJobs(
            self,
            "Maintenance",
            table=self.table,
            environment={
                "CSMS_TABLE_NAME": self.table.table_name,
                "CSMS_EVENT_BUS_NAME": self.bus.event_bus_name,
            },
            make_function=make_function,
        )

    def _session_cleanup(self, code: lambda_.Code, layer: lambda_.ILayerVersion) -> HandlerFunction:
        """Hourly: close sessions whose station never reported their end (marked Abandoned)."""
        job = HandlerFunction(
            self,
            "SessionCleanup",
            handler=SESSION_CLEANUP,
            code=code,
            layer=layer,
            environment={
                "CSMS_TABLE_NAME": self.table.table_name,
                "CSMS_EVENT_BUS_NAME": self.bus.event_bus_name,
                "CSMS_SESSION_ABANDON_AFTER_H": "48",
            },
            timeout=Duration.minutes(5),
        )
        # Its events ride in the session writes (outbox): the table is all it touches.
        self.table.grant_read_write_data(job.function)
        events.Rule(
            self,
            "SessionCleanupSchedule",
            description="Close sessions left open by stations that stopped reporting",
            schedule=events.Schedule.rate(SESSION_CLEANUP_SCHEDULE),
            targets=[targets.LambdaFunction(job.function, retry_attempts=2)],
        )
        return job

    def _rebalance(
        self,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: Mapping[str, str],
        every: Duration,
    ) -> tuple[HandlerFunction, HandlerFunction]:
        """Load management: one invocation per site rebalances it and sends changed profiles.

        Session starts and ends and load changes (configuration, readings, declared needs)
        trigger it at once; a schedule asks for a rebalance of every managed site, one event
        per site, so that sites run in parallel and one slow site delays no other.
        """
        # Both functions share one runtime (csms.handlers._runtime.rebalancer) and settings.
        environment = {**environment, "CSMS_REBALANCE_PROFILE_TTL_S": "300"}
        rebalance = HandlerFunction(
            self,
            "Rebalance",
            handler=EVT_REBALANCE,
            code=code,
            layer=layer,
            environment=environment,
            memory_size=512,
            timeout=Duration.seconds(60),
        )
        # Reads the site's state, sessions and stations, writes the allocation and the command
        # records, and sends SetChargingProfile CALLs over the stations' connections.
        self.table.grant_read_write_data(rebalance.function)
        self.ws_stage.grant_management_api_access(rebalance.function)
        # A rebalance request older than two periods is superseded by a newer one.
        target = targets.LambdaFunction(
            rebalance.function, retry_attempts=2, max_event_age=Duration.minutes(5)
        )
        events.Rule(
            self,
            "RebalanceOnEvents",
            description="Rebalance a site's load when a session starts or ends or its load changes",
            event_bus=self.bus,
            event_pattern=events.EventPattern(
                source=list(REBALANCE_SOURCES), detail_type=list(REBALANCE_DETAIL_TYPES)
            ),
            targets=[target],
        )
        schedule = HandlerFunction(
            self,
            "RebalanceSchedule",
            handler=SCHED_REBALANCE,
            code=code,
            layer=layer,
            environment=environment,
            timeout=Duration.seconds(60),
        )
        # Lists the managed sites (reads only) and puts one RebalanceRequested per site.
        self.table.grant_read_data(schedule.function)
        self.bus.grant_put_events_to(schedule.function)
        events.Rule(
            self,
            "RebalanceEveryPeriod",
            description="Ask for a rebalance of every site with load management",
            schedule=events.Schedule.rate(every),
            targets=[targets.LambdaFunction(schedule.function, retry_attempts=0)],
        )
        return rebalance, schedule

    def _outbox_relay(self, code: lambda_.Code, layer: lambda_.ILayerVersion) -> HandlerFunction:
        """Table stream -> EventBridge: publishes the events that rode in item writes.

        One batch per shard at a time, in order; a failed record is retried from where it
        failed (partial batch responses), and after the retries its batch goes to a DLQ.
        """
        relay = HandlerFunction(
            self,
            "StreamOutbox",
            handler=STREAM_OUTBOX,
            code=code,
            layer=layer,
            environment={
                "CSMS_TABLE_NAME": self.table.table_name,
                "CSMS_EVENT_BUS_NAME": self.bus.event_bus_name,
            },
            timeout=Duration.seconds(60),
        )
        self.bus.grant_put_events_to(relay.function)
        self.outbox_dlq = sqs.Queue(
            self,
            "StreamOutboxDlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        relay.function.add_event_source(
            event_sources.DynamoEventSource(
                self.table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=100,
                max_batching_window=Duration.seconds(0),
                parallelization_factor=1,
                report_batch_item_failures=True,
                retry_attempts=20,
                on_failure=event_sources.SqsDlq(self.outbox_dlq),
                # Only writes that carry events invoke the relay.
                filters=[
                    lambda_.FilterCriteria.filter(
                        {
                            "dynamodb": {
                                "NewImage": {"outbox_id": {"S": lambda_.FilterRule.exists()}}
                            }
                        }
                    )
                ],
            )
        )
        return relay

    def _table(self) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="PK", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="SK", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expires_at",
            # The outbox relay reads the stream (csms.adapters.outbox).
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Keys only: listing reads the items by key afterwards (reads are cheaper than the index
        # writes a full projection costs on every station update), and no secret such as a
        # password hash is copied into an index.
        # GSI1 lists by tenant, GSI2-GSI4 sessions by token, by station and while active.
        for index in ("GSI1", "GSI2", "GSI3", "GSI4"):
            table.add_global_secondary_index(
                index_name=index,
                partition_key=dynamodb.Attribute(
                    name=f"{index}PK", type=dynamodb.AttributeType.STRING
                ),
                sort_key=dynamodb.Attribute(name=f"{index}SK", type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.KEYS_ONLY,
            )
        return table

    def _access_log_group(self, construct_id: str) -> logs.LogGroup:
        return logs.LogGroup(self, construct_id, retention=LOG_RETENTION)

    def _api_gateway_account(self) -> tuple[iam.Role, apigw.CfnAccount]:
        role = iam.Role(
            self,
            "ApiGatewayCloudWatchRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                )
            ],
        )
        # The setting outlives this stack (other APIs of the account may rely on it).
        role.apply_removal_policy(RemovalPolicy.RETAIN)
        account = apigw.CfnAccount(self, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn)
        account.apply_removal_policy(RemovalPolicy.RETAIN)
        return role, account

    def _station_edge(self) -> cloudfront.Distribution:
        station_path = cloudfront.Function(
            self,
            "StationPathFunction",
            code=cloudfront.FunctionCode.from_file(file_path=str(EDGE_DIR / "station_path.js")),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="Rewrite /ocpp/{stationId} to the WebSocket stage root with ?station=",
        )
        # Authorization (the station's Basic Auth) cannot go into an origin request policy:
        # CloudFront rejects that with HTTP 400 and only forwards Authorization when it is part of
        # the cache key. A cache policy with all TTLs at 0 ("caching disabled", like the managed
        # CachingDisabled) may not name any header either, so this policy keeps min/default TTL
        # at 0 and max TTL at 1 s. Nothing is cached in practice: a WebSocket upgrade (101) is
        # never stored, the origin sends no Cache-Control, and the key holds the credentials.
        handshake_cache = cloudfront.CachePolicy(
            self,
            "StationHandshakeCachePolicy",
            comment="Forward station credentials and id; effectively no caching",
            min_ttl=Duration.seconds(0),
            default_ttl=Duration.seconds(0),
            max_ttl=Duration.seconds(1),
            header_behavior=cloudfront.CacheHeaderBehavior.allow_list("Authorization"),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.allow_list("station"),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
        )
        # The Host header stays out: API Gateway routes by its own host name.
        handshake_headers = cloudfront.OriginRequestPolicy(
            self,
            "StationHandshakeOriginRequestPolicy",
            # Policy names are global to the account; the region keeps two deployments apart.
            origin_request_policy_name=f"{self.stack_name}-StationHandshake-{self.region}",
            comment="Forward the WebSocket handshake headers to API Gateway",
            header_behavior=cloudfront.OriginRequestHeaderBehavior.allow_list(*WEBSOCKET_HEADERS),
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.none(),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
        )
        origin = origins.HttpOrigin(
            f"{self.ws_api.api_id}.execute-api.{self.region}.{self.url_suffix}",
            origin_path=f"/{WS_STAGE}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
        )
        return cloudfront.Distribution(
            self,
            "StationEdge",
            comment="CSMS station gateway: wss://<domain>/ocpp/{stationId}",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                # The opening handshake is a GET; frames then flow over the upgraded connection.
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=handshake_cache,
                origin_request_policy=handshake_headers,
                compress=False,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=station_path,
                        event_type=cloudfront.FunctionEventType.VIEWER_REQUEST,
                    )
                ],
            ),
            # The WebSocket opening handshake is an HTTP/1.1 upgrade (RFC 6455).
            http_version=cloudfront.HttpVersion.HTTP1_1,
        )

    def _operator_pool(self) -> tuple[cognito.UserPool, cognito.UserPoolClient]:
        pool = cognito.UserPool(
            self,
            "OperatorPool",
            self_sign_up_enabled=False,
            # The username is the user's id in the CSMS (the users endpoints choose it), so it
            # is what the API sees as the subject; people sign in with either.
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # Threat protection (compromised credentials, adaptive auth) needs the Plus plan; a
            # CSMS has a handful of operator users, so its per-user price is negligible.
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            # The API reads tenant, role and sites from the ID token (csms.handlers.api_access).
            # Only the API's users endpoints (admin calls) set them; see the client below.
            custom_attributes={
                "tenant_id": cognito.StringAttribute(min_len=1, max_len=64, mutable=False),
                "role": cognito.StringAttribute(min_len=1, max_len=16, mutable=True),
                "sites": cognito.StringAttribute(max_len=2048, mutable=True),
            },
            removal_policy=RemovalPolicy.RETAIN,
        )
        client = pool.add_client(
            "ConsoleClient",
            # Users may read their tenant, role and sites but never write them: otherwise any
            # user could raise their own role with UpdateUserAttributes and their access token.
            read_attributes=cognito.ClientAttributes()
            .with_standard_attributes(email=True, fullname=True)
            .with_custom_attributes("tenant_id", "role", "sites"),
            write_attributes=cognito.ClientAttributes().with_standard_attributes(fullname=True),
            auth_flows=cognito.AuthFlow(user_srp=True),
            generate_secret=False,
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )
        return pool, client

    def _operator_api(
        self, function: lambda_.IFunction, console_origins: Sequence[str]
    ) -> tuple[apigwv2.HttpApi, apigwv2.HttpStage, apigwv2.HttpRoute, apigwv2.HttpRoute]:
        cors = (
            apigwv2.CorsPreflightOptions(
                allow_origins=list(console_origins),
                allow_methods=[apigwv2.CorsHttpMethod.ANY],
                allow_headers=["Authorization", "Content-Type"],
                max_age=Duration.hours(1),
            )
            if console_origins
            else None
        )
        api = apigwv2.HttpApi(
            self,
            "OperatorApi",
            description="CSMS operator API (/v1, JWT from the operator user pool)",
            create_default_stage=False,
            cors_preflight=cors,
        )
        stage = apigwv2.HttpStage(
            self,
            "OperatorApiStage",
            http_api=api,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=100, burst_limit=200),
            access_log_settings=_JsonAccessLog(
                self._access_log_group("OperatorApiAccessLogs"),
                {
                    "requestId": "$context.requestId",
                    "requestTime": "$context.requestTimeEpoch",
                    "ip": "$context.identity.sourceIp",
                    "method": "$context.httpMethod",
                    "routeKey": "$context.routeKey",
                    "status": "$context.status",
                    "responseLength": "$context.responseLength",
                    "integrationError": "$context.integrationErrorMessage",
                    "authorizerError": "$context.authorizer.error",
                    "sub": "$context.authorizer.claims.sub",
                },
            ),
        )
        integration = integrations.HttpLambdaIntegration("ApiIntegration", function)
        authorizer = authorizers.HttpUserPoolAuthorizer(
            "OperatorJwt", self.user_pool, user_pool_clients=[self.user_pool_client]
        )
        api.add_routes(
            path="/v1/{proxy+}",
            methods=[apigwv2.HttpMethod.ANY],
            integration=integration,
            authorizer=authorizer,
        )
        # The OpenAPI document is public, so tools can read it before anyone signs in.
        [openapi] = api.add_routes(
            path="/v1/openapi.json", methods=[apigwv2.HttpMethod.GET], integration=integration
        )
        # Stripe calls its webhook with no JWT: the function trusts a delivery only once its
        # Stripe-Signature holds for the raw body (csms.handlers.api_billing).
        [webhook] = api.add_routes(
            path=STRIPE_WEBHOOK_PATH, methods=[apigwv2.HttpMethod.POST], integration=integration
        )
        return api, stage, openapi, webhook
