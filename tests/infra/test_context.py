"""Context settings an operator passes with `cdk -c key=value` (or in cdk.json)."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template

from csms_infra.assembly import API_GATEWAY_LOG_ROLE, CONSOLE_ORIGINS, build_app


def test_context_console_origins_enable_cors_and_log_role_can_be_left_out() -> None:
    # GIVEN a console origin as the CLI passes it (a string) and an account that has its
    # API Gateway CloudWatch role already
    context = {CONSOLE_ORIGINS: "https://console.example.com", API_GATEWAY_LOG_ROLE: "false"}
    # WHEN synthesizing with that context
    _, stack = build_app(context=context, skip_bundling=True, nag=False)
    template = Template.from_stack(stack)
    # THEN the HTTP API allows that origin, and no account-level API Gateway setting is made
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Api",
        {
            "ProtocolType": "HTTP",
            "CorsConfiguration": Match.object_like(
                {"AllowOrigins": ["https://console.example.com"]}
            ),
        },
    )
    template.resource_count_is("AWS::ApiGateway::Account", 0)
