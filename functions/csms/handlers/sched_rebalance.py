"""Scheduled job (EventBridge rule, every minute by default): a rebalance of every managed site.

It only fans out: one `RebalanceRequested` event per site with load management (PutEvents, ten
a request), which the rebalance rule delivers to csms.handlers.evt_rebalance, one invocation
per site. Sites therefore rebalance in parallel, and a slow or failing site holds up no other.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from csms.handlers._runtime import logger, rebalancer
from csms.services.ports import ManagedSite

SOURCE = "csms.load"
DETAIL_TYPE = "RebalanceRequested"


def request_entry(site: ManagedSite, bus_name: str, event_id: str, at: datetime) -> dict[str, Any]:
    """The PutEvents entry asking for one site's rebalance, in the `{metadata, data}` envelope."""
    occurred = at.isoformat()
    detail = {
        "metadata": {
            "event_id": event_id,
            "event_version": "1",
            "occurred_at": occurred,
            "tenant_id": site.tenant_id,
        },
        "data": {"tenant_id": site.tenant_id, "site_id": site.site_id, "reason": "periodic"},
    }
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(detail, separators=(",", ":")),
        "EventBusName": bus_name,
        "Time": occurred,
    }


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Put one RebalanceRequested per managed site; report how many were put and failed."""
    del event, context
    runtime = rebalancer()
    now = runtime.clock.now()
    entries = [
        request_entry(site, runtime.bus_name, runtime.new_id(), now) for site in runtime.sites()
    ]
    failed = runtime.events.put_entries(entries) if entries else []
    if failed:
        # The next period asks again; a site skipped once stays under its last allocation.
        logger.warning("rebalance requests not put", extra={"failed": len(failed)})
    logger.info("rebalance requested", extra={"sites": len(entries), "failed": len(failed)})
    return {"requested": len(entries) - len(failed), "failed": len(failed)}
