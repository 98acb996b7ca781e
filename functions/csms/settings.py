"""Typed settings, read from the environment once per cold start and validated there.

Every environment variable the runtime reads is declared here and nowhere else. Each Lambda
function has one settings model; `tests/infra` checks that the function's environment in the
synthesized template covers every required field of it.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "HANDLER_SETTINGS",
    "ApiSettings",
    "BaseCsmsSettings",
    "BillingWorkflowSettings",
    "EscalationSettings",
    "PaymentSettings",
    "RebalanceSettings",
    "SessionSettings",
    "SettingsError",
    "StationGatewaySettings",
    "WebhookSettings",
    "load_settings",
]


class SettingsError(ValueError):
    """The environment does not describe a usable configuration."""


class BaseCsmsSettings(BaseSettings):
    """Settings every function shares: where the data and the events go."""

    model_config = SettingsConfigDict(env_prefix="CSMS_", frozen=True, extra="ignore")

    table_name: Annotated[str, Field(min_length=3, max_length=255)]
    event_bus_name: Annotated[str, Field(min_length=1, max_length=256)]
    aws_region: Annotated[
        str,
        Field(
            min_length=1,
            validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"),
        ),
    ] = "us-east-1"
    # Only the embedded default sets this: every AWS client then talks to the local emulation.
    aws_endpoint_url: str | None = None
    tenant_default: Annotated[str, Field(min_length=1, max_length=64)] = "default"


class SessionSettings(BaseCsmsSettings):
    """How charging sessions are kept: event throttling, clock sanity, the cleanup job."""

    # At most one TransactionUpdated per session per this many seconds of meter time.
    session_update_interval_s: Annotated[int, Field(ge=10, le=86_400)] = 300
    # A session with no report for this long is closed by the cleanup job (marked Abandoned).
    session_abandon_after_h: Annotated[int, Field(ge=1, le=24 * 90)] = 48
    # Station clocks: ahead of ours by more than this, or older than the oldest offline queue
    # we accept, and a timestamp is recorded as an anomaly instead of being believed.
    meter_max_skew_s: Annotated[int, Field(ge=0, le=86_400)] = 300
    meter_max_age_days: Annotated[int, Field(ge=1, le=3650)] = 60


class StationGatewaySettings(SessionSettings):
    """Settings of the WebSocket route handlers ($connect, $default, $disconnect)."""

    # https://{api-id}.execute-api.{region}.amazonaws.com/{stage} in AWS; the local gateway's
    # @connections endpoint locally.
    ws_management_endpoint: Annotated[str, Field(pattern=r"^https?://\S+$")]
    # API Gateway closes a WebSocket idle for 10 minutes, so the interval stays below 600 s.
    heartbeat_interval_s: Annotated[int, Field(ge=10, le=590)] = 300
    call_timeout_s: Annotated[int, Field(ge=1, le=600)] = 30
    # Uptime (csms.domain.uptime) reads the log back over the trailing 12 months and a
    # quarter's report after it: a shorter retention would drop outages from the figures.
    connection_log_retention_days: Annotated[int, Field(ge=1, le=3650)] = 400
    # Frames of traced stations (the message log) are kept this many hours.
    frame_log_ttl_h: Annotated[int, Field(ge=1, le=168)] = 24


class ApiSettings(StationGatewaySettings):
    """Settings of the HTTP API function: it also sends commands to stations."""

    command_wait_s: Annotated[float, Field(ge=0, le=25)] = 10.0
    # How long a command may wait in the queue of an offline or busy station, unless the
    # request says (`ttl`); at most 7 days.
    command_ttl_s: Annotated[int, Field(ge=1, le=7 * 86_400)] = 600
    # Audit entries expire after this many days (DynamoDB TTL).
    audit_retention_days: Annotated[int, Field(ge=1, le=3650)] = 730
    # After a password rotation the previous password opens connections this long (0: never),
    # or until the station first connects with the new one.
    station_password_grace_s: Annotated[int, Field(ge=0, le=30 * 86_400)] = 86_400
    # A newly registered station's frames go to the message log for this many hours (0: no).
    onboarding_trace_h: Annotated[int, Field(ge=0, le=24 * 30)] = 24
    # The Cognito user pool that operators sign in to: the users endpoints keep it in step.
    # Unset (the local runtime), users are records only and `csms token` mints identities.
    user_pool_id: Annotated[str, Field(pattern=r"^[\w-]+_[0-9a-zA-Z]+$")] | None = None
    # A station that reconnects within this many seconds of a disconnect (API Gateway closes
    # every WebSocket after 2 hours) was not down for uptime (csms.domain.uptime).
    uptime_reconnect_grace_s: Annotated[int, Field(ge=0, le=3600)] = 120
    # Partner webhooks (csms.services.webhooks): the queue that replays go to, and whether
    # endpoints on private or loopback addresses are allowed (only the local runtime sets it).
    webhook_queue_url: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None
    webhooks_allow_private: bool = False


class RebalanceSettings(StationGatewaySettings):
    """Settings of the load management rebalance: it sends charging profiles to stations."""

    # How long a profile may wait in the queue of an offline or busy station; a newer
    # rebalance sends a fresh one after this (the site's limits change by the minute).
    rebalance_profile_ttl_s: Annotated[int, Field(ge=30, le=3600)] = 300


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _stripe_api_base(value: str) -> str:
    # The API key travels in every request: only over TLS, or to a fake on this machine.
    url = urlsplit(value)
    loopback = url.scheme == "http" and url.hostname in _LOOPBACK_HOSTS
    if not (url.scheme == "https" or loopback) or not url.hostname or url.path not in ("", "/"):
        raise ValueError("must be an https:// origin (http:// only on 127.0.0.1 or localhost)")
    return value.rstrip("/")


def _webhook_secrets(value: object) -> object:
    # Comma separated, so that a rotated secret and its successor both verify for a while.
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _stripe_secret_key(value: SecretStr) -> SecretStr:
    # A publishable key (pk_) cannot charge; a secret (sk_) or restricted (rk_) key can.
    if not re.fullmatch(r"(sk|rk)_(test|live)_\w+", value.get_secret_value()):
        raise ValueError("must be a Stripe secret or restricted key (sk_... or rk_...)")
    return value


def _stripe_webhook_secret(value: SecretStr) -> SecretStr:
    if not re.fullmatch(r"whsec_\w+", value.get_secret_value()):
        raise ValueError("must be webhook signing secrets (whsec_...), comma separated")
    return value


class PaymentSettings(BaseCsmsSettings):
    """Payments: Stripe when an API key is set, else the built-in "invoice only" provider."""

    stripe_api_key: Annotated[SecretStr, AfterValidator(_stripe_secret_key)] | None = None
    stripe_api_base: Annotated[str, AfterValidator(_stripe_api_base)] = "https://api.stripe.com"
    # Per attempt; the client retries connection errors, 409 and 5xx this many times (with
    # the same idempotency key), so a call takes at most about (retries + 1) x timeout.
    stripe_timeout_s: Annotated[float, Field(gt=0, le=60)] = 10.0
    stripe_max_network_retries: Annotated[int, Field(ge=0, le=5)] = 2
    # Signing secrets of the webhook endpoint (`whsec_...`), comma separated.
    stripe_webhook_secrets: Annotated[
        tuple[Annotated[SecretStr, AfterValidator(_stripe_webhook_secret)], ...],
        NoDecode,
        BeforeValidator(_webhook_secrets),
    ] = ()
    # In AWS: a Secrets Manager secret holding JSON {"apiKey": ..., "webhookSecret": ...}
    # (docs/billing.md, "Payments and Stripe"), read once per container; its values take the
    # place of the two settings above. Locally the plain variables are used instead.
    stripe_secret_arn: (
        Annotated[
            str,
            Field(
                max_length=2048,
                pattern=r"^arn:[\w-]+:secretsmanager:[\w-]+:\d{12}:secret:[\w/+=.@-]+$",
            ),
        ]
        | None
    ) = None
    # Held on an ad-hoc driver's saved card when a session starts (in the tariff's currency;
    # lowered to the tariff's maximum price when that is less); captured up to the price.
    billing_hold_amount: Annotated[Decimal, Field(ge=0, le=10_000, decimal_places=2)] = Decimal(50)


class BillingWorkflowSettings(BaseCsmsSettings):
    """The billing workflow's starter: which state machine bills an ended session."""

    billing_state_machine_arn: Annotated[
        str, Field(pattern=r"^arn:[\w-]+:states:[\w-]+:\d{12}:stateMachine:[\w-]{1,80}$")
    ]


class AlertSettings(BaseCsmsSettings):
    """Fault detection (csms.services.alerts): hold-down, offline grace, reboot loops."""

    # A fault must last this long before its alert opens: transients notify no one.
    alert_hold_down_s: Annotated[int, Field(ge=0, le=86_400)] = 60
    # Offline this long before an alert opens; the same grace as uptime's (API Gateway's
    # 2-hour cut and the reconnect that follows are not an outage).
    alert_offline_grace_s: Annotated[int, Field(ge=0, le=86_400)] = 120
    # This many boots within the window is a reboot loop; the loop ends after a quiet window.
    alert_reboot_loop_boots: Annotated[int, Field(ge=2, le=100)] = 3
    alert_reboot_loop_window_s: Annotated[int, Field(ge=60, le=7 * 86_400)] = 1800
    # A connector Preparing or Finishing this long is stuck.
    alert_stuck_after_s: Annotated[int, Field(ge=60, le=7 * 86_400)] = 1800
    # This many failed starts in the window, none successful between, open an alert.
    alert_start_failures: Annotated[int, Field(ge=2, le=100)] = 5
    alert_start_failure_window_s: Annotated[int, Field(ge=60, le=7 * 86_400)] = 1800
    # A Charging session whose energy has not grown for this long opens an alert.
    alert_no_energy_after_s: Annotated[int, Field(ge=300, le=86_400)] = 900


class EscalationSettings(StationGatewaySettings):
    """Fault escalation (csms.services.escalation): its state machine, waits and e-mail.

    A station gateway's settings besides: the steps send Reset commands to stations.
    """

    # The state machine the starter runs (unset in `csms local`, which runs it in process).
    escalation_state_machine_arn: (
        Annotated[str, Field(pattern=r"^arn:[\w-]+:states:[\w-]+:\d{12}:stateMachine:[\w-]{1,80}$")]
        | None
    ) = None
    # Between the alert and the soft reset, the soft and the hard reset, and the hard reset and
    # the ticket: long enough for a station to boot and report again.
    escalation_wait_s: Annotated[int, Field(ge=0, le=86_400)] = 300
    # A reset waits this long in the command queue for a station that is offline.
    escalation_reset_ttl_s: Annotated[int, Field(ge=60, le=86_400)] = 600
    # The verified SES identity escalation e-mails come from; unset: no e-mail (noted on the
    # alert).
    notify_from: (
        Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)] | None
    ) = None

    # Only the local runtime sets this: e-mails are written there as .eml files instead.
    notify_outbox_dir: str | None = None


class WebhookSettings(BaseCsmsSettings):
    """Partner webhooks: the delivery queue, the endpoint rules, timeouts and retention."""

    webhook_queue_url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    # Only the local runtime sets this: endpoints on 127.0.0.1 (http) or private addresses.
    webhooks_allow_private: bool = False
    # Per request; a receiver that takes longer is retried later like one that failed.
    webhook_timeout_s: Annotated[float, Field(gt=0, le=20)] = 10.0
    # Event copies and the delivery log are kept this long (replay reaches this far back).
    webhook_retention_days: Annotated[int, Field(ge=4, le=90)] = 30


S = TypeVar("S", bound=BaseCsmsSettings)

# Handler string (as used by CDK) -> the settings model that function validates at cold start.
HANDLER_SETTINGS: dict[str, type[BaseCsmsSettings]] = {
    "csms.handlers.ws_connect.lambda_handler": StationGatewaySettings,
    "csms.handlers.ws_message.lambda_handler": StationGatewaySettings,
    "csms.handlers.ws_disconnect.lambda_handler": StationGatewaySettings,
    "csms.handlers.api.lambda_handler": ApiSettings,
    "csms.handlers.stream_outbox.lambda_handler": BaseCsmsSettings,
    "csms.handlers.sched_session_cleanup.lambda_handler": SessionSettings,
    "csms.handlers.evt_rebalance.lambda_handler": RebalanceSettings,
    "csms.handlers.sched_rebalance.lambda_handler": RebalanceSettings,
    # The billing workflow (csms.handlers.sfn_billing): starter, its tasks, the monthly close.
    "csms.handlers.sfn_billing.start_handler": BillingWorkflowSettings,
    "csms.handlers.sfn_billing.bill_handler": PaymentSettings,
    "csms.handlers.sfn_billing.alert_handler": BaseCsmsSettings,
    "csms.handlers.sfn_billing.close_month_handler": PaymentSettings,
    # Pre-authorisation on TransactionStarted (csms.handlers.evt_preauth).
    "csms.handlers.evt_preauth.lambda_handler": PaymentSettings,
    # Fault detection (csms.handlers.evt_alerts, csms.handlers.sched_alerts).
    "csms.handlers.evt_alerts.lambda_handler": AlertSettings,
    "csms.handlers.sched_alerts.lambda_handler": AlertSettings,
    # Partner webhooks: the fan-out from the bus and the delivery from the queue.
    "csms.handlers.evt_webhooks.lambda_handler": WebhookSettings,
    "csms.handlers.sqs_webhooks.lambda_handler": WebhookSettings,
    # The daily run of preventive maintenance plans (csms.handlers.sched_maintenance).
    "csms.handlers.sched_maintenance.lambda_handler": BaseCsmsSettings,
    # Fault escalation: the starter on AlertOpened and the state machine's step task.
    "csms.handlers.sfn_escalation.start_handler": EscalationSettings,
    "csms.handlers.sfn_escalation.step_handler": EscalationSettings,
}


def load_settings(model: type[S]) -> S:
    """Read and validate settings, turning pydantic's report into one readable message."""
    try:
        return model()
    except ValidationError as exc:
        problems = "; ".join(
            f"{_env_name(err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise SettingsError(f"invalid settings: {problems}") from None


def _env_name(loc: tuple[int | str, ...]) -> str:
    name = str(loc[0]) if loc else "?"
    return name if name.isupper() else f"CSMS_{name.upper()}"
