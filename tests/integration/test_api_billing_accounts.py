"""Billing accounts on moto: listed, read, changed; a card saved through Stripe's SetupIntent."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from tests.integration.billing_world import signed
from tests.integration.conftest import http_event, invoke_api
from tests.integration.test_api import CLAIMS, call_api
from tests.stripe_fake import API_KEY, FakeStripe

from csms.handlers import _runtime

OTHER = {"sub": "x", "tenant_id": "other", "role": "owner"}
WEBHOOK = "/v1/payments/stripe/webhook"
ANNA = "token:ANNA"


@pytest.fixture
def billing(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    del aws
    monkeypatch.setenv("CSMS_STRIPE_WEBHOOK_SECRETS", "whsec_apitests0secret")
    _runtime.reset()


@pytest.fixture
def fake_stripe(billing: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)
    with FakeStripe.running() as running:
        monkeypatch.setenv("CSMS_STRIPE_API_KEY", API_KEY)
        monkeypatch.setenv("CSMS_STRIPE_API_BASE", running.url)
        _runtime.reset()
        yield running
        _runtime.reset()


def an_account(tenant: str = "default", token: str = "anna") -> str:  # noqa: S107 - an id token
    """A driver's account as billing makes it on a first session (with its customer)."""
    return _runtime.billing().accounts.account_for(tenant, id_token=token, group_id=None).id


def customer_of(account_id: str) -> str | None:
    account = _runtime.billing().accounts.get_account("default", account_id)
    assert account is not None
    return account.customer


def _deliver(event: dict[str, Any]) -> tuple[int, Any]:
    body, headers = signed(event)
    status, _, answer = invoke_api(
        http_event("POST", WEBHOOK, claims=None, headers=headers, body=body)
    )
    return status, json.loads(answer) if answer else None


def test_accounts_listed_and_read_within_the_tenant_by_plain_or_encoded_id(billing: None) -> None:
    # GIVEN two driver accounts of tenant default and one of another tenant
    anna, bob = an_account(), an_account(token="bob")
    an_account("other", "carl")

    # WHEN the admin lists them a page at a time, reads Anna's by its id as is and encoded,
    # and another tenant and a site-restricted operator read it
    status, _, first = call_api("GET", "/v1/billing-accounts", query={"limit": "1"})
    _, _, second = call_api(
        "GET", "/v1/billing-accounts", query={"limit": "1", "cursor": first["nextCursor"]}
    )
    got, headers, view = call_api("GET", f"/v1/billing-accounts/{anna}")
    encoded, _, same = call_api("GET", "/v1/billing-accounts/token%3AANNA")
    foreign, _, problem = call_api("GET", f"/v1/billing-accounts/{anna}", claims=OTHER)
    restricted = {**CLAIMS, "role": "operator", "sites": ["site-1"]}
    hidden, _, _ = call_api("GET", f"/v1/billing-accounts/{anna}", claims=restricted)
    _, _, none = call_api("GET", "/v1/billing-accounts", claims=restricted)

    # THEN by id, a page each; the account with its customer, no payment method, an ETag
    assert status == 200
    assert [a["id"] for a in first["items"] + second["items"]] == [anna, bob]
    assert got == encoded == 200
    assert headers["etag"] == '"1"'
    assert view == same
    assert view["id"] == anna == ANNA
    assert view["mode"] == "ad-hoc"
    assert view["customer"] == "account:token:ANNA"
    assert view["hasPaymentMethod"] is False
    assert view["paymentMethod"] is None
    # AND another tenant, and a user restricted to sites, are told it does not exist
    assert (foreign, problem["type"]) == (404, "/problems/billing-account-not-found")
    assert hidden == 404
    assert none["items"] == []


def test_unknown_account_and_bad_ids_are_refused(billing: None) -> None:
    # GIVEN / WHEN reading an account nobody made, one with a slash, and a foreign cursor
    missing, _, problem = call_api("GET", "/v1/billing-accounts/token:NOBODY")
    bad, _, _ = call_api("GET", "/v1/billing-accounts/token:A B")
    cursor, _, _ = call_api("GET", "/v1/billing-accounts", query={"cursor": "eyJQSyI6MX0"})

    # THEN 404 for the unknown, 400 for the malformed
    assert (missing, problem["type"]) == (404, "/problems/billing-account-not-found")
    assert problem["detail"].startswith("billing-account 'token:NOBODY'")
    assert bad == 400
    assert cursor == 400


def test_patch_sets_contact_and_payment_method_with_if_match_and_audit(billing: None) -> None:
    # GIVEN Anna's account (version 1)
    anna = an_account()
    path = f"/v1/billing-accounts/{anna}"

    # WHEN the admin sets her email, name and a payment method naming version 1, then with
    # the stale version again, then forgets the method; an operator tries too
    changed, headers, view = call_api(
        "PATCH",
        path,
        body={"email": "anna@example.com", "name": "Anna", "paymentMethod": "pm_card_visa"},
        headers={"if-match": '"1"'},
    )
    stale, _, problem = call_api(
        "PATCH", path, body={"name": "Anna B."}, headers={"if-match": '"1"'}
    )
    _, _, forgotten = call_api(
        "PATCH", "/v1/billing-accounts/token%3AANNA", body={"paymentMethod": None}
    )
    operator, _, _ = call_api(
        "PATCH", path, body={"name": "x"}, claims={**CLAIMS, "role": "operator"}
    )
    invalid, _, bad = call_api("PATCH", path, body={"email": "not-an-email", "card": "4242"})

    # THEN stored, version 2 then 3; the stale one 412; only the method's id is shown
    assert changed == 200
    assert headers["etag"] == '"2"'
    assert (view["email"], view["name"], view["paymentMethod"]) == (
        "anna@example.com",
        "Anna",
        "pm_card_visa",
    )
    assert view["hasPaymentMethod"] is True
    assert view["paymentMethodSince"] is not None
    assert (stale, problem["type"]) == (412, "/problems/version-mismatch")
    assert forgotten["paymentMethod"] is None
    assert forgotten["email"] == "anna@example.com"
    assert operator == 403
    assert invalid == 400
    assert {e["location"].rsplit(".", 1)[-1] for e in bad["errors"]} >= {"email", "card"}
    # AND the audit log tells what changed, in the public representation
    _, _, audit = call_api("GET", "/v1/audit", query={"limit": "10"})
    updates = [e for e in audit["items"] if e["action"] == "billing-account.update"]
    assert [e["resourceId"] for e in updates] == [anna, anna]
    assert [e["after"]["paymentMethod"] for e in updates] == [None, "pm_card_visa"]
    assert updates[1]["before"]["paymentMethod"] is None


def test_payment_method_setup_through_stripe_saves_the_card_once(fake_stripe: FakeStripe) -> None:
    # GIVEN Anna's account with a Stripe customer
    anna = an_account()
    path = f"/v1/billing-accounts/{anna}/payment-method-setup"

    # WHEN her app starts a setup (twice, one request id), confirms it with Stripe, and Stripe
    # delivers `setup_intent.succeeded` twice
    made, _, setup = call_api("POST", path, body={"requestId": "app-1"})
    again, _, same = call_api("POST", path, body={"requestId": "app-1"})
    event = fake_stripe.confirm_setup_intent(setup["reference"], "pm_card_visa")
    first = _deliver(event)
    replay = _deliver(event)

    # THEN one SetupIntent for off-session use with the tenant and account in its metadata;
    # its client secret for the app; the card saved as the default, once
    assert (made, again) == (201, 201)
    assert setup == same
    assert setup["provider"] == "stripe"
    assert setup["reference"].startswith("seti_")
    assert setup["clientSecret"] == f"{setup['reference']}_secret_fake"
    [intent] = fake_stripe.setup_intents.values()
    assert intent["usage"] == "off_session"
    assert intent["metadata"] == {"tenant_id": "default", "account_id": anna}
    assert intent["customer"] == customer_of(anna)
    assert first == (200, {"received": True, "outcome": "applied"})
    assert replay == (200, {"received": True, "outcome": "replay"})
    _, _, view = call_api("GET", f"/v1/billing-accounts/{anna}")
    assert view["paymentMethod"] == "pm_card_visa"
    # AND the audit log has the setup without its client secret
    _, _, audit = call_api("GET", "/v1/audit", query={"limit": "10"})
    noted = [e for e in audit["items"] if e["action"] == "billing-account.payment-method-setup"]
    assert [e["after"]["reference"] for e in noted] == [setup["reference"]] * 2
    assert "_secret_" not in json.dumps(audit)


def test_patch_contact_updates_the_stripe_customer(fake_stripe: FakeStripe) -> None:
    # GIVEN Anna's account with a Stripe customer
    anna = an_account()
    customer = customer_of(anna)

    # WHEN the admin sets her email and name
    status, _, _ = call_api(
        "PATCH", f"/v1/billing-accounts/{anna}", body={"email": "anna@example.com", "name": "Anna"}
    )

    # THEN the Stripe customer has them
    assert status == 200
    assert customer is not None
    assert fake_stripe.customers[customer]["email"] == "anna@example.com"
    assert fake_stripe.customers[customer]["name"] == "Anna"


def test_setup_when_stripe_fails_is_502_and_changes_nothing(fake_stripe: FakeStripe) -> None:
    # GIVEN Stripe answers errors for a while
    anna = an_account()
    fake_stripe.fail_next(5, 500)

    # WHEN a setup is started
    status, _, problem = call_api(
        "POST", f"/v1/billing-accounts/{anna}/payment-method-setup", body={"requestId": "r-1"}
    )

    # THEN 502 payment-provider-failed, no setup made
    assert (status, problem["type"]) == (502, "/problems/payment-provider-failed")
    assert fake_stripe.setup_intents == {}


def test_setup_with_invoice_only_has_no_client_secret(billing: None) -> None:
    # GIVEN no Stripe key (the invoice-only provider)
    anna = an_account()
    # WHEN a setup is started for an unknown account and for Anna's
    unknown, _, _ = call_api(
        "POST", "/v1/billing-accounts/token:NOBODY/payment-method-setup", body={"requestId": "r"}
    )
    status, _, setup = call_api(
        "POST", f"/v1/billing-accounts/{anna}/payment-method-setup", body={"requestId": "r"}
    )
    # THEN 404 for the unknown; for Anna a reference and nothing to confirm
    assert unknown == 404
    assert status == 201
    assert setup["provider"] == "invoice-only"
    assert setup["clientSecret"] is None


def test_setup_succeeded_for_another_tenant_changes_nothing_here(billing: None) -> None:
    # GIVEN Anna's account in tenant default, and a signed event naming tenant other
    anna = an_account()
    event = {
        "id": "evt_other",
        "object": "event",
        "type": "setup_intent.succeeded",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "seti_x",
                "object": "setup_intent",
                "status": "succeeded",
                "payment_method": "pm_card_visa",
                "metadata": {"tenant_id": "other", "account_id": anna},
            }
        },
    }
    # WHEN it is delivered
    status, receipt = _deliver(event)
    # THEN nothing of tenant default changes
    assert (status, receipt["outcome"]) == (200, "ignored")
    _, _, view = call_api("GET", f"/v1/billing-accounts/{anna}")
    assert view["paymentMethod"] is None
