"""Station management through the HTTP API handler on moto: register, list, read, change,
rotate the password, decommission - and what `$connect` makes of it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.integration.conftest import (
    STATION_PASSWORD,
    Ctx,
    connect_event,
    http_event,
    invoke_api,
    seed_station,
)

from csms.adapters.apigw import ApiGwConnectionSender
from csms.adapters.dynamo import META, station_pk
from csms.adapters.dynamo_models import ConnectionItem, StationItem
from csms.domain.seed import Seed
from csms.handlers import _runtime, api_stations, ws_connect, ws_disconnect
from csms.handlers.api_access import Change

ADMIN = {"sub": "op-1", "tenant_id": "default", "role": "admin"}
OTHER = {"sub": "op-9", "tenant_id": "other", "role": "owner"}
VIEWER = {"sub": "v-1", "tenant_id": "default", "role": "viewer"}
SITE_2_ADMIN = {**ADMIN, "sub": "op-2", "sites": "site-2"}


def call(
    method: str,
    path: str,
    *,
    claims: dict[str, Any] | None = None,
    query: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """The API handler with an HTTP API (v2) event, like `test_api.call_api`, with headers."""
    event = http_event(
        method,
        path,
        claims=claims or ADMIN,
        query=query,
        headers=headers,
        body=json.dumps(body) if body is not None else None,
        source_ip="1.2.3.4",
    )
    status, out, text = invoke_api(event)
    return status, out, json.loads(text) if text else None


def connect(station_id: str, connection_id: str, password: str) -> int:
    result = ws_connect.lambda_handler(
        connect_event(station_id, connection_id, password=password), Ctx()
    )
    status: int = result["statusCode"]
    return status


@pytest.fixture
def sites(runtime: _runtime.Runtime) -> _runtime.Runtime:
    """Sites site-1 and site-2 of tenant default, site-9 of tenant other; no stations."""
    for tenant, ids in (("default", ("site-1", "site-2")), ("other", ("site-9",))):
        runtime.seeds.load(
            tenant,
            Seed.model_validate({"sites": [{"id": i, "name": i, "limitKw": 20} for i in ids]}),
        )
    _runtime.reset()
    return runtime


@pytest.fixture
def changes(monkeypatch: pytest.MonkeyPatch) -> list[Change]:
    """What the station routes note for the audit log."""
    noted: list[Change] = []
    monkeypatch.setattr(api_stations, "record_change", noted.append)
    return noted


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Connections the API closed (the sender is stubbed: no socket)."""
    ids: list[str] = []
    monkeypatch.setattr(ApiGwConnectionSender, "disconnect", lambda self, cid: ids.append(cid))
    return ids


def register(station_id: str = "CP-1", **body: Any) -> tuple[int, dict[str, str], Any]:
    return call("POST", "/v1/stations", body={"id": station_id, "siteId": "site-1", **body})


def _dump(value: Any) -> str:
    return json.dumps(value, default=str)


# -- register -----------------------------------------------------------------------------------


def test_register_answers_201_with_the_password_once_and_stores_only_its_hash(
    sites: _runtime.Runtime, changes: list[Change]
) -> None:
    # WHEN an admin registers a station without a password
    status, headers, body = register(name="Bay 1", pinnedProtocol="ocpp1.6")
    # THEN 201 with a generated 24-character alphanumeric password, Location, ETag, no-store
    assert status == 201
    password = body["password"]
    assert re.fullmatch(r"[A-Za-z0-9]{24}", password)
    assert headers["location"] == "/v1/stations/CP-1"
    assert headers["etag"] == '"1"'
    assert headers["cache-control"] == "no-store"
    assert body["state"] == "active"
    assert body["pinnedProtocol"] == "ocpp1.6"
    assert body["name"] == "Bay 1"
    trace_until = datetime.fromisoformat(body["traceUntil"])
    assert timedelta(hours=23) < trace_until - datetime.now(UTC) <= timedelta(hours=24)
    # AND the stored item holds an Argon2 hash, listed by tenant (GSI1) and by site (GSI2)
    item = StationItem.get(station_pk("CP-1"), META, consistent_read=True)
    assert item.password_hash is not None
    assert item.password_hash.startswith("$argon2id$")
    assert password not in _dump(item.attribute_values)
    assert (item.GSI1PK, item.GSI2PK, item.GSI2SK) == (
        "TENANT#default",
        "TENANT#default#SITE#site-1",
        "STATION#CP-1",
    )
    # AND the password is never shown again, nor in the audit note
    _, _, detail = call("GET", "/v1/stations/CP-1")
    _, _, listed = call("GET", "/v1/stations")
    for text in (_dump(detail), _dump(listed), _dump([vars(c) for c in changes])):
        assert password not in text
        assert "argon2" not in text
        assert "password" not in text.lower().replace("passwordused", "")
    assert [(c.action, c.before, c.after and c.after["id"]) for c in changes] == [
        ("station.register", None, "CP-1")
    ]


def test_registered_station_connects_with_its_password(sites: _runtime.Runtime) -> None:
    # GIVEN a station registered with a chosen password
    status, _, _ = register(password="Chosen:Station|Key@16")
    assert status == 201
    # WHEN it connects with it, and with another
    # THEN the first is accepted, the second refused
    assert connect("CP-1", "c1", "Chosen:Station|Key@16") == 200
    assert connect("CP-1", "c2", "Wrong:Station|Key@16") == 401
    # AND its binding is traced (the onboarding trace was copied at connect)
    assert ConnectionItem.get("CONN#c1", META).trace_until is not None


def test_register_duplicate_ids_conflict_in_any_tenant_and_state(
    sites: _runtime.Runtime, closed: list[str]
) -> None:
    # GIVEN CP-1 of tenant default, decommissioned, and CP-9 of tenant other
    register()
    call("POST", "/v1/stations/CP-1/decommission")
    status, _, _ = call(
        "POST", "/v1/stations", claims=OTHER, body={"id": "CP-9", "siteId": "site-9"}
    )
    assert status == 201
    # WHEN either id is registered again by tenant default
    for station_id in ("CP-1", "CP-9"):
        status, headers, body = register(station_id)
        # THEN 409 station-exists as a problem
        assert status == 409
        assert headers["content-type"] == "application/problem+json"
        assert body["type"] == "/problems/station-exists"


@pytest.mark.parametrize(
    ("claims", "site"),
    [(ADMIN, "site-9"), (ADMIN, "nope"), (SITE_2_ADMIN, "site-1")],
    ids=["other-tenants-site", "missing-site", "site-beyond-reach"],
)
def test_register_at_a_site_not_reached_is_422(
    sites: _runtime.Runtime, claims: dict[str, Any], site: str
) -> None:
    status, _, body = call(
        "POST", "/v1/stations", claims=claims, body={"id": "CP-1", "siteId": site}
    )
    assert (status, body["type"]) == (422, "/problems/invalid-reference")
    assert StationItem.count(station_pk("CP-1")) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"id": "CP-1", "siteId": "site-1", "password": "short-15-chars!"},
        {"id": "CP-1", "siteId": "site-1", "password": "sixteen chars with space"},
        {"id": "CP-1", "siteId": "site-1", "password": "x" * 41},
        {"id": "CP 1", "siteId": "site-1"},
        {"id": "C" * 49, "siteId": "site-1"},
        {"id": "CP-1"},
        {"id": "CP-1", "siteId": "site-1", "pinnedProtocol": "ocpp2.1"},
        {"id": "CP-1", "siteId": "site-1", "passwordHash": "x"},
        {"id": 42, "siteId": "site-1"},
    ],
    ids=[
        "password-short",
        "password-space",
        "password-long",
        "id-space",
        "id-long",
        "no-site",
        "unknown-protocol",
        "extra-field",
        "id-number",
    ],
)
def test_register_with_an_invalid_body_is_400(
    sites: _runtime.Runtime, body: dict[str, Any]
) -> None:
    status, _, problem = call("POST", "/v1/stations", body=body)
    assert (status, problem["type"]) == (400, "/problems/invalid-request")
    assert problem["errors"]
    assert StationItem.count(station_pk("CP-1")) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/stations"),
        ("PATCH", "/v1/stations/CP-1"),
        ("POST", "/v1/stations/CP-1/password"),
        ("POST", "/v1/stations/CP-1/decommission"),
    ],
)
def test_station_mutations_need_manage_stations(
    sites: _runtime.Runtime, method: str, path: str
) -> None:
    # GIVEN a station; WHEN a viewer or a technician tries to change it
    register()
    for role in ("viewer", "technician", "operator"):
        status, _, body = call(
            method, path, claims={**VIEWER, "role": role}, body={"id": "CP-2", "siteId": "site-1"}
        )
        # THEN 403 forbidden
        assert (status, body["type"]) == (403, "/problems/forbidden")


# -- read and list ------------------------------------------------------------------------------


def test_get_station_shows_state_online_since_and_last_error_with_etag(
    sites: _runtime.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a registered station that connected and reported a faulted connector
    _, _, created = register()
    assert connect("CP-1", "c1", created["password"]) == 200
    from tests.integration.conftest import message_event

    from csms.handlers import ws_message

    frame = [
        2,
        "s1",
        "StatusNotification",
        {
            "connectorId": 1,
            "status": "Faulted",
            "errorCode": "GroundFailure",
            "vendorErrorCode": "E-17",
            "timestamp": "2026-11-24T08:00:00Z",
        },
    ]
    _runtime.reset()
    ws_connect.lambda_handler(
        connect_event("CP-1", "c16", password=created["password"], protocols="ocpp1.6"), Ctx()
    )
    ws_message.lambda_handler(message_event("c16", json.dumps(frame)), Ctx())
    _runtime.reset()
    monkeypatch.setattr(ApiGwConnectionSender, "last_active_at", lambda self, cid: None)
    # WHEN the operator reads it
    status, headers, body = call("GET", "/v1/stations/CP-1")
    # THEN state, online since, name and the connector's last error come with the ETag
    assert status == 200
    assert headers["etag"] == '"1"'
    assert body["state"] == "active"
    assert body["online"] is True
    assert body["onlineSince"] is not None
    assert body["offlineSince"] is None
    connector = body["connectors"][0]
    assert (connector["status"], connector["errorCode"], connector["vendorErrorCode"]) == (
        "Faulted",
        "GroundFailure",
        "E-17",
    )
    # AND once offline, offline since the disconnect
    ws_disconnect.lambda_handler({"requestContext": {"connectionId": "c16"}}, Ctx())
    _, _, offline = call("GET", "/v1/stations/CP-1")
    assert offline["online"] is False
    assert offline["offlineSince"] is not None
    assert offline["onlineSince"] is None


def test_list_filters_by_site_online_protocol_and_state_and_sorts(
    sites: _runtime.Runtime, closed: list[str]
) -> None:
    # GIVEN CP-1 and CP-3 at site-1, CP-2 at site-2; CP-1 online over 1.6; CP-3 decommissioned
    for station_id, site in (("CP-1", "site-1"), ("CP-2", "site-2"), ("CP-3", "site-1")):
        call("POST", "/v1/stations", body={"id": station_id, "siteId": site, "password": "p" * 16})
    assert connect("CP-1", "c1", "p" * 16) == 200
    call("POST", "/v1/stations/CP-3/decommission")

    def ids(claims: dict[str, Any] = ADMIN, **query: str) -> list[str]:
        status, _, body = call("GET", "/v1/stations", claims=claims, query=query)
        assert status == 200, body
        return [s["id"] for s in body["items"]]

    # WHEN listing with each filter
    # THEN only the matching stations, in id order (or reversed)
    assert ids() == ["CP-1", "CP-2"]
    assert ids(sort="-id") == ["CP-2", "CP-1"]
    assert ids(siteId="site-1") == ["CP-1"]
    assert ids(siteId="site-1", state="all") == ["CP-1", "CP-3"]
    assert ids(state="decommissioned") == ["CP-3"]
    assert ids(online="true") == ["CP-1"]
    assert ids(online="false") == ["CP-2"]
    assert ids(protocol="ocpp2.0.1") == ["CP-1"]
    assert ids(protocol="ocpp1.6") == []
    assert ids(siteId="site-9") == []
    # AND a restricted user sees its sites only, and nothing of a site beyond them
    assert ids(SITE_2_ADMIN) == ["CP-2"]
    assert ids(SITE_2_ADMIN, siteId="site-1") == []
    # AND another tenant sees none of them
    assert ids(OTHER) == []


def test_list_pages_with_cursors_in_both_orders(sites: _runtime.Runtime) -> None:
    # GIVEN five stations at site-1
    for n in range(5):
        register(f"CP-{n}", password="p" * 16)
    for query in ({}, {"sort": "-id"}, {"siteId": "site-1"}):
        # WHEN paged two at a time
        seen: list[str] = []
        cursor = None
        for _ in range(5):
            status, _, body = call(
                "GET",
                "/v1/stations",
                query={**query, "limit": "2", **({"cursor": cursor} if cursor else {})},
            )
            assert status == 200
            seen += [s["id"] for s in body["items"]]
            cursor = body["nextCursor"]
            if cursor is None:
                break
        # THEN each station comes once, in order
        expected = [f"CP-{n}" for n in range(5)]
        assert seen == (expected[::-1] if query.get("sort") == "-id" else expected)
    # AND a cursor of the site list is refused for the tenant list
    _, _, body = call("GET", "/v1/stations", query={"siteId": "site-1", "limit": "2"})
    status, _, problem = call("GET", "/v1/stations", query={"cursor": body["nextCursor"]})
    assert (status, problem["type"]) == (400, "/problems/invalid-cursor")


@pytest.mark.parametrize(
    "query",
    [{"state": "gone"}, {"sort": "name"}, {"online": "maybe"}, {"protocol": "ocpp9"}],
)
def test_list_with_an_invalid_filter_is_400(sites: _runtime.Runtime, query: dict[str, str]) -> None:
    status, _, body = call("GET", "/v1/stations", query=query)
    assert (status, body["type"]) == (400, "/problems/invalid-request")


# -- change -------------------------------------------------------------------------------------


def test_patch_moves_renames_and_unpins_with_if_match(
    sites: _runtime.Runtime, changes: list[Change]
) -> None:
    # GIVEN a pinned station at site-1
    register(pinnedProtocol="ocpp1.6", name="Old")
    # WHEN it is moved, renamed and unpinned with the current ETag
    status, headers, body = call(
        "PATCH",
        "/v1/stations/CP-1",
        body={"siteId": "site-2", "name": "New", "pinnedProtocol": None},
        headers={"If-Match": '"1"'},
    )
    # THEN 200 with the new version; it is listed under site-2, no longer under site-1
    assert status == 200
    assert headers["etag"] == '"2"'
    assert (body["siteId"], body["name"], body["pinnedProtocol"]) == ("site-2", "New", None)
    _, _, at_1 = call("GET", "/v1/stations", query={"siteId": "site-1"})
    _, _, at_2 = call("GET", "/v1/stations", query={"siteId": "site-2"})
    assert (at_1["items"], [s["id"] for s in at_2["items"]]) == ([], ["CP-1"])
    # AND the audit note has before and after
    update = changes[-1]
    assert update.action == "station.update"
    assert update.before is not None
    assert update.after is not None
    assert (update.before["siteId"], update.after["siteId"]) == ("site-1", "site-2")
    # AND a name can be cleared with null, leaving the rest
    _, _, cleared = call("PATCH", "/v1/stations/CP-1", body={"name": None})
    assert (cleared["name"], cleared["siteId"], cleared["version"]) == (None, "site-2", 3)


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(sites: _runtime.Runtime) -> None:
    register()
    for if_match in ('"7"', "W/garbage"):
        status, _, body = call(
            "PATCH", "/v1/stations/CP-1", body={"name": "X"}, headers={"If-Match": if_match}
        )
        assert (status, body["type"]) == (412, "/problems/version-mismatch")
    _, _, station = call("GET", "/v1/stations/CP-1")
    assert station["name"] is None


@pytest.mark.parametrize(
    ("body", "status", "problem"),
    [
        ({"siteId": None}, 400, "invalid-request"),
        ({"siteId": "site-9"}, 422, "invalid-reference"),
        ({"pinnedProtocol": "ocpp3"}, 400, "invalid-request"),
        ({"password": "x" * 20}, 400, "invalid-request"),
        ({"name": ""}, 400, "invalid-request"),
    ],
)
def test_patch_with_a_bad_body_is_refused(
    sites: _runtime.Runtime, body: dict[str, Any], status: int, problem: str
) -> None:
    register()
    got, _, answer = call("PATCH", "/v1/stations/CP-1", body=body)
    assert (got, answer["type"]) == (status, f"/problems/{problem}")


def test_station_routes_of_another_tenant_or_site_are_404(sites: _runtime.Runtime) -> None:
    # GIVEN CP-1 at site-1 of tenant default
    register()
    for claims in (OTHER, SITE_2_ADMIN):
        for method, path, body in (
            ("GET", "/v1/stations/CP-1", None),
            ("PATCH", "/v1/stations/CP-1", {"name": "X"}),
            ("POST", "/v1/stations/CP-1/password", {}),
            ("POST", "/v1/stations/CP-1/decommission", None),
        ):
            # WHEN a caller of another tenant or of another site touches it
            status, _, problem = call(method, path, claims=claims, body=body)
            # THEN it is as absent as a station that does not exist
            assert (status, problem["type"]) == (404, "/problems/station-not-found")
    _, _, station = call("GET", "/v1/stations/CP-1")
    assert (station["version"], station["state"]) == (1, "active")


# -- rotate -------------------------------------------------------------------------------------


def test_rotate_password_keeps_the_previous_valid_until_the_new_one_connects(
    sites: _runtime.Runtime, changes: list[Change]
) -> None:
    # GIVEN a station registered with a password
    register(password="First-password-0001")
    # WHEN the password is rotated (generated)
    status, headers, body = call("POST", "/v1/stations/CP-1/password")
    # THEN the new password comes once, with a new version, not cached
    assert status == 200
    new = body["password"]
    assert re.fullmatch(r"[A-Za-z0-9]{24}", new)
    assert headers["etag"] == '"2"'
    assert headers["cache-control"] == "no-store"
    assert "password" not in _dump(changes[-1].after).lower()
    # AND the old password still connects, logged as Previous
    assert connect("CP-1", "c1", "First-password-0001") == 200
    ws_disconnect.lambda_handler({"requestContext": {"connectionId": "c1"}}, Ctx())
    # AND the new one connects, logged as Current, which ends the grace period
    assert connect("CP-1", "c2", new) == 200
    assert connect("CP-1", "c3", "First-password-0001") == 401
    _, _, log = call("GET", "/v1/stations/CP-1/connection-log")
    used = [(e["outcome"], e["passwordUsed"]) for e in log["items"]]
    assert used == [
        ("Refused", None),
        ("Connected", "Current"),
        ("Disconnected", None),
        ("Connected", "Previous"),
    ]
    # AND a rotation to a chosen password takes it
    status, _, chosen = call(
        "POST", "/v1/stations/CP-1/password", body={"password": "Chosen-password-0002"}
    )
    assert (status, chosen["password"]) == (200, "Chosen-password-0002")


def test_rotate_password_previous_expires_after_the_grace_period(sites: _runtime.Runtime) -> None:
    # GIVEN a rotated station whose grace period has passed
    register(password="First-password-0001")
    call("POST", "/v1/stations/CP-1/password")
    StationItem(station_pk("CP-1"), META).update(
        actions=[StationItem.previous_password_until.set(datetime.now(UTC) - timedelta(seconds=1))]
    )
    # WHEN the station connects with the old password
    # THEN it is refused
    assert connect("CP-1", "c1", "First-password-0001") == 401


def test_rotate_password_without_grace_invalidates_at_once(
    sites: _runtime.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the API function configured with no grace period
    monkeypatch.setenv("CSMS_STATION_PASSWORD_GRACE_S", "0")
    _runtime.reset()
    register(password="First-password-0001")
    # WHEN the password is rotated
    _, _, body = call("POST", "/v1/stations/CP-1/password")
    # THEN only the new one connects
    assert connect("CP-1", "c1", "First-password-0001") == 401
    assert connect("CP-1", "c2", body["password"]) == 200


def test_rotate_password_with_a_bad_body_or_stale_if_match_is_refused(
    sites: _runtime.Runtime,
) -> None:
    register(password="First-password-0001")
    status, _, body = call("POST", "/v1/stations/CP-1/password", body={"password": "short"})
    assert (status, body["type"]) == (400, "/problems/invalid-request")
    status, _, body = call("POST", "/v1/stations/CP-1/password", headers={"If-Match": '"5"'})
    assert (status, body["type"]) == (412, "/problems/version-mismatch")
    assert connect("CP-1", "c1", "First-password-0001") == 200


# -- decommission -------------------------------------------------------------------------------


def test_decommission_closes_the_socket_and_refuses_the_station_from_then_on(
    sites: _runtime.Runtime, closed: list[str], changes: list[Change]
) -> None:
    # GIVEN an online station
    register(password="First-password-0001")
    assert connect("CP-1", "c1", "First-password-0001") == 200
    # WHEN it is decommissioned
    status, headers, body = call(
        "POST", "/v1/stations/CP-1/decommission", headers={"If-Match": '"1"'}
    )
    # THEN 200, state decommissioned, its live connection closed, the change noted
    assert status == 200
    assert headers["etag"] == '"2"'
    assert (body["state"], body["decommissionedAt"] is not None) == ("decommissioned", True)
    assert closed == ["c1"]
    assert changes[-1].action == "station.decommission"
    # (API Gateway then runs $disconnect for the closed connection)
    ws_disconnect.lambda_handler({"requestContext": {"connectionId": "c1"}}, Ctx())
    # AND its next connect is refused with 403, logged as Decommissioned
    assert connect("CP-1", "c2", "First-password-0001") == 403
    _, _, log = call("GET", "/v1/stations/CP-1/connection-log")
    assert (log["items"][0]["outcome"], log["items"][0]["reason"]) == ("Refused", "Decommissioned")
    # AND it leaves the default list, stays readable, cannot be changed
    _, _, listed = call("GET", "/v1/stations")
    assert listed["items"] == []
    status, _, _ = call("GET", "/v1/stations/CP-1")
    assert status == 200
    for method, path, patch in (
        ("PATCH", "/v1/stations/CP-1", {"name": "X"}),
        ("POST", "/v1/stations/CP-1/password", {}),
    ):
        status, _, problem = call(method, path, body=patch)
        assert (status, problem["type"]) == (409, "/problems/station-decommissioned")
    # AND decommissioning again changes nothing and closes nothing
    status, _, again = call("POST", "/v1/stations/CP-1/decommission")
    assert (status, again["version"], closed) == (200, 2, ["c1"])


# -- seeds and trace plumbing -------------------------------------------------------------------


def test_seeded_stations_are_listed_by_site_and_editable_from_version_0(
    runtime: _runtime.Runtime,
) -> None:
    # GIVEN a station loaded from a seed (no version attribute)
    seed_station(runtime, "CP-S")
    _runtime.reset()
    # WHEN listed by its site and renamed with If-Match "0"
    _, _, listed = call("GET", "/v1/stations", query={"siteId": "site-1"})
    status, headers, _ = call(
        "PATCH", "/v1/stations/CP-S", body={"name": "Seeded"}, headers={"If-Match": '"0"'}
    )
    # THEN it is there and the change is version 1; it still connects with its seed password
    assert [s["id"] for s in listed["items"]] == ["CP-S"]
    assert (status, headers["etag"]) == (200, '"1"')
    assert connect("CP-S", "c1", STATION_PASSWORD) == 200


def test_set_trace_updates_the_station_and_its_live_connection(runtime: _runtime.Runtime) -> None:
    # GIVEN an online station and an offline one
    seed_station(runtime, "CP-1")
    seed_station(runtime, "CP-2")
    assert connect("CP-1", "c1", STATION_PASSWORD) == 200
    repo = runtime.station_repository
    until = datetime(2030, 1, 1, tzinfo=UTC)
    # WHEN both are traced
    repo.set_trace("CP-1", until)
    repo.set_trace("CP-2", until)
    # THEN the stations and the live binding carry it; stopping clears both
    assert [repo.get(s).trace_until for s in ("CP-1", "CP-2")] == [until, until]  # type: ignore[union-attr]
    binding = repo.lookup("c1")
    assert binding is not None
    assert binding.trace_until == until
    repo.set_trace("CP-1", None)
    assert repo.lookup("c1").trace_until is None  # type: ignore[union-attr]
    # AND a station that does not exist is not found
    from csms.domain.errors import StationNotFoundError

    with pytest.raises(StationNotFoundError):
        repo.set_trace("CP-404", until)
