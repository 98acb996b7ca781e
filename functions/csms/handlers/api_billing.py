"""Routes of the HTTP API: invoices, CDRs, a session's billing, refunds, Stripe's webhook.

Reads are scoped by the caller's tenant and sites (csms.services.billing_queries says what a
site-restricted user sees). A refund makes a credit note, once per client request id
(csms.services.billing). Stripe's webhook carries no JWT: it is public, and trusted only once
its `Stripe-Signature` holds for the raw body (csms.adapters.stripe_webhooks); each event is
applied once (`BillingService.apply_provider_event`).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import AwareDatetime

from csms.domain.access import Permission
from csms.domain.billing.money import round_money
from csms.domain.errors import InvalidWebhookSignatureError
from csms.handlers import _runtime
from csms.handlers.api_access import current_principal, operation
from csms.handlers.api_billing_reports import PDF_TYPE, accepted, invoice_pdf
from csms.handlers.api_common import (
    BAD_REQUEST,
    FORBIDDEN,
    Cursor,
    Limit,
    audit_change,
    json_response,
    new_router,
    problems,
    runtime,
    versioned,
)
from csms.handlers.api_models_billing import (
    CdrPage,
    CdrView,
    InvoiceDetail,
    InvoicePage,
    InvoiceView,
    RefundCreate,
    SessionBillingView,
    WebhookReceipt,
)
from csms.handlers.api_sessions import SessionId
from csms.handlers.problems import problem
from csms.services.billing_queries import BillingQueries, InvoiceDocument

router = new_router()

WEBHOOK_PATH = "/v1/payments/stripe/webhook"
_TAGS = ["billing"]
_NO_INVOICE = (HTTPStatus.NOT_FOUND, "No such invoice the caller may see")
_NO_CDR = (HTTPStatus.NOT_FOUND, "No such CDR the caller may see")
CSV_TYPE = "text/csv"
# Billing's ids are derived: a prefix and hex digits (`rcp-…`, `stm-…`, `cdr-…-CR`).
BillingId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class _SessionSites:
    """SessionSites over the session service: the site a session took place at."""

    def site_of(self, tenant_id: str, session_id: str) -> str | None:
        return runtime().sessions.view(tenant_id, session_id).session.site_id


def _queries() -> BillingQueries:
    # Two small objects over adapters the runtime built once: nothing to cache.
    return BillingQueries(repository=_runtime.billing().repository, sites=_SessionSites())


# -- invoices -------------------------------------------------------------------------------


@operation(
    router,
    "GET",
    "/v1/invoices",
    Permission.READ_BILLING,
    summary="List invoices",
    tags=_TAGS,
    responses={
        200: {"description": "A page of invoices, newest first"},
        **problems(BAD_REQUEST, FORBIDDEN),
    },
)
def list_invoices(
    limit: Limit = 50,
    cursor: Cursor = None,
    account_id: Annotated[
        str | None,
        Query(
            alias="accountId",
            min_length=1,
            max_length=300,
            description="Only the invoices of this billing account",
        ),
    ] = None,
) -> InvoicePage:
    """Receipts, statements and notes, newest first.

    A user restricted to sites sees the receipts and notes of sessions at their sites, never
    a statement (it gathers sessions from every site).
    """
    page = _queries().list_invoices(current_principal(), limit, cursor, account_id=account_id)
    return InvoicePage(items=[InvoiceView.of(i) for i in page.items], next_cursor=page.next_cursor)


class InvoiceFormat(StrEnum):
    """How an invoice is answered."""

    JSON = "json"
    CSV = "csv"
    PDF = "pdf"


_INVOICE_OK: Any = versioned("The invoice with its lines", InvoiceDetail, BAD_REQUEST, _NO_INVOICE)
_INVOICE_OK[200]["content"][CSV_TYPE] = {"schema": {"type": "string"}}
_INVOICE_OK[200]["content"][PDF_TYPE] = {"schema": {"type": "string", "format": "binary"}}
# Without `format`, the one of these the `Accept` header prefers (JSON when it names none).
_FORMATS = {
    "application/json": InvoiceFormat.JSON,
    CSV_TYPE: InvoiceFormat.CSV,
    PDF_TYPE: InvoiceFormat.PDF,
}


@operation(
    router,
    "GET",
    "/v1/invoices/<invoice_id>",
    Permission.READ_BILLING,
    summary="Get an invoice (JSON, or CSV or PDF to download)",
    tags=_TAGS,
    responses=_INVOICE_OK,
)
def get_invoice(
    invoice_id: BillingId,
    format_: Annotated[
        InvoiceFormat | None,
        Query(
            alias="format",
            description="json (default), csv: one row per line, or pdf: the printable "
            "invoice; without it, `Accept` decides",
        ),
    ] = None,
) -> Response[str]:
    """The header, its lines with their priced breakdown, and the payments; `ETag` its version.

    As PDF: the document a customer keeps (operator, account, number, dates, lines, taxes,
    totals, payment status; for a note, the invoice it corrects).
    """
    if format_ is None:
        format_ = _FORMATS[accepted(router, tuple(_FORMATS)) or "application/json"]
    if format_ is InvoiceFormat.PDF:
        return invoice_pdf(invoice_id)
    document = _queries().invoice_document(current_principal(), invoice_id)
    if format_ is InvoiceFormat.CSV:
        name = document.invoice.display_number or document.invoice.id
        return Response(
            status_code=HTTPStatus.OK.value,
            content_type=f"{CSV_TYPE}; charset=utf-8",
            body=invoice_csv(document),
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return json_response(InvoiceDetail.of_document(document), version=document.invoice.version)


_CSV_COLUMNS = (
    "invoice",
    "number",
    "kind",
    "state",
    "currency",
    "line",
    "lineKind",
    "description",
    "sessionId",
    "cdrId",
    "energyKwh",
    "totalExclTax",
    "tax",
    "totalInclTax",
)


def invoice_csv(document: InvoiceDocument) -> str:
    """One row per line, then a total row; text that a spreadsheet would run is defused."""
    invoice = document.invoice
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_CSV_COLUMNS)
    head = [
        invoice.id,
        invoice.display_number or "",
        invoice.kind.value,
        invoice.state.value,
        invoice.currency,
    ]
    for line in document.lines:
        tax = sum((t.amount for t in line.taxes), Decimal(0))
        writer.writerow(
            [
                *head,
                line.id,
                line.kind.value,
                _text_cell(line.description),
                line.session_id or "",
                line.cdr_id or "",
                str(line.energy_kwh),
                str(line.total_excl_tax),
                str(tax),
                str(line.total_incl_tax),
            ]
        )
    taxes = sum((t.amount for t in invoice.taxes), Decimal(0))
    writer.writerow(
        [
            *head,
            "total",
            "",
            "",
            "",
            "",
            "",
            str(invoice.total_excl_tax),
            str(taxes),
            str(invoice.total_incl_tax),
        ]
    )
    return out.getvalue()


def _text_cell(text: str) -> str:
    # A refund's reason is typed by a user: a cell starting with = + - @ (or a tab or CR)
    # would run as a formula in a spreadsheet (OWASP "CSV injection"); a quote makes it text.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# -- refunds ----------------------------------------------------------------------------------

_REFUND_EXAMPLES = {
    "part": Example(
        summary="Give back part of a paid receipt",
        value={"amount": "5.00", "reason": "Charger stopped early", "requestId": "ticket-4711"},
    ),
    "all": Example(
        summary="Give back everything not refunded yet",
        value={"reason": "requested_by_customer", "requestId": "ticket-4712"},
    ),
}


@operation(
    router,
    "POST",
    "/v1/invoices/<invoice_id>/refunds",
    Permission.MANAGE_BILLING,
    summary="Refund a paid invoice (a credit note)",
    tags=_TAGS,
    responses={
        201: {
            "description": "The credit note (the same for a repeated `requestId`); "
            "`Location` names it",
            "content": {"application/json": {"model": InvoiceView}},
        },
        **problems(
            BAD_REQUEST,
            FORBIDDEN,
            _NO_INVOICE,
            (
                HTTPStatus.CONFLICT,
                "Nothing was paid by card on it, or the amount is more than is left to refund "
                "(`invoice-conflict`)",
            ),
            (HTTPStatus.BAD_GATEWAY, "The payment provider failed; retry with the same requestId"),
        ),
    },
)
def refund_invoice(
    invoice_id: BillingId,
    body: Annotated[RefundCreate, Body(openapi_examples=_REFUND_EXAMPLES)],
) -> Response[str]:
    """Give back an amount with tax (default: all not refunded yet) of the invoice's payment.

    Makes a credit note and refunds through the payment provider, once per `requestId`: the
    same request again answers the same note and moves no money twice.
    """
    principal = current_principal()
    invoice = _queries().invoice(principal, invoice_id)
    if body.amount is not None and round_money(body.amount, invoice.currency) != body.amount:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "amount"),
                    "msg": f"more decimal places than {invoice.currency} has",
                    "type": "decimal_places",
                }
            ]
        )
    note = _runtime.billing_service().refund(
        principal.tenant_id,
        invoice_id,
        amount=body.amount,
        reason=body.reason,
        request_id=body.request_id,
        now=datetime.now(UTC),
    )
    view = InvoiceView.of(note)
    audit_change("invoice", note.id, "refund", None, view)
    return json_response(
        view, version=note.version, status=HTTPStatus.CREATED, location=f"/v1/invoices/{note.id}"
    )


# -- CDRs -------------------------------------------------------------------------------------


@operation(
    router,
    "GET",
    "/v1/cdrs",
    Permission.READ_BILLING,
    summary="List charge detail records",
    tags=_TAGS,
    responses={
        200: {"description": "A page of CDRs, newest end first"},
        **problems(BAD_REQUEST, FORBIDDEN),
    },
)
def list_cdrs(
    limit: Limit = 50,
    cursor: Cursor = None,
    since: Annotated[
        AwareDatetime | None,
        Query(description="Sessions that ended at or after (RFC 3339, inclusive)"),
    ] = None,
    until: Annotated[
        AwareDatetime | None,
        Query(description="Sessions that ended before (RFC 3339, exclusive)"),
    ] = None,
) -> CdrPage:
    """CDRs and credit CDRs, newest end first; a restricted user's: those at their sites."""
    if since is not None and until is not None and since >= until:
        return CdrPage(items=[])
    page = _queries().list_cdrs(current_principal(), limit, cursor, since=since, until=until)
    return CdrPage(items=[CdrView.of(c) for c in page.items], next_cursor=page.next_cursor)


@operation(
    router,
    "GET",
    "/v1/cdrs/<cdr_id>",
    Permission.READ_BILLING,
    summary="Get a charge detail record",
    tags=_TAGS,
    responses={200: {"description": "The CDR"}, **problems(BAD_REQUEST, _NO_CDR)},
)
def get_cdr(cdr_id: BillingId) -> CdrView:
    """One CDR (never changed once written: a correction writes a credit CDR and a new one)."""
    return CdrView.of(_queries().cdr(current_principal(), cdr_id))


# -- a session's billing ----------------------------------------------------------------------


@operation(
    router,
    "GET",
    "/v1/sessions/<session_id>/billing",
    Permission.READ_BILLING,
    summary="A session's billing: CDR, invoice and payment status",
    tags=_TAGS,
    responses={
        200: {"description": "What billing recorded (`billed: false` before it did)"},
        **problems(BAD_REQUEST, (HTTPStatus.NOT_FOUND, "No such session the caller may see")),
    },
)
def get_session_billing(session_id: SessionId) -> SessionBillingView:
    """The revision billed (and the one it corrected), its CDR, its invoice and payments."""
    return SessionBillingView.of(_queries().session_billing(current_principal(), session_id))


# -- Stripe's webhook -------------------------------------------------------------------------


@operation(
    router,
    "POST",
    WEBHOOK_PATH,
    None,
    summary="Receive Stripe's webhook (signed; no bearer token)",
    tags=["payments"],
    responses={
        200: {
            "description": "Received: applied, a replay, or nothing of billing's",
            "content": {"application/json": {"model": WebhookReceipt}},
        },
        **problems(
            (
                HTTPStatus.BAD_REQUEST,
                "The `Stripe-Signature` does not hold for the body, is stale, or the body is "
                "not a Stripe event (`invalid-webhook-signature`)",
            ),
            (
                HTTPStatus.NOT_FOUND,
                "No webhook signing secret is configured: this deployment takes no webhooks",
            ),
        ),
    },
)
def stripe_webhook() -> Response[str]:
    """Verify the signature over the raw body, then apply the event once.

    Stripe retries a delivery that is not answered 2xx; a redelivered event is answered 200
    and changes nothing.
    """
    verifier = _runtime.payment_webhooks()
    if verifier is None:
        return problem(
            HTTPStatus.NOT_FOUND,
            "webhook-not-configured",
            "no Stripe webhook signing secret is configured",
            instance=WEBHOOK_PATH,
        )
    event = verifier.verify(_raw_body(), _header("stripe-signature"))
    outcome = _runtime.billing_service().apply_provider_event(event, now=datetime.now(UTC))
    return json_response(WebhookReceipt(outcome=outcome))


def _raw_body() -> bytes:
    """The body byte for byte as sent (API Gateway base64-encodes what is not text)."""
    current = router.current_event
    body = current.body or ""
    if not current.is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error:
        raise InvalidWebhookSignatureError("the body is not valid base64") from None


def _header(name: str) -> str | None:
    for key, value in (router.current_event.headers or {}).items():
        if key.lower() == name:
            return str(value)
    return None
