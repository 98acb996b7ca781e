"""Reading the caller from JWT claims, and ETags."""

from __future__ import annotations

from typing import Any

import pytest

from csms.domain.access import Role
from csms.domain.errors import ForbiddenError, VersionMismatchError
from csms.handlers.api_access import (
    UnauthorizedError,
    etag,
    expected_version,
    principal_from_claims,
)


@pytest.mark.parametrize(
    ("claims", "role", "sites"),
    [
        ({"sub": "u", "tenant_id": "t", "role": "viewer"}, Role.VIEWER, None),
        ({"sub": "u", "custom:tenant_id": "t", "custom:role": "Admin"}, Role.ADMIN, None),
        ({"sub": "u", "tenant_id": "t", "cognito:groups": ["operator"]}, Role.OPERATOR, None),
        ({"sub": "u", "tenant_id": "t", "cognito:groups": "[technician x]"}, Role.TECHNICIAN, None),
        (
            {"sub": "u", "tenant_id": "t", "role": "owner", "sites": ["a", "b"]},
            Role.OWNER,
            frozenset({"a", "b"}),
        ),
        (
            {"sub": "u", "tenant_id": "t", "role": "owner", "custom:sites": "a, b"},
            Role.OWNER,
            frozenset({"a", "b"}),
        ),
        ({"sub": "u", "tenant_id": "t", "role": "owner", "custom:sites": "*"}, Role.OWNER, None),
    ],
)
def test_principal_from_claims_reads_cognito_and_local_forms(
    claims: dict[str, Any], role: Role, sites: frozenset[str] | None
) -> None:
    principal = principal_from_claims(claims)
    assert (principal.subject, principal.tenant_id) == ("u", "t")
    assert principal.role is role
    assert principal.sites == sites


def test_principal_from_claims_takes_the_cognito_username_as_subject() -> None:
    # GIVEN a Cognito ID token and an access token of the user "jane" (sub is Cognito's UUID)
    base = {"sub": "0b5c-uuid", "custom:tenant_id": "t", "custom:role": "viewer"}
    # THEN the subject is the user's id in the CSMS, not the UUID
    assert principal_from_claims({**base, "cognito:username": "jane"}).subject == "jane"
    assert principal_from_claims({**base, "username": "jane"}).subject == "jane"


@pytest.mark.parametrize("claims", [{}, {"sub": "u"}, {"tenant_id": "t", "role": "admin"}])
def test_principal_from_claims_without_tenant_or_subject_is_unauthorized(
    claims: dict[str, Any],
) -> None:
    with pytest.raises(UnauthorizedError):
        principal_from_claims(claims)


@pytest.mark.parametrize("role", [None, "emperor"])
def test_principal_from_claims_without_a_known_role_is_forbidden(role: str | None) -> None:
    claims = {"sub": "u", "tenant_id": "t", **({"role": role} if role else {})}
    with pytest.raises(ForbiddenError, match="no known role"):
        principal_from_claims(claims)


def test_expected_version_reads_if_match() -> None:
    assert expected_version(None, "site", "s") is None
    assert expected_version("*", "site", "s") is None
    assert expected_version(etag(7), "site", "s") == 7
    assert expected_version('"3", "4"', "site", "s") == 3
    with pytest.raises(VersionMismatchError):
        expected_version('W/"3"', "site", "s")
