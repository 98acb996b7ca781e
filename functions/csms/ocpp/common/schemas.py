"""Validation against the official OCPP JSON schemas shipped in the `ocpp` package."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import ocpp
from jsonschema import Draft4Validator
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
    if (schema_version, message_type, action) in _DECIMAL_SCHEMAS:
        # Compare tenths exactly: as floats, 0.7 is not a multiple of 0.1.
        validator = _decimal_validator(schema_version, message_type, action)
        payload = json.loads(json.dumps(payload), parse_float=Decimal)
    else:
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


# 1.6 schedules say `multipleOf: 0.1`, which binary floats fail (jsonschema issue 247): these
# schemas and their payloads are read with Decimal numbers, as the `ocpp` package does.
_DECIMAL_SCHEMAS = {
    ("1.6", CALL, "SetChargingProfile"),
    ("1.6", CALL, "RemoteStartTransaction"),
    ("1.6", CALL_RESULT, "GetCompositeSchedule"),
}


@cache
def _decimal_validator(schema_version: str, message_type: int, action: str) -> Draft4Validator:
    # Our own instance: the `ocpp` package caches its validators without the float parser in
    # the key, so asking it for a Decimal one could hand back a float one (or poison its cache).
    name = action + ("Response" if message_type == CALL_RESULT else "")
    folder = _SCHEMA_ROOT / ("v" + schema_version.replace(".", "")) / "schemas"
    text = (folder / f"{name}.json").read_text(encoding="utf-8-sig")
    return Draft4Validator(json.loads(text, parse_float=Decimal))


def _first_error(validator: Any, payload: dict[str, Any]) -> SchemaValidationError | None:
    # The most relevant error, deterministically: jsonschema's own ranking.
    errors = list(validator.iter_errors(payload))
    if not errors:
        return None
    match: SchemaValidationError = best_match(errors)
    return match
