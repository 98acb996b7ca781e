"""The "invoice only" payment provider: the local default, and any deployment without Stripe.

It moves no money and keeps no state: every amount is due on the account's invoice. Answers are
derived from the idempotency key, so the same key always gets the same answer, as with Stripe.
It sends no notifications, so the payments' `metadata` has nowhere to go and is not kept.
A payment's reference carries its currency (`inv_EUR_<hash>`) because capture and refund are not
told it again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from csms.domain.billing.payments import PaymentResult, PaymentSetup, PaymentStatus

__all__ = ["InvoiceOnlyProvider"]

_REFERENCE = re.compile(r"^inv_(?P<currency>[A-Z]{3})_[0-9a-f]{24}$")


class InvoiceOnlyProvider:
    """The PaymentProvider port without a payment service: everything goes on the invoice."""

    @property
    def name(self) -> str:
        """`invoice-only`."""
        return "invoice-only"

    def ensure_customer(
        self, tenant_id: str, account_id: str, *, email: str | None, name: str | None
    ) -> str:
        """The account itself is the customer: its invoices are addressed to it."""
        return f"account:{account_id}"

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
        """Nothing to hold: the amount will be invoiced."""
        return _invoiced(tenant_id, idempotency_key, amount_minor, currency)

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
        """Nothing to charge: the amount is due on the invoice."""
        return _invoiced(tenant_id, idempotency_key, amount_minor, currency)

    def capture(
        self, tenant_id: str, *, reference: str, amount_minor: int, idempotency_key: str
    ) -> PaymentResult:
        """The final amount goes on the invoice, under the payment it was authorised as."""
        currency = _currency_of(reference)
        if currency is None:
            return _unknown_reference(amount_minor)
        if amount_minor < 1:
            return _invalid_amount(amount_minor, currency)
        return PaymentResult(
            status=PaymentStatus.INVOICED,
            reference=reference,
            amount_minor=amount_minor,
            currency=currency,
        )

    def cancel(self, tenant_id: str, *, reference: str, idempotency_key: str) -> PaymentResult:
        """Nothing was held, so nothing is due."""
        currency = _currency_of(reference)
        if currency is None:
            return _unknown_reference(0)
        return PaymentResult(
            status=PaymentStatus.CANCELED, reference=reference, amount_minor=0, currency=currency
        )

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
        """A credit on the account's invoice; its reference comes from the key."""
        currency = _currency_of(reference)
        if currency is None:
            return _unknown_reference(amount_minor)
        if amount_minor < 1:
            return _invalid_amount(amount_minor, currency)
        return PaymentResult(
            status=PaymentStatus.REFUNDED,
            reference=_reference(tenant_id, f"refund:{idempotency_key}", currency),
            amount_minor=amount_minor,
            currency=currency,
        )

    def update_customer(
        self,
        tenant_id: str,
        *,
        customer: str,
        email: str | None,
        name: str | None,
        idempotency_key: str,
    ) -> None:
        """Nothing to tell: the account (where billing keeps email and name) is the customer."""

    def start_payment_method_setup(
        self, tenant_id: str, *, account_id: str, customer: str, idempotency_key: str
    ) -> PaymentSetup:
        """Nothing to save: no card is ever charged; the reference comes from the key."""
        digest = hashlib.sha256(f"{tenant_id}\x00setup:{idempotency_key}".encode()).hexdigest()
        return PaymentSetup(
            reference=f"setup_inv_{digest[:24]}", client_secret=None, provider=self.name
        )


def _reference(tenant_id: str, key: str, currency: str) -> str:
    digest = hashlib.sha256(f"{tenant_id}\x00{key}".encode()).hexdigest()[:24]
    return f"inv_{currency}_{digest}"


def _currency_of(reference: str) -> str | None:
    match = _REFERENCE.match(reference)
    return match["currency"] if match else None


def _invoiced(tenant_id: str, key: str, amount_minor: int, currency: str) -> PaymentResult:
    currency = currency.upper()
    if amount_minor < 1:
        return _invalid_amount(amount_minor, currency)
    return PaymentResult(
        status=PaymentStatus.INVOICED,
        reference=_reference(tenant_id, key, currency),
        amount_minor=amount_minor,
        currency=currency,
    )


def _invalid_amount(amount_minor: int, currency: str) -> PaymentResult:
    return PaymentResult(
        status=PaymentStatus.FAILED,
        amount_minor=amount_minor,
        currency=currency,
        failure_code="invalid_amount",
        failure_message="the amount must be at least one minor unit",
        permanent=True,
    )


def _unknown_reference(amount_minor: int) -> PaymentResult:
    return PaymentResult(
        status=PaymentStatus.FAILED,
        amount_minor=amount_minor,
        currency="",
        failure_code="unknown_reference",
        failure_message="not a payment of the invoice-only provider",
        permanent=True,
    )
