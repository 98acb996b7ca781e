"""The tenancy endpoints on moto: sites, driver groups, vehicles, users and the tenant profile."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.integration.conftest import http_event, invoke_api

from csms.adapters.dynamo import site_partition, station_pk
from csms.adapters.dynamo_models import StationItem
from csms.handlers import _runtime, api_common
from csms.handlers.api_access import Change
from csms_local import emulation

TENANT = "t-tenancy"
OWNER = {"sub": "owner-1", "tenant_id": TENANT, "role": "owner"}
ADMIN = {"sub": "admin-1", "tenant_id": TENANT, "role": "admin"}
VIEWER = {"sub": "viewer-1", "tenant_id": TENANT, "role": "viewer"}
OTHER = {"sub": "other-1", "tenant_id": "t-other", "role": "owner"}

ADDRESS = {"street": "Hafenstraße 1", "city": "Hamburg", "postalCode": "20457", "country": "DE"}
STORED_ADDRESS = {**ADDRESS, "region": None}


def call(
    method: str,
    path: str,
    body: Any = None,
    *,
    claims: dict[str, Any] | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    event = http_event(
        method,
        path,
        claims=claims or OWNER,
        query=query,
        headers=headers,
        body=json.dumps(body) if body is not None else None,
        source_ip="::1",
    )
    status, answer_headers, text = invoke_api(event)
    return status, answer_headers, json.loads(text) if text else None


@pytest.fixture
def changes(aws: emulation.EmulatedResources, monkeypatch: pytest.MonkeyPatch) -> list[Change]:
    """The audit changes the tenancy routes record (moto and the API runtime ready)."""
    del aws
    recorded: list[Change] = []
    monkeypatch.setattr(api_common, "record_change", recorded.append)
    _runtime.reset()
    return recorded


def a_site(site_id: str = "depot", **over: Any) -> dict[str, Any]:
    return {"id": site_id, "name": "Depot", "address": ADDRESS, "limitKw": 250, **over}


def assign_station(tenant: str, site_id: str, station_id: str = "CP-9") -> None:
    """A station item as the stations part writes it: its site on GSI2."""
    StationItem(
        station_pk(station_id),
        "META",
        tenant_id=tenant,
        site_id=site_id,
        GSI2PK=site_partition(tenant, site_id),
        GSI2SK=f"STATION#{station_id}",
    ).save()


# -- sites ------------------------------------------------------------------------------------


def test_api_site_create_answers_201_with_location_etag_and_audit(changes: list[Change]) -> None:
    # WHEN an owner creates a site
    status, headers, body = call("POST", "/v1/sites", a_site(timezone="Europe/Berlin"))
    # THEN 201, where it is, its version, and the site as stored
    assert status == 201
    assert headers["location"] == "/v1/sites/depot"
    assert headers["etag"] == '"1"'
    assert body["address"] == STORED_ADDRESS
    assert body["timezone"] == "Europe/Berlin"
    assert body["limitKw"] == 250
    assert body["version"] == 1
    # AND the audit log gets the creation
    assert [(c.kind, c.resource_id, c.action, c.before) for c in changes] == [
        ("site", "depot", "site.create", None)
    ]
    assert changes[0].after == body
    # AND reading it answers the same ETag
    status, headers, read = call("GET", "/v1/sites/depot", claims=VIEWER)
    assert (status, headers["etag"], read) == (200, '"1"', body)


def test_api_site_create_twice_is_409_site_exists(changes: list[Change]) -> None:
    # GIVEN a site
    call("POST", "/v1/sites", a_site())
    # WHEN it is created again
    status, headers, body = call("POST", "/v1/sites", a_site())
    # THEN 409 site-exists, as a problem
    assert status == 409
    assert headers["content-type"] == "application/problem+json"
    assert body["type"] == "/problems/site-exists"


@pytest.mark.parametrize(
    ("over", "location"),
    [
        ({"timezone": "Mars/Olympus"}, "body.timezone"),
        ({"timezone": "../etc/passwd"}, "body.timezone"),
        ({"address": {**ADDRESS, "country": "XX"}}, "body.address.country"),
        ({"limitKw": 0}, "body.limitKw"),
        ({"id": "a/b"}, "body.id"),
    ],
)
def test_api_site_create_refuses_invalid_fields_with_400(
    changes: list[Change], over: dict[str, Any], location: str
) -> None:
    # WHEN a site has an invalid field
    status, _, body = call("POST", "/v1/sites", a_site(**over))
    # THEN 400 invalid-request naming the field; nothing is stored
    assert status == 400
    assert body["type"] == "/problems/invalid-request"
    assert location in [error["location"] for error in body["errors"]]
    assert call("GET", "/v1/sites")[2]["items"] == []
    assert changes == []


def test_api_sites_list_in_pages_by_id(changes: list[Change]) -> None:
    # GIVEN three sites
    for site_id in ("c", "a", "b"):
        call("POST", "/v1/sites", a_site(site_id))
    # WHEN they are listed two at a time
    _, _, first = call("GET", "/v1/sites", query={"limit": "2"})
    _, _, second = call("GET", "/v1/sites", query={"limit": "2", "cursor": first["nextCursor"]})
    # THEN by id, the second page ending the list
    assert [s["id"] for s in first["items"]] == ["a", "b"]
    assert [s["id"] for s in second["items"]] == ["c"]
    assert second["nextCursor"] is None


def test_api_sites_list_refuses_a_cursor_it_did_not_hand_out(changes: list[Change]) -> None:
    # WHEN the cursor is made up
    status, _, body = call("GET", "/v1/sites", query={"cursor": "bm90LWEtY3Vyc29y"})
    # THEN 400 invalid-cursor
    assert (status, body["type"]) == (400, "/problems/invalid-cursor")


def test_api_site_patch_merges_and_honours_if_match(changes: list[Change]) -> None:
    # GIVEN a site at version 1
    call("POST", "/v1/sites", a_site(description="old"))
    # WHEN it is patched with a stale If-Match
    status, _, body = call(
        "PATCH", "/v1/sites/depot", {"limitKw": 300}, headers={"If-Match": '"7"'}
    )
    # THEN 412 and nothing changes
    assert (status, body["type"]) == (412, "/problems/version-mismatch")
    # WHEN it is patched with the current version
    status, headers, body = call(
        "PATCH",
        "/v1/sites/depot",
        {"limitKw": 300.5, "address": {"city": "Altona"}, "description": None},
        headers={"If-Match": '"1"'},
    )
    # THEN the named fields change, the address merges, null clears, and the version moves
    assert status == 200
    assert headers["etag"] == '"2"'
    assert body["limitKw"] == 300.5
    assert body["address"] == {**STORED_ADDRESS, "city": "Altona"}
    assert body["description"] is None
    assert changes[-1].action == "site.update"
    assert changes[-1].before is not None
    assert changes[-1].before["limitKw"] == 250


def test_api_site_patch_refuses_null_for_a_required_field(changes: list[Change]) -> None:
    # GIVEN a site
    call("POST", "/v1/sites", a_site())
    # WHEN the patch clears its name
    status, _, body = call("PATCH", "/v1/sites/depot", {"name": None})
    # THEN 400
    assert (status, body["type"]) == (400, "/problems/invalid-request")


def test_api_site_patch_of_a_seeded_site_needs_a_whole_address(changes: list[Change]) -> None:
    # GIVEN a site from a seed (no address)
    from csms.domain.seed import Seed

    _runtime.api().seeds.load(
        TENANT, Seed.model_validate({"sites": [{"id": "s", "name": "S", "limitKw": 5}]})
    )
    # WHEN a patch gives part of an address
    status, _, body = call("PATCH", "/v1/sites/s", {"address": {"city": "Kiel"}})
    # THEN 400 naming what is missing
    assert status == 400
    assert "body.address.street" in [error["location"] for error in body["errors"]]
    # AND a whole address is taken
    status, headers, body = call("PATCH", "/v1/sites/s", {"address": ADDRESS})
    assert (status, body["address"], body["limitKw"]) == (200, STORED_ADDRESS, 5)
    assert headers["etag"] == '"2"'


def test_api_site_delete_refused_while_a_station_is_assigned(changes: list[Change]) -> None:
    # GIVEN a site with a station
    call("POST", "/v1/sites", a_site())
    assign_station(TENANT, "depot")
    # WHEN it is deleted
    status, _, body = call("DELETE", "/v1/sites/depot")
    # THEN 409 site-in-use, and it stays
    assert (status, body["type"]) == (409, "/problems/site-in-use")
    assert call("GET", "/v1/sites/depot")[0] == 200


def test_api_site_delete_with_if_match_removes_it(changes: list[Change]) -> None:
    # GIVEN a site, and a station of another tenant at a site of the same id
    call("POST", "/v1/sites", a_site())
    assign_station("t-other", "depot")
    # WHEN it is deleted with a stale, then the current version
    stale, _, _ = call("DELETE", "/v1/sites/depot", headers={"If-Match": '"2"'})
    status, _, body = call("DELETE", "/v1/sites/depot", headers={"If-Match": '"1"'})
    # THEN 412, then 204 and it is gone
    assert (stale, status, body) == (412, 204, None)
    assert call("GET", "/v1/sites/depot")[2]["type"] == "/problems/site-not-found"
    assert changes[-1].action == "site.delete"
    assert changes[-1].after is None


def test_api_sites_of_another_tenant_are_absent(changes: list[Change]) -> None:
    # GIVEN a site of this tenant
    call("POST", "/v1/sites", a_site())
    # WHEN another tenant reads, lists, changes and deletes it
    answers = [
        call("GET", "/v1/sites/depot", claims=OTHER)[0],
        call("PATCH", "/v1/sites/depot", {"name": "Mine"}, claims=OTHER)[0],
        call("DELETE", "/v1/sites/depot", claims=OTHER)[0],
    ]
    listed = call("GET", "/v1/sites", claims=OTHER)[2]
    # THEN 404 everywhere, never listed, and the site is unchanged
    assert answers == [404, 404, 404]
    assert listed["items"] == []
    assert call("GET", "/v1/sites/depot")[2]["name"] == "Depot"


def test_api_site_restricted_user_sees_only_their_sites(changes: list[Change]) -> None:
    # GIVEN three sites and an operator restricted to two of them
    for site_id in ("a", "b", "c"):
        call("POST", "/v1/sites", a_site(site_id))
    restricted = {**VIEWER, "role": "operator", "sites": ["a", "c"]}
    # WHEN the operator lists and reads
    _, _, page = call("GET", "/v1/sites", claims=restricted, query={"limit": "1"})
    _, _, rest = call(
        "GET", "/v1/sites", claims=restricted, query={"limit": "1", "cursor": page["nextCursor"]}
    )
    hidden = call("GET", "/v1/sites/b", claims=restricted)
    create = call("POST", "/v1/sites", a_site("d"), claims=restricted)
    # THEN only their sites, the other answered as absent, and no site management
    assert [s["id"] for s in page["items"] + rest["items"]] == ["a", "c"]
    assert hidden[0] == 404
    assert create[0] == 403


def test_api_site_changes_need_manage_sites(changes: list[Change]) -> None:
    # WHEN an operator (no manage-sites) creates a site
    status, _, body = call("POST", "/v1/sites", a_site(), claims={**ADMIN, "role": "operator"})
    # THEN 403
    assert (status, body["type"]) == (403, "/problems/forbidden")


# -- groups and vehicles ----------------------------------------------------------------------


def a_vehicle(vehicle_id: str = "van-1", group: str = "vans", **over: Any) -> dict[str, Any]:
    return {
        "id": vehicle_id,
        "name": "Van",
        "groupId": group,
        "batteryKwh": 75,
        "departure": {"time": "06:30", "days": ["Friday", "Monday"]},
        **over,
    }


def test_api_vehicle_needs_an_existing_group(changes: list[Change]) -> None:
    # WHEN a vehicle names a group that does not exist
    status, _, body = call("POST", "/v1/vehicles", a_vehicle())
    # THEN 422 invalid-reference
    assert (status, body["type"]) == (422, "/problems/invalid-reference")
    assert "groupId" in body["detail"]


def test_api_vehicle_lifecycle_with_group_filter_and_in_use_group(changes: list[Change]) -> None:
    # GIVEN two groups and a vehicle in each
    assert call("POST", "/v1/groups", {"id": "vans", "name": "Vans", "kind": "fleet"})[0] == 201
    call("POST", "/v1/groups", {"id": "staff", "name": "Staff", "kind": "employees"})
    status, headers, van = call("POST", "/v1/vehicles", a_vehicle(vin="WDB9066331S123456"))
    call("POST", "/v1/vehicles", a_vehicle("car-1", "staff"))
    # THEN the vehicle is stored with its days in week order
    assert (status, headers["location"]) == (201, "/v1/vehicles/van-1")
    assert van["departure"] == {"time": "06:30", "days": ["Monday", "Friday"]}
    # WHEN vehicles are listed by group
    _, _, vans = call("GET", "/v1/vehicles", query={"groupId": "vans"})
    # THEN only that group's
    assert [v["id"] for v in vans["items"]] == ["van-1"]
    # WHEN a group with a vehicle is deleted
    status, _, body = call("DELETE", "/v1/groups/vans")
    # THEN 409 group-in-use
    assert (status, body["type"]) == (409, "/problems/group-in-use")
    # WHEN the vehicle moves to a missing group, then to the other group
    missing = call("PATCH", "/v1/vehicles/van-1", {"groupId": "nope"})
    status, headers, moved = call("PATCH", "/v1/vehicles/van-1", {"groupId": "staff", "vin": None})
    # THEN 422, then 200 at version 2, and the first group can go
    assert missing[0] == 422
    assert (status, headers["etag"], moved["groupId"], moved.get("vin")) == (
        200,
        '"2"',
        "staff",
        None,
    )
    assert call("DELETE", "/v1/groups/vans")[0] == 204
    assert call("DELETE", "/v1/vehicles/van-1", headers={"If-Match": '"2"'})[0] == 204


@pytest.mark.parametrize(
    "over",
    [
        {"vin": "WDB9066331S12345O"},  # O is not a VIN character
        {"vin": "SHORT"},
        {"batteryKwh": 1001},
        {"departure": {"time": "25:00", "days": ["Monday"]}},
        {"departure": {"time": "07:00", "days": ["Monday", "Monday"]}},
        {"idTokens": ["A", "a"]},
    ],
)
def test_api_vehicle_refuses_invalid_fields(changes: list[Change], over: dict[str, Any]) -> None:
    # GIVEN a group
    call("POST", "/v1/groups", {"id": "vans", "name": "Vans", "kind": "fleet"})
    # WHEN a vehicle has an invalid field
    status, _, body = call("POST", "/v1/vehicles", a_vehicle(**over))
    # THEN 400 invalid-request
    assert (status, body["type"]) == (400, "/problems/invalid-request")


def test_api_group_of_another_tenant_is_absent(changes: list[Change]) -> None:
    # GIVEN a group
    call("POST", "/v1/groups", {"id": "vans", "name": "Vans", "kind": "fleet"})
    # WHEN another tenant reads it or names it for a vehicle
    read = call("GET", "/v1/groups/vans", claims=OTHER)
    vehicle = call("POST", "/v1/vehicles", a_vehicle(), claims=OTHER)
    # THEN absent, and an invalid reference
    assert read[0] == 404
    assert read[2]["type"] == "/problems/group-not-found"
    assert vehicle[0] == 422


# -- users ------------------------------------------------------------------------------------


def test_api_user_grant_rules(changes: list[Change]) -> None:
    # WHEN an admin creates an operator, an admin and an owner
    operator = call(
        "POST",
        "/v1/users",
        {"id": "op-1", "email": "op@example.com", "name": "Op", "role": "operator"},
        claims=ADMIN,
    )
    admin = call(
        "POST",
        "/v1/users",
        {"email": "ad@example.com", "name": "Ad", "role": "admin"},
        claims=ADMIN,
    )
    owner = call(
        "POST",
        "/v1/users",
        {"email": "ow@example.com", "name": "Ow", "role": "owner"},
        claims=ADMIN,
    )
    # THEN the first two are made (the second with a new id), the owner is refused
    assert (operator[0], operator[1]["location"]) == (201, "/v1/users/op-1")
    assert admin[0] == 201
    assert len(admin[2]["id"]) == 36
    assert (owner[0], owner[2]["type"]) == (403, "/problems/forbidden")


def test_api_user_last_owner_stays(changes: list[Change]) -> None:
    # GIVEN one recorded owner
    call("POST", "/v1/users", {"id": "o1", "email": "o1@example.com", "name": "O", "role": "owner"})
    # WHEN the owner is demoted, disabled, deleted
    answers = [
        call("PATCH", "/v1/users/o1", {"role": "admin"}),
        call("PATCH", "/v1/users/o1", {"status": "disabled"}),
        call("DELETE", "/v1/users/o1"),
    ]
    # THEN 409 last-owner each time
    assert [(a[0], a[2]["type"]) for a in answers] == [(409, "/problems/last-owner")] * 3
    # WHEN a second owner exists
    call("POST", "/v1/users", {"id": "o2", "email": "o2@example.com", "name": "P", "role": "owner"})
    # THEN the first may go
    assert call("DELETE", "/v1/users/o1", headers={"If-Match": '"1"'})[0] == 204
    assert call("PATCH", "/v1/users/o2", {"role": "admin"})[0] == 409


def test_api_user_sites_must_exist_and_users_need_manage_users(changes: list[Change]) -> None:
    # GIVEN a site
    call("POST", "/v1/sites", a_site())
    # WHEN a user names it and a missing one
    missing = call(
        "POST",
        "/v1/users",
        {"email": "t@example.com", "name": "T", "role": "technician", "sites": ["depot", "x"]},
    )
    made = call(
        "POST",
        "/v1/users",
        {
            "id": "t1",
            "email": "t@example.com",
            "name": "T",
            "role": "technician",
            "sites": ["depot"],
        },
    )
    # AND an operator lists users
    listed = call("GET", "/v1/users", claims={**ADMIN, "role": "operator"})
    # THEN 422 for the missing site, 201 with the site, 403 for the operator
    assert (missing[0], missing[2]["type"]) == (422, "/problems/invalid-reference")
    assert (made[0], made[2]["sites"]) == (201, ["depot"])
    assert listed[0] == 403
    # AND clearing the sites gives every site
    status, _, body = call("PATCH", "/v1/users/t1", {"sites": None})
    assert (status, body.get("sites")) == (200, None)


def test_api_users_of_another_tenant_are_absent(changes: list[Change]) -> None:
    # GIVEN a user
    call("POST", "/v1/users", {"id": "u1", "email": "u@example.com", "name": "U", "role": "viewer"})
    # WHEN another tenant reads and deletes it
    read = call("GET", "/v1/users/u1", claims=OTHER)
    deleted = call("DELETE", "/v1/users/u1", claims=OTHER)
    listed = call("GET", "/v1/users", claims=OTHER)
    # THEN absent and never listed
    assert (read[0], deleted[0], listed[2]["items"]) == (404, 404, [])


# -- tenant profile ---------------------------------------------------------------------------


def test_api_tenant_profile_defaults_then_conditional_update(changes: list[Change]) -> None:
    # WHEN nothing is stored
    status, headers, body = call("GET", "/v1/tenant", claims=VIEWER)
    # THEN the defaults at version 0
    assert (status, headers["etag"]) == (200, '"0"')
    assert body == {
        "displayName": TENANT,
        "contactEmail": None,
        "defaultTimezone": "UTC",
        "version": 0,
        "updatedAt": None,
    }
    # WHEN the owner sets it while nothing is stored, then again on version 0
    status, headers, body = call(
        "PATCH",
        "/v1/tenant",
        {"displayName": "Acme", "defaultTimezone": "Europe/Paris"},
        headers={"If-Match": '"0"'},
    )
    again = call("PATCH", "/v1/tenant", {"displayName": "Late"}, headers={"If-Match": '"0"'})
    # THEN version 1, then 412
    assert (status, headers["etag"], body["displayName"]) == (200, '"1"', "Acme")
    assert again[0] == 412
    # AND an admin may not change it, another tenant sees its own defaults
    assert call("PATCH", "/v1/tenant", {"displayName": "X"}, claims=ADMIN)[0] == 403
    assert call("GET", "/v1/tenant", claims=OTHER)[2]["displayName"] == "t-other"
    assert call("PATCH", "/v1/tenant", {"defaultTimezone": "Nowhere/City"})[0] == 400
