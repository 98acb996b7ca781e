"""Webhook signing secrets in Secrets Manager (moto): named, rotated, re-made, forgotten."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from csms.adapters.webhook_aws import SecretsManagerWebhookSecrets
from csms_local import emulation


def _client() -> Any:
    return boto3.client("secretsmanager", region_name=emulation.REGION)


def test_secret_is_kept_under_its_name_tagged_with_the_tenant(
    aws: emulation.EmulatedResources,
) -> None:
    # GIVEN the adapter
    secrets = SecretsManagerWebhookSecrets(_client)
    # WHEN a subscription's secret is created
    ref = secrets.create("acme", "sub-1", "whsec_first")
    # THEN the reference is the secret's name, which reads back the value, tagged with the tenant
    assert ref == "csms/webhooks/acme/sub-1"
    assert secrets.get(ref) == "whsec_first"
    described = _client().describe_secret(SecretId=ref)
    assert {"Key": "csms:tenant", "Value": "acme"} in described["Tags"]


def test_replace_puts_a_new_value_in_force_at_once_despite_the_cache(
    aws: emulation.EmulatedResources,
) -> None:
    # GIVEN a secret read once (so cached)
    secrets = SecretsManagerWebhookSecrets(_client)
    ref = secrets.create("acme", "sub-1", "whsec_first")
    assert secrets.get(ref) == "whsec_first"
    # WHEN it is replaced
    secrets.replace(ref, "whsec_second")
    # THEN the next read gives the new value
    assert secrets.get(ref) == "whsec_second"


def test_replace_makes_again_a_secret_that_is_gone(aws: emulation.EmulatedResources) -> None:
    # GIVEN a secret deleted behind the adapter's back (by hand, in the console)
    secrets = SecretsManagerWebhookSecrets(_client)
    ref = secrets.create("acme", "sub-1", "whsec_first")
    _client().delete_secret(SecretId=ref, ForceDeleteWithoutRecovery=True)
    # WHEN the subscription's secret is rotated
    secrets.replace(ref, "whsec_second")
    # THEN the secret exists again under the same name, with the new value and the tenant's tag
    assert SecretsManagerWebhookSecrets(_client).get(ref) == "whsec_second"
    assert {"Key": "csms:tenant", "Value": "acme"} in _client().describe_secret(SecretId=ref)[
        "Tags"
    ]


def test_delete_forgets_the_secret_and_a_second_delete_is_quiet(
    aws: emulation.EmulatedResources,
) -> None:
    # GIVEN a secret
    secrets = SecretsManagerWebhookSecrets(_client)
    ref = secrets.create("acme", "sub-1", "whsec_first")
    assert secrets.get(ref) == "whsec_first"
    # WHEN it is deleted twice (a retried delete)
    secrets.delete(ref)
    secrets.delete(ref)
    # THEN it is gone, and the cache does not keep serving it
    client = _client()
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        secrets.get(ref)
