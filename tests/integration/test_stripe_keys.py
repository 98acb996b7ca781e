"""Stripe's keys from Secrets Manager (moto): read once, checked, never quoted."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from csms.adapters import stripe_keys
from csms.adapters.stripe_keys import with_stripe_keys
from csms.handlers import _runtime
from csms.settings import PaymentSettings, SettingsError
from csms_local import emulation

KEY = "sk_live_0123456789abcdef"
WHSEC = "whsec_0123456789abcdef"


def _secret(value: str) -> str:
    client = boto3.client("secretsmanager", region_name=emulation.REGION)
    arn: str = client.create_secret(Name="csms/stripe", SecretString=value)["ARN"]
    return arn


def _settings(arn: str | None) -> PaymentSettings:
    return PaymentSettings(
        table_name="csms", event_bus_name="csms", stripe_secret_arn=arn, aws_region="eu-west-1"
    )


def _client() -> Any:
    return boto3.client("secretsmanager", region_name=emulation.REGION)


@pytest.mark.parametrize(
    ("webhook", "expected"),
    [
        (WHSEC, (WHSEC,)),
        ([WHSEC, "whsec_next0secret"], (WHSEC, "whsec_next0secret")),
        (f"{WHSEC}, whsec_next0secret", (WHSEC, "whsec_next0secret")),
        (None, ()),
    ],
    ids=["one", "array", "comma-separated", "none"],
)
def test_stripe_keys_secret_supplies_the_api_key_and_webhook_secrets(
    aws: emulation.EmulatedResources, webhook: Any, expected: tuple[str, ...]
) -> None:
    # GIVEN a secret with the API key and the webhook signing secret(s), in any of the forms
    value: dict[str, Any] = {"apiKey": KEY}
    if webhook is not None:
        value["webhookSecret"] = webhook
    settings = _settings(_secret(json.dumps(value)))
    # WHEN the settings take the secret's keys
    merged = with_stripe_keys(settings, _client)
    # THEN the key and every webhook secret are there; nothing else changed
    assert merged.stripe_api_key is not None
    assert merged.stripe_api_key.get_secret_value() == KEY
    assert tuple(s.get_secret_value() for s in merged.stripe_webhook_secrets) == expected
    assert (merged.table_name, merged.aws_region) == ("csms", "eu-west-1")


def test_stripe_keys_without_a_secret_the_settings_stand_and_nothing_is_read() -> None:
    # GIVEN settings that name no secret (the local runtime, or no Stripe)
    settings = _settings(None)

    def no_client() -> Any:
        raise AssertionError("no secret to read")

    # WHEN merging
    # THEN the settings are returned as they are
    assert with_stripe_keys(settings, no_client) is settings


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("sk_live_notjson{", "not JSON"),
        (json.dumps({"webhookSecret": WHSEC}), "apiKey"),
        (json.dumps({"apiKey": "pk_live_0123456789abcdef"}), "apiKey"),
        (json.dumps({"apiKey": KEY, "webhookSecret": "sk_live_0123456789abcdef"}), "webhook"),
        (json.dumps(["sk_live_0123456789abcdef"]), "keys"),
    ],
    ids=["not-json", "no-key", "publishable-key", "bad-webhook-secret", "not-an-object"],
)
def test_stripe_keys_unusable_secret_is_refused_without_quoting_it(
    aws: emulation.EmulatedResources, value: str, names: str
) -> None:
    # GIVEN a secret that is not JSON, lacks the key or holds the wrong kinds of keys
    settings = _settings(_secret(value))
    # WHEN merging
    # THEN a settings error names the problem and the setting, never a value from the secret
    with pytest.raises(SettingsError) as raised:
        with_stripe_keys(settings, _client)
    message = str(raised.value)
    assert message.startswith("CSMS_STRIPE_SECRET_ARN")
    assert names in message
    assert "0123456789abcdef" not in message
    assert raised.value.__cause__ is None


def test_stripe_keys_missing_secret_is_a_settings_error(aws: emulation.EmulatedResources) -> None:
    # GIVEN settings naming a secret that does not exist (or may not be read)
    arn = f"arn:aws:secretsmanager:{emulation.REGION}:123456789012:secret:gone-AbC123"
    # WHEN merging
    # THEN a settings error says the secret cannot be read
    with pytest.raises(SettingsError, match="cannot be read"):
        with_stripe_keys(_settings(arn), _client)


def test_stripe_keys_are_read_once_per_container(
    aws: emulation.EmulatedResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a function configured with the secret
    arn = _secret(json.dumps({"apiKey": "sk_test_fake_0123456789", "webhookSecret": WHSEC}))
    monkeypatch.setenv("CSMS_STRIPE_SECRET_ARN", arn)
    reads: list[str] = []
    original = stripe_keys.read_stripe_keys

    def counting(secret_arn: str, client: Any, **kwargs: Any) -> stripe_keys.StripeKeys:
        reads.append(secret_arn)
        return original(secret_arn, client, **kwargs)

    monkeypatch.setattr(stripe_keys, "read_stripe_keys", counting)
    _runtime.reset()
    # WHEN it builds its payment provider and its webhook check (the API function does both)
    provider = _runtime.payment_provider()
    verifier = _runtime.payment_webhooks()
    # THEN both use the secret's keys, read once
    assert provider.name == "stripe"
    assert verifier is not None
    assert reads == [arn]
