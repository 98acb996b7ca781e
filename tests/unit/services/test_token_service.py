"""TokenService on the in-memory fakes: create, read, merge-patch and list, per tenant."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError
from tests.fakes import T0, FixedClock, InMemoryTokenRepository

from csms.domain.errors import (
    ConcurrentModificationError,
    TokenExistsError,
    TokenNotFoundError,
    VersionMismatchError,
)
from csms.domain.tokens import IdToken, IdTokenType, TokenStatus
from csms.services.tokens import UNSET, TokenPatch, TokenService

TENANT = "t-1"


class RecordingTokens(InMemoryTokenRepository):
    """The fake, remembering the time of every write."""

    def __init__(self) -> None:
        super().__init__()
        self.written_at: list[datetime] = []

    def create(self, tenant_id: str, token: IdToken, at: datetime) -> bool:
        self.written_at.append(at)
        return super().create(tenant_id, token, at)

    def replace(self, tenant_id: str, token: IdToken, at: datetime) -> bool:
        self.written_at.append(at)
        return super().replace(tenant_id, token, at)


@pytest.fixture
def repo() -> RecordingTokens:
    return RecordingTokens()


@pytest.fixture
def service(repo: RecordingTokens) -> TokenService:
    return TokenService(tokens=repo, clock=FixedClock())


def a_token(**over: object) -> IdToken:
    fields: dict[str, object] = {
        "id_token": "Card-1",
        "type": IdTokenType.ISO14443,
        "expires_at": T0 + timedelta(days=365),
        "group_id": "fleet",
        "parent_id_token": "FLEET-MASTER",
    }
    fields.update(over)
    return IdToken.model_validate(fields)


def test_token_service_create_stores_and_returns_the_token(
    service: TokenService, repo: RecordingTokens
) -> None:
    # WHEN a token is created
    created = service.create(TENANT, a_token())
    # THEN it is stored as given (version 1), at the clock's time, and readable in any case
    assert created == a_token(version=1)
    assert service.get(TENANT, "CARD-1") == created
    assert service.get(TENANT, "card-1").id_token == "Card-1"
    assert repo.written_at == [T0]


def test_token_service_create_refuses_an_existing_value_in_any_case(
    service: TokenService,
) -> None:
    # GIVEN a token
    service.create(TENANT, a_token())
    # WHEN one with the same value in other case is created
    with pytest.raises(TokenExistsError):
        service.create(TENANT, a_token(id_token="CARD-1", group_id="other"))
    # THEN the first one stands
    assert service.get(TENANT, "card-1").group_id == "fleet"


def test_token_service_tenants_do_not_see_each_others_tokens(service: TokenService) -> None:
    # GIVEN a token in one tenant
    service.create(TENANT, a_token())
    # WHEN another tenant reads or changes it
    with pytest.raises(TokenNotFoundError):
        service.get("t-2", "Card-1")
    with pytest.raises(TokenNotFoundError):
        service.update("t-2", "Card-1", TokenPatch(status=TokenStatus.BLOCKED))
    # THEN it may create its own with the same value, and nothing of the first one changes
    service.create("t-2", a_token(group_id="residents"))
    assert service.get(TENANT, "Card-1").status is TokenStatus.ACCEPTED
    assert service.get(TENANT, "Card-1").group_id == "fleet"
    assert service.get("t-2", "Card-1").group_id == "residents"


def test_token_service_get_unknown_raises_not_found(service: TokenService) -> None:
    with pytest.raises(TokenNotFoundError) as caught:
        service.get(TENANT, "NOPE")
    # THEN the message does not carry the token value (it may reach a log)
    assert "NOPE" not in str(caught.value)


def test_token_service_update_changes_only_what_the_patch_names(
    service: TokenService, repo: RecordingTokens
) -> None:
    # GIVEN a token
    service.create(TENANT, a_token())
    # WHEN it is blocked, under another spelling of its value
    before, updated = service.update(TENANT, "CARD-1", TokenPatch(status=TokenStatus.BLOCKED))
    # THEN the status changed and every other field, the value's spelling included, stayed;
    # the version moved on
    assert before == a_token(version=1)
    assert updated == a_token(status=TokenStatus.BLOCKED, version=2)
    assert service.get(TENANT, "card-1") == updated
    assert len(repo.written_at) == 2


def test_token_service_update_with_none_clears_optional_fields(service: TokenService) -> None:
    # GIVEN a token with every optional field set
    service.create(TENANT, a_token())
    # WHEN a patch clears them (and moves the group)
    patch = TokenPatch(type=None, expires_at=None, parent_id_token=None, group_id="residents")
    _, updated = service.update(TENANT, "Card-1", patch)
    # THEN they are gone, the rest stays
    assert updated.type is None
    assert updated.expires_at is None
    assert updated.parent_id_token is None
    assert updated.group_id == "residents"
    assert updated.status is TokenStatus.ACCEPTED
    assert service.get(TENANT, "Card-1") == updated


def test_token_service_update_without_changes_writes_nothing(
    service: TokenService, repo: RecordingTokens
) -> None:
    # GIVEN a token
    service.create(TENANT, a_token())
    # WHEN an empty patch, and one that sets the values it has, arrive
    _, same = service.update(TENANT, "Card-1", TokenPatch())
    _, again = service.update(TENANT, "Card-1", TokenPatch(group_id="fleet"))
    # THEN the token is returned as it is and nothing is written
    assert same == again == a_token(version=1)
    assert repo.written_at == [T0]


def test_token_service_update_unknown_raises_not_found_and_creates_nothing(
    service: TokenService, repo: RecordingTokens
) -> None:
    with pytest.raises(TokenNotFoundError):
        service.update(TENANT, "NOPE", TokenPatch(status=TokenStatus.BLOCKED))
    assert repo.tokens == {}


def test_token_service_update_validates_the_result(service: TokenService) -> None:
    # GIVEN a token
    service.create(TENANT, a_token())
    # WHEN a patch would store a group id the model refuses
    with pytest.raises(ValidationError):
        service.update(TENANT, "Card-1", TokenPatch(group_id="no spaces allowed"))
    # THEN the token is unchanged
    assert service.get(TENANT, "Card-1") == a_token(version=1)


def test_token_patch_lists_only_the_fields_it_sets() -> None:
    assert TokenPatch().changes() == {}
    assert TokenPatch(expires_at=None, status=TokenStatus.EXPIRED).changes() == {
        "status": TokenStatus.EXPIRED,
        "expires_at": None,
    }
    assert TokenPatch(group_id=UNSET).changes() == {}


def test_token_service_list_pages_through_a_tenants_tokens_by_value(
    service: TokenService,
) -> None:
    # GIVEN three tokens in the tenant and one elsewhere
    for value in ("c-3", "A-1", "b-2"):
        service.create(TENANT, a_token(id_token=value))
    service.create("t-2", a_token(id_token="Z-9"))
    # WHEN the tenant lists them two at a time
    first = service.list(TENANT, 2)
    assert first.next_cursor is not None
    second = service.list(TENANT, 2, first.next_cursor)
    # THEN each of its tokens comes once, by value without regard to case
    values = [t.id_token for t in first.items + second.items]
    assert values == ["A-1", "b-2", "c-3"]
    assert second.next_cursor is None


def test_token_service_update_with_an_expected_version_refuses_another(
    service: TokenService,
) -> None:
    # GIVEN a token changed once (version 2)
    service.create(TENANT, a_token())
    service.update(TENANT, "Card-1", TokenPatch(status=TokenStatus.BLOCKED))
    # WHEN a client that read version 1 changes it, and one that read version 2
    with pytest.raises(VersionMismatchError):
        service.update(TENANT, "Card-1", TokenPatch(group_id="x"), expected_version=1)
    _, updated = service.update(TENANT, "Card-1", TokenPatch(group_id="x"), expected_version=2)
    # THEN only the second change is applied
    assert (updated.group_id, updated.version) == ("x", 3)
    assert service.get(TENANT, "Card-1") == updated


def test_token_service_update_rereads_after_losing_a_race_and_gives_up_eventually(
    service: TokenService, repo: RecordingTokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a token, and another writer that wins the first race
    service.create(TENANT, a_token())
    original = repo.replace
    losses = iter([True])

    def racing(tenant_id: str, token: IdToken, at: datetime) -> bool:
        if next(losses, False):
            other = repo.tokens[(TENANT, token.key)]
            repo.tokens[(TENANT, token.key)] = other.model_copy(
                update={"status": TokenStatus.EXPIRED, "version": other.version + 1}
            )
            return False
        return original(tenant_id, token, at)

    monkeypatch.setattr(repo, "replace", racing)
    # WHEN a change without an expected version arrives
    before, updated = service.update(TENANT, "Card-1", TokenPatch(group_id="x"))
    # THEN it is applied over the winner's change, read again
    assert before.status is TokenStatus.EXPIRED
    assert (updated.status, updated.group_id, updated.version) == (TokenStatus.EXPIRED, "x", 3)
    # AND with an expected version a lost race is a mismatch; always losing gives up
    losses = iter([True])
    with pytest.raises(VersionMismatchError):
        service.update(TENANT, "Card-1", TokenPatch(group_id="y"), expected_version=3)
    monkeypatch.setattr(repo, "replace", lambda *args: False)
    with pytest.raises(ConcurrentModificationError):
        service.update(TENANT, "Card-1", TokenPatch(group_id="z"))
