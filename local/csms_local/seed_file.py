"""Reading a seed file, with a readable error for every way it can be wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from csms_local.errors import LocalError


def read_seed(path: Path) -> dict[str, Any]:
    """Read a seed file, with a readable error for every way it can be wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LocalError(f"seed file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalError(f"seed file {path} cannot be read: {exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LocalError(
            f"seed file {path} is not valid JSON: {exc.msg} at line {exc.lineno}"
        ) from None
    if not isinstance(document, dict):
        raise LocalError(f"seed file {path} must hold a JSON object with sites/stations/tokens")
    return document
