"""Make the generated OpenAPI document say what the API really answers.

Powertools documents a 422 `HTTPValidationError` for every operation, but this API answers a
request that does not match its schema with 400 `invalid-request` as a problem (the handler in
`csms.handlers.api`); the guard answers 401 and 403 on every protected operation; the request
middleware answers 413 to oversized bodies, and a body that is not JSON gets 415; every path
with a parameter can name something that is not there (404). Routers declare what is
particular to them; this module adds what holds for every operation, so clients and
schemathesis see the whole truth.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from csms.domain.access import Permission

PROBLEM_JSON = "application/problem+json"
_PROBLEM_REF = "#/components/schemas/Problem"
_POWERTOOLS_VALIDATION_REF = "#/components/schemas/HTTPValidationError"
_POWERTOOLS_SCHEMAS = frozenset(
    {"HTTPValidationError", "ValidationError", "ResponseValidationError"}
)
_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

_GENERIC: dict[str, str] = {
    "400": "The request does not match the API's schema (`invalid-request`, with an `errors` "
    "list), or a parameter or cursor is invalid",
    "401": "No bearer token, or one without a tenant (`unauthorized`)",
    "403": "The caller's role or sites do not allow this operation (`forbidden`)",
    "404": "Nothing of that id in the caller's tenant, or beyond the caller's sites",
    "413": "The body is larger than the API accepts (`content-too-large`)",
    "415": "The body is not `application/json` (`unsupported-media-type`)",
}


def route_key(path: str) -> str:
    """The path as routers declare it (`<id>`) from its OpenAPI form (`{id}`)."""
    return re.sub(r"\{([^}]+)\}", r"<\1>", path)


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": _PROBLEM_REF}}},
    }


def _is_powertools_validation(response: dict[str, Any]) -> bool:
    content = response.get("content") or {}
    return any(
        (media.get("schema") or {}).get("$ref") == _POWERTOOLS_VALIDATION_REF
        for media in content.values()
    )


def _amend(
    path: str, operation: dict[str, Any], permission: Permission | None, known: bool
) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in ("204", "304"):
        # No body, whatever the route's return type made Powertools write (RFC 9110 §15.3.5).
        if status in responses:
            responses[status].pop("content", None)
    if "422" in responses and _is_powertools_validation(responses["422"]):
        del responses["422"]
    wanted: list[str] = []
    if operation.get("parameters") or operation.get("requestBody"):
        wanted.append("400")
    if operation.get("requestBody"):
        wanted += ["413", "415"]
    if "{" in path:
        wanted.append("404")
    if known and permission is not None:
        wanted += ["401", "403"]
    for status in wanted:
        responses.setdefault(status, _problem(_GENERIC[status]))
    if not known:
        return  # not declared through `operation(...)`: the unit test of the document says so
    if permission is None:
        operation["security"] = []  # public: no bearer token needed
    else:
        operation["security"] = [{"bearer": []}]
        operation["x-permission"] = permission.value


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    # Powertools' validation error schemas stay only while something still refers to them.
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    dropped = True
    while dropped:
        dropped = False
        for name in _POWERTOOLS_SCHEMAS & set(schemas):
            rest = {k: v for k, v in schemas.items() if k != name}
            text = json.dumps({**document, "components": {"schemas": rest}})
            if f'"#/components/schemas/{name}"' not in text:
                del schemas[name]
                dropped = True


def amend_document(
    document: dict[str, Any], permissions: dict[tuple[str, str], Permission | None]
) -> dict[str, Any]:
    """The document with the responses every operation really has, and its security."""
    amended = copy.deepcopy(document)
    for path, item in amended.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _HTTP_METHODS:
                continue
            key = (method.upper(), route_key(path))
            _amend(path, operation, permissions.get(key), key in permissions)
    _drop_unused_schemas(amended)
    return amended
