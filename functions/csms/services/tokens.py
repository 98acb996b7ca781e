"""Use cases of a tenant's id tokens: create, read, change and list them (the HTTP API).

Token values are identifiers (they are shown to the operator who owns them) but they are not
logged: a card number in a log outlives the card.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from typing import Final

from csms.domain.errors import (
    ConcurrentModificationError,
    TokenExistsError,
    TokenNotFoundError,
    VersionMismatchError,
)
from csms.domain.tokens import IdToken, IdTokenType, TokenStatus
from csms.services.ports import Clock, Page, TokenRepository


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
"""A field a patch leaves as it is (as opposed to None, which clears it)."""


@dataclass(frozen=True)
class TokenPatch:
    """A partial update with JSON merge patch semantics (RFC 7396).

    A field left UNSET keeps its value; None clears an optional one. The status always has a
    value, so it cannot be cleared.
    """

    status: TokenStatus | _Unset = UNSET
    type: IdTokenType | _Unset | None = UNSET
    expires_at: datetime | _Unset | None = UNSET
    group_id: str | _Unset | None = UNSET
    parent_id_token: str | _Unset | None = UNSET

    def changes(self) -> dict[str, object]:
        """The fields to change, by IdToken field name."""
        named = ((f.name, getattr(self, f.name)) for f in fields(self))
        return {name: value for name, value in named if value is not UNSET}


class TokenService:
    """A tenant's id tokens; every call is scoped to one tenant."""

    def __init__(self, *, tokens: TokenRepository, clock: Clock) -> None:
        self._tokens = tokens
        self._clock = clock

    # A change without an expected version that keeps losing races gives up after this many.
    _ATTEMPTS = 3

    def create(self, tenant_id: str, token: IdToken) -> IdToken:
        """Store a new token (version 1); TokenExistsError when its value exists in any case."""
        if not self._tokens.create(tenant_id, token, self._clock.now()):
            raise TokenExistsError(token.id_token)
        return token.model_copy(update={"version": 1})

    def get(self, tenant_id: str, value: str) -> IdToken:
        """The tenant's token with this value (case-insensitive); TokenNotFoundError if none."""
        token = self._tokens.get(tenant_id, value)
        if token is None:
            raise TokenNotFoundError(value)
        return token

    def update(
        self,
        tenant_id: str,
        value: str,
        patch: TokenPatch,
        expected_version: int | None = None,
    ) -> tuple[IdToken, IdToken]:
        """Apply a partial update to an existing token: (the token before, as stored now).

        The value keeps the spelling it was created with. The new token is validated as a
        whole, so a patch cannot store what `create` would refuse. The write is conditional on
        the version read: with `expected_version` another version is VersionMismatchError;
        without, a lost race is read again a few times, then ConcurrentModificationError.
        """
        for _ in range(self._ATTEMPTS):
            current = self.get(tenant_id, value)
            if expected_version is not None and current.version != expected_version:
                raise VersionMismatchError("token", value)
            changes = patch.changes()
            updated = IdToken.model_validate({**current.model_dump(), **changes}).model_copy(
                update={"version": current.version}
            )
            if updated == current:
                return current, current
            if self._tokens.replace(tenant_id, updated, self._clock.now()):
                return current, updated.model_copy(update={"version": current.version + 1})
            if expected_version is not None:
                raise VersionMismatchError("token", value)
        raise ConcurrentModificationError("token", value)

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> Page[IdToken]:
        """The tenant's tokens by value, a page at a time."""
        return self._tokens.list(tenant_id, limit, cursor)
