"""schemas/ is generated from the code and must not drift from it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import jsonschema

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_schemas", ROOT / "scripts" / "generate_schemas.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_schemas_folder_matches_generated_output() -> None:
    # GIVEN the generator's output for the current code
    files: dict[str, str] = _generator().generate()
    # THEN every generated file is committed, byte for byte
    for name, text in files.items():
        path = ROOT / "schemas" / name
        assert path.exists(), f"schemas/{name} missing: run make schemas"
        assert path.read_text(encoding="utf-8") == text, f"schemas/{name} drifted: run make schemas"


def test_event_schema_accepts_a_real_envelope() -> None:
    # GIVEN a StationBooted event in its envelope, as the publisher serialises it
    from datetime import UTC, datetime

    from csms.adapters.events import envelope_json
    from csms.domain.events import StationBooted
    from csms.domain.station import BootReason, RegistrationStatus

    event = StationBooted(
        station_id="CP-1",
        tenant_id="t",
        occurred_at=datetime(2026, 11, 24, tzinfo=UTC),
        vendor="V",
        model="M",
        reason=BootReason.POWER_UP,
        registration_status=RegistrationStatus.ACCEPTED,
    )
    detail = json.loads(envelope_json(event, "e-1"))
    schema = json.loads((ROOT / "schemas" / "events" / "StationBooted.json").read_text())
    # THEN it validates, and a detail without metadata does not
    jsonschema.validate(detail, schema)
    try:
        jsonschema.validate({"data": detail["data"]}, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("an envelope without metadata must not validate")
