"""The tariff endpoints on moto: tariffs and their versions, assignments, resolving."""

from __future__ import annotations

from typing import Any

import pytest
from tests.integration.test_api import call_api

from csms.domain.seed import Seed
from csms.handlers import _runtime

T = "default"
OWNER = {"sub": "owner-1", "tenant_id": T, "role": "owner"}
VIEWER = {"sub": "viewer-1", "tenant_id": T, "role": "viewer"}
RESTRICTED = {"sub": "admin-2", "tenant_id": T, "role": "admin", "sites": ["site-1"]}
OTHER = {"sub": "other-1", "tenant_id": "t-other", "role": "owner"}


def terms(**over: Any) -> dict[str, Any]:
    return {"name": "Public", "currency": "EUR", "prices": {"energyPerKwh": "0.39"}, **over}


@pytest.fixture
def world(runtime: _runtime.Runtime) -> None:
    """Sites site-1 (station CP-1) and site-2 (CP-2), group fleet, token TAG-F in it."""
    runtime.seeds.load(
        T,
        Seed.model_validate(
            {
                "sites": [
                    {"id": "site-1", "name": "One", "limitKw": 50},
                    {"id": "site-2", "name": "Two", "limitKw": 50},
                ],
                "stations": [
                    {"id": "CP-1", "siteId": "site-1", "password": "secret-pass-1"},
                    {"id": "CP-2", "siteId": "site-2", "password": "secret-pass-2"},
                ],
                "tokens": [{"idToken": "TAG-F", "type": "ISO14443", "groupId": "fleet"}],
            }
        ),
    )
    _runtime.reset()
    status, _, _ = call_api(
        "POST", "/v1/groups", claims=OWNER, body={"id": "fleet", "kind": "fleet", "name": "F"}
    )
    assert status == 201


def _create(tariff_id: str, **over: Any) -> None:
    status, _, body = call_api(
        "POST", "/v1/tariffs", claims=OWNER, body={"id": tariff_id, **terms(**over)}
    )
    assert status == 201, body


def _assign(claims: dict[str, Any] = OWNER, **body: Any) -> tuple[int, Any]:
    status, _, answer = call_api("POST", "/v1/tariff-assignments", claims=claims, body=body)
    return status, answer


def test_tariff_put_stores_a_new_version_and_keeps_the_old_one(world: None) -> None:
    # GIVEN a tariff at version 1
    status, headers, created = call_api(
        "POST", "/v1/tariffs", claims=OWNER, body={"id": "public", **terms()}
    )
    assert (status, headers["etag"], headers["location"]) == (201, '"1"', "/v1/tariffs/public")
    assert created["prices"]["energyPerKwh"] == "0.39"
    # WHEN it is changed (If-Match 1), changed again on the stale ETag, and left as it is
    status, headers, changed = call_api(
        "PUT",
        "/v1/tariffs/public",
        claims=OWNER,
        headers={"If-Match": '"1"'},
        body=terms(prices={"energyPerKwh": "0.45"}),
    )
    stale, _, problem = call_api(
        "PUT", "/v1/tariffs/public", claims=OWNER, headers={"If-Match": '"1"'}, body=terms()
    )
    same, same_headers, _ = call_api(
        "PUT", "/v1/tariffs/public", claims=OWNER, body=terms(prices={"energyPerKwh": "0.45"})
    )
    # THEN version 2 is current; the stale change is a 412; the no-op stores nothing
    assert (status, headers["etag"], changed["version"]) == (200, '"2"', 2)
    assert (stale, problem["type"]) == (412, "/problems/version-mismatch")
    assert (same, same_headers["etag"]) == (200, '"2"')
    # AND both versions stay readable, oldest first, to every role that reads
    status, _, versions = call_api("GET", "/v1/tariffs/public/versions", claims=VIEWER)
    assert [v["prices"]["energyPerKwh"] for v in versions["items"]] == ["0.39", "0.45"]
    status, _, first = call_api("GET", "/v1/tariffs/public/versions/1", claims=VIEWER)
    assert (status, first["version"], first["prices"]["energyPerKwh"]) == (200, 1, "0.39")
    missing, _, problem = call_api("GET", "/v1/tariffs/public/versions/3", claims=VIEWER)
    assert (missing, problem["type"]) == (404, "/problems/tariff-version-not-found")
    # AND another tenant sees none of it
    status, _, problem = call_api("GET", "/v1/tariffs/public", claims=OTHER)
    assert (status, problem["type"]) == (404, "/problems/tariff-not-found")


@pytest.mark.parametrize(
    ("body", "location", "text"),
    [
        (
            terms(
                tou=[
                    {
                        "name": "peak",
                        "windows": [{"days": ["Monday"], "start": "17:00", "end": "21:00"}],
                        "prices": {"energyPerKwh": "0.5"},
                    },
                    {
                        "name": "evening",
                        "windows": [{"days": ["Monday"], "start": "20:00", "end": "22:00"}],
                        "prices": {"energyPerKwh": "0.4"},
                    },
                ]
            ),
            "body.tou",
            "overlap",
        ),
        (terms(currency="EUX"), "body.currency", ""),
        (terms(prices={"energyPerKwh": "-0.1"}), "body.prices.energyPerKwh", ""),
        (terms(minPrice="5", maxPrice="2"), "body.maxPrice", "minPrice"),
    ],
)
def test_tariff_bodies_the_domain_refuses_are_400_with_the_field_location(
    world: None, body: dict[str, Any], location: str, text: str
) -> None:
    # GIVEN a tariff body with overlapping windows, an unknown currency, a negative price or
    # a minimum above the maximum
    # WHEN it is posted
    status, _, problem = call_api("POST", "/v1/tariffs", claims=OWNER, body={"id": "x", **body})
    # THEN 400 invalid-request, pointing at the field; nothing stored
    assert (status, problem["type"]) == (400, "/problems/invalid-request")
    assert any(e["location"] == location and text in e["message"] for e in problem["errors"]), (
        problem
    )
    assert call_api("GET", "/v1/tariffs/x", claims=OWNER)[0] == 404


def test_tariff_in_use_cannot_be_deleted_and_versions_outlive_deletion(world: None) -> None:
    # GIVEN a tariff assigned at site-1
    _create("public")
    status, assignment = _assign(tariffId="public", siteId="site-1")
    assert status == 201
    # WHEN deleted while assigned, then after the assignment went
    in_use, _, problem = call_api("DELETE", "/v1/tariffs/public", claims=OWNER)
    unassigned = call_api("DELETE", f"/v1/tariff-assignments/{assignment['id']}", claims=OWNER)
    deleted = call_api("DELETE", "/v1/tariffs/public", claims=OWNER)[0]
    # THEN 409 tariff-in-use, then 204; it is gone from reads and assignments
    assert (in_use, problem["type"]) == (409, "/problems/tariff-in-use")
    assert (unassigned[0], deleted) == (204, 204)
    assert call_api("GET", "/v1/tariffs", claims=OWNER)[2]["items"] == []
    status, problem = _assign(tariffId="public", siteId="site-1")
    assert (status, problem["type"]) == (422, "/problems/invalid-reference")
    # AND its versions stay for the sessions priced with them
    version = _runtime.api().tariffs.version_at(T, "public", _now())
    assert version is not None
    assert version.version == 1


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tariffId": "ghost"}, "tariffId"),
        ({"tariffId": "public", "siteId": "nowhere"}, "siteId"),
        ({"tariffId": "public", "stationId": "CP-9"}, "stationId"),
        ({"tariffId": "public", "groupId": "ghosts"}, "groupId"),
    ],
)
def test_assignment_to_unknown_things_is_422(world: None, body: dict[str, Any], field: str) -> None:
    # GIVEN a tariff
    _create("public")
    # WHEN assigned with an unknown tariff, site, station or group
    status, problem = _assign(**body)
    # THEN 422 invalid-reference naming the field
    assert (status, problem["type"]) == (422, "/problems/invalid-reference")
    assert problem["detail"].startswith(field)


def test_assignments_one_per_slot_and_bad_places_are_400(world: None) -> None:
    # GIVEN an EVSE assignment
    _create("public")
    _create("other")
    status, made = _assign(tariffId="public", stationId="CP-1", evseId=2, idToken="tag-f")
    assert (status, made["level"], made["audience"], made["siteId"]) == (
        201,
        "evse",
        "token",
        "site-1",
    )
    # WHEN the same slot gets another tariff (the token spelled otherwise), or the body names
    # an EVSE without a station, a site and a station, a group and a token
    taken, problem = _assign(tariffId="other", stationId="CP-1", evseId=2, idToken="TAG-F")
    bad = [
        _assign(tariffId="public", evseId=1)[0],
        _assign(tariffId="public", siteId="site-1", stationId="CP-1")[0],
        _assign(tariffId="public", groupId="fleet", idToken="x")[0],
    ]
    # THEN 409 for the slot, 400 for the rest
    assert (taken, problem["type"]) == (409, "/problems/tariff-assignment-exists")
    assert bad == [400, 400, 400]


def test_restricted_users_assign_and_see_only_at_their_sites(world: None) -> None:
    # GIVEN assignments at both sites and one tenant-wide, made by the owner
    _create("public")
    _assign(tariffId="public", siteId="site-2")
    _assign(tariffId="public")
    # WHEN a user restricted to site-1 assigns there, tenant-wide, at site-2, and lists
    here, mine = _assign(RESTRICTED, tariffId="public", stationId="CP-1")
    tenant_wide, forbidden = _assign(RESTRICTED, tariffId="public", groupId="fleet")
    elsewhere, _ = _assign(RESTRICTED, tariffId="public", stationId="CP-2")
    _, _, listed = call_api("GET", "/v1/tariff-assignments", claims=RESTRICTED)
    # THEN only the one at their site is made and shown; tariffs they may not change
    assert (here, tenant_wide, elsewhere) == (201, 403, 422)
    assert forbidden["type"] == "/problems/forbidden"
    assert [a["id"] for a in listed["items"]] == [mine["id"]]
    assert call_api("POST", "/v1/tariffs", claims=RESTRICTED, body={"id": "y", **terms()})[0] == 403


def test_resolve_applies_the_precedence_with_the_tokens_group(world: None) -> None:
    # GIVEN the public tariff at site-1's station CP-1 and the fleet's tariff tenant-wide
    _create("public")
    _create("fleet-rate", prices={"energyPerKwh": "0.20"})
    _assign(tariffId="public", stationId="CP-1")
    _assign(tariffId="fleet-rate", groupId="fleet")

    def resolve(**query: str) -> tuple[int, Any]:
        status, _, body = call_api(
            "GET", "/v1/tariff-assignments/resolve", claims=VIEWER, query=query
        )
        return status, body

    # WHEN resolved for a fleet token, an unknown token, and at CP-2 without a token
    fleet = resolve(stationId="CP-1", evseId="1", idToken="tag-f")
    anyone = resolve(stationId="CP-1", idToken="ANY")
    nothing = resolve(stationId="CP-2")
    ghost = resolve(stationId="CP-9")
    # THEN the group's tariff beats the station's; the public one for others; none at CP-2
    assert (fleet[0], fleet[1]["tariff"]["id"], fleet[1]["assignment"]["audience"]) == (
        200,
        "fleet-rate",
        "group",
    )
    assert (anyone[0], anyone[1]["tariff"]["id"]) == (200, "public")
    assert (nothing[0], nothing[1]["type"]) == (404, "/problems/tariff-assignment-not-found")
    assert (ghost[0], ghost[1]["type"]) == (404, "/problems/station-not-found")


def test_assignment_deleted_then_recreated_in_its_slot_keeps_its_history(world: None) -> None:
    # GIVEN the public tariff assigned at CP-1, then deleted, then the dear one in its slot
    _create("public")
    _create("dear", prices={"energyPerKwh": "0.79"})
    _, first = _assign(tariffId="public", stationId="CP-1")
    gone = call_api("DELETE", f"/v1/tariff-assignments/{first['id']}", claims=OWNER)[0]
    again = call_api("DELETE", f"/v1/tariff-assignments/{first['id']}", claims=OWNER)[0]
    status, second = _assign(tariffId="dear", stationId="CP-1")

    # WHEN the assignments are listed, with and without the ended ones, the first is read, and
    # the tariff is resolved for a session that started while the first was in force
    current = call_api("GET", "/v1/tariff-assignments", claims=VIEWER)[2]["items"]
    everything = call_api(
        "GET", "/v1/tariff-assignments", claims=VIEWER, query={"includeEnded": "true"}
    )[2]["items"]
    read, _, ended = call_api("GET", f"/v1/tariff-assignments/{first['id']}", claims=VIEWER)
    then = call_api(
        "GET",
        "/v1/tariff-assignments/resolve",
        claims=VIEWER,
        query={"stationId": "CP-1", "at": first["validFrom"]},
    )[2]
    now = call_api(
        "GET", "/v1/tariff-assignments/resolve", claims=VIEWER, query={"stationId": "CP-1"}
    )[2]

    # THEN the slot was freed by the delete and taken again under a new id; the first is kept,
    # ended, listed only when asked; each moment resolves to the assignment in force then
    assert (gone, again, status) == (204, 404, 201)
    assert second["id"] != first["id"]
    assert first["validUntil"] is None
    assert [a["id"] for a in current] == [second["id"]]
    assert sorted(a["id"] for a in everything) == sorted([first["id"], second["id"]])
    assert read == 200
    assert ended["validFrom"] == first["validFrom"]
    assert ended["validUntil"] is not None
    assert ended["validUntil"] <= second["validFrom"]
    assert (then["assignment"]["id"], then["tariff"]["id"]) == (first["id"], "public")
    assert (now["assignment"]["id"], now["tariff"]["id"]) == (second["id"], "dear")
    # AND the tariff only the ended assignment names may be deleted
    assert call_api("DELETE", "/v1/tariffs/public", claims=OWNER)[0] == 204
