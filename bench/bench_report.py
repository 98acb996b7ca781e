"""Statistics and the markdown report (pure functions on plain data)."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from bench_aws import Capture

# Targets from the issue; figures are reported against them, never asserted.
CPU_TARGET_MS = 3.0
IMPORT_TARGET_S = 0.4


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    if not values:
        msg = "percentile of an empty sample"
        raise ValueError(msg)
    if not 0 <= q <= 100:
        msg = f"q must be within 0..100, not {q}"
        raise ValueError(msg)
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize_cpu(samples_ms: Sequence[float]) -> dict[str, float | int]:
    """n, median, p99, mean and max of CPU samples in milliseconds."""
    return {
        "n": len(samples_ms),
        "median_ms": round(statistics.median(samples_ms), 4),
        "p99_ms": round(percentile(samples_ms, 99), 4),
        "mean_ms": round(statistics.fmean(samples_ms), 4),
        "max_ms": round(max(samples_ms), 4),
    }


def summarize_capture(capture: Capture) -> dict[str, Any]:
    """A capture as plain data: operations, item sizes, capacity units, other AWS calls."""
    operations = Counter(call.operation for call in capture.dynamodb)
    calls = [
        {
            "operation": call.operation,
            "consistent_read": call.consistent,
            "succeeded": call.succeeded,
            "reads": [{"key": r.key, "bytes": r.size, "rcu": r.units} for r in call.reads],
            "writes": [
                {
                    "key": w.key,
                    "bytes": w.size,
                    "wcu": w.units,
                    "gsi_wcu": w.index_units,
                    "gsi": w.index_detail,
                    "events": w.events,
                }
                for w in call.writes
            ],
        }
        for call in capture.dynamodb
    ]
    other = Counter(f"{service}:{operation}" for service, operation, _ in capture.other)
    return {
        "operations": dict(operations),
        "reads": sum(len(call.reads) for call in capture.dynamodb),
        "writes": sum(len(call.writes) for call in capture.dynamodb),
        "read_bytes": sum(r.size for call in capture.dynamodb for r in call.reads),
        "write_bytes": sum(w.size for call in capture.dynamodb for w in call.writes),
        "rcu": sum(call.rcu for call in capture.dynamodb),
        "wcu": sum(call.wcu for call in capture.dynamodb),
        "gsi_wcu": sum(call.index_wcu for call in capture.dynamodb),
        "events_published": sum(n for s, o, n in capture.other if o == "PutEvents"),
        "outbox_events": sum(w.events for call in capture.dynamodb for w in call.writes),
        "max_write_bytes": max(
            (w.size for call in capture.dynamodb for w in call.writes), default=0
        ),
        "other_calls": dict(other),
        "calls": calls,
    }


def operation_signature(summary: Mapping[str, Any]) -> list[tuple[str, int]]:
    """What must not change between runs of a message: its calls and their item counts."""
    return [(c["operation"], len(c["reads"]) + len(c["writes"])) for c in summary["calls"]]


def aws_calls(summary: Mapping[str, Any] | None) -> int | None:
    """AWS requests of one message: DynamoDB and everything else."""
    if summary is None:
        return None
    return int(sum(summary["operations"].values()) + sum(summary["other_calls"].values()))


def _baseline_ms(rows: Sequence[Mapping[str, Any]]) -> float | None:
    medians = [
        row["cpu"]["median_ms"]
        for row in rows
        if row.get("cpu") and row.get("dynamodb") is not None and aws_calls(row["dynamodb"]) == 0
    ]
    return min(medians) if medians else None


def target_text(target: Mapping[str, Any] | None) -> str:
    """`<= 1 write of <= 1 KB`, from `{"writes": 1, "write_bytes": 1024}`."""
    if not target:
        return "-"
    parts = []
    if target.get("writes") is not None:
        n = target["writes"]
        parts.append(f"<= {n} write{'s' if n != 1 else ''}")
    if target.get("write_bytes") is not None:
        parts.append(f"of <= {target['write_bytes'] / 1024:g} KB")
    return " ".join(parts)


def target_verdict(summary: Mapping[str, Any], target: Mapping[str, Any] | None) -> str:
    """ok / OVER against a write target (item writes, the largest item written)."""
    if not target:
        return ""
    over = (target.get("writes") is not None and summary["writes"] > target["writes"]) or (
        target.get("write_bytes") is not None
        and summary.get("max_write_bytes", 0) > target["write_bytes"]
    )
    return "OVER" if over else "ok"


def _num(value: float) -> str:
    return f"{value:g}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ops(operations: Mapping[str, int]) -> str:
    return ", ".join(f"{op} x{n}" for op, n in operations.items()) or "none"


def _other(other: Mapping[str, int]) -> str:
    return ", ".join(f"{name.split(':')[1]} x{n}" for name, n in other.items()) or "-"


def render_markdown(results: Mapping[str, Any]) -> str:
    """The whole report."""
    meta = results["meta"]
    rows = results["messages"]
    lines = [
        "# Per-message costs",
        "",
        f"Python {meta['python']} on {meta['machine']} ({meta['cpus']} CPUs), "
        f"moto {meta['moto']} in a separate process; {meta['date']}; load average (1 min) "
        f"{meta['load_average_1m'][0]:g} at start, {meta['load_average_1m'][1]:g} at end.",
        "",
        *_render_dynamodb(rows),
        *_render_items(rows),
        *_render_cpu(rows),
    ]
    cold = results.get("cold")
    if cold:
        lines += _render_cold(cold)
    return "\n".join(lines) + "\n"


def _render_dynamodb(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = [
        "## DynamoDB per message (measured at the botocore client)",
        "",
        "| Message | OCPP | DynamoDB calls | Read B | Written B | RCU | WCU | GSI WCU "
        "| Events | Other calls | Target |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        d = row.get("dynamodb")
        if d is None:
            continue
        other = {k: v for k, v in d["other_calls"].items() if not k.endswith(":PutEvents")}
        target = row.get("target")
        verdict = target_verdict(d, target)
        target_cell = f"{target_text(target)}: {verdict}" if target else "-"
        events = d["events_published"] + d.get("outbox_events", 0)
        lines.append(
            f"| {row['label']} | {row['version']} | {_ops(d['operations'])} | {d['read_bytes']} "
            f"| {d['write_bytes']} | {_num(d['rcu'])} | {_num(d['wcu'])} | {_num(d['gsi_wcu'])} "
            f"| {events} | {_other(other)} | {target_cell} |"
        )
    lines += [
        "",
        "RCU: strongly consistent, 1 per started 4 KB; WCU: 1 per started KB of the larger of the "
        "item before and after the write, x2 in a transaction; GSI WCU: writes into global "
        "secondary indexes (the item's projected entry changed). Sizes by DynamoDB's item-size "
        "rules from the items on the wire (before/after images read back from the table). "
        "Events: domain events the message's writes put in an outbox (the stream relay "
        "publishes them) plus any it published itself. Target: item writes (each item of a "
        "transaction counts) and the largest item written.",
        "",
    ]
    return lines


def _render_items(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = ["### Item by item", ""]
    for row in rows:
        d = row.get("dynamodb")
        if d is None:
            continue
        note = " (varied between runs: see results.json)" if d.get("varies") else ""
        lines.append(f"- **{row['label']} {row['version']}**{note}")
        if not d["calls"]:
            lines.append("  - no DynamoDB call")
        for call in d["calls"]:
            failed = "" if call["succeeded"] else " (condition failed)"
            for r in call["reads"]:
                mode = "consistent" if call["consistent_read"] else "eventual"
                lines.append(
                    f"  - {call['operation']} ({mode}) `{r['key']}`: "
                    f"{r['bytes']} B -> {_num(r['rcu'])} RCU"
                )
            for w in call["writes"]:
                gsi = f" + {w['gsi_wcu']} GSI WCU ({w['gsi']})" if w["gsi_wcu"] else ""
                events = w.get("events", 0)
                outbox = f", outbox: {events} event{'s' if events != 1 else ''}" if events else ""
                lines.append(
                    f"  - {call['operation']}{failed} `{w['key']}`: "
                    f"{w['bytes']} B -> {_num(w['wcu'])} WCU{gsi}{outbox}"
                )
        if row.get("note"):
            lines.append(f"  - note: {row['note']}")
    return lines


def _render_cpu(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = [
        "",
        f"## Handler CPU time, warm (process CPU around `lambda_handler`; target <= "
        f"{CPU_TARGET_MS:g} ms)",
        "",
        "| Message | OCPP | n | median ms | p99 ms | mean ms | max ms | AWS calls "
        "| ms per call | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    baseline = _baseline_ms(rows)
    for row in rows:
        cpu = row.get("cpu")
        if cpu is None:
            continue
        exempt = row.get("cpu_target") is False
        verdict = (
            "n/a (argon2)" if exempt else ("ok" if cpu["median_ms"] <= CPU_TARGET_MS else "OVER")
        )
        calls = aws_calls(row.get("dynamodb"))
        per_call = None
        if calls and not exempt and baseline is not None:
            per_call = (cpu["median_ms"] - baseline) / calls
        lines.append(
            f"| {row['label']} | {row['version']} | {cpu['n']} | {_ms(cpu['median_ms'])} "
            f"| {_ms(cpu['p99_ms'])} | {_ms(cpu['mean_ms'])} | {_ms(cpu['max_ms'])} "
            f"| {'-' if calls is None else calls} | {_ms(per_call)} | {verdict} |"
        )
    lines += [
        "",
        "ms per call: (median - the Heartbeat median) / AWS calls, roughly what one botocore "
        "request (build, sign, send, parse) costs the handler. Process CPU includes argon2's "
        "worker threads; moto's own work is in another process and not counted.",
    ]
    return lines


def _render_cold(cold: Mapping[str, Any]) -> list[str]:
    lines = [
        "",
        "## Cold import, fresh interpreter "
        f"(target for `$default` <= {IMPORT_TARGET_S * 1000:g} ms)",
        "",
        f"| Module | with bytecode, min of {cold['runs_compiled']} ms "
        f"| source only, min of {cold['runs_source']} ms |",
        "|---|---:|---:|",
    ]
    for module, figures in cold["imports"].items():
        source = figures.get("source_s")
        lines.append(
            f"| `{module}` | {figures['compiled_s'] * 1000:.0f} "
            f"| {'-' if source is None else f'{source * 1000:.0f}'} |"
        )
    lines += [
        "",
        "Source only: no `.pyc` for `functions/` and site-packages (compiled at import), the "
        "standard library's bytecode kept, as in a Lambda runtime with a layer shipped without it.",
    ]
    first = cold.get("first_message") or {}
    if first:
        lines += [
            "",
            f"### Import + first message, fresh interpreter (with bytecode, min of "
            f"{cold['runs_compiled']} by total)",
            "",
            "| Handler and message | import ms | first call wall ms | first call CPU ms "
            "| total wall ms |",
            "|---|---:|---:|---:|---:|",
        ]
        for label, f in first.items():
            lines.append(
                f"| {label} | {f['import_s'] * 1000:.0f} | {f['call_wall_s'] * 1000:.0f} "
                f"| {f['call_cpu_s'] * 1000:.0f} | {f['total_s'] * 1000:.0f} |"
            )
        lines += [
            "",
            "The first call builds the runtime (settings, pynamodb models, lazily imported "
            "clients) and makes its AWS calls to the local moto server (wall includes them).",
        ]
    return lines
