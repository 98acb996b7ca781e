"""The audit log: who changed what, when, and what it was before; never a secret.

An entry is built from what the HTTP API knows about a request (`AuditRequest`) and the changes
its route noted (`AuditChange`). Everything that goes into an entry passes `redact` first, so a
route that carelessly puts a password or a token into its before/after cannot leak it here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REDACTED = "[REDACTED]"
# Id token values are credentials of drivers (whoever knows a card's UID can charge on it), yet
# operators must still tell cards apart: all but the last characters are masked.
VISIBLE_TOKEN_CHARS = 4

JsonValue = Any
"""A value that JSON can carry (dict, list, str, int, float, bool, None)."""


def _normal(key: str) -> str:
    # passwordHash, password_hash and Password-Hash are one key.
    return re.sub(r"[^a-z0-9]", "", key.lower())


# Keys whose values are never kept, whatever they hold (compared in `_normal` form).
_SECRET_KEYS = frozenset(
    {
        "authorization",  # an HTTP header: Bearer or Basic credentials
        "authorizationkey",  # OCPP 1.6 security profile 1/2 password (ChangeConfiguration key)
        "cookie",
        "setcookie",
        "token",
        "jwt",
    }
)
# Substrings that make a key secret: password, passwordHash, basicAuthPassword, clientSecret,
# apiKey, x-api-key, accessToken, refreshToken, sessionToken, privateKey, ...
_SECRET_PARTS = ("password", "passwd", "secret", "apikey", "privatekey", "credential")
# Keys ending in "token" hold bearer-like credentials, except these, whose values are id tokens
# of drivers (1.6 idTag/parentIdTag, 2.0.1 idToken/groupIdToken, the API's names for them).
_ID_TOKEN_KEYS = frozenset(
    {
        "idtoken",
        "idtag",
        "parentidtag",
        "parentidtoken",
        "groupidtoken",
        "stoppedby",
        "additionalidtoken",
    }
)
# Configuration settings (1.6 keys, 2.0.1 variable names) whose values are credentials.
_SECRET_SETTINGS = frozenset({"authorizationkey", "basicauthpassword"})
# Fields that carry a setting's value next to its name, in 1.6 (key/value), 2.0.1
# (attributeValue) and the API's own command bodies.
_SETTING_VALUE_KEYS = frozenset({"value", "attributevalue", "values", "newvalue", "oldvalue"})
_SETTING_NAME_KEYS = ("key", "name", "setting", "variable", "configurationkey")
# Credentials recognised by their form wherever they appear: HTTP authorization values and JWTs.
_CREDENTIAL_VALUE = re.compile(
    r"\s*(?:bearer\s+[\w.~+/=-]{8,}|basic\s+[A-Za-z0-9+/]{8,}={0,2}|eyJ[\w-]+\.[\w-]+\.[\w-]*)\s*",
    re.IGNORECASE,
)


def is_secret_key(key: str) -> bool:
    """Whether a key's value is a credential that is never kept."""
    normal = _normal(key)
    if normal in _SECRET_KEYS or any(part in normal for part in _SECRET_PARTS):
        return True
    return normal.endswith("token") and normal not in _ID_TOKEN_KEYS


def is_id_token_key(key: str) -> bool:
    """Whether a key's value is a driver's id token (kept masked)."""
    return _normal(key) in _ID_TOKEN_KEYS


def is_secret_setting(name: str) -> bool:
    """Whether a configuration setting (1.6 key, 2.0.1 variable) holds a credential."""
    normal = _normal(name)
    return normal in _SECRET_SETTINGS or any(part in normal for part in _SECRET_PARTS)


def mask_id_token(value: str) -> str:
    """All but the last characters masked; a short value is masked whole."""
    if len(value) <= VISIBLE_TOKEN_CHARS:
        return "*" * len(value)
    return "*" * (len(value) - VISIBLE_TOKEN_CHARS) + value[-VISIBLE_TOKEN_CHARS:]


def redact(value: JsonValue) -> JsonValue:
    """A copy of a JSON value with every credential removed and every id token masked.

    Keys are matched without regard to case or separators. A mapping that names a secret
    configuration setting (`{"key": "AuthorizationKey", "value": ...}`, 2.0.1
    `{"variable": {"name": "BasicAuthPassword"}, "attributeValue": ...}`) loses the value.
    Strings that look like credentials (`Bearer ...`, a JWT) are removed wherever they are.
    The result is redacted again unchanged (idempotent).
    """
    return _redact(value, id_token=False)


def _redact(value: JsonValue, *, id_token: bool) -> JsonValue:
    # `id_token`: the value sits under an id token key. It masks strings, in lists too, but
    # not inside an object ({"idToken": {"idToken": "...", "type": ...}}): its own keys decide.
    if isinstance(value, Mapping):
        return _redact_mapping(value)
    if isinstance(value, list | tuple):
        return [_redact(item, id_token=id_token) for item in value]
    if isinstance(value, str):
        if _CREDENTIAL_VALUE.fullmatch(value):
            return REDACTED
        return mask_id_token(value) if id_token else value
    return value


def _redact_mapping(value: Mapping[Any, JsonValue]) -> dict[str, JsonValue]:
    secret_setting = _names_secret_setting(value)
    result: dict[str, JsonValue] = {}
    for raw_key, item in value.items():
        key = str(raw_key)
        if is_secret_key(key) or (secret_setting and _normal(key) in _SETTING_VALUE_KEYS):
            result[key] = REDACTED
        else:
            result[key] = _redact(item, id_token=is_id_token_key(key))
    return result


def _names_secret_setting(value: Mapping[Any, JsonValue]) -> bool:
    for name_key in _SETTING_NAME_KEYS:
        for key, item in value.items():
            if _normal(str(key)) != name_key:
                continue
            name = item.get("name") if isinstance(item, Mapping) else item
            if isinstance(name, str) and is_secret_setting(name):
                return True
    return False


def changed_fields(before: JsonValue, after: JsonValue, prefix: str = "") -> list[str]:
    """The dotted paths of the fields that differ, sorted (nested objects are descended).

    A resource created or removed (one side None) has all its fields changed.
    """
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        changed: list[str] = []
        for key in sorted({*before, *after}, key=str):
            path = f"{prefix}{key}"
            if key not in before or key not in after:
                changed.append(path)
            else:
                changed.extend(changed_fields(before[key], after[key], f"{path}."))
        return changed
    if not prefix:
        present = before if isinstance(before, Mapping) else after
        return sorted(str(key) for key in present) if isinstance(present, Mapping) else []
    return [] if before == after else [prefix.removesuffix(".")]


class AuditOutcome(StrEnum):
    """What became of the request."""

    SUCCEEDED = "Succeeded"  # 1xx-3xx
    DENIED = "Denied"  # 401, 403: who asked may not
    REJECTED = "Rejected"  # any other 4xx: what was asked cannot be done
    FAILED = "Failed"  # 5xx: our fault

    @classmethod
    def of(cls, status: int) -> AuditOutcome:
        """The outcome of an HTTP status."""
        if status in (401, 403):
            return cls.DENIED
        if status >= 500:
            return cls.FAILED
        if status >= 400:
            return cls.REJECTED
        return cls.SUCCEEDED


class Actor(BaseModel):
    """Who made the request, as far as their token tells."""

    model_config = ConfigDict(frozen=True)

    subject: str | None = None
    role: str | None = None
    sites: tuple[str, ...] | None = None  # None: every site of the tenant


class AuditRequest(BaseModel):
    """What the HTTP API knows about a request once its route has run."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    actor: Actor
    method: str
    path: str
    route: str | None = None  # the declared path (`/v1/tokens/<id_token>`), if one matched
    status: int
    source_ip: str | None = None
    request_id: str | None = None


class AuditChange(BaseModel):
    """One resource a request changed, as its route noted it."""

    model_config = ConfigDict(frozen=True)

    kind: str
    resource_id: str
    before: dict[str, JsonValue] | None = None
    after: dict[str, JsonValue] | None = None
    action: str | None = None
    details: dict[str, JsonValue] = Field(default_factory=dict)


class AuditEntry(BaseModel):
    """One line of a tenant's audit log (already redacted)."""

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    at: datetime
    actor: Actor
    source_ip: str | None = None
    request_id: str | None = None
    method: str
    path: str
    action: str
    resource_kind: str | None = None
    resource_id: str | None = None
    status: int
    outcome: AuditOutcome
    before: dict[str, JsonValue] | None = None
    after: dict[str, JsonValue] | None = None
    changed_fields: tuple[str, ...] = ()
    details: dict[str, JsonValue] = Field(default_factory=dict)


# Resource kinds whose ids are id token values: masked like the values themselves.
_TOKEN_KINDS = frozenset({"token", "idtoken", "tokens"})
_VERBS = {"POST": "create", "PUT": "put", "PATCH": "update", "DELETE": "delete"}


def entries_for(
    request: AuditRequest,
    changes: Sequence[AuditChange],
    at: datetime,
    ids: Sequence[str],
) -> list[AuditEntry]:
    """The entries of a request: one per change, or one describing the request if none.

    `ids` are the entries' ids (one per change, at least one), made by `audit_id`.
    """
    if at.tzinfo is None:
        raise ValueError("audit time must be tz-aware")
    path = redact_path(request.path)
    common: dict[str, Any] = {
        "tenant_id": request.tenant_id,
        "at": at.astimezone(UTC),
        "actor": request.actor,
        "source_ip": request.source_ip,
        "request_id": request.request_id,
        "method": request.method.upper(),
        "path": path,
        "status": request.status,
        "outcome": AuditOutcome.of(request.status),
    }
    if not changes:
        kind, resource_id = resource_of(path)
        action = f"{request.method.upper()} {_template(request.route or path)}"
        return [
            AuditEntry(
                id=ids[0], action=action, resource_kind=kind, resource_id=resource_id, **common
            )
        ]
    entries = []
    for entry_id, change in zip(ids, changes, strict=True):
        before = redact(change.before) if change.before is not None else None
        after = redact(change.after) if change.after is not None else None
        verb = _VERBS.get(request.method.upper(), request.method.lower())
        entries.append(
            AuditEntry(
                id=entry_id,
                action=change.action or f"{change.kind}.{verb}",
                resource_kind=change.kind,
                resource_id=stored_resource_id(change.kind, change.resource_id),
                before=before,
                after=after,
                # From what the route noted: a changed secret is named, its value is not.
                changed_fields=tuple(changed_fields(change.before, change.after)),
                details=redact(change.details),
                **common,
            )
        )
    return entries


def stored_resource_id(kind: str, resource_id: str) -> str:
    """A resource id as the log keeps it: id token values masked."""
    return mask_id_token(resource_id) if _normal(kind) in _TOKEN_KINDS else resource_id


def _template(path: str) -> str:
    # Powertools declares `/v1/tokens/<id_token>`; OpenAPI (and operators) write `{id_token}`.
    return re.sub(r"<(\w+)>", r"{\1}", path)


def redact_path(path: str) -> str:
    """The path with an id token value in it masked (`/v1/tokens/{value}/...`)."""
    parts = path.split("/")
    for index, part in enumerate(parts[:-1]):
        if _normal(part) in _TOKEN_KINDS and parts[index + 1]:
            parts[index + 1] = mask_id_token(parts[index + 1])
    return "/".join(parts)


def resource_of(path: str) -> tuple[str | None, str | None]:
    """The resource a path names: `/v1/stations/CP-1/commands` -> ("station", "CP-1")."""
    parts = [part for part in path.split("/") if part]
    if parts and re.fullmatch(r"v\d+", parts[0]):
        parts = parts[1:]
    if not parts:
        return None, None
    collection = parts[0]
    kind = collection[:-1] if collection.endswith("s") else collection
    return kind, parts[1] if len(parts) > 1 else None


def audit_id(at: datetime, entropy: str) -> str:
    """A time-sortable unique id: a UUIDv7 (RFC 9562) of the instant and random bits.

    `entropy` is any random hex text (a UUID4's digits will do); 74 bits of it are used.
    """
    millis = int(at.timestamp() * 1000) & ((1 << 48) - 1)
    digits = re.sub(r"[^0-9a-f]", "", entropy.lower())
    bits = int(digits or "0", 16) & ((1 << 74) - 1)
    rand_a, rand_b = bits >> 62, bits & ((1 << 62) - 1)
    value = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))
