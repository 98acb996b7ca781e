"""Tenant isolation over every route: a user of globex never reaches anything of acme's.

With acme's world in place, the owner and an admin of tenant globex call every route with acme's
ids in paths, queries and bodies (the catalogue's samples). Each answer is 404 or 403, or 422
`invalid-reference` for a body naming acme's things, or, when the path names nothing of acme's
(lists, creations, the tenant's own views), a success; and no answer carries anything of acme's
that the request did not carry itself (the raw body text is searched for every acme id and
value). Acme's stored items are the same afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.integration.api_catalogue import (
    OTHER_TENANT,
    SAMPLES,
    Acme,
    Answer,
    Sample,
    acme_on_moto,
    call,
    claims,
    dump_tenant,
)

from csms.handlers.api_access import ROUTE_PERMISSIONS

ROUTES = sorted(ROUTE_PERMISSIONS)
IDS = [f"{method} {path}" for method, path in ROUTES]
REFUSALS = {404, 403}


@pytest.fixture(scope="module")
def acme_once(template: dict[str, Any]) -> Iterator[Acme]:
    with pytest.MonkeyPatch.context() as monkeypatch, acme_on_moto(template, monkeypatch) as acme:
        yield acme


@pytest.fixture
def acme(acme_once: Acme) -> Acme:
    acme_once.restore()
    return acme_once


def _leaks(answer: Answer, sample: Sample, path: str, values: list[str]) -> list[str]:
    """Acme's values in the answer that the request did not carry itself."""
    sent = sample.text(path).lower()
    text = (answer.text + " " + str(answer.headers)).lower()
    return [value for value in values if value.lower() in text and value.lower() not in sent]


def _names_acme(sample: Sample, path: str, values: list[str]) -> bool:
    target = sample.path(path).lower()
    return any(value.lower() in target for value in values)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=IDS)
@pytest.mark.parametrize("role", ["owner", "admin"])
def test_other_tenant_never_reaches_acme(acme: Acme, role: str, method: str, path: str) -> None:
    # GIVEN acme's world and what is stored of it
    assert (method, path) in SAMPLES, f"{method} {path} has no sample in api_catalogue.py"
    values = acme.world.values()
    sample = SAMPLES[(method, path)](acme.world)
    before = dump_tenant(acme.table_name, acme.world)
    # WHEN a user of globex sends the same request
    answer = call(method, path, sample, claims(role, tenant=OTHER_TENANT))
    # THEN it is refused as if acme's things did not exist, or (naming nothing of acme's in the
    # path) it succeeds within globex
    refused = answer.status in REFUSALS or (
        answer.status == 422 and answer.problem_type == "/problems/invalid-reference"
    )
    succeeded = 200 <= answer.status < 300 and not _names_acme(sample, path, values)
    assert refused or succeeded, f"{role} of globex: {answer}"
    # AND the answer carries nothing of acme's beyond what the request itself carried
    assert _leaks(answer, sample, path, values) == [], f"{role} of globex: {answer}"
    if succeeded:
        body = answer.text.lower()
        assert not [v for v in values if v.lower() in body], f"{role} of globex: {answer}"
    # AND acme's stored items are untouched
    assert dump_tenant(acme.table_name, acme.world) == before


def test_acme_world_is_visible_to_acme(acme: Acme) -> None:
    # GIVEN acme's world (so that the test above proves something)
    world = acme.world
    # WHEN acme's owner reads its station, session and token
    station = call(
        "GET", "/v1/stations/<station_id>", Sample({"station_id": world.station}), claims()
    )
    session = call(
        "GET", "/v1/sessions/<session_id>", Sample({"session_id": world.session}), claims()
    )
    token = call("GET", "/v1/tokens/<id_token>", Sample({"id_token": world.token}), claims())
    # THEN they are there
    assert station.status == session.status == token.status == 200
    assert world.serial in station.text
    assert world.token in session.text
    # AND acme's stored items are found by the dump the isolation test compares
    assert len(dump_tenant(acme.table_name, world)) >= 5
