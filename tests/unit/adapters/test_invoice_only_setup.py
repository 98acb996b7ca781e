"""The invoice-only provider saves no payment method: a setup has nothing to confirm."""

from __future__ import annotations

from csms.adapters.invoice_only import InvoiceOnlyProvider


def test_invoice_only_setup_is_a_reference_from_the_key_with_nothing_to_confirm() -> None:
    # GIVEN the invoice-only provider
    provider = InvoiceOnlyProvider()
    # WHEN setups are started with the same key twice, another key, and another tenant
    first = provider.start_payment_method_setup(
        "t-1", account_id="token:A", customer="account:token:A", idempotency_key="k1"
    )
    again = provider.start_payment_method_setup(
        "t-1", account_id="token:A", customer="account:token:A", idempotency_key="k1"
    )
    other = provider.start_payment_method_setup(
        "t-1", account_id="token:A", customer="account:token:A", idempotency_key="k2"
    )
    foreign = provider.start_payment_method_setup(
        "t-2", account_id="token:A", customer="account:token:A", idempotency_key="k1"
    )
    # THEN the same reference for the same key and tenant only; no client secret
    assert first == again
    assert len({first.reference, other.reference, foreign.reference}) == 3
    assert first.reference.startswith("setup_inv_")
    assert first.client_secret is None
    assert first.provider == "invoice-only"
