"""AWS list prices (us-east-1) and the metering rules that turn usage into dollars (pure).

Prices as published on the AWS pricing pages, assumed as of PRICES_AS_OF (they had not changed
since: DynamoDB on-demand was halved in November 2024, the rest is older). No free tier, no
savings plans, first price tier only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

PRICES_AS_OF = "2025-11-01"
REGION = "us-east-1"
MILLION = 1_000_000
GB = 1024**3  # CloudWatch Logs bills per GB ingested (binary GB)

WS_MESSAGE_BYTES = 32 * 1024  # API Gateway WebSocket: each message metered in 32 KB increments
EVENT_CHUNK_BYTES = 64 * 1024  # EventBridge: each 64 KB chunk of an entry is one event
LAMBDA_PLATFORM_LOG_BYTES = 250  # START, END and REPORT lines of one invocation


@dataclass(frozen=True)
class Prices:
    """USD, us-east-1, on-demand list prices."""

    ws_message_per_million: float = 1.00  # API Gateway WebSocket messages (first 1 billion)
    ws_connection_minute_per_million: float = 0.25
    lambda_request_per_million: float = 0.20
    lambda_gb_second_arm64: float = 0.0000133334  # first 7.5 billion GB-s a month
    dynamodb_wru_per_million: float = 0.625  # on-demand write request units
    dynamodb_rru_per_million: float = 0.125  # on-demand read request units
    eventbridge_event_per_million: float = 1.00  # custom events put on a bus
    logs_ingest_per_gb: float = 0.50  # CloudWatch Logs standard ingestion

    def as_dict(self) -> dict[str, float]:
        """For the JSON results."""
        return asdict(self)


def ws_message_units(size: int) -> int:
    """Billed API Gateway WebSocket messages for one message of `size` bytes (32 KB steps)."""
    return max(1, math.ceil(size / WS_MESSAGE_BYTES))


def event_units(size: int) -> int:
    """Billed EventBridge events for one entry of `size` bytes (64 KB chunks)."""
    return max(1, math.ceil(size / EVENT_CHUNK_BYTES))


def billed_ms(seconds: float) -> int:
    """Lambda duration billed for one invocation: rounded up to the millisecond, at least 1."""
    return max(1, math.ceil(seconds * 1000 - 1e-9))


def gb_seconds(billed_ms_total: int, memory_mb: int) -> float:
    """GB-s of `billed_ms_total` milliseconds at `memory_mb` of configured memory."""
    return billed_ms_total / 1000 * memory_mb / 1024


@dataclass
class FunctionUsage:
    """One Lambda function's invocations in the month."""

    memory_mb: int
    invocations: int = 0
    billed_ms: int = 0
    # The same with each invocation's CPU time scaled to the function's vCPU share
    # (1,769 MB = 1 vCPU): a pessimistic view of this machine's figures, reported apart.
    billed_ms_cpu_scaled: int = 0
    log_bytes: int = 0  # what the handler wrote (JSON log lines)

    def add(self, wall_s: float, cpu_s: float, log_bytes: int) -> None:
        """One invocation: its wall time, its CPU time, the bytes it logged."""
        self.invocations += 1
        self.billed_ms += billed_ms(wall_s)
        share = min(1.0, self.memory_mb / 1769)
        self.billed_ms_cpu_scaled += billed_ms(max(0.0, wall_s - cpu_s) + cpu_s / share)
        self.log_bytes += log_bytes

    @property
    def gb_seconds(self) -> float:
        """GB-s billed."""
        return gb_seconds(self.billed_ms, self.memory_mb)

    @property
    def gb_seconds_cpu_scaled(self) -> float:
        """GB-s with CPU time scaled to the function's vCPU share."""
        return gb_seconds(self.billed_ms_cpu_scaled, self.memory_mb)

    @property
    def ingested_log_bytes(self) -> int:
        """Log bytes CloudWatch ingests: the handler's lines plus Lambda's platform lines."""
        return self.log_bytes + LAMBDA_PLATFORM_LOG_BYTES * self.invocations


@dataclass
class Usage:
    """What one station used in the month, by meter."""

    ws_messages: int = 0  # frames both ways (station's CALLs, route responses, posts)
    ws_message_units: int = 0  # the same, metered in 32 KB increments
    ws_connection_minutes: float = 0.0
    dynamodb_wru: float = 0.0  # table and global secondary indexes
    dynamodb_rru: float = 0.0
    eventbridge_entries: int = 0
    eventbridge_units: int = 0
    functions: dict[str, FunctionUsage] = field(default_factory=dict)
    relay: str = "stream_outbox"  # the function name whose usage is the relay line

    def function(self, name: str, memory_mb: int) -> FunctionUsage:
        """The usage record of a function (created on first use)."""
        return self.functions.setdefault(name, FunctionUsage(memory_mb))

    def handlers(self) -> Iterable[FunctionUsage]:
        """The functions that are not the relay."""
        return (u for name, u in self.functions.items() if name != self.relay)


LINES = (
    "API Gateway messages",
    "API Gateway connection minutes",
    "Lambda requests",
    "Lambda GB-s",
    "DynamoDB writes",
    "DynamoDB reads",
    "EventBridge",
    "CloudWatch Logs",
    "Outbox relay (Lambda)",
)


@dataclass(frozen=True)
class Line:
    """One line of the bill: what was counted and what it costs."""

    name: str
    quantity: float
    unit: str
    usd: float


def bill(usage: Usage, prices: Prices | None = None) -> list[Line]:
    """The month's bill of one station, line by line (LINES order)."""
    p = prices or Prices()
    handlers = list(usage.handlers())
    relay = usage.functions.get(usage.relay)
    requests = sum(f.invocations for f in handlers)
    gbs = sum(f.gb_seconds for f in handlers)
    log_bytes = sum(f.ingested_log_bytes for f in handlers)
    relay_usd = 0.0
    relay_invocations = 0
    if relay is not None:
        relay_invocations = relay.invocations
        relay_usd = (
            relay.invocations * p.lambda_request_per_million / MILLION
            + relay.gb_seconds * p.lambda_gb_second_arm64
            + relay.ingested_log_bytes / GB * p.logs_ingest_per_gb
        )
    return [
        Line(
            LINES[0],
            usage.ws_message_units,
            "messages (32 KB units)",
            usage.ws_message_units * p.ws_message_per_million / MILLION,
        ),
        Line(
            LINES[1],
            usage.ws_connection_minutes,
            "minutes",
            usage.ws_connection_minutes * p.ws_connection_minute_per_million / MILLION,
        ),
        Line(LINES[2], requests, "invocations", requests * p.lambda_request_per_million / MILLION),
        Line(LINES[3], gbs, "GB-s", gbs * p.lambda_gb_second_arm64),
        Line(
            LINES[4],
            usage.dynamodb_wru,
            "WRU",
            usage.dynamodb_wru * p.dynamodb_wru_per_million / MILLION,
        ),
        Line(
            LINES[5],
            usage.dynamodb_rru,
            "RRU",
            usage.dynamodb_rru * p.dynamodb_rru_per_million / MILLION,
        ),
        Line(
            LINES[6],
            usage.eventbridge_units,
            "events (64 KB units)",
            usage.eventbridge_units * p.eventbridge_event_per_million / MILLION,
        ),
        Line(LINES[7], log_bytes / GB, "GB", log_bytes / GB * p.logs_ingest_per_gb),
        Line(LINES[8], relay_invocations, "invocations", relay_usd),
    ]


def total(lines: Iterable[Line]) -> float:
    """The bill's total."""
    return sum(line.usd for line in lines)


def shares(lines: Iterable[Line]) -> Mapping[str, float]:
    """Each line's share of the total (0..1)."""
    listed = list(lines)
    whole = total(listed)
    return {line.name: (line.usd / whole if whole else 0.0) for line in listed}
