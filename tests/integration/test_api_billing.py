"""The billing API on moto: invoices, CDRs, refunds, a session's billing, Stripe's webhook."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from tests.integration.billing_world import signed, store_paid_receipt
from tests.integration.conftest import http_event, invoke_api
from tests.integration.test_api import CLAIMS, call_api

from csms.domain.billing.invoice import Payment
from csms.handlers import _runtime

OTHER = {"sub": "x", "tenant_id": "other", "role": "owner"}
WEBHOOK = "/v1/payments/stripe/webhook"


@pytest.fixture
def billing(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    del aws
    monkeypatch.setenv("CSMS_STRIPE_WEBHOOK_SECRETS", "whsec_apitests0secret")
    _runtime.reset()


def test_invoices_listed_read_and_downloaded_within_the_tenant(billing: None) -> None:
    # GIVEN two paid receipts of tenant default, an hour apart
    old = store_paid_receipt(
        "default", "S1", site_id="site-1", ended=datetime(2026, 1, 1, tzinfo=UTC)
    )
    new = store_paid_receipt(
        "default", "S2", site_id="site-1", ended=datetime(2026, 1, 2, tzinfo=UTC)
    )

    # WHEN the admin lists them, reads one as JSON and as CSV, and another tenant reads it
    status, _, page = call_api("GET", "/v1/invoices", query={"limit": "10"})
    got, headers, detail = call_api("GET", f"/v1/invoices/{new.invoice_id}")
    csv_status, csv_headers, csv_text = _raw(
        "GET", f"/v1/invoices/{new.invoice_id}", query={"format": "csv"}
    )
    foreign, _, problem = call_api("GET", f"/v1/invoices/{new.invoice_id}", claims=OTHER)

    # THEN newest first; the detail has its lines, payments and ETag; the CSV a row per line
    assert status == 200
    assert [i["id"] for i in page["items"]] == [new.invoice_id, old.invoice_id]
    assert got == 200
    assert headers["etag"] == '"1"'
    assert detail["totalInclTax"] == "3.00"
    assert detail["state"] == "paid"
    assert detail["number"].startswith("INV-")
    assert [line["sessionId"] for line in detail["lines"]] == ["S2"]
    assert csv_status == 200
    assert csv_headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_headers["content-disposition"]
    rows = csv_text.strip().split("\r\n")
    assert rows[0].startswith("invoice,number,kind")
    assert len(rows) == 3
    assert rows[-1].endswith("3.00")
    # AND another tenant is told it does not exist
    assert (foreign, problem["type"]) == (404, "/problems/invoice-not-found")


def test_refund_makes_one_credit_note_per_request(billing: None) -> None:
    # GIVEN a paid 3.00 EUR receipt
    stored = store_paid_receipt("default", "S1", site_id="site-1")
    path = f"/v1/invoices/{stored.invoice_id}/refunds"
    body = {"amount": "1.00", "reason": "=cmd|' /C calc'!A0", "requestId": "ticket-1"}

    # WHEN an admin refunds 1.00 EUR twice with one request id, then too much, then in
    # fractions of a cent, and an operator tries
    first, headers, note = call_api("POST", path, body=body)
    again, _, same = call_api("POST", path, body=body)
    too_much = call_api("POST", path, body={**body, "amount": "2.01", "requestId": "t-2"})
    fraction = call_api("POST", path, body={**body, "amount": "0.005", "requestId": "t-3"})
    operator = call_api("POST", path, body=body, claims={**CLAIMS, "role": "operator"})

    # THEN one paid credit note of -1.00 EUR, the same answer to the repeated request
    assert first == again == 201
    assert note["id"] == same["id"]
    assert headers["location"] == f"/v1/invoices/{note['id']}"
    assert (note["kind"], note["state"], note["totalInclTax"]) == ("credit-note", "paid", "-1.00")
    assert note["refersTo"] == stored.invoice_id
    # AND refusals as problems; the receipt counts 1.00 refunded
    assert (too_much[0], too_much[2]["type"]) == (409, "/problems/invoice-conflict")
    assert (fraction[0], fraction[2]["type"]) == (400, "/problems/invalid-request")
    assert operator[0] == 403
    _, _, receipt = call_api("GET", f"/v1/invoices/{stored.invoice_id}")
    assert receipt["refunded"] == "1.00"
    # AND the note's CSV carries the reason after its `Refund:` prefix (never first in a
    # cell, so a spreadsheet runs nothing)
    csv_text = _raw("GET", f"/v1/invoices/{note['id']}", query={"format": "csv"})[2]
    assert ",Refund: =cmd" in csv_text


def test_cdrs_listed_by_end_and_read(billing: None) -> None:
    # GIVEN two sessions' CDRs ending on two days
    first = store_paid_receipt(
        "default", "S1", site_id="site-1", ended=datetime(2026, 1, 1, 12, tzinfo=UTC)
    )
    second = store_paid_receipt(
        "default", "S2", site_id="site-1", ended=datetime(2026, 1, 2, 12, tzinfo=UTC)
    )

    # WHEN listed since the second day, in an empty range, and read one by one
    _, _, since = call_api("GET", "/v1/cdrs", query={"since": "2026-01-02T00:00:00Z"})
    _, _, empty = call_api(
        "GET", "/v1/cdrs", query={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    )
    status, _, cdr = call_api("GET", f"/v1/cdrs/{first.cdr_id}")
    missing, _, problem = call_api("GET", "/v1/cdrs/cdr-nothing")

    # THEN the list holds the second; the CDR its OCPI fields, not the tenant
    assert [c["id"] for c in since["items"]] == [second.cdr_id]
    assert empty["items"] == []
    assert status == 200
    assert cdr["totalCost"]["inclVat"] == "3.00"
    assert cdr["location"]["id"] == "site-1"
    assert "tenantId" not in cdr
    assert (missing, problem["type"]) == (404, "/problems/cdr-not-found")


def test_site_restricted_user_sees_billing_of_their_sites_only(billing: None) -> None:
    # GIVEN a CDR at site-1 and one at site-9, and an operator restricted to site-1
    here = store_paid_receipt("default", "S1", site_id="site-1")
    there = store_paid_receipt("default", "S9", site_id="site-9")
    restricted = {**CLAIMS, "role": "operator", "sites": ["site-1"]}

    # WHEN the operator lists and reads CDRs and the receipts (whose sessions are unknown)
    _, _, cdrs = call_api("GET", "/v1/cdrs", claims=restricted)
    seen = call_api("GET", f"/v1/cdrs/{here.cdr_id}", claims=restricted)[0]
    hidden = call_api("GET", f"/v1/cdrs/{there.cdr_id}", claims=restricted)[0]
    _, _, invoices = call_api("GET", "/v1/invoices", claims=restricted)
    receipt = call_api("GET", f"/v1/invoices/{here.invoice_id}", claims=restricted)[0]

    # THEN only the CDR at site-1; a receipt whose session cannot be placed is not shown
    assert [c["id"] for c in cdrs["items"]] == [here.cdr_id]
    assert (seen, hidden) == (200, 404)
    assert invoices["items"] == []
    assert receipt == 404


def test_session_billing_of_an_unknown_session_is_404(billing: None) -> None:
    # WHEN the billing of a session that does not exist is asked for
    status, _, problem = call_api("GET", "/v1/sessions/NOSUCHSESSION/billing")
    # THEN 404 session-not-found
    assert (status, problem["type"]) == (404, "/problems/session-not-found")


# -- Stripe's webhook -------------------------------------------------------------------------


def _event(kind: str, obj: dict[str, Any], event_id: str = "evt_1") -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {"object": obj},
    }


def _deliver(body: str, headers: dict[str, str], *, encoded: bool = False) -> tuple[int, Any]:
    text = base64.b64encode(body.encode()).decode() if encoded else body
    event = http_event(
        "POST", WEBHOOK, claims=None, headers=headers, body=text, base64_encoded=encoded
    )
    status, _, answer = invoke_api(event)
    return status, json.loads(answer) if answer else None


def test_webhook_applies_a_payment_success_once(billing: None) -> None:
    # GIVEN a receipt whose debit was processing (its reference recorded)
    processing = Payment(reference="pi_123", kind="charge", amount=Decimal(0), status="processing")
    stored = store_paid_receipt("default", "S1", site_id="site-1", payment=processing)
    body, headers = signed(
        _event(
            "payment_intent.succeeded",
            {
                "id": "pi_123",
                "object": "payment_intent",
                "amount_received": 300,
                "currency": "eur",
                "metadata": {"tenant_id": "default", "invoice_id": stored.invoice_id},
            },
        )
    )

    # WHEN Stripe delivers the success, then again (base64, as API Gateway may pass it)
    first = _deliver(body, headers)
    again = _deliver(body, headers, encoded=True)

    # THEN it is applied once: the receipt records the payment succeeded
    assert first == (200, {"received": True, "outcome": "applied"})
    assert again == (200, {"received": True, "outcome": "replay"})
    _, _, invoice = call_api("GET", f"/v1/invoices/{stored.invoice_id}")
    assert invoice["state"] == "paid"
    assert invoice["payments"][0]["status"] == "succeeded"
    assert invoice["payments"][0]["amount"] == "3.00"


@pytest.mark.parametrize(
    ("how", "why"),
    [
        ({"secret": "whsec_someoneelse"}, "no signature"),
        ({"at": int(time.time()) - 3600}, "tolerance"),
    ],
)
def test_webhook_with_a_bad_or_stale_signature_is_400(
    billing: None, how: dict[str, Any], why: str
) -> None:
    # GIVEN an event signed with another secret, or an hour ago
    body, headers = signed(_event("payment_intent.succeeded", {"id": "pi_1"}), **how)
    # WHEN delivered
    status, problem = _deliver(body, headers)
    # THEN 400 invalid-webhook-signature, and nothing is claimed
    assert (status, problem["type"]) == (400, "/problems/invalid-webhook-signature")
    assert why.split(maxsplit=1)[0] in problem["detail"].lower() or "signature" in problem["detail"]


def test_webhook_without_signature_or_with_a_non_event_is_400(billing: None) -> None:
    # GIVEN a delivery without a signature, and a signed body that is not an event
    body, headers = signed({"hello": "world"})
    # WHEN delivered
    unsigned = _deliver(body, {})
    not_event = _deliver(body, headers)
    # THEN both are refused
    assert unsigned[0] == not_event[0] == 400


def test_webhook_without_a_configured_secret_is_404(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a deployment without a webhook signing secret
    monkeypatch.delenv("CSMS_STRIPE_WEBHOOK_SECRETS", raising=False)
    _runtime.reset()
    body, headers = signed(_event("payment_intent.succeeded", {"id": "pi_1"}))
    # WHEN Stripe delivers anyway
    status, problem = _deliver(body, headers)
    # THEN 404 webhook-not-configured
    assert (status, problem["type"]) == (404, "/problems/webhook-not-configured")


def _raw(method: str, path: str, *, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
    return invoke_api(http_event(method, path, claims=CLAIMS, query=query))
