"""Stripe's API key and webhook signing secrets from AWS Secrets Manager.

In AWS the keys live in one secret the operator fills in (docs/billing.md, "Payments and
Stripe"), as JSON: `{"apiKey": "sk_live_...", "webhookSecret": "whsec_..."}` (`webhookSecret`
may list several, comma separated or as an array, while one is being rolled). The functions
that call Stripe read it once per container through Powertools' parameters utility (cached for
`max_age_s`); a rolled key reaches a container at its next cold start, which Stripe's key roll
allows for (the old key keeps working until the expiry chosen when rolling it).

The values are checked like the plain settings (CSMS_STRIPE_API_KEY, CSMS_STRIPE_WEBHOOK_
SECRETS) and never logged or quoted in an error: a bad secret names the field, not the value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, cast

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import (
    GetParameterError,
    TransformParameterError,
)
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from csms.settings import PaymentSettings, SettingsError

# A boto3 Secrets Manager client (no type stubs for it are installed).
SecretsManagerClient = Any

__all__ = ["DEFAULT_MAX_AGE_S", "StripeKeys", "read_stripe_keys", "with_stripe_keys"]

DEFAULT_MAX_AGE_S = 300


class StripeKeys(BaseModel):
    """The secret's JSON (unchecked strings: PaymentSettings checks them)."""

    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    api_key: Annotated[str, Field(alias="apiKey", min_length=1)]
    # Optional: without it, Stripe's webhooks are refused (payments are still made).
    webhook_secret: Annotated[str | list[str] | None, Field(alias="webhookSecret")] = None


def read_stripe_keys(
    secret_arn: str, client: SecretsManagerClient, *, max_age_s: int = DEFAULT_MAX_AGE_S
) -> StripeKeys:
    """The secret's keys; SettingsError (naming no value) when it cannot be read or used."""
    provider = SecretsProvider(boto3_client=client)
    try:
        raw: Any = provider.get(secret_arn, max_age=max_age_s, transform="json")
    except TransformParameterError:
        raise SettingsError(
            "CSMS_STRIPE_SECRET_ARN: the secret is not JSON like "
            '{"apiKey": "sk_...", "webhookSecret": "whsec_..."}'
        ) from None
    except GetParameterError as exc:
        # The cause is the AWS error (not found, access denied): it quotes no secret value.
        raise SettingsError(f"CSMS_STRIPE_SECRET_ARN: the secret cannot be read ({exc})") from None
    try:
        return StripeKeys.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(str(err["loc"][0]) for err in exc.errors() if err["loc"])
        raise SettingsError(
            f"CSMS_STRIPE_SECRET_ARN: the secret lacks or misstates {fields or 'its keys'}"
        ) from None


def with_stripe_keys(
    settings: PaymentSettings,
    client: Callable[[], SecretsManagerClient],
    *,
    max_age_s: int = DEFAULT_MAX_AGE_S,
) -> PaymentSettings:
    """`settings` with the API key and webhook secrets of its secret, when it names one.

    The values are validated as the plain settings are; a value that fails names its
    setting, never the value.
    """
    if settings.stripe_secret_arn is None:
        return settings
    keys = read_stripe_keys(settings.stripe_secret_arn, client(), max_age_s=max_age_s)
    webhook = keys.webhook_secret
    given = {
        "stripe_api_key": keys.api_key,
        "stripe_webhook_secrets": ",".join(webhook) if isinstance(webhook, list) else webhook or "",
    }
    checked: dict[str, Any] = {}
    for name, value in given.items():
        try:
            checked[name] = _field_type(name).validate_python(value)
        except ValidationError as exc:
            reasons = "; ".join(
                err["msg"] for err in exc.errors(include_url=False, include_input=False)
            )
            raise SettingsError(
                f"CSMS_STRIPE_SECRET_ARN: the secret's {_SECRET_FIELDS[name]} {reasons}"
            ) from None
    return settings.model_copy(update=checked)


_SECRET_FIELDS = {"stripe_api_key": "apiKey", "stripe_webhook_secrets": "webhookSecret"}


def _field_type(name: str) -> TypeAdapter[Any]:
    """The setting's type with its validators (the secret's values are checked alike)."""
    field = PaymentSettings.model_fields[name]
    kind: Any = field.annotation
    return TypeAdapter(cast(Any, Annotated[kind, *field.metadata]) if field.metadata else kind)
