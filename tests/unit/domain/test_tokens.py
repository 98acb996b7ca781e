"""Id tokens and the authorization decision table."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.fakes import T0

from csms.domain.tokens import (
    MAX_TOKEN_LENGTH,
    Authorization,
    AuthorizationStatus,
    IdToken,
    IdTokenType,
    PresentedToken,
    TokenStatus,
    authorize,
    token_key,
)

FAST = settings(database=None, deadline=None, derandomize=True, max_examples=100)
LATER = T0 + timedelta(days=30)


def a_token(**over: Any) -> IdToken:
    values: dict[str, Any] = {
        "id_token": "04A2B3C4D5",
        "group_id": "fleet",
        "parent_id_token": "P-1",
    }
    values.update(over)
    return IdToken(**values)


def card(value: str = "04A2B3C4D5", token_type: IdTokenType | None = None) -> PresentedToken:
    return PresentedToken(value=value, type=token_type)


def test_authorize_unknown_token_is_invalid() -> None:
    # GIVEN a token the tenant does not know
    # WHEN it is presented
    decision = authorize(card(), None, T0)
    # THEN it is Invalid, with nothing more to say
    assert decision == Authorization(status=AuthorizationStatus.INVALID)
    assert not decision.accepted


def test_authorize_unknown_token_is_invalid_even_when_busy() -> None:
    # GIVEN an unknown token said to be busy elsewhere
    # WHEN / THEN it is still Invalid (there is no such token)
    assert authorize(card(), None, T0, busy_elsewhere=True).status is AuthorizationStatus.INVALID


def test_authorize_accepted_token_carries_its_info() -> None:
    # GIVEN an accepted token with expiry, group and parent
    record = a_token(expires_at=LATER)
    # WHEN it is presented before expiry
    decision = authorize(card(), record, T0)
    # THEN it is Accepted with what idTagInfo / idTokenInfo carry
    assert decision == Authorization(
        status=AuthorizationStatus.ACCEPTED,
        expires_at=LATER,
        parent_id_token="P-1",
        group_id="fleet",
    )
    assert decision.accepted


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (TokenStatus.BLOCKED, AuthorizationStatus.BLOCKED),
        (TokenStatus.EXPIRED, AuthorizationStatus.EXPIRED),
        (TokenStatus.INVALID, AuthorizationStatus.INVALID),
    ],
)
def test_authorize_stored_status_other_than_accepted_is_answered(
    stored: TokenStatus, expected: AuthorizationStatus
) -> None:
    # GIVEN a stored token blocked, expired or invalid (and busy, and past expiry)
    record = a_token(status=stored, expires_at=T0 - timedelta(days=1))
    # WHEN it is presented
    decision = authorize(card(), record, T0, busy_elsewhere=True)
    # THEN the stored status wins over expiry and concurrency, with the token's info
    assert decision.status is expected
    assert (decision.group_id, decision.parent_id_token) == ("fleet", "P-1")
    assert not decision.accepted


@pytest.mark.parametrize("expires", [T0, T0 - timedelta(seconds=1), T0 - timedelta(days=400)])
def test_authorize_accepted_token_past_expiry_is_expired(expires: Any) -> None:
    # GIVEN an accepted token whose expiry is now or past
    record = a_token(expires_at=expires)
    # WHEN it is presented
    decision = authorize(card(), record, T0, busy_elsewhere=True)
    # THEN it is Expired (before any concurrency check), telling when it expired
    assert decision.status is AuthorizationStatus.EXPIRED
    assert decision.expires_at == expires


def test_authorize_accepted_token_just_before_expiry_is_accepted() -> None:
    # GIVEN a token expiring one second from now
    record = a_token(expires_at=T0 + timedelta(seconds=1))
    # WHEN / THEN it is Accepted
    assert authorize(card(), record, T0).status is AuthorizationStatus.ACCEPTED


def test_authorize_busy_elsewhere_is_concurrent_tx() -> None:
    # GIVEN an accepted token already in another active session
    record = a_token()
    # WHEN it is presented
    decision = authorize(card(), record, T0, busy_elsewhere=True)
    # THEN it is ConcurrentTx, with the token's info
    assert decision.status is AuthorizationStatus.CONCURRENT_TX
    assert decision.group_id == "fleet"
    assert not decision.accepted


@pytest.mark.parametrize(
    ("stored_type", "presented_type", "expected"),
    [
        (IdTokenType.ISO14443, IdTokenType.ISO14443, AuthorizationStatus.ACCEPTED),
        (IdTokenType.ISO14443, IdTokenType.EMAID, AuthorizationStatus.INVALID),
        (IdTokenType.CENTRAL, IdTokenType.LOCAL, AuthorizationStatus.INVALID),
        (IdTokenType.ISO14443, None, AuthorizationStatus.ACCEPTED),  # 1.6 idTag: no type
        (None, IdTokenType.KEY_CODE, AuthorizationStatus.ACCEPTED),
        (None, None, AuthorizationStatus.ACCEPTED),
    ],
)
def test_authorize_type_must_match_when_both_are_known(
    stored_type: IdTokenType | None,
    presented_type: IdTokenType | None,
    expected: AuthorizationStatus,
) -> None:
    # GIVEN a stored token with (or without) a type
    record = a_token(type=stored_type)
    # WHEN presented with (or without) a type
    decision = authorize(card(token_type=presented_type), record, T0)
    # THEN a mismatch of two known types is Invalid (2.0.1 keys tokens by value and type)
    assert decision.status is expected


def test_authorize_type_mismatch_reveals_nothing_of_the_stored_token() -> None:
    # GIVEN a stored ISO14443 token presented as an eMAID
    record = a_token(type=IdTokenType.ISO14443, expires_at=LATER)
    # WHEN it is presented
    decision = authorize(card(token_type=IdTokenType.EMAID), record, T0)
    # THEN the answer is a bare Invalid: it is not that token
    assert decision == Authorization(status=AuthorizationStatus.INVALID)


@pytest.mark.parametrize(
    "record",
    [None, IdToken(id_token="x", status=TokenStatus.BLOCKED)],
    ids=["unknown", "blocked"],
)
def test_authorize_no_authorization_type_is_accepted(record: IdToken | None) -> None:
    # GIVEN a 2.0.1 NoAuthorization token (free charging: the station vouches for it)
    presented = card(value="", token_type=IdTokenType.NO_AUTHORIZATION)
    # WHEN presented, known or not, even while "busy"
    decision = authorize(presented, record, T0, busy_elsewhere=True)
    # THEN it is Accepted
    assert decision == Authorization(status=AuthorizationStatus.ACCEPTED)


@pytest.mark.parametrize(
    ("value", "same_as"),
    [("04a2b3c4d5", "04A2B3C4D5"), ("Abc-Def", "aBC-dEF"), ("user@example", "USER@EXAMPLE")],
)
def test_token_key_ignores_case(value: str, same_as: str) -> None:
    # GIVEN two spellings of one CiString
    # WHEN / THEN they have the same key, for stored and presented tokens alike
    assert token_key(value) == token_key(same_as)
    assert IdToken(id_token=value).key == card(same_as).key


def test_token_key_keeps_different_tokens_apart() -> None:
    # GIVEN two different tokens
    # WHEN / THEN their keys differ
    assert token_key("04A2B3C4D5") != token_key("04A2B3C4D6")


@FAST
@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=36))
def test_token_key_is_case_insensitive_for_printable_ascii(value: str) -> None:
    # GIVEN any printable-ASCII token value
    # WHEN / THEN upper, lower and swapped case share one key
    assert token_key(value) == token_key(value.lower()) == token_key(value.swapcase())


def test_id_token_accepts_wire_aliases() -> None:
    # GIVEN a token as the HTTP API sends it (camelCase)
    token = IdToken.model_validate(
        {
            "idToken": "CARD-1",
            "status": "Blocked",
            "type": "ISO14443",
            "expiresAt": "2027-01-01T00:00:00Z",
            "groupId": "residents",
            "parentIdToken": "HOUSE-1",
        }
    )
    # WHEN / THEN every field lands
    assert token.status is TokenStatus.BLOCKED
    assert token.type is IdTokenType.ISO14443
    assert token.group_id == "residents"
    assert token.parent_id_token == "HOUSE-1"
    assert token.expires_at is not None
    assert token.expires_at.year == 2027


@pytest.mark.parametrize(
    "over",
    [
        {"id_token": ""},
        {"id_token": "x" * (MAX_TOKEN_LENGTH + 1)},
        {"group_id": "has space"},
        {"expires_at": T0.replace(tzinfo=None)},
        {"unknown": 1},
    ],
    ids=["empty", "too-long", "bad-group", "naive-expiry", "extra-field"],
)
def test_id_token_rejects_bad_fields(over: dict[str, Any]) -> None:
    # GIVEN a token with an impossible field
    # WHEN / THEN it is refused
    with pytest.raises(ValidationError):
        a_token(**over)


def test_id_token_accepts_the_longest_2_0_1_value() -> None:
    # GIVEN a 36-character token (2.0.1 CiString36)
    # WHEN / THEN it is a valid token
    assert IdToken(id_token="x" * MAX_TOKEN_LENGTH).key == "X" * MAX_TOKEN_LENGTH
