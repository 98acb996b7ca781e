"""Stripe's webhooks: the `Stripe-Signature` header checked with the `stripe` package itself.

Stripe signs `{timestamp}.{body}` with HMAC-SHA256 under the endpoint's secret and sends
`t=<timestamp>,v1=<signature>[,v1=<signature>...]` (one v1 per secret while a secret is being
rolled). A delivery is accepted when one v1 signature matches one of our secrets and the
timestamp is at most `tolerance_s` old, which bounds how long a captured request can be replayed;
replays inside that window are the receiver's to drop, by event id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal

import stripe
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from csms.domain.billing.payments import ProviderEvent
from csms.domain.errors import InvalidWebhookSignatureError

__all__ = ["StripeWebhookVerifier"]

# Stripe's own default (stripe.Webhook.DEFAULT_TOLERANCE), stated here so it cannot drift.
DEFAULT_TOLERANCE_S = 300


class _EventData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    object: dict[str, JsonValue]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(pattern=r"^evt_\w+$", max_length=255)]
    object: Literal["event"]
    type: Annotated[str, Field(min_length=1, max_length=255)]
    created: Annotated[int, Field(ge=0)]
    data: _EventData


class StripeWebhookVerifier:
    """The PaymentWebhookVerifier port for Stripe (several secrets: rotation)."""

    def __init__(self, secrets: Sequence[str], *, tolerance_s: int = DEFAULT_TOLERANCE_S) -> None:
        if not secrets or not all(secrets):
            raise ValueError("at least one webhook signing secret is needed")
        self._secrets = tuple(secrets)
        self._tolerance_s = tolerance_s

    def verify(self, payload: bytes, signature_header: str | None) -> ProviderEvent:
        """The event in `payload` once its signature holds; InvalidWebhookSignatureError if not."""
        if not signature_header:
            raise InvalidWebhookSignatureError("no Stripe-Signature header")
        try:
            # The signature covers the text of the body exactly as it was sent.
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidWebhookSignatureError("the body is not UTF-8") from None
        self._check_signature(text, signature_header)
        try:
            event = _Event.model_validate_json(text)
        except ValidationError:
            raise InvalidWebhookSignatureError("the body is not a Stripe event") from None
        return ProviderEvent(
            id=event.id,
            type=event.type,
            created=datetime.fromtimestamp(event.created, UTC),
            object=event.data.object,
        )

    def _check_signature(self, text: str, header: str) -> None:
        # First which secret signed it (no age check), so that a stale delivery is reported
        # as stale and not as signed by the wrong secret; then Stripe's check with the age.
        reason = "no signature matches"
        for secret in self._secrets:
            try:
                stripe.WebhookSignature.verify_header(text, header, secret)
            except stripe.SignatureVerificationError as exc:
                # Stripe's message says what failed and quotes neither secret nor body.
                reason = exc.user_message or reason
                continue
            try:
                stripe.WebhookSignature.verify_header(text, header, secret, self._tolerance_s)
            except stripe.SignatureVerificationError as exc:
                raise InvalidWebhookSignatureError(exc.user_message or "stale signature") from None
            return
        raise InvalidWebhookSignatureError(reason)
