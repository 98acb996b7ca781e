"""The bench's world: a moto server process, a local `@connections` endpoint, events, frames.

moto runs in its own process so that the emulated DynamoDB's CPU time is not counted as the
handler's: the handlers talk to it over HTTP on 127.0.0.1, as they would to AWS.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = REPO_ROOT / "cdk.out" / "CsmsStack.template.json"
REGION = "us-east-1"
TABLE_NAME = "csms-bench"
BUS_NAME = "csms-bench-events"

# Fake credentials, and no shared config or instance metadata: nothing leaves 127.0.0.1.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The synthesized CDK template (`make synth` writes it)."""
    if not path.exists():
        sys.exit(f"bench: no template at {path}; run `make synth` first")
    template: dict[str, Any] = json.loads(path.read_text())
    return template


def lambda_environment(template: Mapping[str, Any], handler: str) -> dict[str, str]:
    """The literal (non-CSMS_) environment of the function running `handler`, e.g. Powertools'."""
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Lambda::Function" and props.get("Handler") == handler:
            variables = props.get("Environment", {}).get("Variables", {})
            return {
                k: v
                for k, v in variables.items()
                if isinstance(v, str) and not k.startswith("CSMS_")
            }
    return {}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def moto_server(timeout_s: float = 30.0) -> Iterator[str]:
    """Run `python -m moto.server` on 127.0.0.1; yield its URL; always stop it.

    Werkzeug closes the connection after each response, so every AWS call opens a new TCP
    connection; measured here, that costs no visible client CPU next to botocore's own work
    (GetItem: 0.95 ms vs 0.92 ms with a kept-alive connection).
    """
    port = free_port()
    env = {**os.environ, **AWS_ENV}
    # moto's server with the local runtime's fix for its transaction memory growth.
    server = str(Path(__file__).with_name("moto_server.py"))
    command = [sys.executable, server, "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                sys.exit("bench: the moto server exited at start (is moto[server] installed?)")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _ConnectionsHandler(BaseHTTPRequestHandler):
    server: _ConnectionsServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        connection_id = self.path.rpartition("/@connections/")[2]
        with self.server.lock:
            self.server.posted.append((connection_id, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


class _ConnectionsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ConnectionsHandler)
        self.lock = threading.Lock()
        self.posted: list[tuple[str, bytes]] = []


@contextmanager
def connections_endpoint() -> Iterator[_ConnectionsServer]:
    """A stand-in for API Gateway's `@connections` API: every POST is accepted and kept."""
    server = _ConnectionsServer()
    thread = threading.Thread(target=server.serve_forever, name="connections", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def endpoint_of(server: ThreadingHTTPServer) -> str:
    """The server's base URL."""
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def create_resources(endpoint: str, template: Mapping[str, Any]) -> dict[str, Any]:
    """Create the table (from the template) and the bus in the moto server; return the table."""
    import boto3

    from csms_local.emulation import table_definition

    definition = table_definition(dict(template), TABLE_NAME)
    # No stream here: the outbox relay reads it in its own invocations, not in the handlers'
    # (and moto copies the whole stream on every transaction, which would swamp the run).
    definition.pop("StreamSpecification", None)
    session = boto3.session.Session(region_name=REGION)
    session.client("dynamodb", endpoint_url=endpoint).create_table(**definition)
    session.client("events", endpoint_url=endpoint).create_event_bus(Name=BUS_NAME)
    return definition


def handler_environment(aws_endpoint: str, management_endpoint: str) -> dict[str, str]:
    """The environment the handlers read their settings from."""
    return {
        **AWS_ENV,
        "CSMS_TABLE_NAME": TABLE_NAME,
        "CSMS_EVENT_BUS_NAME": BUS_NAME,
        "CSMS_AWS_ENDPOINT_URL": aws_endpoint,
        "CSMS_WS_MANAGEMENT_ENDPOINT": management_endpoint,
    }


@contextmanager
def stdout_silenced() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null (the handlers' JSON logs); the writes still happen."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


# -- Lambda events ------------------------------------------------------------------------------
@dataclass(frozen=True)
class FakeContext:
    """The parts of a Lambda context that Powertools' `inject_lambda_context` reads."""

    function_name: str = "bench"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    log_group_name: str = "/aws/lambda/bench"
    log_stream_name: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        """Plenty."""
        return 30_000


def _request_context(connection_id: str, route: str, event_type: str) -> dict[str, Any]:
    return {
        "connectionId": connection_id,
        "routeKey": route,
        "eventType": event_type,
        "stage": "prod",
        "requestTimeEpoch": int(time.time() * 1000),
        "identity": {"sourceIp": "127.0.0.1"},
    }


def connect_event(
    station_id: str, password: str, connection_id: str, protocols: str
) -> dict[str, Any]:
    """A `$connect` event as API Gateway sends it (station id in the query, per DESIGN §1)."""
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {
        "requestContext": _request_context(connection_id, "$connect", "CONNECT"),
        "queryStringParameters": {"station": station_id},
        "headers": {
            "Authorization": f"Basic {token}",
            "Sec-WebSocket-Protocol": protocols,
            "Host": "bench.example",
        },
        "isBase64Encoded": False,
    }


def message_event(connection_id: str, frame: str) -> dict[str, Any]:
    """A `$default` event carrying one OCPP-J frame."""
    return {
        "requestContext": _request_context(connection_id, "$default", "MESSAGE"),
        "body": frame,
        "isBase64Encoded": False,
    }


def disconnect_event(connection_id: str) -> dict[str, Any]:
    """A `$disconnect` event."""
    return {
        "requestContext": _request_context(connection_id, "$disconnect", "DISCONNECT"),
        "isBase64Encoded": False,
    }


# -- OCPP frames ----------------------------------------------------------------------------------
def now_iso() -> str:
    """The current time as OCPP writes it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def call_frame(unique_id: str, action: str, payload: Mapping[str, Any]) -> str:
    """`[2, id, action, payload]`."""
    return json.dumps([2, unique_id, action, payload], separators=(",", ":"))


def result_frame(unique_id: str, payload: Mapping[str, Any]) -> str:
    """`[3, id, payload]`."""
    return json.dumps([3, unique_id, payload], separators=(",", ":"))


def boot_payload(version: str) -> dict[str, Any]:
    """A BootNotification with the usual optional fields."""
    if version == "1.6":
        return {
            "chargePointVendor": "BenchVendor",
            "chargePointModel": "BenchModel-22kW",
            "chargePointSerialNumber": "SN-000123456",
            "firmwareVersion": "1.4.2",
            "meterType": "BenchMeter",
        }
    return {
        "reason": "PowerUp",
        "chargingStation": {
            "vendorName": "BenchVendor",
            "model": "BenchModel-22kW",
            "serialNumber": "SN-000123456",
            "firmwareVersion": "1.4.2",
        },
    }


def status_payload(version: str, occupied: bool) -> dict[str, Any]:
    """A StatusNotification for connector 1, timestamped now."""
    if version == "1.6":
        return {
            "connectorId": 1,
            "errorCode": "NoError",
            "status": "Charging" if occupied else "Available",
            "timestamp": now_iso(),
        }
    return {
        "timestamp": now_iso(),
        "connectorStatus": "Occupied" if occupied else "Available",
        "evseId": 1,
        "connectorId": 1,
    }


# -- transactions: the payloads of a public AC station (7.4 kW over three phases) ---------------
POWER_W = 7400
CURRENT_A = "10.7"  # per phase: 3 x 230 V x 10.7 A = 7.4 kW
VOLTAGE_V = "230.1"
PHASES = ("L1", "L2", "L3")


def iso(at: datetime) -> str:
    """A time as OCPP writes it (UTC, milliseconds, `Z`)."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def connector_status_payload(version: str, status: str, at: datetime) -> dict[str, Any]:
    """A StatusNotification of connector 1 (1.6 status names, or 2.0.1 connectorStatus)."""
    if version == "1.6":
        return {"connectorId": 1, "errorCode": "NoError", "status": status, "timestamp": iso(at)}
    return {"timestamp": iso(at), "connectorStatus": status, "evseId": 1, "connectorId": 1}


def meter_samples(
    version: str, register_wh: int, soc: int, context: str = "Sample.Periodic"
) -> list[dict[str, Any]]:
    """The sample set of one reading: energy register, power, current per phase, voltage, SoC."""
    rows: list[tuple[str, str | None, str, str, str]] = [
        # (measurand, phase, value, unit, location)
        ("Energy.Active.Import.Register", None, str(register_wh), "Wh", "Outlet"),
        ("Power.Active.Import", None, str(POWER_W), "W", "Outlet"),
        *(("Current.Import", phase, CURRENT_A, "A", "Outlet") for phase in PHASES),
        ("Voltage", "L1-N", VOLTAGE_V, "V", "Outlet"),
        ("SoC", None, str(soc), "Percent", "EV"),
    ]
    samples: list[dict[str, Any]] = []
    for measurand, phase, value, unit, location in rows:
        sample: dict[str, Any] = {"value": value, "context": context, "measurand": measurand}
        if phase is not None:
            sample["phase"] = phase
        sample["location"] = location
        if version == "1.6":
            sample["unit"] = unit
        else:
            sample["value"] = float(value) if "." in value else int(value)
            sample["unitOfMeasure"] = {"unit": unit}
        samples.append(sample)
    return samples


def authorize_payload(version: str, token: str) -> dict[str, Any]:
    """Authorize: a 1.6 idTag, or a 2.0.1 RFID idToken."""
    if version == "1.6":
        return {"idTag": token}
    return {"idToken": {"idToken": token, "type": "ISO14443"}}


def start_payload_16(token: str, meter_start_wh: int, at: datetime) -> dict[str, Any]:
    """1.6 StartTransaction on connector 1."""
    return {"connectorId": 1, "idTag": token, "meterStart": meter_start_wh, "timestamp": iso(at)}


def meter_values_payload_16(
    transaction_id: int, at: datetime, register_wh: int, soc: int
) -> dict[str, Any]:
    """1.6 MeterValues of a running transaction: one reading with the whole sample set."""
    return {
        "connectorId": 1,
        "transactionId": transaction_id,
        "meterValue": [
            {"timestamp": iso(at), "sampledValue": meter_samples("1.6", register_wh, soc)}
        ],
    }


def stop_payload_16(
    transaction_id: int,
    token: str,
    *,
    start: tuple[datetime, int],
    stop: tuple[datetime, int],
    soc: int,
    reason: str = "EVDisconnected",
) -> dict[str, Any]:
    """1.6 StopTransaction with transactionData: the Transaction.Begin and .End readings."""
    (start_at, start_wh), (stop_at, stop_wh) = start, stop
    return {
        "transactionId": transaction_id,
        "idTag": token,
        "meterStop": stop_wh,
        "timestamp": iso(stop_at),
        "reason": reason,
        "transactionData": [
            {
                "timestamp": iso(start_at),
                "sampledValue": meter_samples("1.6", start_wh, soc, "Transaction.Begin")[:1],
            },
            {
                "timestamp": iso(stop_at),
                "sampledValue": meter_samples("1.6", stop_wh, soc, "Transaction.End"),
            },
        ],
    }


def transaction_event_payload(
    event_type: str,
    transaction_id: str,
    *,
    seq_no: int,
    at: datetime,
    register_wh: int,
    soc: int,
    token: str | None = None,
) -> dict[str, Any]:
    """2.0.1 TransactionEvent: Started (with token and EVSE), Updated (meter values), Ended."""
    trigger, context, info = {
        "Started": ("Authorized", "Transaction.Begin", {"chargingState": "Charging"}),
        "Updated": ("MeterValuePeriodic", "Sample.Periodic", {"chargingState": "Charging"}),
        "Ended": ("EVDeparted", "Transaction.End", {"stoppedReason": "EVDisconnected"}),
    }[event_type]
    samples = meter_samples("2.0.1", register_wh, soc, context)
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": iso(at),
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": transaction_id, **info},
        "meterValue": [
            {
                "timestamp": iso(at),
                "sampledValue": samples[:1] if event_type == "Started" else samples,
            }
        ],
    }
    if event_type == "Started":
        payload["evse"] = {"id": 1, "connectorId": 1}
    if token is not None:
        payload["idToken"] = {"idToken": token, "type": "ISO14443"}
    return payload
