"""Payments through Stripe: PaymentIntents held and captured, off-session charges, refunds.

The official `stripe` client does the HTTP: explicit timeout per attempt, a bounded number of
network retries (connection errors, 409 and 5xx, each repeated with the same Idempotency-Key),
and the API base configurable so that tests talk to a fake on 127.0.0.1. Every call that
creates or moves something carries an idempotency key made from the caller's key and the
tenant (session and transaction ids are only unique within a tenant).

Outcomes are values: a decline is a DECLINED result with Stripe's decline code; a call that
could not be made or that Stripe failed is a FAILED result, retryable unless Stripe rejected the
request itself. Neither the API key nor card data is ever logged: results carry ids and codes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import stripe

from csms.domain.billing.payments import PaymentResult, PaymentSetup, PaymentStatus
from csms.domain.errors import PaymentProviderError

if TYPE_CHECKING:
    from stripe.params import (
        CustomerCreateParams,
        CustomerUpdateParams,
        RefundCreateParams,
        SetupIntentCreateParams,
    )

__all__ = ["StripePaymentProvider"]

logger = logging.getLogger(__name__)

# Stripe's limits: Idempotency-Key 255 characters, metadata values 500 (keys 40, 50 of them),
# descriptions 1000.
_MAX_KEY = 255
_MAX_METADATA = 500
_MAX_METADATA_KEY = 40
_MAX_METADATA_KEYS = 50
_MAX_DESCRIPTION = 1000
# The refund reasons Stripe takes as `reason`; any other reason travels in metadata only.
_REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})


class StripePaymentProvider:
    """The PaymentProvider port on Stripe's API (one Stripe account; tenants in metadata)."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str = "https://api.stripe.com",
        timeout_s: float = 10.0,
        max_network_retries: int = 2,
    ) -> None:
        self._api_base = api_base
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout_s),
        )

    @property
    def name(self) -> str:
        """`stripe`."""
        return "stripe"

    @property
    def api_base(self) -> str:
        """Where requests go (tests assert it is their fake, never Stripe)."""
        return self._api_base

    def ensure_customer(
        self, tenant_id: str, account_id: str, *, email: str | None, name: str | None
    ) -> str:
        """A Stripe Customer for the account; the caller keeps its id.

        The idempotency key is the tenant and account, so a retried first call makes one
        customer; Stripe forgets keys after 24 hours, so callers store the id and do not call
        this again for an account that has one.
        """
        params: CustomerCreateParams = {
            "metadata": {"tenant_id": tenant_id, "account_id": account_id}
        }
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        try:
            customer = self._client.v1.customers.create(
                params, {"idempotency_key": _key(tenant_id, f"customer:{account_id}")}
            )
        except stripe.StripeError as exc:
            code, retryable = _classify(exc)
            logger.warning("stripe customer not created", extra={"code": code})
            raise PaymentProviderError(code, retryable=retryable) from exc
        return str(customer.id)

    def update_customer(
        self,
        tenant_id: str,
        *,
        customer: str,
        email: str | None,
        name: str | None,
        idempotency_key: str,
    ) -> None:
        """Set the Customer's email and name; an empty string is how Stripe clears a field."""
        params: CustomerUpdateParams = {"email": email or "", "name": name or ""}
        try:
            self._client.v1.customers.update(
                customer, params, {"idempotency_key": _key(tenant_id, idempotency_key)}
            )
        except stripe.StripeError as exc:
            code, retryable = _classify(exc)
            logger.warning("stripe customer not updated", extra={"code": code})
            raise PaymentProviderError(code, retryable=retryable) from exc

    def start_payment_method_setup(
        self, tenant_id: str, *, account_id: str, customer: str, idempotency_key: str
    ) -> PaymentSetup:
        """A SetupIntent for off-session use; the payer's app confirms it with Stripe.js.

        Its metadata names the tenant and account, so that `setup_intent.succeeded` can say
        whose default payment method it is. The client secret is handed to the payer only.
        """
        params: SetupIntentCreateParams = {
            "customer": customer,
            "usage": "off_session",
            "metadata": {"tenant_id": tenant_id, "account_id": account_id[:_MAX_METADATA]},
        }
        try:
            intent = self._client.v1.setup_intents.create(
                params, {"idempotency_key": _key(tenant_id, idempotency_key)}
            )
        except stripe.StripeError as exc:
            code, retryable = _classify(exc)
            logger.warning("stripe setup intent not created", extra={"code": code})
            raise PaymentProviderError(code, retryable=retryable) from exc
        return PaymentSetup(
            reference=str(intent.id), client_secret=intent.client_secret, provider=self.name
        )

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
        """A PaymentIntent with manual capture, confirmed off session: AUTHORIZED when held."""
        return self._create_intent(
            tenant_id,
            customer=customer,
            payment_method=payment_method,
            amount_minor=amount_minor,
            currency=currency,
            idempotency_key=idempotency_key,
            description=description,
            capture_method="manual",
            metadata=metadata,
        )

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
        """A PaymentIntent confirmed off session and captured at once: SUCCEEDED when paid."""
        return self._create_intent(
            tenant_id,
            customer=customer,
            payment_method=payment_method,
            amount_minor=amount_minor,
            currency=currency,
            idempotency_key=idempotency_key,
            description=description,
            capture_method="automatic",
            metadata=metadata,
        )

    def capture(
        self, tenant_id: str, *, reference: str, amount_minor: int, idempotency_key: str
    ) -> PaymentResult:
        """Capture `amount_minor` of a held PaymentIntent; Stripe releases the rest."""
        if amount_minor < 1:
            # Nothing to capture is a cancel; Stripe would refuse it anyway.
            return _invalid_amount(amount_minor, "")
        try:
            intent = self._client.v1.payment_intents.capture(
                reference,
                {"amount_to_capture": amount_minor},
                {"idempotency_key": _key(tenant_id, idempotency_key)},
            )
        except stripe.StripeError as exc:
            return _error_result("capture", exc, amount_minor, "")
        return _logged("capture", _intent_result(intent))

    def cancel(self, tenant_id: str, *, reference: str, idempotency_key: str) -> PaymentResult:
        """Cancel a PaymentIntent that is not captured (the hold is released)."""
        try:
            intent = self._client.v1.payment_intents.cancel(
                reference, options={"idempotency_key": _key(tenant_id, idempotency_key)}
            )
        except stripe.StripeError as exc:
            return _error_result("cancel", exc, 0, "")
        return _logged("cancel", _intent_result(intent))

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
        """A Refund of part or all of a captured PaymentIntent; its id is the reference."""
        if amount_minor < 1:
            return _invalid_amount(amount_minor, "")
        params: RefundCreateParams = {
            "payment_intent": reference,
            "amount": amount_minor,
            "metadata": _metadata(tenant_id, metadata, reason=reason),
        }
        if reason in _REFUND_REASONS:
            params["reason"] = reason
        try:
            refund = self._client.v1.refunds.create(
                params, {"idempotency_key": _key(tenant_id, idempotency_key)}
            )
        except stripe.StripeError as exc:
            return _error_result("refund", exc, amount_minor, "")
        return _logged("refund", _refund_result(refund))

    def _create_intent(
        self,
        tenant_id: str,
        *,
        customer: str,
        payment_method: str | None,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
        capture_method: Literal["automatic", "manual"],
        metadata: Mapping[str, str] | None,
    ) -> PaymentResult:
        operation = "authorize" if capture_method == "manual" else "charge"
        if amount_minor < 1:
            return _invalid_amount(amount_minor, currency)
        try:
            method = payment_method or self._default_payment_method(customer)
            if method is None:
                return _logged(
                    operation,
                    PaymentResult(
                        status=PaymentStatus.DECLINED,
                        amount_minor=amount_minor,
                        currency=currency,
                        failure_code="no_payment_method",
                        failure_message="the customer has no saved payment method",
                    ),
                )
            intent = self._client.v1.payment_intents.create(
                {
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "customer": customer,
                    "payment_method": method,
                    "capture_method": capture_method,
                    "confirm": True,
                    # The driver is not at a checkout page: the bank may ask for 3-D Secure,
                    # which comes back as REQUIRES_ACTION instead of a redirect.
                    "off_session": True,
                    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                    "description": description[:_MAX_DESCRIPTION],
                    "metadata": _metadata(tenant_id, metadata),
                },
                {"idempotency_key": _key(tenant_id, idempotency_key)},
            )
        except stripe.StripeError as exc:
            return _error_result(operation, exc, amount_minor, currency)
        return _logged(operation, _intent_result(intent))

    def _default_payment_method(self, customer: str) -> str | None:
        found = self._client.v1.customers.retrieve(customer)
        settings = getattr(found, "invoice_settings", None)
        method: Any = getattr(settings, "default_payment_method", None) if settings else None
        # Stripe gives an id, or the object when expanded.
        return str(getattr(method, "id", method)) if method else None


def _metadata(tenant_id: str, given: Mapping[str, str] | None, **more: str) -> dict[str, str]:
    """What a payment carries back in Stripe's notifications: always its tenant.

    The caller's entries (the invoice and session, csms.services.provider_events reads them)
    cannot override the tenant; keys and values are cut to Stripe's limits.
    """
    entries = {**(given or {}), **more}
    entries.pop("tenant_id", None)
    # The tenant first, so that the cut to Stripe's 50 keys never drops it.
    chosen = [("tenant_id", tenant_id), *entries.items()][:_MAX_METADATA_KEYS]
    return {key[:_MAX_METADATA_KEY]: value[:_MAX_METADATA] for key, value in chosen}


def _key(tenant_id: str, key: str) -> str:
    scoped = f"{tenant_id}:{key}"
    if len(scoped) <= _MAX_KEY:
        return scoped
    return "sha256:" + hashlib.sha256(scoped.encode()).hexdigest()


def _invalid_amount(amount_minor: int, currency: str) -> PaymentResult:
    return PaymentResult(
        status=PaymentStatus.FAILED,
        amount_minor=amount_minor,
        currency=currency,
        failure_code="invalid_amount",
        failure_message="the amount must be at least one minor unit",
        permanent=True,
    )


def _intent_result(intent: stripe.PaymentIntent) -> PaymentResult:
    currency = str(intent.currency).upper()
    status = intent.status
    if status == "requires_capture":
        return PaymentResult(
            status=PaymentStatus.AUTHORIZED,
            reference=intent.id,
            amount_minor=intent.amount_capturable,
            currency=currency,
        )
    if status == "succeeded":
        return PaymentResult(
            status=PaymentStatus.SUCCEEDED,
            reference=intent.id,
            amount_minor=intent.amount_received,
            currency=currency,
        )
    simple = {
        "canceled": PaymentStatus.CANCELED,
        "processing": PaymentStatus.PROCESSING,
    }
    if status in simple:
        return PaymentResult(
            status=simple[status],
            reference=intent.id,
            amount_minor=intent.amount,
            currency=currency,
        )
    if status == "requires_action":
        return _requires_action(intent.id, intent.amount, currency)
    if status == "requires_payment_method":
        error = intent.last_payment_error
        return PaymentResult(
            status=PaymentStatus.DECLINED,
            reference=intent.id,
            amount_minor=intent.amount,
            currency=currency,
            failure_code=(error.decline_code or error.code) if error else "payment_failed",
            failure_message=(error.message if error else None) or "the payment was declined",
        )
    return PaymentResult(
        status=PaymentStatus.FAILED,
        reference=intent.id,
        amount_minor=intent.amount,
        currency=currency,
        failure_code="unexpected_status",
        failure_message=f"the payment intent is {status}",
        permanent=True,
    )


def _requires_action(reference: str | None, amount_minor: int, currency: str) -> PaymentResult:
    return PaymentResult(
        status=PaymentStatus.REQUIRES_ACTION,
        reference=reference,
        amount_minor=amount_minor,
        currency=currency,
        failure_code="authentication_required",
        failure_message="the bank asks the driver to authenticate the payment (3-D Secure)",
    )


def _refund_result(refund: stripe.Refund) -> PaymentResult:
    currency = str(refund.currency).upper()
    status = refund.status
    mapped = {
        "succeeded": PaymentStatus.REFUNDED,
        "pending": PaymentStatus.PROCESSING,
        "requires_action": PaymentStatus.PROCESSING,
        "canceled": PaymentStatus.CANCELED,
    }.get(status or "")
    if mapped is not None:
        return PaymentResult(
            status=mapped, reference=refund.id, amount_minor=refund.amount, currency=currency
        )
    return PaymentResult(
        status=PaymentStatus.FAILED,
        reference=refund.id,
        amount_minor=refund.amount,
        currency=currency,
        failure_code=getattr(refund, "failure_reason", None) or "refund_failed",
        failure_message=f"the refund is {status}",
        permanent=True,
    )


def _classify(exc: stripe.StripeError) -> tuple[str, bool]:
    """Stripe's code for the failure, and whether the same call may yet succeed."""
    if isinstance(exc, stripe.APIConnectionError):
        # Connection refused or reset, a timeout, TLS: the request may not have arrived.
        return "connection_error", True
    if isinstance(exc, stripe.RateLimitError):
        return "rate_limited", True
    if isinstance(exc, stripe.AuthenticationError):
        return "authentication_error", False
    if isinstance(exc, stripe.PermissionError):
        return "permission_error", False
    if isinstance(exc, stripe.IdempotencyError):
        # The same key with other parameters: a bug on our side, not worth repeating.
        return "idempotency_error", False
    error = exc.error
    code = (error.code if error else None) or exc.code
    status = exc.http_status
    # 409: a concurrent request with the same key (or a lock) is still running; 5xx: Stripe's.
    retryable = status is None or status == 409 or status >= 500
    return code or (error.type if error and error.type else "api_error"), retryable


def _error_result(
    operation: str, exc: stripe.StripeError, amount_minor: int, currency: str
) -> PaymentResult:
    if isinstance(exc, stripe.CardError):
        error = exc.error
        intent = error.payment_intent if error else None
        reference = intent.id if intent else None
        if intent is not None:
            currency = str(intent.currency).upper()
        if exc.code == "authentication_required":
            # Off session, Stripe answers a card that needs 3-D Secure with this decline.
            return _logged(operation, _requires_action(reference, amount_minor, currency))
        code = (error.decline_code if error else None) or exc.code or "card_declined"
        return _logged(
            operation,
            PaymentResult(
                status=PaymentStatus.DECLINED,
                reference=reference,
                amount_minor=amount_minor,
                currency=currency,
                failure_code=code,
                failure_message=exc.user_message or "the card was declined",
            ),
        )
    code, retryable = _classify(exc)
    return _logged(
        operation,
        PaymentResult(
            status=PaymentStatus.FAILED,
            amount_minor=amount_minor,
            currency=currency,
            failure_code=code,
            failure_message=_failure_message(exc, code),
            permanent=not retryable,
        ),
    )


def _failure_message(exc: stripe.StripeError, code: str) -> str:
    if code in ("connection_error", "authentication_error", "permission_error"):
        # Fixed texts: an authentication message quotes part of the key.
        return {
            "connection_error": "Stripe could not be reached (connection error or timeout)",
            "authentication_error": "Stripe refused the API key",
            "permission_error": "the API key may not make this request",
        }[code]
    return exc.user_message or f"Stripe answered {exc.http_status}"


def _logged(operation: str, result: PaymentResult) -> PaymentResult:
    logger.info(
        "stripe %s: %s",
        operation,
        result.status.value,
        extra={"reference": result.reference, "failure_code": result.failure_code},
    )
    return result
