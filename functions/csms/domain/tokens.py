"""Id tokens (RFID cards, app accounts, ...) and the authorization decision (version-neutral).

OCPP 1.6 `idTag` is a CiString20, 2.0.1 `idToken.idToken` a CiString36: both compare without
regard to case, so tokens are keyed by `token_key`. The stored status is a subset of both
versions' authorization statuses; the decision adds Expired (past `expires_at`) and
ConcurrentTx (the token is busy in another session).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# 2.0.1 IdTokenType.idToken maxLength; 1.6 idTag is shorter (20) and its schema enforces that.
MAX_TOKEN_LENGTH = 36


class TokenStatus(StrEnum):
    """Authorization status of an id token as stored."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"


class AuthorizationStatus(StrEnum):
    """The answer to a token presented at a station (both versions spell these alike)."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


class IdTokenType(StrEnum):
    """2.0.1 IdTokenEnumType; a 1.6 idTag has no type (None)."""

    CENTRAL = "Central"
    EMAID = "eMAID"
    ISO14443 = "ISO14443"
    ISO15693 = "ISO15693"
    KEY_CODE = "KeyCode"
    LOCAL = "Local"
    MAC_ADDRESS = "MacAddress"
    NO_AUTHORIZATION = "NoAuthorization"


TokenValue = Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_LENGTH)]
GroupId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


def token_key(value: str) -> str:
    """The case-insensitive identity of a token value (OCPP CiString comparison)."""
    return value.upper()


class IdToken(BaseModel):
    """An id token of a tenant: who may charge, until when, and in which driver group."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    id_token: Annotated[TokenValue, Field(alias="idToken")]
    status: TokenStatus = TokenStatus.ACCEPTED
    type: IdTokenType | None = None
    expires_at: Annotated[AwareDatetime | None, Field(alias="expiresAt")] = None
    group_id: Annotated[GroupId | None, Field(alias="groupId")] = None
    parent_id_token: Annotated[TokenValue | None, Field(alias="parentIdToken")] = None
    # The stored version (0 before it is stored): the API's ETag. Not part of what a seed or
    # a request says about the token, so never dumped.
    version: Annotated[int, Field(ge=0, exclude=True)] = 0

    @property
    def key(self) -> str:
        """The token's case-insensitive identity."""
        return token_key(self.id_token)


class PresentedToken(BaseModel):
    """A token as a station presents it: a 1.6 idTag, or a 2.0.1 idToken with its type."""

    model_config = ConfigDict(frozen=True)

    value: str
    type: IdTokenType | None = None

    @property
    def key(self) -> str:
        """The token's case-insensitive identity."""
        return token_key(self.value)


class Authorization(BaseModel):
    """The decision on a presented token, with what both versions' idTagInfo/idTokenInfo carry."""

    model_config = ConfigDict(frozen=True)

    status: AuthorizationStatus
    expires_at: datetime | None = None
    parent_id_token: str | None = None
    group_id: str | None = None

    @property
    def accepted(self) -> bool:
        """True when the driver may charge."""
        return self.status is AuthorizationStatus.ACCEPTED


# Types that carry no identity of their own: nothing to look up, the station vouches for it.
_TYPES_WITHOUT_IDENTITY = frozenset({IdTokenType.NO_AUTHORIZATION})


def authorize(
    presented: PresentedToken,
    record: IdToken | None,
    now: datetime,
    *,
    busy_elsewhere: bool = False,
) -> Authorization:
    """Decide on a presented token.

    Unknown tokens are Invalid (the issue's rule; 2.0.1 would also allow Unknown). A stored
    type must match the presented one when both are given (2.0.1 keys tokens by value and type).
    `busy_elsewhere` is true when the token is in another active session: ConcurrentTx (1.6
    Authorize.conf / StartTransaction.conf "already involved in another transaction").
    """
    if presented.type in _TYPES_WITHOUT_IDENTITY:
        return Authorization(status=AuthorizationStatus.ACCEPTED)
    if record is None:
        return Authorization(status=AuthorizationStatus.INVALID)
    info = {
        "expires_at": record.expires_at,
        "parent_id_token": record.parent_id_token,
        "group_id": record.group_id,
    }
    if record.type is not None and presented.type is not None and record.type != presented.type:
        return Authorization(status=AuthorizationStatus.INVALID)
    if record.status is not TokenStatus.ACCEPTED:
        return Authorization(status=AuthorizationStatus(record.status.value), **info)
    if record.expires_at is not None and record.expires_at <= now:
        return Authorization(status=AuthorizationStatus.EXPIRED, **info)
    if busy_elsewhere:
        return Authorization(status=AuthorizationStatus.CONCURRENT_TX, **info)
    return Authorization(status=AuthorizationStatus.ACCEPTED, **info)
