"""Clock, ids and password hashing for production."""

from __future__ import annotations

import secrets
import string
import uuid
from datetime import UTC, datetime
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class SystemClock:
    """The real time, tz-aware UTC."""

    def now(self) -> datetime:
        """Return the current instant."""
        return datetime.now(UTC)


def new_uuid() -> str:
    """A random UUID as text (event ids, call ids)."""
    return str(uuid.uuid4())


_PASSWORD_ALPHABET = string.ascii_letters + string.digits


def new_station_password(length: int = 24) -> str:
    """A strong station password, alphanumeric so that any station's config tool takes it.

    24 characters of 62 symbols (about 142 bits), within OCPP 2.0.1's 16-40 characters.
    """
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


class Argon2PasswordHasher:
    """Argon2id with the library's recommended parameters (RFC 9106 low-memory profile)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    def hash(self, password: str) -> str:
        """Return a salted Argon2id hash in PHC string format."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """Check a password; a malformed stored hash never matches."""
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def decoy_hash(self) -> str:
        """Hash of an unguessable password, computed once per container."""
        return self._decoy

    @cached_property
    def _decoy(self) -> str:
        return self._hasher.hash(secrets.token_urlsafe(32))
