"""BillingService.apply_provider_event: a saved payment method (`setup_intent.succeeded`), once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.fakes_billing import (
    FakeAccounts,
    FakePaymentProvider,
    FakePricer,
    InMemoryBillingRepository,
)

from csms.domain.billing.invoice import BillingAccount, BillingMode
from csms.domain.billing.payments import ProviderEvent
from csms.services.billing import BillingService
from csms.services.provider_events import ProviderEventOutcome, handled, saved_payment_methods

T = "t-1"
CREATED = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ANNA = BillingAccount(id="token:ANNA", mode=BillingMode.AD_HOC, customer="cus_anna")


class World:
    def __init__(self) -> None:
        self.repo = InMemoryBillingRepository()
        self.accounts = FakeAccounts(by_token={"ANNA": ANNA})
        self.service = BillingService(
            repository=self.repo,
            pricer=FakePricer(),
            accounts=self.accounts,
            payments=FakePaymentProvider(),
        )

    def account(self) -> BillingAccount:
        found = self.accounts.get_account(T, ANNA.id)
        assert found is not None
        return found

    def deliver(self, event: ProviderEvent) -> ProviderEventOutcome:
        return self.service.apply_provider_event(event, now=CREATED + timedelta(minutes=1))


@pytest.fixture
def world() -> World:
    return World()


def setup_succeeded(
    *,
    event_id: str = "evt_1",
    created: datetime = CREATED,
    payment_method: Any = "pm_card_visa",
    **intent: Any,
) -> ProviderEvent:
    obj: dict[str, Any] = {
        "id": "seti_1",
        "object": "setup_intent",
        "status": "succeeded",
        "customer": "cus_anna",
        "payment_method": payment_method,
        "metadata": {"tenant_id": T, "account_id": ANNA.id},
        **intent,
    }
    return ProviderEvent(id=event_id, type="setup_intent.succeeded", created=created, object=obj)


def test_setup_succeeded_saves_the_payment_method_once(world: World) -> None:
    # GIVEN Anna's account without a payment method, and her app confirmed a setup
    event = setup_succeeded()
    # WHEN Stripe delivers the notification, then delivers it again
    first = world.deliver(event)
    again = world.deliver(event)
    # THEN the method is the account's default, applied the first time, a replay the second
    assert first is ProviderEventOutcome.APPLIED
    assert again is ProviderEventOutcome.REPLAY
    assert world.account().payment_method == "pm_card_visa"
    assert world.account().payment_method_since == CREATED
    assert set(world.repo.provider_events) == {"evt_1"}


def test_setup_succeeded_redelivered_after_the_method_was_forgotten_changes_nothing(
    world: World,
) -> None:
    # GIVEN the method saved, then forgotten by an operator after the setup
    world.deliver(setup_succeeded())
    world.accounts.set_payment_method(T, ANNA.id, None, at=CREATED + timedelta(minutes=5))
    # WHEN Stripe redelivers the (older) notification under a new delivery of the same event
    outcome = world.deliver(setup_succeeded(event_id="evt_1"))
    # THEN the forgotten method does not come back
    assert outcome is ProviderEventOutcome.REPLAY
    assert world.account().payment_method is None


def test_setup_succeeded_older_than_the_stored_choice_is_ignored(world: World) -> None:
    # GIVEN a method chosen later than the setup's event was made
    world.accounts.set_payment_method(T, ANNA.id, "pm_new", at=CREATED + timedelta(hours=1))
    # WHEN an older setup's notification arrives (first delivery, a distinct event)
    outcome = world.deliver(setup_succeeded(event_id="evt_old", payment_method="pm_old"))
    # THEN the newer choice stays
    assert outcome is ProviderEventOutcome.IGNORED
    assert world.account().payment_method == "pm_new"


def test_setup_succeeded_with_the_same_method_changes_nothing(world: World) -> None:
    # GIVEN the method already saved
    world.deliver(setup_succeeded(event_id="evt_a"))
    # WHEN another setup saving the same method succeeds
    outcome = world.deliver(setup_succeeded(event_id="evt_b", created=CREATED + timedelta(days=1)))
    # THEN nothing changes (claimed, nothing applied)
    assert outcome is ProviderEventOutcome.IGNORED
    assert world.account().payment_method_since == CREATED


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"customer": "cus_other"}, "made for another customer"),
        ({"metadata": {"tenant_id": T, "account_id": "token:NOBODY"}}, "an unknown account"),
        ({"metadata": {}}, "a setup billing did not start"),
        ({"payment_method": None}, "no payment method"),
        ({"payment_method": {"id": "pm_x"}}, "an expanded method (not an id)"),
        ({"status": "requires_payment_method"}, "not succeeded"),
    ],
)
def test_setup_succeeded_not_for_one_of_billings_accounts_is_ignored(
    world: World, change: dict[str, Any], why: str
) -> None:
    # GIVEN a setup notification that is not about a known account of this tenant: {why}
    event = setup_succeeded(event_id=f"evt-{why}", **change)
    # WHEN it is delivered
    outcome = world.deliver(event)
    # THEN nothing is saved
    assert outcome is ProviderEventOutcome.IGNORED, why
    assert world.account().payment_method is None


def test_saved_payment_methods_reads_only_setup_succeeded() -> None:
    # GIVEN a setup event and a payment event
    setup = setup_succeeded()
    other = ProviderEvent(id="evt_2", type="customer.created", created=CREATED, object={})
    # WHEN reading the methods they save
    # THEN only the setup event tells one, with its time; both types are known or not as such
    [saved] = saved_payment_methods(setup)
    assert (saved.tenant_id, saved.account_id, saved.payment_method) == (T, ANNA.id, "pm_card_visa")
    assert saved.customer == "cus_anna"
    assert saved.at == CREATED
    assert saved_payment_methods(other) == []
    assert handled(setup)
    assert not handled(other)
