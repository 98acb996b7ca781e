"""Every route x every role: 403 `forbidden` exactly when the role lacks the permission.

The routes come from `ROUTE_PERMISSIONS` and their sample requests from the catalogue, so a
route added later is checked as soon as it is declared (and fails until it has a sample). Each
route gets acme's world as built; the roles holding the permission call it least powerful first,
and the first of them must succeed (the sample is valid), the others must never see a 403.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.integration.api_catalogue import (
    SAMPLES,
    Acme,
    Answer,
    Sample,
    acme_on_moto,
    call,
    call_raw,
    claims,
)

from csms.domain.access import ROLE_PERMISSIONS, TENANT_WIDE, Permission, Role
from csms.handlers.api_access import ROUTE_PERMISSIONS

ROUTES = sorted(ROUTE_PERMISSIONS)
IDS = [f"{method} {path}" for method, path in ROUTES]
LEAST_POWERFUL_FIRST = sorted(Role, key=lambda role: role.rank)


@pytest.fixture(scope="module")
def acme_once(template: dict[str, Any]) -> Iterator[Acme]:
    with pytest.MonkeyPatch.context() as monkeypatch, acme_on_moto(template, monkeypatch) as acme:
        yield acme


@pytest.fixture
def acme(acme_once: Acme) -> Acme:
    """Acme's world as built, whatever the test before changed."""
    acme_once.restore()
    return acme_once


def _forbidden(answer: Answer) -> bool:
    return answer.status == 403 and answer.problem_type == "/problems/forbidden"


def test_every_route_has_a_sample_request() -> None:
    # GIVEN the declared routes and the catalogue
    # THEN every route has a sample (add one to tests/integration/api_catalogue.py) and the
    # catalogue holds no sample of a route that is gone
    missing = sorted(set(ROUTE_PERMISSIONS) - set(SAMPLES))
    stale = sorted(set(SAMPLES) - set(ROUTE_PERMISSIONS))
    assert missing == [], f"routes without a sample request: {missing}"
    assert stale == [], f"samples of routes that do not exist: {stale}"


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=IDS)
def test_route_answers_403_exactly_to_roles_without_the_permission(
    acme: Acme, method: str, path: str
) -> None:
    # GIVEN acme's world, the route's permission and its sample request
    permission = ROUTE_PERMISSIONS[(method, path)]
    assert (method, path) in SAMPLES, f"{method} {path} has no sample in api_catalogue.py"
    sample = SAMPLES[(method, path)](acme.world)
    lacking = [r for r in Role if permission is not None and permission not in ROLE_PERMISSIONS[r]]
    holding = [r for r in LEAST_POWERFUL_FIRST if r not in lacking]
    # WHEN each role lacking the permission calls it
    for role in lacking:
        answer = call(method, path, sample, claims(role.value))
        # THEN 403 forbidden, naming the role and the permission
        assert _forbidden(answer), f"{role.value}: {answer}"
        assert f"role {role.value} may not" in answer.json()["detail"]
    # WHEN each role holding it calls it, least powerful first
    for index, role in enumerate(holding):
        answer = call(method, path, sample, claims(role.value))
        # THEN never 403 and never a server error; the first succeeds (the sample is valid)
        assert answer.status != 403, f"{role.value}: {answer}"
        assert answer.status < 500, f"{role.value}: {answer}"
        if index == 0:
            assert 200 <= answer.status < 300, f"{role.value}, the sample failed: {answer}"


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=IDS)
def test_route_refuses_callers_without_identity_or_role(acme: Acme, method: str, path: str) -> None:
    permission = ROUTE_PERMISSIONS[(method, path)]
    sample = SAMPLES[(method, path)](acme.world)
    # WHEN called without claims, with claims but no tenant, and with an unknown role
    anonymous = call(method, path, sample, None)
    no_tenant = call(method, path, sample, {"sub": "someone", "role": "owner"})
    emperor = call(method, path, sample, claims("emperor"))
    no_role = call(method, path, sample, claims(None))
    if permission is None:
        # THEN a public route answers everyone
        assert 200 <= anonymous.status < 300, anonymous
        return
    # THEN 401 unauthorized with a bearer challenge without identity
    for answer in (anonymous, no_tenant):
        assert (answer.status, answer.problem_type) == (401, "/problems/unauthorized"), answer
        assert answer.headers["www-authenticate"] == "Bearer"
    # AND 403 forbidden with a token whose role is unknown or missing
    for answer in (emperor, no_role):
        assert _forbidden(answer), answer
        assert "no known role" in answer.json()["detail"]


TENANT_WIDE_ROUTES = [
    key
    for key in ROUTES
    if ROUTE_PERMISSIONS[key] is not None and ROUTE_PERMISSIONS[key] in TENANT_WIDE
]


@pytest.mark.parametrize(
    ("method", "path"), TENANT_WIDE_ROUTES, ids=[f"{m} {p}" for m, p in TENANT_WIDE_ROUTES]
)
def test_site_restricted_user_gets_403_on_tenant_wide_routes(
    acme: Acme, method: str, path: str
) -> None:
    # GIVEN an owner restricted to acme's first site (owners hold every permission)
    restricted = claims("owner", sites=[acme.world.site])
    sample = SAMPLES[(method, path)](acme.world)
    # WHEN the owner calls a route whose permission acts on the whole tenant
    answer = call(method, path, sample, restricted)
    # THEN 403 forbidden, saying why
    assert _forbidden(answer), answer
    assert "limited to sites" in answer.json()["detail"]


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=IDS)
def test_site_restricted_user_is_not_refused_other_routes_by_the_guard(
    acme: Acme, method: str, path: str
) -> None:
    permission = ROUTE_PERMISSIONS[(method, path)]
    if permission in TENANT_WIDE:
        return  # the test above
    # GIVEN an owner restricted to the site of acme's station
    restricted = claims("owner", sites=[acme.world.site])
    sample = SAMPLES[(method, path)](acme.world)
    # WHEN the owner calls a route that acts within sites
    answer = call(method, path, sample, restricted)
    # THEN the guard lets the call through (what it may see is the route's business)
    assert not _forbidden(answer), answer
    assert answer.status < 500, answer


def test_tenant_wide_permissions_are_held_only_by_admins_and_owners() -> None:
    # GIVEN the role table
    # THEN the permissions that reach beyond sites belong to the two top roles only, so the
    # permission table in docs/permissions.md stays honest about them
    for permission in TENANT_WIDE:
        holders = {role for role in Role if permission in ROLE_PERMISSIONS[role]}
        assert holders <= {Role.OWNER, Role.ADMIN}, permission
    assert Permission.MANAGE_TENANT in TENANT_WIDE


def test_refusal_comes_before_body_validation(acme: Acme) -> None:
    # GIVEN a body that does not match the schema of creating a site
    invalid = Sample(body={"id": "", "limitKw": "lots"})
    # WHEN a viewer, and then a caller without a token, send it
    viewer = call("POST", "/v1/sites", invalid, claims("viewer"))
    anonymous = call("POST", "/v1/sites", invalid, None)
    owner = call("POST", "/v1/sites", invalid, claims("owner"))
    # THEN they are refused (403, 401) without learning the schema's complaints; only a caller
    # who may create sites is told what is wrong with the body
    assert _forbidden(viewer), viewer
    assert anonymous.status == 401, anonymous
    assert "errors" not in viewer.text
    assert "errors" not in anonymous.text
    assert (owner.status, owner.problem_type) == (400, "/problems/invalid-request"), owner


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data", "application/xml"])
def test_body_that_is_not_json_is_415(acme: Acme, content_type: str) -> None:
    # GIVEN a valid body sent with a content type that is not JSON
    sample = SAMPLES[("POST", "/v1/tokens")](acme.world)
    sample = Sample(body=sample.body, headers={"content-type": content_type})
    # WHEN the owner sends it
    answer = call("POST", "/v1/tokens", sample, claims("owner"))
    # THEN 415 unsupported-media-type, and nothing was created
    assert (answer.status, answer.problem_type) == (415, "/problems/unsupported-media-type")
    listed = call("GET", "/v1/tokens/<id_token>", Sample({"id_token": "NEW-TAG-9"}), claims())
    assert listed.status == 404


@pytest.mark.parametrize("body", [b"\x80\x81 not utf-8", b"{not json"])
def test_body_that_is_not_utf8_json_is_400(acme: Acme, body: bytes) -> None:
    # GIVEN a JSON content type with bytes that are not UTF-8 JSON (the gateway base64-encodes
    # what is not UTF-8)
    import base64

    # WHEN the owner sends them to create a token
    answer = call_raw("POST", "/v1/tokens", base64.b64encode(body).decode(), claims("owner"))
    # THEN 400 invalid-request naming the body, never a server error
    assert (answer.status, answer.problem_type) == (400, "/problems/invalid-request"), answer
    assert answer.json()["errors"][0]["location"] == "body"
