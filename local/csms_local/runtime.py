"""`csms local`: the whole system on 127.0.0.1 with AWS emulated in process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from aiohttp import web

from csms.handlers import _runtime
from csms.handlers import seed as seed_handler
from csms_local import emulation, queues, states, tokens
from csms_local.errors import LocalError
from csms_local.gateway import GatewayLimits, LambdaContextStub, LocalGateway
from csms_local.seed_file import read_seed
from csms_local.states import LocalStateMachine
from csms_local.workflows import InProcessBillingWorkflow

logger = logging.getLogger(__name__)

SNAPSHOT_FILE = "table.json"
SNAPSHOT_EVERY_S = 30.0
# How often the table stream is handed to the outbox relay (AWS polls about 4 times a second).
OUTBOX_EVERY_S = 0.25
# The logical id's start of the fault escalation state machine (infra: Operations/Escalation).
ESCALATION_MACHINE = "OperationsEscalation"


@dataclass
class LocalOptions:
    """What `csms local` was asked to do."""

    host: str = "127.0.0.1"
    ws_port: int = 9000
    http_port: int = 8000
    seed_file: Path | None = None
    data_dir: Path | None = None
    key_file: Path = tokens.DEFAULT_KEY_FILE
    template_file: Path = emulation.TEMPLATE_PATH
    tenant_id: str = "default"
    heartbeat_interval_s: int = 300
    call_timeout_s: int = 30
    limits: GatewayLimits = field(default_factory=GatewayLimits)
    # Run every scheduled job this often instead of the template's rate (demos, tests).
    jobs_every_s: float | None = None

    @property
    def outbox_dir(self) -> Path:
        """Where e-mails go (fault escalations): the data dir's outbox, else a temp folder."""
        if self.data_dir is not None:
            return self.data_dir / "outbox"
        return Path(tempfile.gettempdir()) / f"csms-outbox-{self.http_port}"


def configure_environment(options: LocalOptions, resources: emulation.EmulatedResources) -> None:
    """The handlers' settings, exactly as the CDK stack sets them in AWS."""
    os.environ.update(
        {
            "CSMS_TABLE_NAME": resources.table_name,
            "CSMS_EVENT_BUS_NAME": resources.event_bus_name,
            "CSMS_WS_MANAGEMENT_ENDPOINT": f"http://{options.host}:{options.ws_port}",
            "CSMS_HEARTBEAT_INTERVAL_S": str(options.heartbeat_interval_s),
            "CSMS_CALL_TIMEOUT_S": str(options.call_timeout_s),
            "CSMS_TENANT_DEFAULT": options.tenant_id,
            # Webhook receivers under test run on this machine (http://127.0.0.1:...); in AWS
            # private and loopback endpoints are refused (SSRF).
            "CSMS_WEBHOOKS_ALLOW_PRIVATE": "1",
            # E-mails (fault escalations) are written there instead of sent through SES.
            "CSMS_NOTIFY_OUTBOX_DIR": str(options.outbox_dir),
            "POWERTOOLS_SERVICE_NAME": "csms",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        }
    )
    _runtime.reset()


def load_seed(document: dict[str, Any], tenant_id: str) -> dict[str, Any]:
    """Register the seed through the seed handler; a bad seed is a LocalError."""
    result = seed_handler.lambda_handler(
        {"tenantId": tenant_id, "seed": document}, LambdaContextStub(function_name="seed")
    )
    if not result.get("ok"):
        raise LocalError(str(result.get("error")))
    return result


def save_snapshot(table_name: str, data_dir: Path) -> int:
    """Write every item of the table to the data dir (atomically); return the count."""
    client = boto3.client("dynamodb", region_name=emulation.REGION)
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table_name):
        items.extend(page["Items"])
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / SNAPSHOT_FILE
    partial = target.with_suffix(".tmp")
    partial.write_text(json.dumps({"version": 1, "items": items}))
    partial.replace(target)
    return len(items)


def restore_snapshot(table_name: str, data_dir: Path) -> int:
    """Load the items saved by a previous run; return the count."""
    source = data_dir / SNAPSHOT_FILE
    if not source.exists():
        return 0
    try:
        document = json.loads(source.read_text())
        items = document["items"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise LocalError(
            f"data file {source} is damaged ({exc}); move it away to start afresh"
        ) from None
    # Their events went out in the run that wrote them: do not publish them again.
    items = [{k: v for k, v in item.items() if k not in ("outbox", "outbox_id")} for item in items]
    client = boto3.client("dynamodb", region_name=emulation.REGION)
    for start in range(0, len(items), 25):
        batch: list[Any] = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        client.batch_write_item(RequestItems={table_name: batch})
    return len(items)


class LocalRuntime:
    """Starts and stops everything; usable from the CLI and from tests."""

    def __init__(self, options: LocalOptions) -> None:
        self.options = options
        self.resources: emulation.EmulatedResources | None = None
        self.gateway: LocalGateway | None = None
        self.seed_result: dict[str, Any] | None = None
        self.restored = 0
        self.router: emulation.EventRouter | None = None
        self.billing = InProcessBillingWorkflow()
        self.escalation: LocalStateMachine | None = None
        self._runners: list[web.AppRunner] = []
        self._snapshot_task: asyncio.Task[None] | None = None
        self._outbox_task: asyncio.Task[None] | None = None
        self._job_tasks: list[asyncio.Task[None]] = []
        self._queue_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the emulated resources, load data and open the ports (mock_aws must be on)."""
        options = self.options
        seed_document = read_seed(options.seed_file) if options.seed_file else None
        template = emulation.load_template(options.template_file)
        self.resources = emulation.create_resources(template)
        # The template's queues (webhook deliveries) and the variables that name them.
        queue_urls, queue_environment = queues.create_queues(template)
        os.environ.update(queue_environment)
        configure_environment(options, self.resources)
        _runtime.run_billing_workflow_with(self.billing)
        # The template's own escalation state machine, run here (csms_local.states).
        self.escalation = LocalStateMachine(states.state_machine(template, ESCALATION_MACHINE))
        _runtime.run_escalation_workflow_with(self.escalation)
        if options.data_dir is not None:
            self.restored = restore_snapshot(self.resources.table_name, options.data_dir)
        self.router = emulation.EventRouter(
            emulation.event_rules(template), self.resources.routing_queue_url
        )
        self._outbox_task = asyncio.create_task(
            self._relay_outbox(emulation.OutboxPump(self.resources.table_name), self.router)
        )
        self._job_tasks = [
            asyncio.create_task(self._run_every(job, options.jobs_every_s))
            for job in emulation.scheduled_jobs(template)
        ]
        self._queue_task = asyncio.create_task(
            self._poll_queues(queues.queue_pollers(template, queue_urls))
        )
        if seed_document is not None:
            self.seed_result = load_seed(seed_document, options.tenant_id)
        key = tokens.signing_key(options.key_file)
        self.gateway = LocalGateway(signing_key=key, limits=options.limits)
        await self._serve(self.gateway.websocket_app(), options.ws_port)
        await self._serve(self.gateway.http_app(), options.http_port)
        if options.data_dir is not None:
            self._snapshot_task = asyncio.create_task(self._snapshots())

    async def _serve(self, app: web.Application, port: int) -> None:
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.options.host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise LocalError(
                f"cannot listen on {self.options.host}:{port}: {exc.strerror}"
            ) from None
        self._runners.append(runner)

    @staticmethod
    async def _relay_outbox(pump: emulation.OutboxPump, router: emulation.EventRouter) -> None:
        # The events the relay published, and those handlers put on the bus themselves, go to
        # the rules with function targets (EventBridge -> Lambda in AWS).
        while True:
            try:
                await asyncio.to_thread(pump.pump)
                await asyncio.to_thread(router.route)
            except Exception:
                logger.exception("outbox relay or event routing failed; retrying")
            await asyncio.sleep(OUTBOX_EVERY_S)

    @staticmethod
    async def _poll_queues(pollers: list[queues.QueuePoller]) -> None:
        # Lambda's SQS event sources (webhook delivery) poll continuously in AWS.
        while pollers:
            for poller in pollers:
                try:
                    await asyncio.to_thread(poller.poll)
                except Exception:
                    logger.exception("queue polling failed", extra={"handler": poller.handler})
            await asyncio.sleep(OUTBOX_EVERY_S)

    @staticmethod
    async def _run_every(job: emulation.ScheduledJob, every_s: float | None = None) -> None:
        # Like EventBridge: the first run one period after the rule exists.
        while True:
            await asyncio.sleep(every_s or job.every_s)
            try:
                await asyncio.to_thread(job.run)
            except Exception:
                logger.exception("scheduled job failed", extra={"rule": job.rule})

    async def _snapshots(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_EVERY_S)
            await asyncio.to_thread(self.snapshot)

    def snapshot(self) -> int:
        """Save the table now (when a data dir is set)."""
        if self.options.data_dir is None or self.resources is None:
            return 0
        return save_snapshot(self.resources.table_name, self.options.data_dir)

    async def stop(self) -> None:
        """Close every connection (each gets its $disconnect), save, and close the ports."""
        if self.escalation is not None:
            self.escalation.stop()
        if self._snapshot_task is not None:
            self._snapshot_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._snapshot_task
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        for task in [*self._job_tasks, self._outbox_task, self._queue_task]:
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        self._job_tasks.clear()
        await asyncio.to_thread(self.snapshot)


async def serve_until_stopped(
    runtime: LocalRuntime, on_started: Callable[[LocalRuntime], Awaitable[None] | None]
) -> None:
    """Run until SIGINT/SIGTERM, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    try:
        started = on_started(runtime)
        if started is not None:
            await started
        await stop.wait()
    finally:
        await runtime.stop()
