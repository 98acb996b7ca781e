"""Payments as billing sees them, whoever the provider is (Stripe, or invoice only).

Amounts travel in the currency's minor unit (integer cents, yen, fils), as payment providers
take them; `money.minor_units` converts. Every call to a provider carries an idempotency key
derived from what it is for (the session, the invoice), so a retried call never charges twice.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, JsonValue

from csms.domain.billing.money import minor_units, round_money


class PaymentStatus(StrEnum):
    """Where a payment stands at the provider."""

    # Money held on the card (pre-authorisation), to be captured or released.
    AUTHORIZED = "authorized"
    SUCCEEDED = "succeeded"
    # The provider needs the payer (3-D Secure): the payment is not done.
    REQUIRES_ACTION = "requires-action"
    # Declined by the bank or the provider (card, funds, fraud): not retried as is.
    DECLINED = "declined"
    # The provider could not be reached or failed: worth retrying with the same key.
    FAILED = "failed"
    CANCELED = "canceled"
    REFUNDED = "refunded"
    # Accepted, the outcome comes later (a bank debit, a pending refund): the provider's
    # webhook tells how it ended.
    PROCESSING = "processing"
    # Nothing collected by card: the amount is due on an invoice (the invoice-only provider).
    INVOICED = "invoiced"


class PaymentResult(BaseModel):
    """What a provider answered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: PaymentStatus
    # The provider's id of the payment (Stripe PaymentIntent or Refund id), when it made one.
    reference: str | None = None
    amount_minor: int
    currency: str
    # Why it did not succeed (the provider's code and a message fit for an operator).
    failure_code: str | None = None
    failure_message: str | None = None
    # A FAILED answer that trying again cannot change (the provider rejected the request as
    # invalid, a bad API key): billing alerts someone instead of retrying.
    permanent: bool = False

    @property
    def retryable(self) -> bool:
        """Whether trying again (same idempotency key) may change the outcome."""
        return self.status is PaymentStatus.FAILED and not self.permanent


class ProviderEvent(BaseModel):
    """A notification from the payment provider whose signature was verified (a webhook).

    Applying it once is the receiver's job, by `id` (providers deliver at least once).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    type: str
    created: AwareDatetime
    # The resource the event is about, as the provider sent it (Stripe's `data.object`).
    object: dict[str, JsonValue]


class PaymentSetup(BaseModel):
    """A started saving of a payment method (Stripe: a SetupIntent, confirmed by the payer).

    The driver's app completes it with the provider (Stripe.js takes `client_secret`); the
    provider's notification then names the payment method saved (`setup_intent.succeeded`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The provider's id of the setup (Stripe's SetupIntent id).
    reference: str
    # What the payer's app needs to confirm it; None when there is nothing to confirm
    # (the invoice-only provider saves no payment method).
    client_secret: str | None
    provider: str


def payment_metadata(invoice_id: str, session_id: str | None = None) -> dict[str, str]:
    """What a payment carries for its provider to send back: the invoice it is for.

    The provider's notifications (a payment settled or failed later) find the invoice by it
    (csms.services.provider_events); the session is there for an operator reading the
    provider's dashboard. The adapter adds the tenant.
    """
    metadata = {"invoice_id": invoice_id}
    if session_id is not None:
        metadata["session_id"] = session_id
    return metadata


def to_minor(amount: Decimal, currency: str) -> int:
    """An amount in the currency's minor unit (12.34 EUR -> 1234), rounded half up first."""
    return int(round_money(amount, currency).scaleb(minor_units(currency)))


def from_minor(amount: int, currency: str) -> Decimal:
    """The other way (1234 EUR cents -> 12.34)."""
    return Decimal(amount).scaleb(-minor_units(currency))
