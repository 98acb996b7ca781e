"""Build the CDK app: used by infra/app.py, `python -m csms_infra.synth` and tests/infra."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Duration

from csms_infra.nag import acknowledge, add_checks
from csms_infra.paths import CDK_JSON
from csms_infra.stack import STACK_ID, CsmsStack

# Context key: list of stacks whose assets are bundled; [] skips bundling (no layer build).
BUNDLING_STACKS = "aws:cdk:bundling-stacks"
CONSOLE_ORIGINS = "csms:consoleOrigins"
API_GATEWAY_LOG_ROLE = "csms:apiGatewayLogRole"
# Minutes between two periodic rebalances of every managed site (load management).
REBALANCE_MINUTES = "csms:rebalanceMinutes"
# The complete ARN of a Secrets Manager secret holding Stripe's keys (docs/billing.md); unset,
# payments go to the built-in "invoice only" provider.
STRIPE_SECRET_ARN = "csms:stripeSecretArn"  # noqa: S105 - a context key, not a secret
# The verified SES identity (an address) that fault escalation e-mails come from; unset, none are
# sent (the alert says so) and the step function gets no SES permission.
NOTIFY_FROM = "csms:notifyFrom"
# Minutes the fault escalation waits before each step (soft reset, hard reset, people).
ESCALATION_WAIT_MINUTES = "csms:escalationWaitMinutes"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SECRET_ARN = re.compile(
    r"^arn:[\w-]+:secretsmanager:[\w-]+:\d{12}:secret:[\w/+=.@-]+-[A-Za-z0-9]{6}$"
)


def _cdk_json_context() -> dict[str, Any]:
    """The context of cdk.json, so `python infra/app.py` synthesizes what `cdk synth` does."""
    context = json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {})
    return dict(context)


def _as_list(value: object) -> list[str]:
    """Context from `cdk -c key=a,b` arrives as a string, from cdk.json as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list):
        return [str(item) for item in value]
    raise TypeError(f"expected a list or comma-separated string, got {value!r}")


def _as_bool(value: object, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() not in {"false", "0", "no"}
    return bool(value)


def _as_minutes(value: object, default: int, key: str = REBALANCE_MINUTES) -> int:
    """Whole minutes from 1 to 60 (context from the CLI arrives as a string)."""
    if value is None:
        return default
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= 60:
        raise ValueError(f"{key} must be 1 to 60 whole minutes, got {text!r}")
    return int(text)


def _as_email(value: object) -> str | None:
    """An e-mail address, or None."""
    if value is None or not str(value).strip():
        return None
    address = str(value).strip()
    if not _EMAIL.match(address):
        raise ValueError(
            f"{NOTIFY_FROM} must be an e-mail address (an SES identity), got {address!r}"
        )
    return address


def _as_secret_arn(value: object) -> str | None:
    """A complete secret ARN (with the 6-character suffix Secrets Manager adds), or None."""
    if value is None or not str(value).strip():
        return None
    arn = str(value).strip()
    if not _SECRET_ARN.match(arn):
        raise ValueError(
            f"{STRIPE_SECRET_ARN} must be a secret's complete ARN "
            "(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX)"
        )
    return arn


def build_app(
    *,
    outdir: str | None = None,
    context: Mapping[str, Any] | None = None,
    skip_bundling: bool = False,
    nag: bool = True,
) -> tuple[App, CsmsStack]:
    """Create the app and its one stack. The CDK CLI's context (CDK_CONTEXT_JSON) still wins."""
    merged = {**_cdk_json_context(), **(context or {})}
    if skip_bundling:
        merged[BUNDLING_STACKS] = []
    app = App(outdir=outdir, context=merged)
    stack = CsmsStack(
        app,
        STACK_ID,
        description="Serverless OCPP charging station management system (CSMS)",
        console_origins=_as_list(app.node.try_get_context(CONSOLE_ORIGINS)),
        create_api_gateway_log_role=_as_bool(
            app.node.try_get_context(API_GATEWAY_LOG_ROLE), default=True
        ),
        rebalance_every=Duration.minutes(
            _as_minutes(app.node.try_get_context(REBALANCE_MINUTES), default=1)
        ),
        stripe_secret_arn=_as_secret_arn(app.node.try_get_context(STRIPE_SECRET_ARN)),
        escalation_wait=Duration.minutes(
            _as_minutes(
                app.node.try_get_context(ESCALATION_WAIT_MINUTES),
                default=5,
                key=ESCALATION_WAIT_MINUTES,
            )
        ),
        notify_from=_as_email(app.node.try_get_context(NOTIFY_FROM)),
    )
    acknowledge(stack)
    if nag:
        add_checks(app)
    return app, stack
