"""BillingAccountService: accounts read, their customer details and payment method changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.fakes import FixedClock, InMemoryGroupRepository
from tests.fakes_billing import FakePaymentProvider, InMemoryBillingAccountStore

from csms.domain.billing.invoice import BillingAccount, BillingMode
from csms.domain.errors import (
    ConcurrentModificationError,
    InvalidCursorError,
    ResourceNotFoundError,
    VersionMismatchError,
)
from csms.services.billing_accounts import UNSET, AccountPatch, BillingAccountService
from csms.services.billing_wiring import GroupBillingAccounts

T = "t-1"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ANNA = BillingAccount(id="token:ANNA", mode=BillingMode.AD_HOC, customer="cus_anna")
FLEET = BillingAccount(id="group:fleet", mode=BillingMode.MONTHLY)


class RacingStore(InMemoryBillingAccountStore):
    """Loses the next `losses` writes to a concurrent writer (which bumps the version)."""

    def __init__(self) -> None:
        super().__init__()
        self.losses = 0

    def save_account(self, tenant_id: str, account: BillingAccount, expected_version: int) -> bool:
        if self.losses > 0:
            self.losses -= 1
            stored = self.accounts[tenant_id, account.id]
            super().save_account(tenant_id, stored.account, stored.version)
            return False
        return super().save_account(tenant_id, account, expected_version)


class World:
    def __init__(self) -> None:
        self.store = RacingStore()
        self.payments = FakePaymentProvider()
        self.clock = FixedClock(NOW)
        self.service = BillingAccountService(
            store=self.store, payments=self.payments, clock=self.clock
        )
        for account in (ANNA, FLEET):
            assert self.store.save_account(T, account, 0)

    def calls(self, method: str) -> list[dict[str, object]]:
        return [c.args | {"key": c.key} for c in self.payments.calls if c.method == method]


@pytest.fixture
def w() -> World:
    return World()


def test_list_pages_the_tenants_accounts_by_id(w: World) -> None:
    # GIVEN two accounts of the tenant and one of another tenant
    w.store.save_account("t-2", ANNA, 0)
    # WHEN listing one at a time
    first = w.service.list(T, 1)
    second = w.service.list(T, 1, first.next_cursor)
    # THEN the tenant's accounts by id, and no more
    assert [s.account.id for s in first.items] == ["group:fleet"]
    assert [s.account.id for s in second.items] == ["token:ANNA"]
    assert second.next_cursor is None
    with pytest.raises(InvalidCursorError):
        w.service.list(T, 1, "not-handed-out")


def test_get_of_an_unknown_account_is_not_found(w: World) -> None:
    # GIVEN / WHEN reading an account the tenant does not have (another tenant's included)
    w.store.save_account("t-2", BillingAccount(id="token:BOB", mode=BillingMode.AD_HOC), 0)
    # THEN not found
    with pytest.raises(ResourceNotFoundError):
        w.service.get(T, "token:BOB")
    assert w.service.get(T, ANNA.id).version == 1


def test_update_contact_tells_the_existing_customer_then_stores_it(w: World) -> None:
    # GIVEN Anna's account with a customer
    # WHEN an operator sets her email and name
    before, after = w.service.update(
        T, ANNA.id, AccountPatch(email="anna@example.com", name="Anna"), expected_version=1
    )
    # THEN the customer is updated once (key from the version), and the account stored
    assert before.account == ANNA
    assert (after.account.email, after.account.name, after.version) == (
        "anna@example.com",
        "Anna",
        2,
    )
    assert w.calls("update_customer") == [
        {
            "customer": "cus_anna",
            "email": "anna@example.com",
            "name": "Anna",
            "key": "customer-update:token:ANNA:1",
        }
    ]
    assert w.service.get(T, ANNA.id) == after


def test_update_contact_of_an_account_without_customer_makes_one(w: World) -> None:
    # GIVEN the fleet's account has no customer yet
    # WHEN its email is set
    _, after = w.service.update(T, FLEET.id, AccountPatch(email="fleet@example.com"))
    # THEN a customer is made with it, and stored with the account; nothing is "updated"
    assert after.account.customer == "cus-group:fleet"
    assert w.calls("update_customer") == []


def test_update_payment_method_sets_and_forgets_with_the_time(w: World) -> None:
    # GIVEN Anna's account without a payment method
    # WHEN an operator sets one, then (later) forgets it
    _, saved = w.service.update(T, ANNA.id, AccountPatch(payment_method="pm_card_visa"))
    w.clock.advance(60)
    _, forgotten = w.service.update(T, ANNA.id, AccountPatch(payment_method=None))
    # THEN each is stored with when it was chosen; the provider is not asked
    assert (saved.account.payment_method, saved.account.payment_method_since) == (
        "pm_card_visa",
        NOW,
    )
    assert forgotten.account.payment_method is None
    assert forgotten.account.payment_method_since == NOW + timedelta(seconds=60)
    assert w.payments.calls == []


def test_update_that_changes_nothing_writes_nothing(w: World) -> None:
    # GIVEN / WHEN a patch naming nothing new (and one naming nothing)
    same = w.service.update(T, ANNA.id, AccountPatch(payment_method=None))
    empty = w.service.update(T, ANNA.id, AccountPatch())
    # THEN the account as it was, at its version; no provider call
    assert same[0] == same[1] == empty[1]
    assert same[1].version == 1
    assert w.payments.calls == []


def test_update_with_a_stale_if_match_is_refused(w: World) -> None:
    # GIVEN / WHEN an update names a version that is not the stored one
    # THEN it is refused before anything is asked of the provider
    with pytest.raises(VersionMismatchError):
        w.service.update(T, ANNA.id, AccountPatch(name="Anna"), expected_version=7)
    assert w.payments.calls == []


def test_update_losing_a_race_with_if_match_is_refused(w: World) -> None:
    # GIVEN another write lands between the read and the write
    w.store.losses = 1
    # WHEN the update named the version it read
    # THEN 412-worthy: the caller reads again
    with pytest.raises(VersionMismatchError):
        w.service.update(T, ANNA.id, AccountPatch(name="Anna"), expected_version=1)


def test_update_losing_races_without_if_match_retries_then_gives_up(w: World) -> None:
    # GIVEN one lost race, then (for another update) races lost every time
    w.store.losses = 1
    _, after = w.service.update(T, ANNA.id, AccountPatch(name="Anna"))
    w.store.losses = 10
    # WHEN / THEN the first is applied on the next attempt, the second gives up
    assert after.account.name == "Anna"
    with pytest.raises(ConcurrentModificationError):
        w.service.update(T, ANNA.id, AccountPatch(name="Anna B."))


def test_update_of_an_unknown_account_is_not_found(w: World) -> None:
    with pytest.raises(ResourceNotFoundError):
        w.service.update(T, "token:NOBODY", AccountPatch(name="x"))


def test_start_setup_uses_the_customer_and_a_key_per_request(w: World) -> None:
    # GIVEN Anna's account with a customer
    # WHEN her app asks twice with the same request id, then with another
    first = w.service.start_payment_method_setup(T, ANNA.id, "req-1")
    again = w.service.start_payment_method_setup(T, ANNA.id, "req-1")
    other = w.service.start_payment_method_setup(T, ANNA.id, "req-2")
    # THEN the same key (so the same setup at the provider) for the same request
    assert first == again != other
    assert w.calls("setup")[0] == {
        "account_id": ANNA.id,
        "customer": "cus_anna",
        "key": "setup:token:ANNA:req-1",
    }


def test_start_setup_for_an_account_without_customer_makes_and_stores_one(w: World) -> None:
    # GIVEN the fleet's account has no customer; one write races
    w.store.losses = 1
    # WHEN a setup is started
    w.service.start_payment_method_setup(T, FLEET.id, "req-1")
    # THEN a customer is made and stored, and the setup is for it
    assert w.service.get(T, FLEET.id).account.customer == "cus-group:fleet"
    assert w.calls("setup")[0]["customer"] == "cus-group:fleet"


def test_start_setup_gives_up_when_always_raced(w: World) -> None:
    w.store.losses = 10
    with pytest.raises(ConcurrentModificationError):
        w.service.start_payment_method_setup(T, FLEET.id, "req-1")


def test_start_setup_for_an_unknown_account_is_not_found(w: World) -> None:
    with pytest.raises(ResourceNotFoundError):
        w.service.start_payment_method_setup(T, "token:NOBODY", "req-1")


def test_account_patch_names_only_what_it_sets() -> None:
    # GIVEN / WHEN patches naming some fields
    # THEN their changes are those fields only (None included: it clears)
    assert AccountPatch().changes() == {}
    assert AccountPatch(email=None, name=UNSET).changes() == {"email": None}


def test_group_accounts_set_payment_method_keeps_a_newer_choice() -> None:
    # GIVEN an account whose method was chosen at 10:00
    store = InMemoryBillingAccountStore()
    accounts = GroupBillingAccounts(
        store=store, groups=InMemoryGroupRepository(), payments=FakePaymentProvider()
    )
    store.save_account(T, ANNA, 0)
    ten = NOW + timedelta(hours=1)
    chosen = accounts.set_payment_method(T, ANNA.id, "pm_new", at=ten)
    # WHEN an older choice (09:00) and a newer one (11:00) are told
    older = accounts.set_payment_method(T, ANNA.id, "pm_old", at=NOW)
    newer = accounts.set_payment_method(T, ANNA.id, None, at=ten + timedelta(hours=1))
    # THEN the older one changes nothing; the newer one wins
    assert chosen is not None
    assert chosen.payment_method_since == ten
    assert older == chosen
    assert newer is not None
    assert newer.payment_method is None
