"""The load management endpoints on moto, in acme's world (tests/integration/api_catalogue.py).

Acme has load management at both sites (version 1): the depot's names its one station, which
has an active session.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.integration.api_catalogue import (
    OTHER_TENANT,
    Acme,
    Answer,
    Sample,
    _ocpp,
    _wire,
    acme_on_moto,
    call,
    claims,
)

from csms.handlers import _runtime, api_common
from csms.handlers.api_access import Change

CONFIG = "/v1/sites/<site_id>/load-config"
READINGS = "/v1/sites/<site_id>/readings"
LOAD = "/v1/sites/<site_id>/load"
NEEDS = "/v1/sessions/<session_id>/needs"


@pytest.fixture(scope="module")
def acme_once(template: dict[str, Any]) -> Iterator[Acme]:
    with pytest.MonkeyPatch.context() as monkeypatch, acme_on_moto(template, monkeypatch) as acme:
        yield acme


@pytest.fixture
def acme(acme_once: Acme) -> Acme:
    acme_once.restore()
    _runtime.reset()
    return acme_once


@pytest.fixture
def changes(acme: Acme, monkeypatch: pytest.MonkeyPatch) -> list[Change]:
    """The audit changes the routes record."""
    del acme
    recorded: list[Change] = []
    monkeypatch.setattr(api_common, "record_change", recorded.append)
    return recorded


def _site(acme: Acme, method: str, path: str, body: Any = None, **more: Any) -> Answer:
    caller = more.pop("caller", claims("owner"))
    site = more.pop("site", acme.world.site)
    return call(method, path, Sample({"site_id": site}, body=body, **more), caller)


def _config(acme: Acme, **over: Any) -> dict[str, Any]:
    return {"limitKw": 60, "stations": [{"stationId": acme.world.station, "maxKw": 22}], **over}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# -- configuration ----------------------------------------------------------------------------


def test_api_load_config_get_answers_the_configuration_with_its_etag(acme: Acme) -> None:
    # GIVEN acme's depot with load management
    # WHEN its configuration is read
    answer = _site(acme, "GET", CONFIG)
    # THEN it is there, version 1, in the site's time zone
    assert answer.status == 200, answer
    assert answer.headers["etag"] == '"1"'
    body = answer.json()
    assert (body["siteId"], body["version"], body["timezone"], body["limitKw"]) == (
        acme.world.site,
        1,
        "UTC",
        150,
    )
    assert body["stations"][0]["stationId"] == acme.world.station


def test_api_load_config_put_replaces_the_version_named_and_audits(
    acme: Acme, changes: list[Change]
) -> None:
    # GIVEN version 1
    # WHEN replaced with If-Match "1", then again with the same (now stale) If-Match
    replaced = _site(acme, "PUT", CONFIG, _config(acme), headers={"If-Match": '"1"'})
    stale = _site(acme, "PUT", CONFIG, _config(acme, limitKw=70), headers={"If-Match": '"1"'})
    # THEN the first is version 2 (200), the second refused (412) and nothing else changed
    assert (replaced.status, replaced.headers["etag"], replaced.json()["limitKw"]) == (
        200,
        '"2"',
        60,
    )
    assert stale.problem_type == "/problems/version-mismatch"
    assert _site(acme, "GET", CONFIG).json()["limitKw"] == 60
    # AND the replacement was audited with before and after
    [change] = changes
    assert (change.kind, change.action, change.resource_id) == (
        "load-config",
        "load-config.replace",
        acme.world.site,
    )
    assert change.before is not None
    assert change.after is not None
    assert (change.before["limitKw"], change.after["limitKw"]) == (150, 60)


def test_api_load_config_delete_then_put_creates_it_anew(acme: Acme, changes: list[Change]) -> None:
    # GIVEN the spare site's configuration, deleted with its ETag
    spare = acme.world.spare_site
    deleted = _site(acme, "DELETE", CONFIG, site=spare, headers={"If-Match": '"1"'})
    gone = _site(acme, "GET", CONFIG, site=spare)
    # WHEN a configuration is put again, in another time zone
    created = _site(acme, "PUT", CONFIG, {"limitKw": 30, "timezone": "Europe/Paris"}, site=spare)
    # THEN the delete answered 204 and left nothing, the put 201 with version 1
    assert deleted.status == 204
    assert gone.problem_type == "/problems/load-config-not-found"
    assert (created.status, created.headers["etag"]) == (201, '"1"')
    assert created.json()["timezone"] == "Europe/Paris"
    assert [c.action for c in changes] == ["load-config.delete", "load-config.create"]


def test_api_load_config_put_with_if_match_on_no_configuration_is_412(acme: Acme) -> None:
    # GIVEN the spare site without load management
    spare = acme.world.spare_site
    _site(acme, "DELETE", CONFIG, site=spare)
    # WHEN a configuration is put expecting version 1
    answer = _site(acme, "PUT", CONFIG, {"limitKw": 30}, site=spare, headers={"If-Match": '"1"'})
    # THEN it is refused: there is no version 1 to replace
    assert answer.status == 412
    assert answer.problem_type == "/problems/version-mismatch"


def test_api_load_config_refuses_a_station_not_at_the_site(acme: Acme) -> None:
    # GIVEN a configuration of the spare site naming the depot's station, and one naming none
    for site, station in ((acme.world.spare_site, acme.world.station), (acme.world.site, "NOPE")):
        config = {"limitKw": 60, "stations": [{"stationId": station, "maxKw": 22}]}
        # WHEN it is put
        answer = _site(acme, "PUT", CONFIG, config, site=site)
        # THEN it is refused as a reference to no station of that site
        assert answer.status == 422, answer
        assert answer.problem_type == "/problems/invalid-reference"
        assert "stations[0].stationId" in answer.json()["detail"]
    assert _site(acme, "GET", CONFIG, site=acme.world.spare_site).json()["stations"] == []


def test_api_load_config_refuses_a_loop_in_the_groups(acme: Acme) -> None:
    # GIVEN two groups each the other's parent
    groups = [{"id": "a", "parentId": "b"}, {"id": "b", "parentId": "a"}]
    # WHEN put
    answer = _site(acme, "PUT", CONFIG, _config(acme, groups=groups))
    # THEN it is a 400 that names the loop, and version 1 stays
    assert answer.status == 400
    assert answer.problem_type == "/problems/invalid-load-config"
    assert "loop" in answer.json()["detail"]
    assert _site(acme, "GET", CONFIG).headers["etag"] == '"1"'


def test_api_load_config_refuses_a_limit_that_cannot_power_one_session(acme: Acme) -> None:
    # GIVEN a 1 kW site limit over a three-phase station (6 A x 230 V x 3 = 4.14 kW at least)
    # WHEN put
    answer = _site(acme, "PUT", CONFIG, _config(acme, limitKw=1))
    # THEN it is a 400 saying so
    assert answer.status == 400
    assert answer.problem_type == "/problems/invalid-load-config"
    assert "cannot power one session" in answer.json()["detail"]


def test_api_load_config_refuses_an_unknown_time_zone_and_a_fallback_above_the_limit(
    acme: Acme,
) -> None:
    # GIVEN configurations with an unknown zone, and with a meter fallback above the limit
    bad = [
        _config(acme, timezone="Mars/Olympus"),
        _config(acme, meter={"fallbackLimitKw": 100}),
    ]
    # WHEN put
    answers = [_site(acme, "PUT", CONFIG, body) for body in bad]
    # THEN both are 400 invalid-load-config
    assert [a.problem_type for a in answers] == ["/problems/invalid-load-config"] * 2
    assert "Mars/Olympus" in answers[0].json()["detail"]
    assert "fallback" in answers[1].json()["detail"]


def test_api_load_config_of_another_tenant_is_absent(acme: Acme) -> None:
    # GIVEN acme's depot
    # WHEN another tenant's owner reads, replaces and deletes its configuration
    other = claims("owner", tenant=OTHER_TENANT)
    answers = [
        _site(acme, "GET", CONFIG, caller=other),
        _site(acme, "PUT", CONFIG, {"limitKw": 30}, caller=other),
        _site(acme, "DELETE", CONFIG, caller=other),
    ]
    # THEN the site does not exist for it, and acme's is unchanged
    assert [a.problem_type for a in answers] == ["/problems/site-not-found"] * 3
    assert _site(acme, "GET", CONFIG).headers["etag"] == '"1"'


# -- readings and the allocation --------------------------------------------------------------


def test_api_load_readings_move_the_available_power_shown(acme: Acme) -> None:
    # GIVEN the depot with a site meter (fallback 20 kW), never rebalanced
    meter = {"kind": "building", "staleAfterS": 300, "fallbackLimitKw": 20}
    assert _site(acme, "PUT", CONFIG, _config(acme, limitKw=150, meter=meter)).status == 200
    silent = _site(acme, "GET", LOAD).json()
    # WHEN the meter reports 100 kW of building load
    reading = {"kind": "meter", "at": _wire(_now()), "kw": 100}
    posted = _site(acme, "POST", READINGS, {"readings": [reading]})
    shown = _site(acme, "GET", LOAD).json()
    # THEN before, the fallback held; after, 50 kW are left and the site rebalances at once
    assert (silent["constraint"], silent["availableKw"]) == ("meter-stale-fallback", 20)
    assert (posted.status, posted.json()) == (202, {"accepted": 1, "rebalance": True})
    assert (shown["constraint"], shown["availableKw"], shown["buildingKw"]) == (
        "building-load",
        50,
        100,
    )
    assert (shown["rebalanced"], shown["connectors"]) == (False, [])


@pytest.mark.parametrize(
    ("offset", "why"),
    [(timedelta(minutes=10), "in the future"), (timedelta(hours=-25), "24 hours old")],
)
def test_api_load_readings_refuse_a_bad_time(acme: Acme, offset: timedelta, why: str) -> None:
    # GIVEN a reading from too far ahead or too long ago, behind a good one
    good = {"kind": "pv", "at": _wire(_now()), "kw": 5}
    bad = {"kind": "pv", "at": _wire(_now() + offset), "kw": 5}
    # WHEN posted
    answer = _site(acme, "POST", READINGS, {"readings": [good, bad]})
    # THEN the batch is refused, naming the reading
    assert answer.status == 400
    assert answer.problem_type == "/problems/invalid-readings"
    detail = answer.json()["detail"]
    assert "readings[1].at" in detail
    assert why in detail


def test_api_load_readings_refuse_absurd_values_and_empty_batches(acme: Acme) -> None:
    # GIVEN a reading of a terawatt, and no readings at all
    bodies: list[dict[str, Any]] = [
        {"readings": [{"kind": "meter", "at": _wire(_now()), "kw": 1e9}]},
        {"readings": []},
    ]
    # WHEN posted
    answers = [_site(acme, "POST", READINGS, body) for body in bodies]
    # THEN both are invalid requests
    assert [a.problem_type for a in answers] == ["/problems/invalid-request"] * 2


def test_api_load_readings_and_load_of_a_site_without_load_management_are_404(
    acme: Acme,
) -> None:
    # GIVEN the spare site without load management
    spare = acme.world.spare_site
    _site(acme, "DELETE", CONFIG, site=spare)
    reading = {"readings": [{"kind": "pv", "at": _wire(_now()), "kw": 5}]}
    # WHEN readings are posted and the load read
    answers = [
        _site(acme, "POST", READINGS, reading, site=spare),
        _site(acme, "GET", LOAD, site=spare),
    ]
    # THEN both say the site has no load management
    assert [a.problem_type for a in answers] == ["/problems/load-config-not-found"] * 2


def test_api_load_readings_from_a_user_restricted_to_another_site_are_404(acme: Acme) -> None:
    # GIVEN an operator restricted to the spare site
    operator = claims("operator", sites=[acme.world.spare_site])
    reading = {"readings": [{"kind": "pv", "at": _wire(_now()), "kw": 5}]}
    # WHEN it posts readings of the depot
    answer = _site(acme, "POST", READINGS, reading, caller=operator)
    # THEN the depot is absent for it
    assert answer.problem_type == "/problems/site-not-found"


# -- declared needs ---------------------------------------------------------------------------


def _needs(acme: Acme, body: Any, caller: dict[str, Any] | None = None) -> Answer:
    sample = Sample({"session_id": acme.world.session}, body=body)
    return call("PUT", NEEDS, sample, caller or claims("operator"))


def test_api_load_needs_are_stored_and_audited(acme: Acme, changes: list[Change]) -> None:
    # GIVEN the depot's active session
    departure = _now() + timedelta(hours=8)
    # WHEN an operator declares its departure, energy and priority
    answer = _needs(acme, {"departure": _wire(departure), "energyKwh": 42.5, "priority": 7})
    # THEN they are answered as stored, and audited
    assert answer.status == 200, answer
    body = answer.json()
    assert (body["sessionId"], body["stationId"], body["evseId"]) == (
        acme.world.session,
        acme.world.station,
        1,
    )
    assert (body["energyKwh"], body["priority"], body["source"]) == (42.5, 7, "api")
    assert datetime.fromisoformat(body["departure"]) == departure
    assert [c.action for c in changes] == ["session-needs.declare"]


def test_api_load_needs_of_an_ended_session_are_409(acme: Acme) -> None:
    # GIVEN the depot's session ended by its station
    ended = {
        "eventType": "Ended",
        "timestamp": _wire(_now()),
        "triggerReason": "StopAuthorized",
        "seqNo": 1,
        "transactionInfo": {"transactionId": acme.world.transaction, "stoppedReason": "Local"},
    }
    assert _ocpp([2, "acme-end", "TransactionEvent", ended])[0] == 3
    _runtime.reset()
    # WHEN needs are declared for it
    answer = _needs(acme, {"energyKwh": 10})
    # THEN they are refused: the session is over
    assert answer.status == 409
    assert answer.problem_type == "/problems/session-not-active"


def test_api_load_needs_of_another_tenants_session_are_404(acme: Acme) -> None:
    # GIVEN acme's session
    # WHEN another tenant's operator declares needs for it
    answer = _needs(acme, {"energyKwh": 10}, claims("operator", tenant=OTHER_TENANT))
    # THEN the session does not exist for it
    assert answer.problem_type == "/problems/session-not-found"


def test_api_load_needs_refuse_a_departure_in_the_past_and_bad_values(acme: Acme) -> None:
    # GIVEN a departure an hour ago, a negative energy and a priority of 10
    bodies: list[dict[str, Any]] = [
        {"departure": _wire(_now() - timedelta(hours=1))},
        {"energyKwh": -1},
        {"priority": 10},
    ]
    # WHEN declared
    answers = [_needs(acme, body) for body in bodies]
    # THEN each is a 400
    assert [a.problem_type for a in answers] == [
        "/problems/invalid-needs",
        "/problems/invalid-request",
        "/problems/invalid-request",
    ]
