"""The outbox relay: table stream records in, their domain events out to EventBridge.

Runs on the table's stream (event source mapping, one shard at a time in order, partial
batch responses). A record whose entries cannot be published is reported as the first
failure of the batch, so Lambda retries from there and order is kept; an event may then be
published twice, never lost (consumers deduplicate on `metadata.event_id`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from csms.adapters.outbox import entries_of
from csms.handlers._runtime import logger, relay


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Publish the outbox entries of every record, in order."""
    del context
    runtime = relay()
    published = 0
    for record in event.get("Records") or []:
        entries = entries_of(record, runtime.bus_name)
        if not entries:
            continue
        failed = runtime.events.put_entries(entries)
        if failed:
            sequence = (record.get("dynamodb") or {}).get("SequenceNumber")
            logger.warning(
                "outbox entries not published; the batch is retried from this record",
                extra={"failed": len(failed), "sequence_number": sequence},
            )
            return {"batchItemFailures": [{"itemIdentifier": sequence}]}
        published += len(entries)
    if published:
        logger.info("outbox relayed", extra={"events": published})
    return {"batchItemFailures": []}
