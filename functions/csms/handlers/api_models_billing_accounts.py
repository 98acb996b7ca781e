"""Bodies of the billing account endpoints: accounts, their contact and saved payment method.

No card data ever crosses this API: a saved payment method is shown by the provider's id only
(Stripe's `pm_…`), and a setup answers the client secret the payer's app needs to confirm it
with the provider (Stripe.js), nothing else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field

from csms.domain.billing.invoice import BillingMode
from csms.domain.billing.payments import PaymentSetup
from csms.domain.tenancy import Email
from csms.handlers.api_models import ApiModel
from csms.services.billing_accounts import UNSET, AccountPatch
from csms.services.billing_wiring import StoredAccount

# A provider's PaymentMethod id (Stripe: `pm_…`, letters, digits and underscores).
PaymentMethodId = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_]+$")]
CustomerName = Annotated[str, Field(min_length=1, max_length=256)]
RequestId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class BillingAccountView(ApiModel):
    """A billing account: who pays, how, and whether a payment method is saved."""

    id: str = Field(description="`token:{TOKEN}` (a driver), `group:{id}` or `anonymous`")
    mode: BillingMode
    customer: str | None = Field(description="The payment provider's customer, once made")
    email: str | None = None
    name: str | None = None
    has_payment_method: bool
    payment_method: str | None = Field(
        description="The provider's id of the saved payment method (never card data)"
    )
    payment_method_since: datetime | None = Field(
        description="When the payment method was last set or forgotten"
    )

    @classmethod
    def of(cls, stored: StoredAccount) -> BillingAccountView:
        """The public representation of a stored account."""
        account = stored.account
        return cls(
            id=account.id,
            mode=account.mode,
            customer=account.customer,
            email=account.email,
            name=account.name,
            has_payment_method=account.payment_method is not None,
            payment_method=account.payment_method,
            payment_method_since=account.payment_method_since,
        )


class BillingAccountPage(ApiModel):
    """A page of billing accounts, by id."""

    items: list[BillingAccountView]
    next_cursor: str | None = None


class BillingAccountUpdate(ApiModel):
    """A partial update (JSON merge patch): absent fields stay, null clears one."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = Field(default=None, description="Given to the provider's customer")
    name: CustomerName | None = Field(default=None, description="Given to the provider's customer")
    payment_method: PaymentMethodId | None = Field(
        default=None,
        description="A payment method the payer saved at the provider; null forgets it",
    )

    def patch(self) -> AccountPatch:
        """The service's patch: only the fields the body names."""
        given = self.model_fields_set
        return AccountPatch(
            email=self.email if "email" in given else UNSET,
            name=self.name if "name" in given else UNSET,
            payment_method=self.payment_method if "payment_method" in given else UNSET,
        )


class PaymentMethodSetupCreate(ApiModel):
    """A request to start saving a payment method for the account."""

    model_config = ConfigDict(extra="forbid")

    request_id: RequestId = Field(
        description="The client's id of this setup: the same id again answers the same setup"
    )


class PaymentMethodSetupView(ApiModel):
    """A started setup: the payer's app confirms it with the provider."""

    account_id: str
    provider: str = Field(description="`stripe` or `invoice-only` (which saves no method)")
    reference: str = Field(description="The provider's id of the setup (Stripe: `seti_…`)")
    client_secret: str | None = Field(
        description="For the payer's app only (Stripe.js `confirmSetup`); null: nothing to confirm"
    )

    @classmethod
    def of(cls, account_id: str, setup: PaymentSetup) -> PaymentMethodSetupView:
        """The answer for a setup of this account."""
        return cls(
            account_id=account_id,
            provider=setup.provider,
            reference=setup.reference,
            client_secret=setup.client_secret,
        )
