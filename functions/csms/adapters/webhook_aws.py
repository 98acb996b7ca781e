"""Webhook signing secrets in Secrets Manager (one secret per subscription) and the SQS queue.

The secret is kept where it can sign again (an HMAC needs the key itself, so a hash would not
do); the table holds only its ARN. Secrets are read once per container and kept for a few
minutes, so a rotation reaches every delivery function within that time.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from csms.services.webhooks import DeliveryMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# A boto3 Secrets Manager client (no type stubs for it are installed).
SecretsManagerClient = Any

_SECRET_CACHE_S = 300.0
# SendMessageBatch takes at most ten entries.
_BATCH = 10
# ChangeMessageVisibility's maximum.
_MAX_VISIBILITY_S = 43_200


class SecretsManagerWebhookSecrets:
    """One secret per subscription, named `{prefix}/{tenant}/{subscription}`."""

    def __init__(
        self,
        client_factory: Callable[[], SecretsManagerClient],
        prefix: str = "csms/webhooks",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = client_factory
        self._client: SecretsManagerClient | None = None
        self._prefix = prefix
        self._clock = clock
        self._cache: dict[str, tuple[float, str]] = {}

    def _secrets(self) -> SecretsManagerClient:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def create(self, tenant_id: str, subscription_id: str, secret: str) -> str:
        """Keep a new secret; its name, the reference kept on the subscription.

        The name rather than the ARN: the ARN carries a random suffix that a secret made again
        (see `replace`) would not share.
        """
        name = f"{self._prefix}/{tenant_id}/{subscription_id}"
        self._create(name, tenant_id, secret)
        return name

    def _create(self, name: str, tenant_id: str, secret: str) -> None:
        self._secrets().create_secret(
            Name=name,
            SecretString=secret,
            Description="Signing secret of a partner webhook subscription",
            Tags=[{"Key": "csms:tenant", "Value": tenant_id}],
        )

    def replace(self, ref: str, secret: str) -> None:
        """A new current value; a secret that is gone (deleted by hand) is made again."""
        client = self._secrets()
        try:
            client.put_secret_value(SecretId=ref, SecretString=secret)
        except client.exceptions.ResourceNotFoundException:
            tenant_id = ref.removeprefix(f"{self._prefix}/").split("/", 1)[0]
            self._create(ref, tenant_id, secret)
        self._cache.pop(ref, None)

    def get(self, ref: str) -> str:
        """The current value (cached for a few minutes)."""
        cached = self._cache.get(ref)
        now = self._clock()
        if cached is not None and now - cached[0] < _SECRET_CACHE_S:
            return cached[1]
        value = str(self._secrets().get_secret_value(SecretId=ref)["SecretString"])
        self._cache[ref] = (now, value)
        return value

    def delete(self, ref: str) -> None:
        """Forget it at once (the subscription is gone; nothing may sign with it again)."""
        client = self._secrets()
        # Deleted already (a retried delete) is the outcome wanted.
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_secret(SecretId=ref, ForceDeleteWithoutRecovery=True)
        self._cache.pop(ref, None)


def message_body(message: DeliveryMessage) -> str:
    """The queue message of a delivery."""
    return json.dumps(
        {
            "tenantId": message.tenant_id,
            "subscriptionId": message.subscription_id,
            "eventId": message.event_id,
            "eventType": message.event_type.value,
        },
        separators=(",", ":"),
    )


class SqsDeliveryQueue:
    """Queues deliveries in batches of ten; raises when any could not be queued."""

    def __init__(self, queue_url: str, client_factory: Callable[[], SQSClient]) -> None:
        self._url = queue_url
        self._factory = client_factory
        self._client: SQSClient | None = None

    def enqueue(self, messages: Sequence[DeliveryMessage]) -> None:
        """Queue every message (failed entries are sent once more, then raise)."""
        if self._client is None:
            self._client = self._factory()
        for start in range(0, len(messages), _BATCH):
            entries = [
                {"Id": str(i), "MessageBody": message_body(message)}
                for i, message in enumerate(messages[start : start + _BATCH])
            ]
            for _ in range(2):
                response = self._client.send_message_batch(
                    QueueUrl=self._url,
                    Entries=entries,  # type: ignore[arg-type]
                )
                failed = {entry["Id"] for entry in response.get("Failed", [])}
                entries = [entry for entry in entries if entry["Id"] in failed]
                if not entries:
                    break
            if entries:
                raise RuntimeError(f"{len(entries)} webhook deliveries could not be queued")

    def retry_later(self, receipt_handle: str, delay_s: int) -> None:
        """Hide a received message for `delay_s` seconds (at most SQS's 12 hours)."""
        if self._client is None:
            self._client = self._factory()
        self._client.change_message_visibility(
            QueueUrl=self._url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(delay_s, _MAX_VISIBILITY_S)),
        )
