"""The payment port: what billing asks of a payment provider (Stripe or invoice only).

Every method takes an idempotency key: the same key with the same arguments returns the
first answer and moves no money twice (Stripe keeps keys for 24 hours; callers derive keys
from the session or invoice, never random). Declines come back as results, not exceptions;
an exception means the provider could not be asked at all (the caller retries).

Payments that move money carry `metadata`: the invoice they are for (`invoice_id`) and the
session (`session_id`) where there is one. The provider keeps it on the payment and sends it
back in its notifications, which is how a late outcome finds its invoice
(csms.services.provider_events); the tenant is added by the adapter, always.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from csms.domain.billing.payments import PaymentResult, PaymentSetup, ProviderEvent


class PaymentProvider(Protocol):
    """A payment provider (adapters: StripePaymentProvider, InvoiceOnlyProvider)."""

    @property
    def name(self) -> str:
        """`stripe` or `invoice-only`."""
        ...

    def ensure_customer(
        self, tenant_id: str, account_id: str, *, email: str | None, name: str | None
    ) -> str:
        """The provider's customer for a driver or group account, made on first use."""
        ...

    def authorize(
        self,
        tenant_id: str,
        *,
        customer: str,
        payment_method: str | None,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentResult:
        """Hold an amount on the customer's saved payment method (capture later)."""
        ...

    def capture(
        self, tenant_id: str, *, reference: str, amount_minor: int, idempotency_key: str
    ) -> PaymentResult:
        """Capture at most the amount held (the final price); the rest is released."""
        ...

    def cancel(self, tenant_id: str, *, reference: str, idempotency_key: str) -> PaymentResult:
        """Release a hold (a session that cost nothing)."""
        ...

    def charge(
        self,
        tenant_id: str,
        *,
        customer: str,
        payment_method: str | None,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentResult:
        """Charge now, off session (a monthly invoice, a debit note)."""
        ...

    def refund(
        self,
        tenant_id: str,
        *,
        reference: str,
        amount_minor: int,
        idempotency_key: str,
        reason: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentResult:
        """Refund part or all of a captured payment."""
        ...

    def update_customer(
        self,
        tenant_id: str,
        *,
        customer: str,
        email: str | None,
        name: str | None,
        idempotency_key: str,
    ) -> None:
        """Set the customer's email and name (None: clear it) at the provider.

        Raises PaymentProviderError when the provider could not be asked or refused.
        """
        ...

    def start_payment_method_setup(
        self, tenant_id: str, *, account_id: str, customer: str, idempotency_key: str
    ) -> PaymentSetup:
        """Start saving a payment method for off-session use (the payer's app confirms it).

        The provider tells the method saved later, naming the tenant and `account_id`
        (csms.services.provider_events). Raises PaymentProviderError when the provider could
        not be asked or refused.
        """
        ...


class PaymentWebhookVerifier(Protocol):
    """Checks that a webhook came from the payment provider (adapter: StripeWebhookVerifier)."""

    def verify(self, payload: bytes, signature_header: str | None) -> ProviderEvent:
        """The event in `payload` (the raw body, byte for byte as received).

        Raises InvalidWebhookSignatureError on a missing, bad or stale signature or a
        payload that is not an event.
        """
        ...
