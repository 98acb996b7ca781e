"""Key properties of the synthesized CsmsStack template."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aws_cdk import cx_api
from aws_cdk.assertions import Match, Template

from csms_infra.billing import (
    BILLING_ALERT,
    BILLING_BILL,
    BILLING_CLOSE_MONTH,
    BILLING_PREAUTH,
    BILLING_START,
)
from csms_infra.maintenance import SCHED_MAINTENANCE
from csms_infra.operations import ESCALATION_START, ESCALATION_STEP, EVT_ALERTS, SCHED_ALERTS
from csms_infra.stack import (
    API,
    EVT_REBALANCE,
    SCHED_REBALANCE,
    SESSION_CLEANUP,
    STREAM_OUTBOX,
    USER_DIRECTORY_ACTIONS,
    WEBSOCKET_HEADERS,
    WS_CONNECT,
    WS_DISCONNECT,
    WS_MESSAGE,
)
from csms_infra.webhooks import EVT_WEBHOOKS, SQS_WEBHOOKS

ROOT = Path(__file__).resolve().parents[2]
# The billing workflow's functions have their own test (test_billing_stack.py).
BILLING_HANDLERS = (
    BILLING_START,
    BILLING_BILL,
    BILLING_ALERT,
    BILLING_CLOSE_MONTH,
    BILLING_PREAUTH,
)
# Operations' functions have their own tests (test_operations_stack.py).
OPERATIONS_HANDLERS = (EVT_ALERTS, SCHED_ALERTS, ESCALATION_START, ESCALATION_STEP)
# Partner webhooks' functions have their own tests (test_webhooks_stack.py).
WEBHOOK_HANDLERS = (EVT_WEBHOOKS, SQS_WEBHOOKS)
# The maintenance plan run has its own tests (test_maintenance_stack.py).
MAINTENANCE_HANDLERS = (SCHED_MAINTENANCE,)
HANDLERS = {
    WS_CONNECT,
    WS_MESSAGE,
    WS_DISCONNECT,
    API,
    STREAM_OUTBOX,
    SESSION_CLEANUP,
    EVT_REBALANCE,
    SCHED_REBALANCE,
    *BILLING_HANDLERS,
    *OPERATIONS_HANDLERS,
    *WEBHOOK_HANDLERS,
    *MAINTENANCE_HANDLERS,
}
Resources = dict[str, dict[str, Any]]


def resources(template: dict[str, Any], resource_type: str) -> Resources:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def references(value: Any) -> Iterator[str]:
    """Logical ids a template value points at through Ref or Fn::GetAtt."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref":
                yield inner
            elif key == "Fn::GetAtt":
                yield inner[0]
            else:
                yield from references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from references(inner)


def route_targets(template: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str]]:
    """Route key -> (route properties, handler of the function its integration invokes)."""
    functions = resources(template, "AWS::Lambda::Function")
    integrations = resources(template, "AWS::ApiGatewayV2::Integration")
    targets = {}
    for route in resources(template, "AWS::ApiGatewayV2::Route").values():
        props = route["Properties"]
        [integration_id] = references(props["Target"])
        uri = integrations[integration_id]["Properties"]["IntegrationUri"]
        [function_id] = (ref for ref in references(uri) if ref in functions)
        targets[props["RouteKey"]] = (props, functions[function_id]["Properties"]["Handler"])
    return targets


def test_table_has_keys_indexes_ttl_and_recovery(assertions: Template) -> None:
    # GIVEN the synthesized template
    # WHEN looking at the single table
    # THEN it has PK/SK, four keys-only GSIs, TTL, PITR, on-demand billing, and is kept
    assertions.resource_count_is("AWS::DynamoDB::Table", 1)
    assertions.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "KeySchema": [
                        {"AttributeName": "PK", "KeyType": "HASH"},
                        {"AttributeName": "SK", "KeyType": "RANGE"},
                    ],
                    "AttributeDefinitions": Match.array_with(
                        [
                            {"AttributeName": name, "AttributeType": "S"}
                            for name in [
                                "PK",
                                "SK",
                                *(f"GSI{n}{k}K" for n in range(1, 5) for k in "PS"),
                            ]
                        ]
                    ),
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": index,
                            "KeySchema": [
                                {"AttributeName": f"{index}PK", "KeyType": "HASH"},
                                {"AttributeName": f"{index}SK", "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "KEYS_ONLY"},
                        }
                        for index in ("GSI1", "GSI2", "GSI3", "GSI4")
                    ],
                    "BillingMode": "PAY_PER_REQUEST",
                    "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                }
            ),
        },
    )


def test_event_bus_exists_with_its_name(assertions: Template) -> None:
    # GIVEN the synthesized template
    # WHEN looking for event buses
    # THEN there is exactly the custom CSMS bus
    assertions.resource_count_is("AWS::Events::EventBus", 1)
    assertions.has_resource_properties("AWS::Events::EventBus", {"Name": "csms-events"})


def test_functions_run_python312_arm64_traced_with_their_handlers(
    template: dict[str, Any],
) -> None:
    # GIVEN the synthesized template
    functions = resources(template, "AWS::Lambda::Function").values()
    # WHEN reading every function by its handler string
    by_handler = {fn["Properties"]["Handler"]: fn["Properties"] for fn in functions}
    # THEN there are exactly the runtime handlers, each on python3.12/arm64 with active
    # tracing, JSON logs in an explicit log group, Powertools settings and the dependencies layer
    assert set(by_handler) == HANDLERS
    for handler, props in by_handler.items():
        variables = props["Environment"]["Variables"]
        assert props["Runtime"] == "python3.12", handler
        assert props["Architectures"] == ["arm64"], handler
        assert props["TracingConfig"] == {"Mode": "Active"}, handler
        assert props["LoggingConfig"]["LogFormat"] == "JSON", handler
        assert "LogGroup" in props["LoggingConfig"], handler
        assert len(props["Layers"]) == 1, handler
        assert variables["POWERTOOLS_SERVICE_NAME"] == "csms", handler
        assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO", handler
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "csms", handler
        assert "AWS_REGION" not in variables, handler
    assert by_handler[WS_CONNECT]["MemorySize"] == 512
    assert by_handler[API]["Timeout"] == 29


def test_functions_log_groups_have_retention(template: dict[str, Any]) -> None:
    # GIVEN the synthesized template
    groups = resources(template, "AWS::Logs::LogGroup")
    # WHEN following each function's log group
    used = {
        ref
        for fn in resources(template, "AWS::Lambda::Function").values()
        for ref in references(fn["Properties"]["LoggingConfig"]["LogGroup"])
    }
    # THEN each is a log group of this stack with a retention period
    assert len(used) == len(HANDLERS)
    for logical_id in used:
        assert groups[logical_id]["Properties"]["RetentionInDays"] > 0


def test_functions_get_least_privilege_grants(template: dict[str, Any]) -> None:
    # GIVEN the synthesized template
    policies = resources(template, "AWS::IAM::Policy").values()
    roles_of_functions = {
        ref
        for fn in resources(template, "AWS::Lambda::Function").values()
        for ref in references(fn["Properties"]["Role"])
    }
    # WHEN collecting the actions each function role is allowed
    actions: dict[str, set[str]] = {}
    for policy in policies:
        [role] = references(policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            action = statement["Action"]
            actions.setdefault(role, set()).update([action] if isinstance(action, str) else action)
    # THEN every request handler may use the table, reach station connections and put events;
    # the outbox relay may read the stream and put events, nothing else; the cleanup job may
    # use the table only (its events ride in its writes); no action is a service-wide wildcard
    state_machine_roles = {
        ref
        for machine in resources(template, "AWS::StepFunctions::StateMachine").values()
        for ref in references(machine["Properties"]["RoleArn"])
    }
    assert set(actions) == roles_of_functions | state_machine_roles

    def role_of(handler: str) -> str:
        return next(
            ref
            for fn in resources(template, "AWS::Lambda::Function").values()
            if fn["Properties"]["Handler"] == handler
            for ref in references(fn["Properties"]["Role"])
        )

    relay_role, cleanup_role = role_of(STREAM_OUTBOX), role_of(SESSION_CLEANUP)
    # The load management functions have their own test (test_rebalance_stack.py).
    own_tests = {role_of(EVT_REBALANCE), role_of(SCHED_REBALANCE)} | state_machine_roles
    own_tests |= {role_of(handler) for handler in BILLING_HANDLERS}
    own_tests |= {role_of(handler) for handler in OPERATIONS_HANDLERS}
    own_tests |= {role_of(handler) for handler in WEBHOOK_HANDLERS}
    own_tests |= {role_of(handler) for handler in MAINTENANCE_HANDLERS}
    for role, allowed in actions.items():
        if role in own_tests:
            continue
        if role == cleanup_role:
            assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"} <= allowed
            assert not {a for a in allowed if not a.startswith(("dynamodb:", "logs:", "xray:"))}
        elif role == relay_role:
            assert {
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "events:PutEvents",
            } <= allowed
            assert not {a for a in allowed if a.startswith("dynamodb:") and "Item" in a}, allowed
            assert "execute-api:ManageConnections" not in allowed
        else:
            assert {
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
                "events:PutEvents",
                "execute-api:ManageConnections",
            } <= allowed, role
        assert not [action for action in allowed if action.endswith(":*")], role


def test_outbox_relay_reads_the_stream_in_order_with_a_dlq(assertions: Template) -> None:
    # GIVEN the synthesized template
    # THEN the table streams old and new images, and the relay reads them one batch per shard,
    # from the start, reporting partial failures, filtered to writes that carry events
    assertions.has_resource_properties(
        "AWS::DynamoDB::Table",
        {"StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"}},
    )
    assertions.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "StartingPosition": "TRIM_HORIZON",
            "ParallelizationFactor": 1,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "DestinationConfig": {"OnFailure": {"Destination": Match.any_value()}},
            "FilterCriteria": {
                "Filters": [
                    {
                        "Pattern": json.dumps(
                            {"dynamodb": {"NewImage": {"outbox_id": {"S": [{"exists": True}]}}}},
                            separators=(",", ":"),
                        )
                    }
                ]
            },
        },
    )


def test_functions_share_one_code_asset_without_bytecode(
    template: dict[str, Any], artifact: cx_api.CloudFormationStackArtifact
) -> None:
    # GIVEN the synthesized template and the cloud assembly
    functions = resources(template, "AWS::Lambda::Function").values()
    # WHEN comparing the code of the functions and listing the staged asset
    [key] = {fn["Properties"]["Code"]["S3Key"] for fn in functions}
    staged = Path(artifact.assembly.directory) / f"asset.{key.removesuffix('.zip')}"
    files = {p.relative_to(staged).as_posix() for p in staged.rglob("*")}
    # THEN all four run the one functions/ asset: the csms package without bytecode
    assert "csms/settings.py" in files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def test_websocket_routes_target_their_handlers(template: dict[str, Any]) -> None:
    # GIVEN the synthesized template
    # WHEN following each WebSocket route to the function its integration invokes
    targets = {key: handler for key, (_, handler) in route_targets(template).items()}
    # THEN the three route keys reach the three station gateway handlers
    assert targets["$connect"] == WS_CONNECT
    assert targets["$default"] == WS_MESSAGE
    assert targets["$disconnect"] == WS_DISCONNECT


def test_websocket_default_route_has_a_route_response(template: dict[str, Any]) -> None:
    # GIVEN the synthesized template
    routes = resources(template, "AWS::ApiGatewayV2::Route")
    [(default_id, default)] = [
        (logical_id, route)
        for logical_id, route in routes.items()
        if route["Properties"]["RouteKey"] == "$default"
    ]
    # WHEN looking at route responses
    responses = resources(template, "AWS::ApiGatewayV2::RouteResponse").values()
    # THEN $default sends the integration's result back to the station
    assert default["Properties"]["RouteResponseSelectionExpression"] == "$default"
    assert [r["Properties"]["RouteResponseKey"] for r in responses] == ["$default"]
    assert [list(references(r["Properties"]["RouteId"])) for r in responses] == [[default_id]]


def test_websocket_stage_is_prod_with_throttling_and_access_logs(assertions: Template) -> None:
    # GIVEN the synthesized template
    # WHEN looking at the WebSocket stage
    # THEN it is the auto-deployed prod stage with throttling and access logs
    assertions.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "prod",
            "AutoDeploy": True,
            "DefaultRouteSettings": {
                "ThrottlingBurstLimit": Match.any_value(),
                "ThrottlingRateLimit": Match.any_value(),
            },
            "AccessLogSettings": {"DestinationArn": Match.any_value(), "Format": Match.any_value()},
        },
    )


def test_http_api_guards_v1_with_jwt_but_not_the_openapi_document(
    template: dict[str, Any],
) -> None:
    # GIVEN the synthesized template
    [(authorizer_id, authorizer)] = resources(template, "AWS::ApiGatewayV2::Authorizer").items()
    # WHEN following the HTTP API routes
    targets = route_targets(template)
    proxy, proxy_handler = targets["ANY /v1/{proxy+}"]
    openapi, openapi_handler = targets["GET /v1/openapi.json"]
    # THEN /v1/{proxy+} needs a Cognito JWT; the OpenAPI document is public; both reach the api
    assert authorizer["Properties"]["AuthorizerType"] == "JWT"
    assert "cognito-idp" in json.dumps(authorizer["Properties"]["JwtConfiguration"]["Issuer"])
    assert proxy["AuthorizationType"] == "JWT"
    assert list(references(proxy["AuthorizerId"])) == [authorizer_id]
    assert openapi["AuthorizationType"] == "NONE"
    assert proxy_handler == openapi_handler == API


def test_user_pool_has_strong_passwords_and_mfa(assertions: Template) -> None:
    # GIVEN the synthesized template
    # WHEN looking at the operator user pool
    # THEN only admins create users, passwords are strong and MFA is required
    assertions.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "MfaConfiguration": "ON",
            "Policies": {
                "PasswordPolicy": Match.object_like(
                    {
                        "MinimumLength": 12,
                        "RequireLowercase": True,
                        "RequireUppercase": True,
                        "RequireNumbers": True,
                        "RequireSymbols": True,
                    }
                )
            },
        },
    )


def test_user_pool_carries_tenant_role_and_sites_that_users_cannot_write(
    template: dict[str, Any],
) -> None:
    # GIVEN the synthesized template
    [pool] = resources(template, "AWS::Cognito::UserPool").values()
    [client] = resources(template, "AWS::Cognito::UserPoolClient").values()
    # WHEN looking at the pool's schema and the console client's attribute permissions
    schema = {a["Name"]: a for a in pool["Properties"]["Schema"]}
    readable = set(client["Properties"]["ReadAttributes"])
    writable = set(client["Properties"]["WriteAttributes"])
    # THEN the tenant is fixed at creation, role and sites can change (by admins only), the
    # console can read all three and write none of them (a user cannot raise their own role)
    # (the username is the CSMS user id, e-mail an alias to sign in with)
    assert pool["Properties"]["AliasAttributes"] == ["email"]
    assert "UsernameAttributes" not in pool["Properties"]
    assert schema["tenant_id"]["Mutable"] is False
    assert schema["role"]["Mutable"] is True
    assert schema["sites"]["Mutable"] is True
    custom = {"custom:tenant_id", "custom:role", "custom:sites"}
    assert custom <= readable
    assert not custom & writable
    assert not any(name.startswith("custom:") for name in writable)


def test_only_the_api_manages_pool_users_and_knows_the_pool(template: dict[str, Any]) -> None:
    # GIVEN the synthesized template
    [(pool_id, _)] = resources(template, "AWS::Cognito::UserPool").items()
    functions = resources(template, "AWS::Lambda::Function").values()
    # WHEN looking at which functions know the pool and may change its users
    knows = {
        fn["Properties"]["Handler"]
        for fn in functions
        if "CSMS_USER_POOL_ID" in fn["Properties"]["Environment"]["Variables"]
    }
    [api_fn] = [fn for fn in functions if fn["Properties"]["Handler"] == API]
    [api_role] = references(api_fn["Properties"]["Role"])
    cognito_statements = [
        (list(references(policy["Properties"]["Roles"])), statement)
        for policy in resources(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "cognito-idp" in json.dumps(statement["Action"])
    ]
    # THEN only the api function does, with the user directory's admin actions on that pool
    assert knows == {API}
    assert [roles for roles, _ in cognito_statements] == [[api_role]]
    [(_, statement)] = cognito_statements
    assert set(statement["Action"]) == set(USER_DIRECTORY_ACTIONS)
    assert list(references(statement["Resource"])) == [pool_id]
    assert list(
        references(api_fn["Properties"]["Environment"]["Variables"]["CSMS_USER_POOL_ID"])
    ) == [pool_id]


def test_cloudfront_rewrites_station_path_and_forwards_handshake(template: dict[str, Any]) -> None:
    # GIVEN the synthesized template
    [distribution] = resources(template, "AWS::CloudFront::Distribution").values()
    config = distribution["Properties"]["DistributionConfig"]
    behavior = config["DefaultCacheBehavior"]
    [(function_id, function)] = resources(template, "AWS::CloudFront::Function").items()
    cache_policies = resources(template, "AWS::CloudFront::CachePolicy")
    request_policies = resources(template, "AWS::CloudFront::OriginRequestPolicy")
    # WHEN following the default behavior to its function and policies
    [association] = behavior["FunctionAssociations"]
    [cache_id] = references(behavior["CachePolicyId"])
    [request_id] = references(behavior["OriginRequestPolicyId"])
    cache_key = cache_policies[cache_id]["Properties"]["CachePolicyConfig"]
    forwarded = request_policies[request_id]["Properties"]["OriginRequestPolicyConfig"]
    [origin] = config["Origins"]
    # THEN the path function runs on viewer request, Authorization rides in the cache key (the
    # only way CloudFront forwards it), the handshake headers in the origin request policy, and
    # the origin is the WebSocket stage over HTTPS
    source = (ROOT / "infra/csms_infra/edge/station_path.js").read_text(encoding="utf-8")
    assert function["Properties"]["FunctionCode"] == source
    assert function["Properties"]["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert association["EventType"] == "viewer-request"
    assert list(references(association["FunctionARN"])) == [function_id]
    assert cache_key["ParametersInCacheKeyAndForwardedToOrigin"]["HeadersConfig"] == {
        "HeaderBehavior": "whitelist",
        "Headers": ["Authorization"],
    }
    assert cache_key["ParametersInCacheKeyAndForwardedToOrigin"]["QueryStringsConfig"] == {
        "QueryStringBehavior": "whitelist",
        "QueryStrings": ["station"],
    }
    assert cache_key["MinTTL"] == cache_key["DefaultTTL"] == 0
    assert forwarded["HeadersConfig"]["Headers"] == list(WEBSOCKET_HEADERS)
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert origin["OriginPath"] == "/prod"
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert ".execute-api." in json.dumps(origin["DomainName"])


def test_outputs_name_the_endpoints_and_resources(template: dict[str, Any]) -> None:
    # GIVEN the synthesized template
    outputs = template["Outputs"]
    # WHEN reading the station URL output
    station_url = json.dumps(outputs["StationWebSocketUrl"]["Value"])
    # THEN the outputs tell an operator where stations and the console connect
    assert {"HttpApiUrl", "UserPoolId", "TableName", "EventBusName"} <= set(outputs)
    assert '"wss://"' in station_url
    assert "/ocpp/{stationId}" in station_url


def test_session_cleanup_runs_hourly(template: dict[str, Any]) -> None:
    # GIVEN the synthesized template
    rules = resources(template, "AWS::Events::Rule").values()
    # WHEN looking for scheduled rules
    scheduled = [rule["Properties"] for rule in rules if "ScheduleExpression" in rule["Properties"]]
    # THEN one runs the cleanup job every hour
    functions = resources(template, "AWS::Lambda::Function")
    [rule] = [
        rule
        for rule in scheduled
        for target in rule["Targets"]
        for function_id in references(target["Arn"])
        if functions[function_id]["Properties"]["Handler"] == SESSION_CLEANUP
    ]
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    [target] = rule["Targets"]
    [function_id] = references(target["Arn"])
    assert functions[function_id]["Properties"]["Handler"] == SESSION_CLEANUP
