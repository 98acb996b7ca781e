"""Generate schemas/ (the OpenAPI document, the event schemas, the OCPP schemas in use, the
file formats of the benchmark and of `csms price`) and
docs/permissions.md (which role may call what).

`--check` writes nothing and exits 1 listing the files that drifted from the code.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions")]

import ocpp  # noqa: E402

from csms.domain.events import EVENT_TYPES, EventEnvelope  # noqa: E402
from csms.ocpp.dispatch import PROTOCOLS  # noqa: E402

SCHEMAS = ROOT / "schemas"
DOCS = ROOT / "docs"


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


def webhook_schemas() -> dict[str, str]:
    """One JSON schema per webhook event type (v1): `{type, metadata, data}`."""
    from csms.domain.webhooks import DETAIL_TYPE_OF, WebhookEventType

    by_detail_type = {event_type.detail_type: event_type for event_type in EVENT_TYPES}
    files = {}
    for webhook_type in WebhookEventType:
        event_type = by_detail_type[DETAIL_TYPE_OF[webhook_type]]
        schema = EventEnvelope[event_type].model_json_schema()  # type: ignore[valid-type]
        schema["properties"] = {
            "type": {"const": webhook_type.value, "title": "Type", "type": "string"},
            **schema["properties"],
        }
        schema["required"] = ["type", *schema["required"]]
        schema["title"] = webhook_type.value
        schema["description"] = (
            f"Body of the `{webhook_type.value}` webhook (version 1): the "
            f"`{event_type.detail_type}` event in its envelope, signed per Standard Webhooks."
        )
        schema["$id"] = f"csms/webhooks/v1/{webhook_type.value}.json"
        files[f"webhooks/v1/{webhook_type.value}.json"] = _json(schema)
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


def scenario_schema() -> str:
    """The smart-charging benchmark's scenario format (bench/csms_bench/scenario.py)."""
    if str(ROOT / "bench") not in sys.path:
        sys.path.append(str(ROOT / "bench"))
    from csms_bench.scenario import json_schema

    return _json(json_schema())


def billing_schemas() -> dict[str, str]:
    """The file formats of `csms price` (bench/csms_bench/price_files.py)."""
    if str(ROOT / "bench") not in sys.path:
        sys.path.append(str(ROOT / "bench"))
    from csms_bench.price_files import json_schemas

    return {name: _json(schema) for name, schema in json_schemas().items()}


def generate() -> dict[str, str]:
    files = {"openapi.json": openapi()}
    files["smart-charging-scenario.schema.json"] = scenario_schema()
    files.update(billing_schemas())
    files.update(event_schemas())
    files.update(webhook_schemas())
    files.update(ocpp_schemas())
    return files


def _allowed(permission: Any, role: Any) -> str:
    from csms.domain.access import ROLE_PERMISSIONS

    return "yes" if permission is None or permission in ROLE_PERMISSIONS[role] else "no"


def permissions_doc() -> str:
    """docs/permissions.md: every operation and command with the roles that may use it."""
    from csms.domain.access import TENANT_WIDE, Permission, Role
    from csms.handlers import api_commands
    from csms.handlers.api import OPENAPI_PATH
    from csms.handlers.api_access import ROUTE_PERMISSIONS
    from csms.handlers.api_openapi import route_key

    document = json.loads(openapi())
    summaries = {
        (method.upper(), route_key(path)): operation.get("summary", "")
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    summaries[("GET", OPENAPI_PATH)] = "The OpenAPI 3.1 document of this API"
    roles = list(Role)
    head = " | ".join(role.value for role in roles)
    rule = " | ".join("---" for _ in roles)
    lines = [
        "# Permissions",
        "",
        "<!-- Generated by `make schemas` (scripts/generate_schemas.py) from",
        "     csms.handlers.api_access.ROUTE_PERMISSIONS and csms.domain.access: do not edit. -->",
        "",
        "Roles come from the caller's JWT (`role`, or the first Cognito group; `csms token --role`",
        "locally). Each operation of the HTTP API requires one permission; a role either holds it",
        "or the API answers 403 `forbidden`. A request without a bearer token with a tenant gets",
        "401 `unauthorized`; a token without a known role gets 403 on every protected operation.",
        "",
        "## Roles and permissions",
        "",
        f"| Permission | {head} | Tenant-wide |",
        f"| --- | {rule} | --- |",
    ]
    for each in Permission:
        cells = " | ".join(_allowed(each, role) for role in roles)
        wide = "yes" if each in TENANT_WIDE else "no"
        lines.append(f"| `{each.value}` | {cells} | {wide} |")
    wide_list = ", ".join(f"`{p.value}`" for p in Permission if p in TENANT_WIDE)
    lines += [
        "",
        "## Site-restricted users",
        "",
        "A user whose token names sites (the `sites` claim; `csms token --sites`) keeps the",
        "permissions of the role but reaches only those sites: stations, sessions and other",
        "resources at other sites answer 404 as if absent, and lists leave them out. Such a user",
        "never holds the tenant-wide permissions, whatever the role: operations that require",
        f"{wide_list} answer 403 `forbidden`.",
        "",
        "## Operations",
        "",
        f"| Method | Path | Summary | Permission | {head} |",
        f"| --- | --- | --- | --- | {rule} |",
    ]
    order = {m: i for i, m in enumerate(("GET", "POST", "PUT", "PATCH", "DELETE"))}
    for method, path in sorted(ROUTE_PERMISSIONS, key=lambda k: (k[1], order.get(k[0], 9), k[0])):
        permission = ROUTE_PERMISSIONS[(method, path)]
        name = f"`{permission.value}`" if permission is not None else "public"
        cells = " | ".join(_allowed(permission, role) for role in roles)
        summary = summaries.get((method, path), "").replace("|", "\\|")
        shown = re.sub(r"<([^>]+)>", r"{\1}", path)  # as in the OpenAPI document
        lines.append(f"| {method} | `{shown}` | {summary} | {name} | {cells} |")
    commands: dict[str, Any] | None = getattr(api_commands, "COMMAND_PERMISSIONS", None)
    if commands:
        lines += [
            "",
            "## Commands",
            "",
            "Sending a command (`POST /v1/stations/{station_id}/commands`) requires the",
            "permission of the command sent:",
            "",
            f"| Command | Permission | {head} |",
            f"| --- | --- | {rule} |",
        ]
        for action in sorted(commands, key=str):
            permission = commands[action]
            cells = " | ".join(_allowed(permission, role) for role in roles)
            lines.append(
                f"| `{getattr(action, 'value', action)}` | `{permission.value}` | {cells} |"
            )
    return "\n".join(lines) + "\n"


def generate_docs() -> dict[str, str]:
    """Generated files under docs/, by name."""
    return {"permissions.md": permissions_doc()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if schemas/ is out of date")
    args = parser.parse_args()
    files = generate()
    expected = {SCHEMAS / name for name in files}
    stale = [path for path in SCHEMAS.rglob("*.json") if path not in expected]
    targets = {SCHEMAS / name: text for name, text in files.items()}
    targets.update({DOCS / name: text for name, text in generate_docs().items()})
    drifted = [
        path
        for path, text in targets.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    if args.check:
        if drifted or stale:
            for path in drifted:
                print(f"{path.relative_to(ROOT)} is out of date", file=sys.stderr)
            for path in stale:
                print(f"{path.relative_to(ROOT)} is no longer generated", file=sys.stderr)
            print("run `make schemas` and commit the result", file=sys.stderr)
            return 1
        print(f"schemas/ and docs/ are up to date ({len(targets)} files)")
        return 0
    for path in stale:
        path.unlink()
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(targets)} files under schemas/ and docs/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
