"""Local stand-in for the API Gateway JWT authorizer: mint and verify HS256 tokens.

The signing key lives in a file (created on first use, mode 0600) so that `csms token` and a
running `csms local` agree on it.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jwt

ISSUER = "csms-local"
AUDIENCE = "csms"
ALGORITHM = "HS256"
DEFAULT_KEY_FILE = Path(".csms") / "local-signing.key"


class TokenError(ValueError):
    """A token that the local authorizer refuses."""


def signing_key(path: Path) -> str:
    """Read the key, creating it if needed."""
    if path.exists():
        key = path.read_text().strip()
        if len(key) < 32:
            raise TokenError(f"signing key file {path} is too short; delete it to make a new one")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def mint(
    key: str,
    *,
    tenant_id: str,
    role: str,
    subject: str = "local-operator",
    sites: Sequence[str] | None = None,
    ttl_s: int = 12 * 3600,
    now: float | None = None,
) -> str:
    """A bearer token the local runtime accepts; `sites` restricts the user to those sites."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "tenant_id": tenant_id,
        "role": role,
        "iat": issued,
        "exp": issued + ttl_s,
    }
    if sites is not None:
        claims["sites"] = list(sites)
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def verify(key: str, authorization: str | None) -> dict[str, Any]:
    """Claims of a valid `Bearer` token, else TokenError with the reason."""
    if not authorization:
        raise TokenError("missing bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("authorization is not a bearer token")
    try:
        claims: dict[str, Any] = jwt.decode(
            token.strip(),
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token: {exc}") from None
    return claims
