"""BillingAccountStore's listing: the same contract for the in-memory fake and DynamoDB (moto)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.fakes_billing import InMemoryBillingAccountStore

from csms.adapters.dynamo_billing import DynamoBillingAccountStore
from csms.domain.billing.invoice import BillingAccount, BillingMode
from csms.domain.errors import InvalidCursorError
from csms.services.billing_wiring import BillingAccountStore, StoredAccount

T, OTHER = "t-1", "t-2"


@pytest.fixture(params=["memory", "dynamo"])
def store(request: pytest.FixtureRequest) -> BillingAccountStore:
    if request.param == "dynamo":
        request.getfixturevalue("dynamo_table")
        return DynamoBillingAccountStore()
    return InMemoryBillingAccountStore()


def _walk(store: BillingAccountStore, tenant_id: str, limit: int) -> list[list[StoredAccount]]:
    pages, cursor = [], None
    while True:
        page = store.list_accounts(tenant_id, limit, cursor)
        if page.items:
            pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return pages


def test_list_accounts_by_id_in_pages_within_the_tenant(store: BillingAccountStore) -> None:
    # GIVEN three accounts of the tenant (one changed twice) and one of another tenant
    since = datetime(2026, 11, 24, 9, tzinfo=UTC)
    ids = ["token:B", "group:fleet", "token:A"]
    for account_id in ids:
        assert store.save_account(T, BillingAccount(id=account_id, mode=BillingMode.AD_HOC), 0)
    changed = BillingAccount(
        id="token:A",
        mode=BillingMode.AD_HOC,
        customer="cus_a",
        payment_method="pm_1",
        payment_method_since=since,
        email="a@example.com",
        name="A",
    )
    assert store.save_account(T, changed, 1)
    assert store.save_account(OTHER, BillingAccount(id="token:Z", mode=BillingMode.MONTHLY), 0)

    # WHEN they are listed two at a time
    pages = _walk(store, T, 2)

    # THEN by id, each once with its version and every field as stored; none of the other's
    listed = [stored for page in pages for stored in page]
    assert [s.account.id for s in listed] == sorted(ids)
    assert len(pages[0]) == 2
    assert [s.version for s in listed] == [1, 2, 1]
    assert listed[1].account == changed
    with pytest.raises(InvalidCursorError):
        store.list_accounts(T, 2, "bm90LWEtY3Vyc29y")


def test_list_accounts_of_a_tenant_without_any_is_empty(store: BillingAccountStore) -> None:
    # GIVEN / WHEN listing a tenant that has no accounts THEN an empty last page
    page = store.list_accounts(T, 10)
    assert page.items == []
    assert page.next_cursor is None
