"""Replay a month of one station through the real handlers on the bench's moto server.

Every handler is called the way API Gateway (or the stream's event source mapping) calls it,
in this process, against a moto server in another process, with the botocore hooks of
`bench_aws` recording each AWS call. What each invocation costs:

- API Gateway: the station's frame and the route response, each by its size (32 KB units);
  `$connect`/`$disconnect` are not messages; CSMS->station posts would be (none in this profile);
- Lambda: one request per invocation; duration = the handler's wall time here (minus the
  recorder's own probe reads), rounded up to 1 ms, at the memory the template configures;
- DynamoDB: request units from the real item images (`bench_cost` rules, GSI writes included);
- outbox relay: the table's stream is not emulated; each item write whose new image has an
  `outbox_id` (what the event source mapping's filter lets through) becomes one stream record,
  handed to the real relay handler in an invocation of its own: the worst case (in AWS a batch
  of records shares an invocation). Its PutEvents entries are metered in 64 KB chunks;
- logs: the bytes the handlers write to stdout (Powertools JSON lines at INFO) plus Lambda's
  START/END/REPORT lines.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session

from bench_aws import AwsRecorder, Capture, install
from bench_cost import TableSpec
from bench_env import (
    REGION,
    TABLE_NAME,
    FakeContext,
    authorize_payload,
    call_frame,
    connect_event,
    connections_endpoint,
    connector_status_payload,
    create_resources,
    disconnect_event,
    endpoint_of,
    handler_environment,
    lambda_environment,
    message_event,
    meter_values_payload_16,
    moto_server,
    start_payload_16,
    stop_payload_16,
    transaction_event_payload,
)
from cost.pricing import Usage, event_units, ws_message_units
from cost.profile import Kind, Profile, Step, label, month, session_start

TENANT = "default"
PASSWORD = "cost-station-password"  # noqa: S105 - a simulated station's, not a secret
SITE = "SITE-COST"
HANDLERS = {
    "ws_connect": "csms.handlers.ws_connect.lambda_handler",
    "ws_message": "csms.handlers.ws_message.lambda_handler",
    "ws_disconnect": "csms.handlers.ws_disconnect.lambda_handler",
    "stream_outbox": "csms.handlers.stream_outbox.lambda_handler",
}
WH_PER_READING = 123  # 7.4 kW for 60 s
SOC_START = 30

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def function_memory(template: Mapping[str, Any]) -> dict[str, int]:
    """Configured memory (MB) of each function the replay invokes, from the template."""
    by_handler = {
        resource["Properties"].get("Handler"): int(resource["Properties"].get("MemorySize", 128))
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == "AWS::Lambda::Function"
    }
    missing = [name for name, handler in HANDLERS.items() if handler not in by_handler]
    if missing:
        raise RuntimeError(f"functions missing from the template: {missing}")
    return {name: by_handler[handler] for name, handler in HANDLERS.items()}


@contextmanager
def stdout_counted() -> Iterator[Callable[[], int]]:
    """File descriptor 1 into a temporary file; yield a function telling the bytes written."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)

        def written() -> int:
            sys.stdout.flush()
            return os.fstat(sink.fileno()).st_size

        try:
            yield written
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


@dataclass
class _Session:
    """What the station remembers of its current transaction."""

    transaction_id: int | str
    token: str
    started: datetime
    start_wh: int
    seq_no: int = 0


@dataclass
class StationRun:
    """One station's month: usage, message counts, timings."""

    version: str
    usage: Usage
    by_message: dict[str, Usage] = field(default_factory=dict)  # what each message type cost
    messages: Counter[str] = field(default_factory=Counter)
    invocations: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    wall_ms: dict[str, float] = field(default_factory=dict)  # summed wall time per label
    frame_bytes: int = 0
    reply_bytes: int = 0
    duration_s: float = 0.0


class Replayer:
    """Sends one station's steps through the handlers and meters every invocation."""

    def __init__(
        self,
        *,
        version: str,
        station: str,
        handlers: Mapping[str, Handler],
        memory: Mapping[str, int],
        recorder: AwsRecorder,
        written: Callable[[], int],
        profile: Profile,
        month_start: datetime,
        run: StationRun,
    ) -> None:
        self._version = version
        self._station = station
        self._handlers = handlers
        self._memory = memory
        self._recorder = recorder
        self._written = written
        self._profile = profile
        self._start = month_start
        self._run = run
        self._connection: str | None = None
        self._serial = 0
        self._sequence = 0
        self._register = 5_000_000  # the station's energy meter (Wh)
        self._session: _Session | None = None

    # -- invoking ------------------------------------------------------------------------------
    def _usages(self, what: str) -> tuple[Usage, Usage]:
        return self._run.usage, self._run.by_message.setdefault(what, Usage())

    def _invoke(
        self, function: str, event: dict[str, Any], what: str, owner: str | None = None
    ) -> dict[str, Any]:
        """Invoke a handler and meter it; `owner`: the message a relay invocation is for."""
        handler = self._handlers[function]
        context = FakeContext(function_name=function, memory_limit_in_mb=self._memory[function])
        logged = self._written()
        with self._recorder.capture() as capture:
            cpu = time.process_time()
            wall = time.perf_counter()
            reply = handler(event, context)
            wall_s = time.perf_counter() - wall - capture.probe_wall_s
            cpu_s = time.process_time() - cpu - capture.probe_cpu_s
        logged = self._written() - logged
        owner = owner or what
        for usage in self._usages(owner):
            usage.function(function, self._memory[function]).add(wall_s, cpu_s, logged)
            self._meter(usage, capture)
        self._run.invocations[function] += 1
        self._run.wall_ms[what] = self._run.wall_ms.get(what, 0.0) + wall_s * 1000
        if function != "stream_outbox":
            self._relay(capture, owner)
        return reply

    @staticmethod
    def _meter(usage: Usage, capture: Capture) -> None:
        for call in capture.dynamodb:
            usage.dynamodb_rru += call.rcu
            usage.dynamodb_wru += call.wcu + call.index_wcu
        for operation, sizes in capture.payloads:
            if operation == "PutEvents":
                usage.eventbridge_entries += len(sizes)
                usage.eventbridge_units += sum(event_units(s) for s in sizes)
            elif operation == "PostToConnection":
                usage.ws_messages += len(sizes)
                usage.ws_message_units += sum(ws_message_units(s) for s in sizes)

    def _relay(self, capture: Capture, owner: str) -> None:
        """One relay invocation per item write the stream filter lets through."""
        for call in capture.dynamodb:
            if not call.succeeded:
                continue  # a cancelled or refused write leaves no stream record
            for before, after in call.images:
                if not after or "outbox_id" not in after or after == before:
                    continue
                self._sequence += 1
                change: dict[str, Any] = {
                    "Keys": {"PK": after["PK"], "SK": after["SK"]},
                    "NewImage": after,
                    "SequenceNumber": f"{self._sequence:021d}",
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                }
                if before:
                    change["OldImage"] = before
                if not before or before.get("outbox_id") != after["outbox_id"]:
                    for entry in json.loads(after["outbox"]["S"]):
                        self._run.events[entry["t"]] += 1
                record = {
                    "eventID": str(self._sequence),
                    "eventName": "MODIFY" if before else "INSERT",
                    "eventSource": "aws:dynamodb",
                    "awsRegion": REGION,
                    "dynamodb": change,
                }
                reply = self._invoke(
                    "stream_outbox", {"Records": [record]}, "outbox relay", owner=owner
                )
                if reply.get("batchItemFailures"):
                    raise RuntimeError(f"the relay failed: {reply}")

    # -- the station ---------------------------------------------------------------------------
    def _at(self, step: Step) -> datetime:
        return self._start + timedelta(seconds=step.at)

    def _call(self, step: Step, payload: dict[str, Any]) -> dict[str, Any]:
        if self._connection is None:
            raise RuntimeError(f"{label(step)} with no connection")
        self._serial += 1
        frame = call_frame(f"{self._serial:08d}", step.action, payload)
        what = label(step)
        reply = self._invoke("ws_message", message_event(self._connection, frame), what)
        body = reply.get("body")
        if body is None:
            raise RuntimeError(f"no reply to {what}")
        for usage in self._usages(what):
            for size in (len(frame.encode()), len(body.encode())):
                usage.ws_messages += 1
                usage.ws_message_units += ws_message_units(size)
        self._run.frame_bytes += len(frame.encode())
        self._run.reply_bytes += len(body.encode())
        self._run.messages[what] += 1
        result = json.loads(body)
        if result[0] != 3:
            raise RuntimeError(f"{what} answered with an error: {body}")
        answer: dict[str, Any] = result[2]
        info = answer.get("idTagInfo") or answer.get("idTokenInfo")
        if info is not None and info.get("status") != "Accepted":
            raise RuntimeError(f"{what}: token not accepted: {body}")
        return answer

    def step(self, step: Step) -> None:
        """Do one step."""
        if step.kind is Kind.CONNECT:
            self._connection = f"cost-{self._station}-{step.at:08d}"
            protocol = f"ocpp{self._version}"
            event = connect_event(self._station, PASSWORD, self._connection, protocol)
            reply = self._invoke("ws_connect", event, "$connect")
            if reply.get("statusCode") != 200:
                raise RuntimeError(f"$connect refused: {reply}")
            self._run.messages["$connect"] += 1
            return
        if step.kind is Kind.DISCONNECT:
            if self._connection is not None:
                self._invoke("ws_disconnect", disconnect_event(self._connection), "$disconnect")
                self._run.messages["$disconnect"] += 1
            self._connection = None
            return
        if step.action == "StartTransaction":
            self._start_16(step)  # it needs the reply: the transaction id
            return
        self._call(step, self._payload(step))

    def _token(self, step: Step) -> str:
        return f"DRIVER-{step.session % self._profile.drivers:02d}"

    def _payload(self, step: Step) -> dict[str, Any]:
        at = self._at(step)
        action = step.action
        if action == "Heartbeat":
            return {}
        if action == "StatusNotification":
            return connector_status_payload(self._version, step.detail, at)
        if action == "Authorize":
            return authorize_payload(self._version, self._token(step))
        if action == "MeterValues":
            session = self._current()
            assert isinstance(session.transaction_id, int)  # noqa: S101 - 1.6 ids are integers
            register = session.start_wh + WH_PER_READING * step.index
            return meter_values_payload_16(
                session.transaction_id, at, register, SOC_START + step.index // 6
            )
        if action == "StopTransaction":
            return self._stop_16(at)
        if action == "TransactionEvent":
            return self._transaction_event(step, at)
        raise ValueError(f"no payload for {action}")

    def _current(self) -> _Session:
        if self._session is None:
            raise RuntimeError("a transaction message outside a transaction")
        return self._session

    def _start_16(self, step: Step) -> None:
        at = self._at(step)
        payload = start_payload_16(self._token(step), self._register, at)
        answer = self._call(step, payload)
        self._session = _Session(answer["transactionId"], self._token(step), at, self._register)

    def _stop_16(self, at: datetime) -> dict[str, Any]:
        session = self._current()
        assert isinstance(session.transaction_id, int)  # noqa: S101 - 1.6 ids are integers
        stop_wh = session.start_wh + WH_PER_READING * self._profile.readings_per_session
        payload = stop_payload_16(
            session.transaction_id,
            session.token,
            start=(session.started, session.start_wh),
            stop=(at, stop_wh),
            soc=SOC_START + self._profile.readings_per_session // 6,
        )
        self._register = stop_wh
        self._session = None
        return payload

    def _transaction_event(self, step: Step, at: datetime) -> dict[str, Any]:
        if step.detail == "Started":
            tx = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self._station}/{step.session}"))
            self._session = _Session(tx, self._token(step), at, self._register)
            return transaction_event_payload(
                "Started",
                tx,
                seq_no=0,
                at=at,
                register_wh=self._register,
                soc=SOC_START,
                token=self._token(step),
            )
        session = self._current()
        session.seq_no += 1
        if step.detail == "Updated":
            register = session.start_wh + WH_PER_READING * step.index
            soc = SOC_START + step.index // 6
        else:
            register = session.start_wh + WH_PER_READING * self._profile.readings_per_session
            soc = SOC_START + self._profile.readings_per_session // 6
            self._register = register
            self._session = None
        return transaction_event_payload(
            step.detail,
            str(session.transaction_id),
            seq_no=session.seq_no,
            at=at,
            register_wh=register,
            soc=soc,
        )


def replay_station(
    version: str,
    profile: Profile,
    template: Mapping[str, Any],
    month_end: datetime,
    progress: Callable[[str], None],
) -> StationRun:
    """One station of `version` through the whole period, on a moto server of its own."""
    memory = function_memory(template)
    run = StationRun(version=version, usage=Usage())
    run.usage.ws_connection_minutes = profile.connection_minutes
    station = f"COST-{version.replace('.', '')}"
    warm_station = f"{station}-WARM"
    started = time.monotonic()
    with moto_server() as aws, connections_endpoint() as connections:
        definition = create_resources(aws, template)
        os.environ.update(
            {
                **lambda_environment(template, HANDLERS["ws_message"]),
                **handler_environment(aws, endpoint_of(connections)),
            }
        )
        from csms.handlers import (
            _runtime,
            seed,
            stream_outbox,
            ws_connect,
            ws_disconnect,
            ws_message,
        )

        _runtime.reset()
        document = {
            "sites": [{"id": SITE, "name": "Cost site", "limitKw": 22}],
            "stations": [
                {"id": sid, "siteId": SITE, "password": PASSWORD} for sid in (station, warm_station)
            ],
            "tokens": [{"idToken": f"DRIVER-{n:02d}"} for n in range(profile.drivers)],
        }
        context: Any = FakeContext()
        with stdout_counted():
            loaded = seed.lambda_handler({"tenantId": TENANT, "seed": document}, context)
        if not loaded.get("ok"):
            raise RuntimeError(f"seed failed: {loaded}")
        probe = botocore.session.get_session().create_client(
            "dynamodb", region_name=REGION, endpoint_url=aws
        )
        recorder = AwsRecorder(TABLE_NAME, TableSpec.from_definition(definition), probe)
        uninstall = install(recorder)
        _runtime.reset()
        handlers: dict[str, Handler] = {
            "ws_connect": ws_connect.lambda_handler,
            "ws_message": ws_message.lambda_handler,
            "ws_disconnect": ws_disconnect.lambda_handler,
            "stream_outbox": stream_outbox.lambda_handler,
        }
        steps = month(profile, version)
        try:
            with stdout_counted() as written:
                # Warm the container first: a session of another station, not counted (the
                # first message of each type compiles its JSON schemas, imports lazily...:
                # once per container, which in AWS serves many stations for hours).
                warm_run = StationRun(version=version, usage=Usage())
                warm = Replayer(
                    version=version,
                    station=warm_station,
                    handlers=handlers,
                    memory=memory,
                    recorder=recorder,
                    written=written,
                    profile=profile,
                    month_start=month_end - timedelta(seconds=profile.seconds),
                    run=warm_run,
                )
                first_end = session_start(profile, 0) + profile.session_s + 3600
                for step in steps:
                    if step.at > first_end:
                        break
                    warm.step(step)
                warm.step(Step(first_end, Kind.DISCONNECT))
                progress(f"{version}: container warmed ({sum(warm_run.messages.values())} msgs)")
                replayer = Replayer(
                    version=version,
                    station=station,
                    handlers=handlers,
                    memory=memory,
                    recorder=recorder,
                    written=written,
                    profile=profile,
                    month_start=month_end - timedelta(seconds=profile.seconds),
                    run=run,
                )
                for n, step in enumerate(steps, start=1):
                    replayer.step(step)
                    if n % 2000 == 0:
                        progress(f"{version}: {n}/{len(steps)} steps")
        finally:
            uninstall()
            _runtime.reset()
    run.duration_s = time.monotonic() - started
    return run


def month_end_now() -> datetime:
    """The replayed period ends now (to the minute), so every timestamp is in the past."""
    return datetime.now(UTC).replace(second=0, microsecond=0)
