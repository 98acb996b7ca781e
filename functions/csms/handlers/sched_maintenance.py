"""Scheduled job (EventBridge rule, daily): open a ticket for every preventive plan that is due.

A plan falls due by time (days since its last service) or by energy (kWh delivered at its
station since then); each due occurrence opens one ticket, however often this runs (see
csms.services.maintenance). A failure raises and the next run tries again: nothing is lost,
since a due plan stays due until its ticket is noted on it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from csms.handlers import _runtime
from csms.handlers._runtime import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Check every plan; report how many were checked, due, and got a new ticket."""
    del event, context
    result = _runtime.maintenance().run_due_plans()
    summary = {"checked": result.checked, "due": result.due, "opened": len(result.opened)}
    logger.info("maintenance plans checked", extra=summary)
    return summary
