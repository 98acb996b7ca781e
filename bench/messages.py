"""Per message type: DynamoDB reads and writes, warm handler CPU time, cold import time.

Run from the repository root after `make synth` (`make bench` does both):

    .venv/bin/python bench/messages.py [--messages 1000] [--replies 1000] [--connects 50]

The handlers run in this process against a moto server in another process (so the emulated
DynamoDB's work is not counted), with a local `@connections` endpoint for CSMS->station calls.
Prints a markdown report and writes bench/results.json. Figures are reported, not asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session

import bench_cold
from bench_aws import AwsRecorder, install
from bench_cost import TableSpec
from bench_env import (
    AWS_ENV,
    REGION,
    TABLE_NAME,
    FakeContext,
    boot_payload,
    call_frame,
    connect_event,
    connections_endpoint,
    create_resources,
    disconnect_event,
    endpoint_of,
    handler_environment,
    lambda_environment,
    load_template,
    message_event,
    moto_server,
    result_frame,
    status_payload,
    stdout_silenced,
)
from bench_report import operation_signature, render_markdown, summarize_capture, summarize_cpu
from bench_tx import TxFlow

RESULTS_PATH = Path(__file__).resolve().parent / "results.json"
TENANT = "default"
PASSWORD = "bench-password-0001"  # noqa: S105 - a bench station's, not a secret
SITE = "SITE-BENCH"
STATION_16 = "BENCH-16"
STATION_201 = "BENCH-201"
STATION_DISCONNECT = "BENCH-DISC"
STATION_COLD = "BENCH-COLD"
# Per version: the driver whose card starts and stops the measured transactions, and the one
# whose transaction stays open for the measured meter values.
DRIVER_TOKENS = {"1.6": "BENCH-DRIVER-16", "2.0.1": "BENCH-DRIVER-201"}
METER_TOKENS = {"1.6": "BENCH-METER-16", "2.0.1": "BENCH-METER-201"}
ACCOUNTING_RUNS = 3
WARMUP = 20
TX_WARMUP = 10
# Targets of issue 3 (item 10), shown next to the figures.
METER_TARGET = {"writes": 1, "write_bytes": 1024}
START_TARGET = {"writes": 3}

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


_STARTED = time.monotonic()


def log(message: str) -> None:
    """Progress on stderr (stdout carries the report)."""
    print(f"bench [{time.monotonic() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Case:
    """One message type: `prepare` does the untimed set-up and returns the call to measure."""

    key: str
    label: str
    version: str
    iterations: int  # 0: accounting only
    prepare: Callable[[], Callable[[], dict[str, Any]]]
    check: Callable[[dict[str, Any]], None]
    note: str = ""
    cpu_target: bool = True
    warmup: int = WARMUP
    # What the DynamoDB accounting measures, when not `prepare` (a particular case of it).
    account: Callable[[], Callable[[], dict[str, Any]]] | None = None
    target: Mapping[str, int] | None = None  # item writes, largest item written (bytes)
    # CPU runs in this order: moto copies every table for each transaction, which gets slow
    # (wall time only) as the table grows, so transaction-heavy cases go first: CALLRESULTs
    # (0), status changes (1), starts and stops (2), then the rest (3), and last the cases
    # that add thousands of items without a transaction (4).
    cpu_order: int = 3


@dataclass
class World:
    """The handlers, the runtime module and the live connections of the bench stations."""

    connect: Handler
    message: Handler
    disconnect: Handler
    runtime: Any  # the module csms.handlers._runtime
    posted: list[tuple[str, bytes]]
    connections: dict[str, str] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=itertools.count)
    flows: dict[str, TxFlow] = field(default_factory=dict)

    def next_id(self, prefix: str) -> str:
        """A fresh unique id or connection id."""
        return f"{prefix}-{next(self.ids):07d}"


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"unexpected reply: {what}")


def _check_accepted(protocol: str) -> Callable[[dict[str, Any]], None]:
    def check(reply: dict[str, Any]) -> None:
        _expect(reply.get("statusCode") == 200, f"$connect refused: {reply}")
        _expect(reply["headers"]["Sec-WebSocket-Protocol"] == protocol, f"protocol: {reply}")

    return check


def _check_result(reply: dict[str, Any]) -> None:
    frame = json.loads(reply["body"])
    _expect(frame[0] == 3, f"not a CALLRESULT: {reply['body']}")
    status = frame[2].get("status")
    _expect(status in (None, "Accepted"), f"status {status}: {reply['body']}")


def _check_no_reply(reply: dict[str, Any]) -> None:
    _expect(reply == {"statusCode": 200}, f"expected no reply frame: {reply}")


def connect_case(world: World, version: str, iterations: int) -> Case:
    """`$connect` accepted: argon2 verification, binding, station update, log entry, event."""
    station = STATION_16 if version == "1.6" else STATION_201
    protocol = f"ocpp{version}"

    def prepare() -> Callable[[], dict[str, Any]]:
        event = connect_event(station, PASSWORD, world.next_id("conn"), protocol)
        return lambda: world.connect(event, FakeContext())

    return Case(
        key=f"connect-{version}",
        label="$connect (accepted)",
        version=version,
        iterations=iterations,
        prepare=prepare,
        check=_check_accepted(protocol),
        note="CPU dominated by argon2id verification of the station password",
        cpu_target=False,
        warmup=3,
    )


def refused_connect_case(world: World) -> Case:
    """`$connect` with a wrong password (accounting only)."""

    def prepare() -> Callable[[], dict[str, Any]]:
        event = connect_event(STATION_201, "wrong-password-00", world.next_id("conn"), "ocpp2.0.1")
        return lambda: world.connect(event, FakeContext())

    def check(reply: dict[str, Any]) -> None:
        _expect(reply.get("statusCode") == 401, f"expected 401: {reply}")

    return Case("connect-refused", "$connect (wrong password)", "2.0.1", 0, prepare, check)


def call_case(
    world: World,
    *,
    key: str,
    label: str,
    version: str,
    iterations: int,
    payload: Callable[[], dict[str, Any]],
    action: str,
) -> Case:
    """A CALL from the station on its live connection, answered in the route response."""
    station = STATION_16 if version == "1.6" else STATION_201

    def prepare() -> Callable[[], dict[str, Any]]:
        event = message_event(
            world.connections[station], call_frame(world.next_id("msg"), action, payload())
        )
        return lambda: world.message(event, FakeContext())

    return Case(key, label, version, iterations, prepare, _check_result)


def status_case(world: World, version: str, iterations: int, *, alternate: bool) -> Case:
    """StatusNotification: alternating Available/Occupied (a change each time), or unchanged."""
    toggle = itertools.cycle((True, False)) if alternate else itertools.repeat(False)

    def payload() -> dict[str, Any]:
        return status_payload(version, occupied=next(toggle))

    case = call_case(
        world,
        key=f"status-{version}" if alternate else f"status-same-{version}",
        label="StatusNotification (status changed)"
        if alternate
        else "StatusNotification (same status again)",
        version=version,
        iterations=iterations,
        payload=payload,
        action="StatusNotification",
    )
    # A status change is a transaction: right after the CALLRESULTs, while the table is small.
    return dataclasses.replace(case, cpu_order=1) if alternate else case


def first_heartbeat_case(world: World, version: str) -> Case:
    """A Heartbeat in a container that has not seen the connection yet (accounting only)."""
    station = STATION_16 if version == "1.6" else STATION_201

    def prepare() -> Callable[[], dict[str, Any]]:
        world.runtime.reset()  # a fresh container: the connection binding is not cached
        event = message_event(
            world.connections[station], call_frame(world.next_id("msg"), "Heartbeat", {})
        )
        return lambda: world.message(event, FakeContext())

    return Case(
        f"heartbeat-first-{version}",
        "Heartbeat (first on its connection in a container)",
        version,
        0,
        prepare,
        _check_result,
        note="once per connection and container: the connection binding is then cached",
        warmup=0,
    )


def callresult_case(world: World, version: str, iterations: int) -> Case:
    """The station's CALLRESULT to a TriggerMessage the CSMS sent (the send is not measured)."""
    from csms.domain.commands import TriggerableMessage, TriggerMessageCommand

    station = STATION_16 if version == "1.6" else STATION_201
    sent: list[str] = []

    def prepare() -> Callable[[], dict[str, Any]]:
        command = TriggerMessageCommand(message=TriggerableMessage.HEARTBEAT)
        call = world.runtime.gateway().commands.send(TENANT, station, command)
        sent.append(call.unique_id)
        event = message_event(
            world.connections[station], result_frame(call.unique_id, {"status": "Accepted"})
        )
        return lambda: world.message(event, FakeContext())

    def check(reply: dict[str, Any]) -> None:
        _check_no_reply(reply)
        if len(sent) % 25 == 1:  # now and then: the reply was recorded (costs a read)
            call = world.runtime.gateway().commands.result(TENANT, station, sent[-1])
            _expect(call.state.value == "Answered", f"call {sent[-1]} is {call.state.value}")

    return Case(
        f"callresult-{version}",
        "CALLRESULT to TriggerMessage",
        version,
        iterations,
        prepare,
        check,
        note="the TriggerMessage send before each reply is not measured",
        warmup=5,
        cpu_order=0,
    )


def send_case(world: World, version: str) -> Case:
    """The CSMS->station TriggerMessage send itself (API function; accounting only)."""
    from csms.domain.commands import TriggerableMessage, TriggerMessageCommand

    station = STATION_16 if version == "1.6" else STATION_201
    sent: list[str] = []

    def prepare() -> Callable[[], dict[str, Any]]:
        def send() -> dict[str, Any]:
            command = TriggerMessageCommand(message=TriggerableMessage.HEARTBEAT)
            call = world.runtime.gateway().commands.send(TENANT, station, command)
            sent.append(call.unique_id)
            return {"unique_id": call.unique_id}

        return send

    def check(reply: dict[str, Any]) -> None:
        _expect(
            bool(world.posted) and reply["unique_id"] in world.posted[-1][1].decode(), "not posted"
        )
        # Answer it, so that the station's one call slot is free again.
        frame = result_frame(reply["unique_id"], {"status": "Accepted"})
        _check_no_reply(
            world.message(message_event(world.connections[station], frame), FakeContext())
        )

    return Case(
        f"send-{version}",
        "TriggerMessage sent by the CSMS (api function)",
        version,
        0,
        prepare,
        check,
        note="CommandService.send: not a $default message; shown for the round trip",
        warmup=1,
    )


def disconnect_case(world: World, iterations: int) -> Case:
    """`$disconnect` of the station's current connection (the binding is looked up)."""
    from csms.domain.connection import ConnectionBinding
    from csms.domain.station import ProtocolVersion

    def prepare() -> Callable[[], dict[str, Any]]:
        connection_id = world.next_id("conn")
        binding = ConnectionBinding(
            connection_id=connection_id,
            station_id=STATION_DISCONNECT,
            tenant_id=TENANT,
            protocol=ProtocolVersion.OCPP201,
            connected_at=datetime.now(UTC),
        )
        # As `$connect` would have, in another function: this container has no cached binding.
        world.runtime.gateway().station_repository.bind(binding)
        event = disconnect_event(connection_id)
        return lambda: world.disconnect(event, FakeContext())

    def check(reply: dict[str, Any]) -> None:
        _expect(reply == {"statusCode": 200}, f"$disconnect: {reply}")

    return Case("disconnect", "$disconnect", "any", iterations, prepare, check)


def transaction_cases(world: World, version: str, messages: int, transactions: int) -> list[Case]:
    """Authorize, start, meter values (two ways), stop: each with a transaction of its own."""
    flow = world.flows[version]
    v16 = version == "1.6"
    meter_label = "MeterValues (transactionId, 7 samples)" if v16 else "TransactionEvent Updated"
    meter_note = (
        "a reading every 60 s of meter time on a running transaction; accounting: one inside "
        "a 5-minute period, CPU: the natural mix (1 in 5 crosses a boundary)"
    )
    return [
        Case(
            f"authorize-{version}",
            "Authorize",
            version,
            messages,
            flow.authorize,
            flow.settle,
            note="the driver's token has ten ended sessions (read through the token index)",
            cpu_order=4,
        ),
        Case(
            f"start-{version}",
            "StartTransaction" if v16 else "TransactionEvent Started",
            version,
            transactions,
            flow.start,
            flow.settle,
            note="a fresh transaction each time (the one before is stopped first, untimed)",
            warmup=TX_WARMUP,
            target=START_TARGET,
            cpu_order=2,
        ),
        Case(
            f"meter-{version}",
            meter_label if v16 else f"{meter_label} (meter values only)",
            version,
            messages,
            flow.meter,
            flow.settle,
            note=meter_note,
            account=functools.partial(flow.meter_where, crossing=False),
            target=METER_TARGET,
            cpu_order=4,
        ),
        Case(
            f"meter-event-{version}",
            f"{meter_label}, crossing a 5-min boundary (+ TransactionUpdated)",
            version,
            0,
            functools.partial(flow.meter_where, crossing=True),
            flow.settle,
            note="the throttled TransactionUpdated rides in the chunk's outbox",
            target=METER_TARGET,
        ),
        Case(
            f"stop-{version}",
            "StopTransaction (with transactionData)" if v16 else "TransactionEvent Ended",
            version,
            transactions,
            flow.stop,
            flow.settle,
            note="of a transaction started just before (untimed) with one meter reading",
            warmup=TX_WARMUP,
            cpu_order=2,
        ),
    ]


# -- measuring -------------------------------------------------------------------------------------
def measure_cpu(case: Case) -> list[float]:
    """Process CPU milliseconds of `iterations` warm calls.

    Process, not thread, CPU: argon2 hashes its 4 lanes in threads. The only other thread here
    is the idle `@connections` endpoint; moto runs in another process.
    """
    samples: list[float] = []
    for i in range(case.warmup + case.iterations):
        call = case.prepare()
        start = time.process_time_ns()
        reply = call()
        elapsed = time.process_time_ns() - start
        case.check(reply)
        if i >= case.warmup:
            samples.append(elapsed / 1e6)
    return samples


def measure_cost(case: Case, recorder: AwsRecorder) -> dict[str, Any]:
    """The AWS calls of one warm call, checked to be the same over a few runs."""
    for _ in range(min(case.warmup, 3)):
        warm = (case.account or case.prepare)()
        case.check(warm())
    summaries = []
    prepare = case.account or case.prepare
    for _ in range(ACCOUNTING_RUNS):
        call = prepare()
        with recorder.capture() as capture:
            reply = call()
        case.check(reply)
        summaries.append(summarize_capture(capture))
    summary = summaries[-1]
    signatures = {json.dumps(operation_signature(s)) for s in summaries}
    units = {(s["rcu"], s["wcu"], s["gsi_wcu"]) for s in summaries}
    summary["varies"] = len(signatures) > 1 or len(units) > 1
    if summary["varies"]:
        summary["runs"] = summaries
    return summary


@contextmanager
def recording(world: World, endpoint: str, definition: Mapping[str, Any]) -> Iterator[AwsRecorder]:
    """Hook the clients the runtime creates from now on (it is rebuilt on entry and on exit)."""
    probe = botocore.session.get_session().create_client(
        "dynamodb", region_name=REGION, endpoint_url=endpoint
    )
    recorder = AwsRecorder(TABLE_NAME, TableSpec.from_definition(definition), probe)
    uninstall = install(recorder)
    world.runtime.reset()
    try:
        yield recorder
    finally:
        uninstall()
        world.runtime.reset()


# -- the run ---------------------------------------------------------------------------------------
def build_world(posted: list[tuple[str, bytes]]) -> World:
    """Import the handlers (after the environment is set) and seed the bench stations."""
    from csms.handlers import _runtime, seed, ws_connect, ws_disconnect, ws_message

    _runtime.reset()
    document = {
        "sites": [{"id": SITE, "name": "Bench site", "limitKw": 150}],
        "stations": [
            {"id": sid, "siteId": SITE, "password": PASSWORD}
            for sid in (STATION_16, STATION_201, STATION_DISCONNECT, STATION_COLD)
        ],
        "tokens": [
            {"idToken": token, "groupId": "bench"}
            for token in (*DRIVER_TOKENS.values(), *METER_TOKENS.values())
        ],
    }
    context: Any = FakeContext()
    loaded = seed.lambda_handler({"tenantId": TENANT, "seed": document}, context)
    if not loaded.get("ok"):
        raise RuntimeError(f"seed failed: {loaded}")
    return World(
        connect=ws_connect.lambda_handler,
        message=ws_message.lambda_handler,
        disconnect=ws_disconnect.lambda_handler,
        runtime=_runtime,
        posted=posted,
    )


def connect_stations(world: World, meter_readings: int) -> None:
    """Open the connection each bench station's messages travel on; set up its transactions."""
    for station, version in ((STATION_16, "1.6"), (STATION_201, "2.0.1")):
        protocol = f"ocpp{version}"
        connection_id = world.next_id("conn")
        reply = world.connect(
            connect_event(station, PASSWORD, connection_id, protocol), FakeContext()
        )
        _check_accepted(protocol)(reply)
        world.connections[station] = connection_id

        def event_of(
            action: str, payload: dict[str, Any], connection_id: str = connection_id
        ) -> dict[str, Any]:
            return message_event(connection_id, call_frame(world.next_id("tx"), action, payload))

        world.flows[version] = TxFlow(
            version,
            event_of,
            lambda event: world.message(event, FakeContext()),
            token=DRIVER_TOKENS[version],
            meter_token=METER_TOKENS[version],
            meter_readings=meter_readings,
        )


def build_cases(world: World, args: argparse.Namespace) -> list[Case]:
    """Every message type, in report order."""
    n, replies, connects = args.messages, args.replies, args.connects
    versions = ("1.6", "2.0.1")
    return [
        *(connect_case(world, v, connects) for v in versions),
        refused_connect_case(world),
        *(
            call_case(
                world,
                key=f"boot-{v}",
                label="BootNotification",
                version=v,
                iterations=n,
                payload=functools.partial(boot_payload, v),
                action="BootNotification",
            )
            for v in versions
        ),
        *(
            call_case(
                world,
                key=f"heartbeat-{v}",
                label="Heartbeat",
                version=v,
                iterations=n,
                payload=dict,
                action="Heartbeat",
            )
            for v in versions
        ),
        first_heartbeat_case(world, "2.0.1"),
        *(status_case(world, v, n, alternate=True) for v in versions),
        status_case(world, "2.0.1", 0, alternate=False),
        *(
            case
            for v in versions
            for case in transaction_cases(world, v, args.meter_values, args.transactions)
        ),
        *(callresult_case(world, v, replies) for v in versions),
        send_case(world, "2.0.1"),
        disconnect_case(world, n),
    ]


def run_cold(args: argparse.Namespace, world: World, env: Mapping[str, str]) -> dict[str, Any]:
    """Cold import per handler module, then import + first message against the moto server."""
    from csms.domain.connection import ConnectionBinding
    from csms.domain.station import ProtocolVersion

    log("compiling bytecode (compileall functions + site-packages)")
    bench_cold.compile_bytecode()
    base = bench_cold.base_environment(env)
    imports: dict[str, dict[str, float | None]] = {}
    for module in bench_cold.HANDLER_MODULES:
        log(f"cold import {module}")
        imports[module] = {
            "compiled_s": round(
                bench_cold.import_seconds(module, base, args.cold_runs, source_only=False), 4
            ),
            "source_s": round(
                bench_cold.import_seconds(module, base, args.source_runs, source_only=True), 4
            )
            if args.source_runs
            else None,
        }
    # A connection bound by `$connect` in another container; this fresh one must look it up.
    connection_id = world.next_id("conn-cold")
    world.runtime.gateway().station_repository.bind(
        ConnectionBinding(
            connection_id=connection_id,
            station_id=STATION_COLD,
            tenant_id=TENANT,
            protocol=ProtocolVersion.OCPP201,
            connected_at=datetime.now(UTC),
        )
    )
    first: dict[str, Any] = {}
    for label, action, payload in (
        ("`$default` Heartbeat 2.0.1", "Heartbeat", {}),
        ("`$default` BootNotification 2.0.1", "BootNotification", boot_payload("2.0.1")),
    ):
        log(f"cold import + first message: {action}")
        event = message_event(connection_id, call_frame(world.next_id("cold"), action, payload))
        result = bench_cold.first_message("csms.handlers.ws_message", event, base, args.cold_runs)
        _check_result(result.pop("reply"))
        first[label] = {k: round(v, 4) for k, v in result.items()}
    return {
        "runs_compiled": args.cold_runs,
        "runs_source": args.source_runs,
        "imports": imports,
        "first_message": first,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Iteration counts (the defaults are what the issue asks for)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=1000, help="timed calls per message type")
    parser.add_argument("--replies", type=int, default=1000, help="timed CALLRESULTs per version")
    parser.add_argument("--connects", type=int, default=50, help="timed $connects per version")
    parser.add_argument(
        "--meter-values",
        type=int,
        default=300,
        help="timed Authorize and MeterValues / TransactionEvent(Updated) per version",
    )
    parser.add_argument(
        "--transactions",
        type=int,
        default=50,
        help="timed starts and stops per version (each one a transaction of its own)",
    )
    parser.add_argument(
        "--cold-runs", type=int, default=5, help="fresh interpreters, with bytecode"
    )
    parser.add_argument(
        "--source-runs", type=int, default=3, help="fresh interpreters, source only (0: skip)"
    )
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-start measurements")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH, help="where to write the JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Measure everything; print the markdown report; write the JSON."""
    args = parse_args(argv)
    started = time.monotonic()
    load_before = os.getloadavg()
    template = load_template()
    os.environ.update(AWS_ENV)
    with moto_server() as aws, connections_endpoint() as connections:
        definition = create_resources(aws, template)
        env = {
            **lambda_environment(template, "csms.handlers.ws_message.lambda_handler"),
            **handler_environment(aws, endpoint_of(connections)),
        }
        os.environ.update(env)
        with stdout_silenced():  # the handlers log JSON lines to stdout, as in Lambda
            world = build_world(connections.posted)
            connect_stations(world, meter_readings=args.meter_values + 100)
            cases = build_cases(world, args)
            costs: dict[str, dict[str, Any]] = {}
            with recording(world, aws, definition) as recorder:
                for case in cases:
                    log(f"DynamoDB accounting: {case.label} {case.version}")
                    costs[case.key] = measure_cost(case, recorder)
            cpu: dict[str, dict[str, float | int]] = {}
            # Transaction-heavy cases first (see Case.cpu_order).
            for case in sorted(cases, key=lambda c: c.cpu_order):
                if case.iterations:
                    log(f"CPU: {case.label} {case.version} x{case.iterations}")
                    cpu[case.key] = summarize_cpu(measure_cpu(case))
        cold = None if args.no_cold else run_cold(args, world, env)
    import moto

    results: dict[str, Any] = {
        "meta": {
            "python": platform.python_version(),
            "machine": f"{platform.system()} {platform.machine()}",
            "cpus": os.cpu_count(),
            "moto": moto.__version__,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - started, 1),
            "load_average_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            "iterations": {
                "messages": args.messages,
                "replies": args.replies,
                "connects": args.connects,
                "meter_values": args.meter_values,
                "transactions": args.transactions,
            },
        },
        "messages": [
            {
                "key": case.key,
                "label": case.label,
                "version": case.version,
                "note": case.note,
                "cpu_target": case.cpu_target,
                "target": dict(case.target) if case.target else None,
                "dynamodb": costs.get(case.key),
                "cpu": cpu.get(case.key),
            }
            for case in cases
        ],
        "cold": cold,
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(render_markdown(results))
    log(f"done in {results['meta']['duration_s']} s; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
