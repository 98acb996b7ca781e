"""SQS event sources of the template, run in process (moto's Lambda cannot poll queues).

`create_queues` makes every queue of the synthesized template in the emulation (with its
redrive policy, so a message that failed `maxReceiveCount` times moves to its dead-letter
queue as in AWS) and returns the environment variables that point at them: every function
variable whose value is `{"Ref": <queue>}`. A `QueuePoller` per event source mapping receives
what is visible and hands it to the function as the event source would (a batch of records;
the ones not named in `batchItemFailures` are deleted). A message a handler hid for its backoff
(ChangeMessageVisibility) comes back when that time is over, in real time.
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import boto3

from csms_local.emulation import REGION, resources_of

logger = logging.getLogger(__name__)


def _sqs() -> Any:
    return boto3.client("sqs", region_name=REGION)


def _get_att_id(value: Any) -> str | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return None


def create_queues(template: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Create the template's queues; (queue URLs by logical id, environment to set)."""
    resources = template.get("Resources", {})
    queues = {k: v for k, v in resources.items() if v.get("Type") == "AWS::SQS::Queue"}
    sqs = _sqs()
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    # Dead-letter queues first: the queues that redrive to them need their ARNs.
    ordered = sorted(queues, key=lambda k: "RedrivePolicy" in queues[k].get("Properties", {}))
    for logical_id in ordered:
        properties = queues[logical_id].get("Properties", {})
        attributes: dict[str, str] = {}
        if "VisibilityTimeout" in properties:
            attributes["VisibilityTimeout"] = str(properties["VisibilityTimeout"])
        redrive = properties.get("RedrivePolicy")
        target = _get_att_id(redrive.get("deadLetterTargetArn")) if redrive else None
        if redrive and target in arns:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[target], "maxReceiveCount": redrive["maxReceiveCount"]}
            )
        url = sqs.create_queue(QueueName=f"csms-local-{logical_id}", Attributes=attributes)[
            "QueueUrl"
        ]
        urls[logical_id] = url
        arns[logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    environment: dict[str, str] = {}
    for function in resources_of(template, "AWS::Lambda::Function"):
        for name, value in function.get("Environment", {}).get("Variables", {}).items():
            if isinstance(value, dict) and value.get("Ref") in urls:
                environment[name] = urls[value["Ref"]]
    return urls, environment


@dataclass(frozen=True)
class QueuePoller:
    """One SQS event source mapping of the template: its queue and the handler it invokes."""

    queue_url: str
    handler: str
    batch_size: int = 10

    def poll(self) -> int:
        """Hand what is visible to the handler, one batch; return how many records it got."""
        from csms_local.gateway import LambdaContextStub

        sqs = _sqs()
        messages = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.batch_size, 10),
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "eventSource": "aws:sqs",
            }
            for m in messages
        ]
        module_name, _, function_name = self.handler.rpartition(".")
        function = getattr(importlib.import_module(module_name), function_name)
        try:
            result = function({"Records": records}, LambdaContextStub(self.handler))
        except Exception:
            # As in AWS: the whole batch comes back after its visibility timeout.
            logger.exception("queue handler failed", extra={"handler": self.handler})
            return len(records)
        failed = {f.get("itemIdentifier") for f in (result or {}).get("batchItemFailures", [])}
        for record in records:
            if record["messageId"] not in failed:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"])
        return len(records)


def queue_pollers(template: dict[str, Any], urls: dict[str, str]) -> list[QueuePoller]:
    """A poller per SQS event source mapping of a function of the template."""
    resources = template.get("Resources", {})
    pollers = []
    for mapping in resources_of(template, "AWS::Lambda::EventSourceMapping"):
        queue_id = _get_att_id(mapping.get("EventSourceArn"))
        function_ref = mapping.get("FunctionName", {})
        function_id = function_ref.get("Ref") if isinstance(function_ref, dict) else None
        function = resources.get(function_id, {})
        if queue_id not in urls or function.get("Type") != "AWS::Lambda::Function":
            continue
        pollers.append(
            QueuePoller(
                urls[queue_id],
                function["Properties"]["Handler"],
                int(mapping.get("BatchSize", 10)),
            )
        )
    return pollers
