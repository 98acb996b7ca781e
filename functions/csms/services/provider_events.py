"""What a payment provider's notification changes on an invoice (Stripe's webhooks).

Billing records a payment's outcome when it asks the provider (csms.services.billing). Some
outcomes come later, and only by webhook: a bank debit or a refund that was `processing`
settles or fails, a driver completes 3-D Secure for a payment that `requires-action`. Such a
notification names the payment (the PaymentIntent or Refund id: the `reference` billing
recorded) and, in the metadata billing gave it, the tenant and the invoice (`tenant_id`,
`invoice_id`). A notification changes an invoice only when that invoice records the payment
with another status than the one told, and only in the direction a payment can go; so an old
notification delivered late (a failure after the success) changes nothing.

Handled (Stripe event types): `payment_intent.succeeded`, `payment_intent.payment_failed`,
`charge.refunded` (each refund listed on the charge), `refund.updated`, `refund.failed`.

One notification changes a billing account instead: `setup_intent.succeeded`, a payment
method the driver saved for off-session use (a SetupIntent billing started, its metadata naming
`tenant_id` and `account_id`) becomes the account's default. It applies only when no newer
choice of payment method is stored (the event's `created` against the account's
`payment_method_since`), so a redelivery after the driver or an operator changed the method
changes nothing. Anything else is not billing's business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from csms.domain.billing.invoice import Invoice, InvoiceState, Payment
from csms.domain.billing.payments import PaymentStatus, ProviderEvent, from_minor

_COLLECTING = frozenset({"capture", "charge"})
_SETTLED = frozenset({PaymentStatus.SUCCEEDED.value, PaymentStatus.INVOICED.value})
_OPEN_OUTCOMES = frozenset({PaymentStatus.PROCESSING.value, PaymentStatus.REQUIRES_ACTION.value})
# From which recorded status a payment may move to the status told.
_MAY_MOVE: dict[tuple[str, str], frozenset[str]] = {
    # A payment the driver authenticated, or a debit that settled; a declined PaymentIntent
    # succeeds when the payer retried it with another card.
    ("collect", PaymentStatus.SUCCEEDED.value): _OPEN_OUTCOMES | {PaymentStatus.DECLINED.value},
    ("collect", PaymentStatus.DECLINED.value): _OPEN_OUTCOMES,
    ("refund", PaymentStatus.REFUNDED.value): frozenset({PaymentStatus.PROCESSING.value}),
    # A refund can fail after it was reported done (the card was closed meanwhile).
    ("refund", PaymentStatus.FAILED.value): frozenset(
        {PaymentStatus.PROCESSING.value, PaymentStatus.REFUNDED.value}
    ),
}


class ProviderEventOutcome(StrEnum):
    """What applying a provider notification came to."""

    # An invoice's payment (and state) changed.
    APPLIED = "applied"
    # Delivered before: applied then, not again.
    REPLAY = "replay"
    # Nothing of billing's (another event type, a payment no invoice records, nothing new).
    IGNORED = "ignored"


@dataclass(frozen=True)
class PaymentUpdate:
    """A payment's outcome as a notification tells it."""

    tenant_id: str
    invoice_id: str
    reference: str
    # `collect` (a capture or a charge) or `refund`.
    purpose: str
    status: str
    amount_minor: int | None = None
    currency: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None


# -- reading the notification ---------------------------------------------------------------

_Text = Annotated[str, Field(min_length=1, max_length=500)]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Metadata(_Loose):
    tenant_id: _Text
    invoice_id: _Text


class _PaymentError(_Loose):
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None


class _Intent(_Loose):
    id: _Text
    metadata: _Metadata
    amount_received: Annotated[int, Field(ge=0)] | None = None
    currency: str | None = None
    last_payment_error: _PaymentError | None = None


class _Refund(_Loose):
    id: _Text
    status: str | None = None
    metadata: _Metadata
    amount: Annotated[int, Field(ge=0)] | None = None
    currency: str | None = None
    failure_reason: str | None = None


class _RefundList(_Loose):
    data: list[dict[str, object]] = []


class _Charge(_Loose):
    refunds: _RefundList | None = None


def _intent_succeeded(obj: dict[str, object]) -> list[PaymentUpdate]:
    intent = _Intent.model_validate(obj)
    return [
        PaymentUpdate(
            tenant_id=intent.metadata.tenant_id,
            invoice_id=intent.metadata.invoice_id,
            reference=intent.id,
            purpose="collect",
            status=PaymentStatus.SUCCEEDED.value,
            amount_minor=intent.amount_received,
            currency=intent.currency,
        )
    ]


def _intent_failed(obj: dict[str, object]) -> list[PaymentUpdate]:
    intent = _Intent.model_validate(obj)
    error = intent.last_payment_error or _PaymentError()
    return [
        PaymentUpdate(
            tenant_id=intent.metadata.tenant_id,
            invoice_id=intent.metadata.invoice_id,
            reference=intent.id,
            purpose="collect",
            status=PaymentStatus.DECLINED.value,
            failure_code=error.decline_code or error.code or "payment_failed",
            failure_message=error.message or "the payment failed",
        )
    ]


def _refund_update(obj: dict[str, object]) -> list[PaymentUpdate]:
    refund = _Refund.model_validate(obj)
    if refund.status == "succeeded":
        status = PaymentStatus.REFUNDED.value
    elif refund.status in ("failed", "canceled"):
        status = PaymentStatus.FAILED.value
    else:
        return []  # still pending: the next notification tells how it ended
    failed = status == PaymentStatus.FAILED.value
    return [
        PaymentUpdate(
            tenant_id=refund.metadata.tenant_id,
            invoice_id=refund.metadata.invoice_id,
            reference=refund.id,
            purpose="refund",
            status=status,
            amount_minor=refund.amount,
            currency=refund.currency,
            failure_code=(refund.failure_reason or "refund_failed") if failed else None,
            failure_message=f"the refund {refund.status}" if failed else None,
        )
    ]


def _charge_refunded(obj: dict[str, object]) -> list[PaymentUpdate]:
    charge = _Charge.model_validate(obj)
    updates: list[PaymentUpdate] = []
    for refund in charge.refunds.data if charge.refunds is not None else []:
        try:
            updates += _refund_update(refund)
        except ValidationError:
            continue  # a refund made elsewhere (the dashboard): not one of billing's
    return updates


class _SetupMetadata(_Loose):
    tenant_id: _Text
    account_id: _Text


class _SetupIntent(_Loose):
    id: _Text
    status: str | None = None
    customer: _Text | None = None
    payment_method: _Text | None = None
    metadata: _SetupMetadata


@dataclass(frozen=True)
class SavedPaymentMethod:
    """A payment method the payer saved for an account (a setup that succeeded)."""

    tenant_id: str
    account_id: str
    payment_method: str
    # The provider's customer the setup was made for (None: not told).
    customer: str | None
    # When the provider saved it (the event's time): a newer stored choice wins.
    at: datetime


SETUP_SUCCEEDED = "setup_intent.succeeded"


def saved_payment_methods(event: ProviderEvent) -> list[SavedPaymentMethod]:
    """The payment method a succeeded setup saved (none for one billing did not start)."""
    if event.type != SETUP_SUCCEEDED:
        return []
    try:
        intent = _SetupIntent.model_validate(dict(event.object))
    except ValidationError:
        return []  # no tenant and account in its metadata: a setup made outside billing
    if intent.payment_method is None or intent.status not in (None, "succeeded"):
        return []
    return [
        SavedPaymentMethod(
            tenant_id=intent.metadata.tenant_id,
            account_id=intent.metadata.account_id,
            payment_method=intent.payment_method,
            customer=intent.customer,
            at=event.created,
        )
    ]


_READERS: dict[str, Callable[[dict[str, object]], list[PaymentUpdate]]] = {
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "charge.refunded": _charge_refunded,
    "refund.updated": _refund_update,
    "refund.failed": _refund_update,
}


def handled(event: ProviderEvent) -> bool:
    """Whether billing acts on events of this type."""
    return event.type in _READERS or event.type == SETUP_SUCCEEDED


def payment_updates(event: ProviderEvent) -> list[PaymentUpdate]:
    """The payment outcomes the event tells (none for one billing did not start)."""
    reader = _READERS.get(event.type)
    if reader is None:
        return []
    try:
        return reader(dict(event.object))
    except ValidationError:
        # No tenant and invoice in its metadata: a payment made outside billing.
        return []


# -- applying it ------------------------------------------------------------------------------


def with_update(invoice: Invoice, update: PaymentUpdate, now: datetime) -> Invoice | None:
    """The invoice with the payment's new outcome; None when it changes nothing."""
    if invoice.state in (InvoiceState.OPEN, InvoiceState.VOID):
        return None
    kinds = _COLLECTING if update.purpose == "collect" else frozenset({"refund"})
    index = next(
        (
            i
            for i, p in enumerate(invoice.payments)
            if p.reference == update.reference and p.kind in kinds
        ),
        None,
    )
    if index is None:
        # Not recorded on this invoice (yet): billing records the outcome it was answered.
        return None
    recorded = invoice.payments[index]
    if recorded.status not in _MAY_MOVE.get((update.purpose, update.status), frozenset()):
        return None
    payment = recorded.model_copy(
        update={"status": update.status, "amount": _amount(recorded, update)}
    )
    payments = (*invoice.payments[:index], payment, *invoice.payments[index + 1 :])
    changes: dict[str, object] = {"payments": payments, "updated_at": now}
    if update.status in (PaymentStatus.DECLINED.value, PaymentStatus.FAILED.value):
        changes |= {
            "state": InvoiceState.PAYMENT_FAILED,
            "failure_code": update.failure_code,
            "failure_message": update.failure_message,
        }
    elif _all_settled(payments, update.purpose):
        changes |= {"state": InvoiceState.PAID, "failure_code": None, "failure_message": None}
    return invoice.model_copy(update=changes)


def _amount(recorded: Payment, update: PaymentUpdate) -> Decimal:
    if update.amount_minor is None or update.currency is None:
        return recorded.amount
    try:
        amount = from_minor(update.amount_minor, update.currency.upper())
    except KeyError:
        return recorded.amount  # not a currency we know: keep what billing recorded
    # Refunds are recorded negative (money given back).
    return -amount if update.purpose == "refund" else amount


def _all_settled(payments: tuple[Payment, ...], purpose: str) -> bool:
    if purpose == "refund":
        return all(p.status == PaymentStatus.REFUNDED.value for p in payments if p.kind == "refund")
    return all(p.status in _SETTLED for p in payments if p.kind in _COLLECTING)
