"""Generate schemas/: the OpenAPI document, the event schemas and the OCPP schemas in use.

`--check` writes nothing and exits 1 listing the files that drifted from the code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions")]

import ocpp  # noqa: E402

from csms.domain.events import EVENT_TYPES, EventEnvelope  # noqa: E402
from csms.ocpp.dispatch import PROTOCOLS  # noqa: E402

SCHEMAS = ROOT / "schemas"


def _json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def openapi() -> str:
    """The HTTP API's OpenAPI 3.1 document, from the code."""
    import os

    # Importing the handler module needs no AWS and no settings: the runtime is built lazily.
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "csms")
    from csms.handlers.api import openapi_json

    return openapi_json()


def event_schemas() -> dict[str, str]:
    """One JSON schema per event type: the `{metadata, data}` envelope with its data."""
    files = {}
    for event_type in EVENT_TYPES:
        schema = EventEnvelope[event_type].model_json_schema()  # type: ignore[valid-type]
        schema["title"] = event_type.detail_type
        schema["description"] = (
            f"EventBridge detail of `{event_type.detail_type}` "
            f"(source `{event_type.source}`, version {event_type.event_version})."
        )
        schema["$id"] = f"csms/events/{event_type.detail_type}.json"
        files[f"events/{event_type.detail_type}.json"] = _json(schema)
    return files


def ocpp_schemas() -> dict[str, str]:
    """Copies of the official schemas of every action we route or send, per version."""
    root = Path(ocpp.__file__).parent
    files = {}
    for protocol in PROTOCOLS.values():
        folder = "v" + protocol.schema_version.replace(".", "")
        suffix = "Request" if protocol.schema_version != "1.6" else ""
        actions = set(protocol.routes) | set(protocol.result_decoders)
        for action in sorted(actions):
            for name in (f"{action}{suffix}", f"{action}Response"):
                source = root / folder / "schemas" / f"{name}.json"
                document = json.loads(source.read_text(encoding="utf-8-sig"))
                files[f"ocpp/{folder}/{name}.json"] = _json(document)
    return files


def generate() -> dict[str, str]:
    files = {"openapi.json": openapi()}
    files.update(event_schemas())
    files.update(ocpp_schemas())
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if schemas/ is out of date")
    args = parser.parse_args()
    files = generate()
    expected = {SCHEMAS / name for name in files}
    stale = [path for path in SCHEMAS.rglob("*.json") if path not in expected]
    drifted = [
        name
        for name, text in files.items()
        if not (SCHEMAS / name).exists() or (SCHEMAS / name).read_text(encoding="utf-8") != text
    ]
    if args.check:
        if drifted or stale:
            for name in drifted:
                print(f"schemas/{name} is out of date", file=sys.stderr)
            for path in stale:
                print(f"{path.relative_to(ROOT)} is no longer generated", file=sys.stderr)
            print("run `make schemas` and commit the result", file=sys.stderr)
            return 1
        print(f"schemas/ is up to date ({len(files)} files)")
        return 0
    for path in stale:
        path.unlink()
    for name, text in files.items():
        target = SCHEMAS / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files under schemas/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
