"""The OpenAPI 3.1 document says, for every operation, what the API really does.

Checked over the generated document, so every route added later must comply: a summary, tags,
problem responses as application/problem+json, 400 `invalid-request` (never Powertools' 422
validation error), 401/403 on protected operations, examples for request bodies, the bearer
scheme; and docs/permissions.md lists every operation.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from csms.domain.access import ROLE_PERMISSIONS, Permission, Role
from csms.handlers.api import openapi_json
from csms.handlers.api_access import ROUTE_PERMISSIONS
from csms.handlers.api_openapi import amend_document, route_key

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("get", "put", "post", "patch", "delete")
PROBLEM_REF = "#/components/schemas/Problem"


def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(openapi_json())
    return document


DOCUMENT = _document()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method in METHODS
]
IDS = [f"{method} {path}" for method, path, _ in OPERATIONS]


def _is_problem(response: dict[str, Any]) -> bool:
    content = response.get("content") or {}
    schema = (content.get("application/problem+json") or {}).get("schema") or {}
    return list(content) == ["application/problem+json"] and schema.get("$ref") == PROBLEM_REF


def test_openapi_document_is_3_1_with_a_bearer_scheme() -> None:
    # GIVEN the generated document
    # THEN it is OpenAPI 3.1 with a JWT bearer scheme required by default
    assert DOCUMENT["openapi"].startswith("3.1")
    assert DOCUMENT["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert DOCUMENT["security"] == [{"bearer": []}]


def test_openapi_document_covers_every_declared_route_and_nothing_else() -> None:
    # GIVEN the routes declared through `operation(...)` (the document itself is not in it)
    declared = {key for key in ROUTE_PERMISSIONS if key != ("GET", "/v1/openapi.json")}
    # WHEN the document's operations are named the way routers name them
    documented = {(method, route_key(path)) for method, path, _ in OPERATIONS}
    # THEN they are the same set
    assert documented == declared


def test_openapi_document_has_no_powertools_validation_error_left() -> None:
    # GIVEN the whole document as text
    text = json.dumps(DOCUMENT)
    # THEN nothing refers to the 422 body the API never sends
    assert "HTTPValidationError" not in text
    assert "ValidationError" not in DOCUMENT["components"]["schemas"]


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_openapi_operation_has_summary_tags_and_id(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    # THEN an operation says what it does and where it belongs
    assert operation.get("summary", "").strip(), f"{method} {path}: no summary"
    assert operation.get("tags"), f"{method} {path}: no tags"
    assert operation.get("operationId"), f"{method} {path}: no operationId"


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_openapi_operation_documents_its_problems(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    responses: dict[str, Any] = operation["responses"]
    # THEN every 4xx is a problem details body
    for status, response in responses.items():
        if status.startswith("4"):
            assert _is_problem(response), f"{method} {path} {status} is not a problem"
            assert response.get("description"), f"{method} {path} {status}: no description"
    # AND a 422 is never Powertools' validation error (requests that do not match answer 400)
    if operation.get("parameters") or operation.get("requestBody"):
        assert "400" in responses, f"{method} {path}: 400 invalid-request not documented"
    if operation.get("requestBody"):
        assert {"413", "415"} <= set(responses), f"{method} {path}: 413/415 not documented"
    if "{" in path:
        assert "404" in responses, f"{method} {path}: 404 not documented"
    # AND at least one success is documented
    assert any(status.startswith("2") for status in responses), f"{method} {path}: no 2xx"


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_openapi_operation_states_its_security_and_permission(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    permission = ROUTE_PERMISSIONS[(method, route_key(path))]
    if permission is None:
        # THEN a public operation needs no token
        assert operation["security"] == []
        return
    # THEN a protected one needs the bearer token, names its permission, documents 401 and 403
    assert operation["security"] == [{"bearer": []}]
    assert operation["x-permission"] == permission.value
    assert {"401", "403"} <= set(operation["responses"])


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_openapi_request_body_has_examples(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    body = operation.get("requestBody")
    if body is None:
        return
    # THEN every request body comes with at least one example, each with a value and summary
    for media_type, media in body["content"].items():
        examples = media.get("examples") or {}
        assert examples or "example" in media, f"{method} {path} {media_type}: no example"
        for name, example in examples.items():
            assert "value" in example, f"{method} {path}: example {name} has no value"
            assert example.get("summary"), f"{method} {path}: example {name} has no summary"


def test_amend_document_replaces_the_422_and_keeps_a_declared_one() -> None:
    # GIVEN a raw document as Powertools writes it: one operation with only its 422, one with a
    # 422 of its own (a problem), one public, and one not declared through `operation(...)`
    validation = {
        "description": "Validation Error",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
        },
    }
    own_422 = {
        "description": "A referenced thing does not exist",
        "content": {"application/problem+json": {"schema": {"$ref": PROBLEM_REF}}},
    }
    raw: dict[str, Any] = {
        "paths": {
            "/v1/things/{thing_id}": {
                "get": {"parameters": [{"name": "thing_id"}], "responses": {"422": validation}},
                "post": {"requestBody": {"content": {}}, "responses": {"422": own_422}},
            },
            "/v1/public": {"get": {"responses": {"200": {"description": "ok"}}}},
            "/v1/stray": {"get": {}, "parameters": []},
        },
        "components": {
            "schemas": {
                "HTTPValidationError": {
                    "properties": {"detail": {"$ref": "#/components/schemas/ValidationError"}}
                },
                "ValidationError": {},
                "Problem": {},
            }
        },
    }
    permissions: dict[tuple[str, str], Permission | None] = {
        ("GET", "/v1/things/<thing_id>"): Permission.READ,
        ("POST", "/v1/things/<thing_id>"): Permission.MANAGE_SITES,
        ("GET", "/v1/public"): None,
    }
    # WHEN it is amended
    doc = amend_document(raw, permissions)
    # THEN Powertools' 422 and its schemas are gone; 400, 404, 401, 403 are problems
    get = doc["paths"]["/v1/things/{thing_id}"]["get"]
    assert sorted(get["responses"]) == ["400", "401", "403", "404"]
    assert all(_is_problem(r) for r in get["responses"].values())
    assert get["security"] == [{"bearer": []}]
    assert get["x-permission"] == "read"
    assert sorted(doc["components"]["schemas"]) == ["Problem"]
    # AND a route's own 422 stays, a body adds 413
    post = doc["paths"]["/v1/things/{thing_id}"]["post"]
    assert post["responses"]["422"] == own_422
    assert {"413", "415"} <= set(post["responses"])
    # AND the public operation needs no token and gets no 401/403
    public = doc["paths"]["/v1/public"]["get"]
    assert public["security"] == []
    assert sorted(public["responses"]) == ["200"]
    # AND an undeclared operation gets no security statement (the test above catches it)
    assert "security" not in doc["paths"]["/v1/stray"]["get"]
    # AND the input was not changed
    assert "422" in raw["paths"]["/v1/things/{thing_id}"]["get"]["responses"]


def test_amend_document_gives_204_no_body() -> None:
    # GIVEN a 204 that Powertools described with a body from the route's return type
    no_content = {
        "description": "Deleted",
        "content": {"application/json": {"schema": {"type": "string"}}},
    }
    raw: dict[str, Any] = {
        "paths": {"/v1/x/{x_id}": {"delete": {"responses": {"204": no_content}}}},
        "components": {"schemas": {}},
    }
    # WHEN amended
    doc = amend_document(raw, {("DELETE", "/v1/x/<x_id>"): Permission.MANAGE_SITES})
    # THEN the 204 has no content, as the API answers it
    assert doc["paths"]["/v1/x/{x_id}"]["delete"]["responses"]["204"] == {"description": "Deleted"}


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_openapi_no_content_response_has_no_body(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    # THEN a documented 204 never promises a body
    assert "content" not in operation["responses"].get("204", {}), f"{method} {path}"


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_openapi_json_answers_are_described_by_a_model(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    # THEN no JSON answer is documented as a bare string: a route that builds its own
    # Response must declare the model it sends (Powertools would document `Return: string`)
    for status, response in operation["responses"].items():
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        assert schema.get("title") != "Return", f"{method} {path} {status}"


def test_amend_document_keeps_validation_schemas_still_referenced() -> None:
    # GIVEN a document where something else still refers to Powertools' validation error
    ref = {"$ref": "#/components/schemas/HTTPValidationError"}
    raw: dict[str, Any] = {
        "paths": {"/x": {"get": {"responses": {"200": {"content": {"a/b": {"schema": ref}}}}}}},
        "components": {
            "schemas": {
                "HTTPValidationError": {"items": {"$ref": "#/components/schemas/ValidationError"}},
                "ValidationError": {},
                "ResponseValidationError": {},
            }
        },
    }
    # WHEN amended
    doc = amend_document(raw, {})
    # THEN its schemas stay, and only the unreferenced one goes
    assert sorted(doc["components"]["schemas"]) == ["HTTPValidationError", "ValidationError"]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_schemas", ROOT / "scripts" / "generate_schemas.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_permissions_doc_is_generated_and_lists_every_operation() -> None:
    # GIVEN the generator's docs/permissions.md for the current code
    text: str = _generator().generate_docs()["permissions.md"]
    # THEN the committed file is exactly it
    committed = (ROOT / "docs" / "permissions.md").read_text(encoding="utf-8")
    assert committed == text, "docs/permissions.md drifted: run make schemas"
    # AND every declared route has a row with its permission and one cell per role
    for (method, path), permission in ROUTE_PERMISSIONS.items():
        shown = re.sub(r"<([^>]+)>", r"{\1}", path)
        rows = [line for line in text.splitlines() if line.startswith(f"| {method} | `{shown}` |")]
        assert len(rows) == 1, f"{method} {path}"
        cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
        assert cells[3] == (f"`{permission.value}`" if permission else "public")
        allowed = [
            "yes" if permission is None or permission in ROLE_PERMISSIONS[role] else "no"
            for role in Role
        ]
        assert cells[4:] == allowed, f"{method} {path}"
