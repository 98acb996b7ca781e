"""Scheduled job (EventBridge rule, every minute): open alerts for conditions that lasted.

Offline stations past the grace, faults past the hold-down, reboot loops that went quiet (see
csms.services.alerts). A failure raises: the next minute sweeps again, nothing is lost, since
the due entries stay until handled.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from csms.handlers import _runtime
from csms.handlers._runtime import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Sweep the due conditions; report what opened, closed and was dropped."""
    del event, context
    result = _runtime.alerts().sweep()
    summary = {
        "opened": len(result.opened),
        "closed": len(result.closed),
        "dropped": result.dropped,
    }
    logger.info("alert sweep done", extra=summary)
    return summary
