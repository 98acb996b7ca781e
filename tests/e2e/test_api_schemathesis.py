"""Schemathesis over the whole OpenAPI document, against `csms local` on 127.0.0.1.

Every operation of the document is called as the owner of the seeded tenant with the document's
own examples, boundary values (coverage phase) and generated requests (fuzzing phase), and every
answer must be: no server error, a status code the document lists, a content type the document
lists for it, and a body that matches the documented schema. The seed is fixed and the examples
are bounded, so a run is the same every time and fits the CI budget.

The document is the one the code generates (what `csms local` serves; the first test checks
that), loaded at import so that each operation is a test of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.e2e.conftest import LocalCsms, start_local

from csms.handlers.api import OPENAPI_PATH, openapi_json

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SEED = 20261124
MAX_EXAMPLES = 8  # per operation, in the fuzzing phase
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
DOCUMENT: dict[str, Any] = json.loads(openapi_json())

schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
            "operations": [
                {
                    # One body for every command (a union of ~20 shapes): the coverage phase
                    # alone sends it some 1500 requests. Examples and fuzzing still cover it.
                    "include-path": "/v1/stations/{station_id}/commands",
                    "include-method": "POST",
                    "phases": {"coverage": {"enabled": False}},
                }
            ],
        }
    ),
)


def _base_url(local: LocalCsms) -> str:
    return f"http://127.0.0.1:{local.http_port}"  # the local runtime only, never elsewhere


@pytest.fixture(scope="module")
def local_csms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCsms]:
    """`csms local` that answers commands at once (202) instead of waiting for the station."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CSMS_COMMAND_WAIT_S", "0")
        local = start_local(tmp_path_factory.mktemp("schemathesis"))
    yield local
    local.stop()


@pytest.fixture(scope="module")
def owner_headers(local_csms: LocalCsms) -> dict[str, str]:
    return {"Authorization": f"Bearer {local_csms.token('default', 'owner')}"}


def test_local_runtime_serves_the_document_under_test(local_csms: LocalCsms) -> None:
    # WHEN the document is fetched from the local runtime without a token
    import urllib.request

    with urllib.request.urlopen(f"{_base_url(local_csms)}{OPENAPI_PATH}", timeout=30) as answer:  # noqa: S310 - 127.0.0.1
        served = json.loads(answer.read())
    # THEN it is the document schemathesis tests
    assert served == DOCUMENT


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_openapi_document(
    case: Any, local_csms: LocalCsms, owner_headers: dict[str, str]
) -> None:
    # GIVEN an owner's request made from the document
    # WHEN it is sent to the local runtime
    # THEN no server error, and status, content type and body are as documented
    case.call_and_validate(
        base_url=_base_url(local_csms), headers=owner_headers, checks=CHECKS, timeout=15
    )
