"""Routes of the HTTP API: billing accounts, their customer details and saved payment methods.

An account is who pays (a driver's `token:{TOKEN}`, a group's `group:{id}`, `anonymous`);
billing makes it on its first session. Its ids contain `:`, which a client may send as is or
percent-encoded (`token%3AABC`): both name the same account. Accounts span every site of the
tenant (a monthly statement gathers sessions from all of them), so a user restricted to some
sites sees none, as with statements (csms.services.billing_queries).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from csms.domain.access import Permission, Principal
from csms.domain.errors import ResourceNotFoundError
from csms.handlers import _runtime
from csms.handlers.api_access import (
    current_principal,
    expected_version,
    if_match_header,
    operation,
)
from csms.handlers.api_common import (
    BAD_REQUEST,
    FORBIDDEN,
    PRECONDITION_FAILED,
    Cursor,
    Limit,
    audit_change,
    json_response,
    new_router,
    problems,
    versioned,
)
from csms.handlers.api_models_billing_accounts import (
    BillingAccountPage,
    BillingAccountUpdate,
    BillingAccountView,
    PaymentMethodSetupCreate,
    PaymentMethodSetupView,
)
from csms.services.billing_accounts import ACCOUNT

router = new_router()

_TAGS = ["billing"]
_NO_ACCOUNT = (HTTPStatus.NOT_FOUND, "No such billing account the caller may see")
_CONFLICT = (HTTPStatus.CONFLICT, "Changed concurrently so often that the change was not applied")
_PROVIDER_FAILED = (
    HTTPStatus.BAD_GATEWAY,
    "The payment provider failed or refused; nothing was changed, retry",
)
# `%` too: a percent-encoded `:` (API Gateway may hand the path over as sent).
AccountId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9._:%-]+$",
        description="`token:{TOKEN}`, `group:{id}` or `anonymous` (`:` may be sent as `%3A`)",
    ),
]


def _account_id(principal: Principal, raw: str) -> str:
    account_id = unquote(raw)
    if principal.restricted:
        # Accounts span every site: beyond a restricted user's reach, answered as absent.
        raise ResourceNotFoundError(ACCOUNT, account_id)
    return account_id


@operation(
    router,
    "GET",
    "/v1/billing-accounts",
    Permission.READ_BILLING,
    summary="List billing accounts",
    tags=_TAGS,
    responses={
        200: {"description": "A page of billing accounts, by id"},
        **problems(BAD_REQUEST, FORBIDDEN),
    },
)
def list_billing_accounts(limit: Limit = 50, cursor: Cursor = None) -> BillingAccountPage:
    """Driver and group accounts, by id; none for a user restricted to some sites."""
    principal = current_principal()
    if principal.restricted:
        return BillingAccountPage(items=[])
    page = _runtime.billing_accounts().list(principal.tenant_id, limit, cursor)
    return BillingAccountPage(
        items=[BillingAccountView.of(a) for a in page.items], next_cursor=page.next_cursor
    )


@operation(
    router,
    "GET",
    "/v1/billing-accounts/<account_id>",
    Permission.READ_BILLING,
    summary="Get a billing account",
    tags=_TAGS,
    responses=versioned("The billing account", BillingAccountView, BAD_REQUEST, _NO_ACCOUNT),
)
def get_billing_account(account_id: AccountId) -> Response[str]:
    """Mode, customer, and whether a payment method is saved (its id only); `ETag` its version."""
    principal = current_principal()
    stored = _runtime.billing_accounts().get(
        principal.tenant_id, _account_id(principal, account_id)
    )
    return json_response(BillingAccountView.of(stored), version=stored.version)


_UPDATE_EXAMPLES = {
    "contact": Example(
        summary="Address the customer (receipts go to this email)",
        value={"email": "anna@example.com", "name": "Anna Example"},
    ),
    "method": Example(
        summary="Make a payment method the payer saved the default",
        value={"paymentMethod": "pm_1PgExample"},
    ),
    "forget": Example(summary="Forget the saved payment method", value={"paymentMethod": None}),
}


@operation(
    router,
    "PATCH",
    "/v1/billing-accounts/<account_id>",
    Permission.MANAGE_BILLING,
    summary="Change a billing account's customer details or payment method",
    tags=_TAGS,
    responses=versioned(
        "The billing account as changed",
        BillingAccountView,
        BAD_REQUEST,
        FORBIDDEN,
        _NO_ACCOUNT,
        PRECONDITION_FAILED,
        _CONFLICT,
        _PROVIDER_FAILED,
    ),
)
def update_billing_account(
    account_id: AccountId,
    body: Annotated[BillingAccountUpdate, Body(openapi_examples=_UPDATE_EXAMPLES)],
) -> Response[str]:
    """JSON merge patch semantics: fields left out stay, an explicit null clears one.

    Email and name are given to the payment provider's customer first (made now when the
    account has none). With `If-Match`, only the version named is changed (412 otherwise).
    """
    principal = current_principal()
    wanted = _account_id(principal, account_id)
    expected = expected_version(if_match_header(router), ACCOUNT, wanted)
    before, after = _runtime.billing_accounts().update(
        principal.tenant_id, wanted, body.patch(), expected
    )
    view = BillingAccountView.of(after)
    if after != before:
        audit_change(ACCOUNT, wanted, "update", BillingAccountView.of(before), view)
    return json_response(view, version=after.version)


_SETUP_EXAMPLES = {
    "setup": Example(
        summary="Start saving a card for off-session payments",
        value={"requestId": "app-setup-0001"},
    )
}


@operation(
    router,
    "POST",
    "/v1/billing-accounts/<account_id>/payment-method-setup",
    Permission.MANAGE_BILLING,
    summary="Start saving a payment method (Stripe: a SetupIntent)",
    tags=_TAGS,
    responses={
        201: {
            "description": "The setup; the payer's app confirms it with the provider, whose "
            "notification then saves the method as the account's default",
            "content": {"application/json": {"model": PaymentMethodSetupView}},
        },
        **problems(BAD_REQUEST, FORBIDDEN, _NO_ACCOUNT, _CONFLICT, _PROVIDER_FAILED),
    },
)
def start_payment_method_setup(
    account_id: AccountId,
    body: Annotated[PaymentMethodSetupCreate, Body(openapi_examples=_SETUP_EXAMPLES)],
) -> Response[str]:
    """Once per `requestId`: the same request again answers the same setup.

    The client secret is for the payer's app only (Stripe.js confirms the setup with it); the
    audit log records the setup's reference, never the secret.
    """
    principal = current_principal()
    wanted = _account_id(principal, account_id)
    setup = _runtime.billing_accounts().start_payment_method_setup(
        principal.tenant_id, wanted, body.request_id
    )
    view = PaymentMethodSetupView.of(wanted, setup)
    audit_change(
        ACCOUNT,
        wanted,
        "payment-method-setup",
        None,
        view.model_copy(update={"client_secret": None}),
    )
    return json_response(view, status=HTTPStatus.CREATED)
