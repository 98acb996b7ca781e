"""Validation against the official OCPP JSON schemas shipped in the `ocpp` package."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import ocpp
from jsonschema.exceptions import ValidationError as SchemaValidationError
from jsonschema.exceptions import best_match
from ocpp.messages import get_validator

from csms.ocpp.common.errors import ErrorKind
from csms.ocpp.common.frames import CALL, CALL_RESULT

_SCHEMA_ROOT = Path(ocpp.__file__).parent

# jsonschema keyword that failed -> the OCPP-J error it means.
_KEYWORD_KINDS = {
    "type": ErrorKind.TYPE_CONSTRAINT_VIOLATION,
    "required": ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
    "minItems": ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
    "maxItems": ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
    "enum": ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    "maxLength": ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    "minLength": ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    "minimum": ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    "maximum": ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    "multipleOf": ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    "pattern": ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    "format": ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
}


class SchemaViolationError(Exception):
    """A payload that does not conform to its official schema."""

    def __init__(self, kind: ErrorKind, description: str, path: str) -> None:
        super().__init__(description)
        self.kind = kind
        self.description = description
        self.path = path


@cache
def known_actions(schema_version: str) -> frozenset[str]:
    """Every action the version defines (those with a request schema)."""
    folder = _SCHEMA_ROOT / ("v" + schema_version.replace(".", "")) / "schemas"
    names = {p.stem for p in folder.glob("*.json")}
    if schema_version == "1.6":
        return frozenset(n for n in names if not n.endswith("Response"))
    return frozenset(n.removesuffix("Request") for n in names if n.endswith("Request"))


def validate(schema_version: str, message_type: int, action: str, payload: dict[str, Any]) -> None:
    """Raise SchemaViolationError when the payload breaks the official schema."""
    if message_type not in (CALL, CALL_RESULT):  # pragma: no cover - guarded by callers
        raise ValueError(message_type)
    validator = get_validator(message_type, action, schema_version)
    error = _first_error(validator, payload)
    if error is None:
        return
    kind = _KEYWORD_KINDS.get(str(error.validator), ErrorKind.FORMAT_VIOLATION)
    if error.validator == "additionalProperties":
        kind = ErrorKind.FORMAT_VIOLATION
    path = "/".join(str(part) for part in error.absolute_path)
    description = f"{path or '(payload)'}: {error.message}"
    raise SchemaViolationError(kind, description[:250], path)


def _first_error(validator: Any, payload: dict[str, Any]) -> SchemaValidationError | None:
    # The most relevant error, deterministically: jsonschema's own ranking.
    errors = list(validator.iter_errors(payload))
    if not errors:
        return None
    match: SchemaValidationError = best_match(errors)
    return match
