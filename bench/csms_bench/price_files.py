"""The file formats of `csms price`: a tariff and a session as JSON (docs/pricing.md).

A tariff file is exactly the domain's `Tariff` and a session file its `SessionUsage`, both
camelCase, so a tariff checked here is the tariff the runtime prices with. Their JSON schemas
are written to schemas/billing/ by `make schemas`.

This module lives with the benchmarks (which drive the pure domain) rather than in
`csms_local`: the local runtime may import only handler entry points and settings, never the
domain (import-linter), and `csms price` is a tool over the pure domain, like the benchmarks.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from csms.domain.billing.pricing import PricedSession, price
from csms.domain.billing.tariff import Tariff
from csms.domain.billing.usage import SessionUsage

TARIFF_SCHEMA_ID = "csms/billing/tariff.schema.json"
SESSION_SCHEMA_ID = "csms/billing/session.schema.json"
# Enough to fix a file in one go; a file that is wrong everywhere is summarised.
MAX_SHOWN = 20

_Doc = TypeVar("_Doc", bound=BaseModel)


class PriceFileError(Exception):
    """A tariff or session file that cannot be read or is not valid.

    The message is a summary line, then one indented line per problem.
    """

    def __init__(self, summary: str, problems: list[str] | None = None) -> None:
        super().__init__("\n".join([summary, *(f"  {line}" for line in problems or [])]))


def location(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a reader writes it: `tou[1].windows[0].start`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def _message(error: Any) -> str:
    message = str(error["msg"])
    # pydantic prefixes what our validators raise; the reader needs only the reason.
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def problems(exc: ValidationError) -> list[str]:
    """Every validation error as `location: reason`, noise left out.

    A sequence whose item failed is also reported as too short by pydantic (the failed item
    does not count); that second error says nothing the first did not, so it is dropped.
    """
    errors = exc.errors(include_url=False)
    failed = [tuple(error["loc"]) for error in errors]
    lines = []
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "too_short" and any(
            len(other) > len(loc) and other[: len(loc)] == loc for other in failed
        ):
            continue
        lines.append(f"{location(loc)}: {_message(error)}")
    return lines


def _parse(model: type[_Doc], document: str | bytes, what: str, source: str) -> _Doc:
    try:
        return model.model_validate_json(document)
    except ValidationError as exc:
        found = problems(exc)
        shown = found[:MAX_SHOWN]
        if len(found) > MAX_SHOWN:
            shown.append(f"(and {len(found) - MAX_SHOWN} more)")
        summary = (
            f"{source} is not valid JSON"
            if found and exc.errors()[0]["type"] == "json_invalid"
            else f"{source} is not a valid {what}"
        )
        raise PriceFileError(f"{summary} (format: docs/pricing.md):", shown) from None


def parse_tariff(document: str | bytes, source: str = "the tariff") -> Tariff:
    """A tariff from its JSON text, or a PriceFileError listing what is wrong and where."""
    return _parse(Tariff, document, "tariff", source)


def parse_session(document: str | bytes, source: str = "the session") -> SessionUsage:
    """A session from its JSON text, or a PriceFileError listing what is wrong and where."""
    return _parse(SessionUsage, document, "session", source)


def read_document(path: Path) -> bytes:
    """A file's bytes (`-` is standard input), or a PriceFileError saying why not."""
    if str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PriceFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def _name(path: Path, what: str) -> str:
    return f"the {what} on standard input" if str(path) == "-" else str(path)


def load_tariff(path: Path) -> Tariff:
    """A tariff from a file."""
    return parse_tariff(read_document(path), _name(path, "tariff"))


def load_session(path: Path) -> SessionUsage:
    """A session from a file."""
    return parse_session(read_document(path), _name(path, "session"))


def priced_document(priced: PricedSession) -> dict[str, Any]:
    """The priced breakdown as JSON: camelCase, every amount and quantity a decimal string."""
    return priced.model_dump(mode="json", by_alias=True)


def price_files(tariff_path: Path, session_path: Path) -> dict[str, Any]:
    """Both files read and checked (every problem of both reported), then priced."""
    errors: list[PriceFileError] = []
    tariff: Tariff | None = None
    usage: SessionUsage | None = None
    try:
        tariff = load_tariff(tariff_path)
    except PriceFileError as exc:
        errors.append(exc)
    try:
        usage = load_session(session_path)
    except PriceFileError as exc:
        errors.append(exc)
    if tariff is None or usage is None:
        raise PriceFileError("\n".join(str(error) for error in errors))
    return priced_document(price(tariff, usage))


def _schema(model: type[BaseModel], schema_id: str, title: str, description: str) -> Any:
    schema = model.model_json_schema(by_alias=True)
    schema["$id"] = schema_id
    schema["title"] = title
    schema["description"] = description
    return schema


def json_schemas() -> dict[str, Any]:
    """Both formats as JSON Schema (draft 2020-12), by file name under schemas/."""
    return {
        "billing/tariff.schema.json": _schema(
            Tariff,
            TARIFF_SCHEMA_ID,
            "Tariff",
            "What a charging session costs: energy, time, session and idle fees, time-of-use "
            "periods, minimum and maximum price, taxes and rounding steps. The file format of "
            "`csms price TARIFF.json SESSION.json`; see docs/pricing.md.",
        ),
        "billing/session.schema.json": _schema(
            SessionUsage,
            SESSION_SCHEMA_ID,
            "Session usage",
            "What one charging session used: start and stop, the cumulative energy register, "
            "the idle period, the site's timezone and who charged. The file format of "
            "`csms price TARIFF.json SESSION.json`; see docs/pricing.md.",
        ),
    }
