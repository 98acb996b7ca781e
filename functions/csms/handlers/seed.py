"""Bulk registration of sites, stations and id tokens from a seed document.

Used by the local runtime's `--seed`, and deployable as an import function. Bad input is
answered as data (`{"ok": false, "error": ...}`), never raised.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from csms.domain.errors import DomainError
from csms.domain.seed import Seed
from csms.handlers._runtime import gateway, logger


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each wrong field (never the values: seeds hold passwords)."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(p) for p in err["loc"]) or "(document)"
        parts.append(f"{location}: {err['msg']}")
    return "; ".join(parts)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """`{"tenantId": str?, "seed": {...}}` -> `{"ok": true, "sites": n, ...}` or an error."""
    del context
    runtime = gateway()
    tenant_id = str(event.get("tenantId") or runtime.settings.tenant_default)
    try:
        seed = Seed.model_validate(event.get("seed"))
        summary = runtime.seeds.load(tenant_id, seed)
    except ValidationError as exc:
        return {"ok": False, "error": f"invalid seed: {describe_validation_error(exc)}"}
    except DomainError as exc:
        return {"ok": False, "error": f"invalid seed: {exc}"}
    logger.info("seed loaded", extra={"tenant_id": tenant_id, "stations": summary.stations})
    return {
        "ok": True,
        "tenantId": tenant_id,
        "sites": summary.sites,
        "stations": summary.stations,
        "tokens": summary.tokens,
    }
