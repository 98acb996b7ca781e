"""The cost model's markdown report and JSON results (pure functions on plain data)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from cost.pricing import LINES, Line, Prices, Usage, bill, total

TARGET_USD = 0.045  # per station-month, issue 3 (item 10): reported, never asserted
MONTH_DAYS = 30


def scaled(lines: Sequence[Line], factor: float) -> list[Line]:
    """A bill multiplied by `factor` (a replay of fewer days, brought to a month)."""
    return [Line(x.name, x.quantity * factor, x.unit, x.usd * factor) for x in lines]


def station_result(
    version: str,
    usage: Usage,
    *,
    days: int,
    messages: Mapping[str, int],
    events: Mapping[str, int],
    wall_ms: Mapping[str, float],
    duration_s: float,
    by_message: Mapping[str, Usage] | None = None,
    prices: Prices | None = None,
) -> dict[str, Any]:
    """One station's figures as plain data: the bill per month, and what it was made of."""
    factor = MONTH_DAYS / days
    lines = scaled(bill(usage, prices), factor)
    cpu_scaled = sum(f.gb_seconds_cpu_scaled for f in usage.handlers()) * factor
    p = prices or Prices()
    return {
        "version": version,
        "days_replayed": days,
        "scale_to_month": factor,
        "replay_s": round(duration_s, 1),
        "total_usd": total(lines),
        "lines": [asdict(line) for line in lines],
        "messages": dict(messages),
        "events": dict(events),
        "mean_wall_ms": {
            what: round(wall_ms[what] / n, 3)
            for what, n in messages.items()
            if n and what in wall_ms
        },
        "functions": {
            name: {
                "memory_mb": f.memory_mb,
                "invocations": f.invocations,
                "billed_ms": f.billed_ms,
                "gb_s": f.gb_seconds,
                "billed_ms_cpu_scaled": f.billed_ms_cpu_scaled,
                "gb_s_cpu_scaled": f.gb_seconds_cpu_scaled,
                "log_bytes": f.log_bytes,
                "ingested_log_bytes": f.ingested_log_bytes,
            }
            for name, f in usage.functions.items()
        },
        "usage": {
            "ws_messages": usage.ws_messages,
            "ws_message_units": usage.ws_message_units,
            "ws_connection_minutes": usage.ws_connection_minutes,
            "dynamodb_wru": usage.dynamodb_wru,
            "dynamodb_rru": usage.dynamodb_rru,
            "eventbridge_entries": usage.eventbridge_entries,
            "eventbridge_units": usage.eventbridge_units,
        },
        "lambda_gb_s_cpu_scaled_usd": cpu_scaled * p.lambda_gb_second_arm64,
        # Each message type's share of the bill (its invocations, its relay invocations,
        # its API Gateway messages); connection minutes belong to none.
        "by_message_usd": {
            what: total(scaled(bill(u, prices), factor)) for what, u in (by_message or {}).items()
        },
    }


def _usd(value: float) -> str:
    return f"{value:.6f}"


def _qty(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.4g}" if value < 100 else f"{value:,.0f}"


def verdict(total_usd: float) -> str:
    """Within or above the target."""
    return "within target" if total_usd <= TARGET_USD else "ABOVE target"


def dominant(result: Mapping[str, Any], n: int = 3) -> list[tuple[str, float]]:
    """The `n` largest lines with their share of the total."""
    whole = result["total_usd"] or 1.0
    ranked = sorted(result["lines"], key=lambda line: line["usd"], reverse=True)
    return [(line["name"], line["usd"] / whole) for line in ranked[:n]]


def render_markdown(results: Mapping[str, Any]) -> str:
    """The report: the bill per version, then what it is made of."""
    meta = results["meta"]
    stations = results["stations"]
    versions = [s["version"] for s in stations]
    head = " | ".join(f"OCPP {v} quantity | OCPP {v} USD" for v in versions)
    lines = [
        "# Cost per station-month (public-L2 profile)",
        "",
        f"{meta['replayed']}; AWS list prices {meta['region']} as of {meta['prices_as_of']}; "
        f"run {meta['date']} in {meta['duration_s']:.0f} s (Python {meta['python']}, "
        f"moto {meta['moto']}).",
        "",
        f"| Line | {head} |",
        "|---|" + "---:|---:|" * len(stations),
    ]
    by_name = [{line["name"]: line for line in s["lines"]} for s in stations]
    for name in LINES:
        cells = []
        for lines_of in by_name:
            line = lines_of[name]
            cells.append(f"{_qty(line['quantity'])} {line['unit']} | {_usd(line['usd'])}")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    totals = " | ".join(f" | **{_usd(s['total_usd'])}**" for s in stations)
    lines.append(f"| **Total per station-month** | {totals} |")
    verdicts = " | ".join(f" | {verdict(s['total_usd'])} (<= {TARGET_USD})" for s in stations)
    lines.append(f"| Target | {verdicts} |")
    lines += [
        "",
        "Lambda GB-s: each invocation's wall time here, rounded up to 1 ms, at the function's "
        "configured memory. With each invocation's CPU time scaled to the function's vCPU share "
        "(memory / 1,769 MB) instead, the line would be "
        + ", ".join(
            f"{_usd(s['lambda_gb_s_cpu_scaled_usd'])} USD ({s['version']})" for s in stations
        )
        + " (not in the total). Outbox relay: requests, GB-s and logs of one invocation per "
        "item write carrying events (worst case; a stream batch shares one in AWS).",
        "",
        "## What dominates",
        "",
    ]
    for s in stations:
        parts = ", ".join(f"{name} {share:.0%}" for name, share in dominant(s))
        lines.append(f"- OCPP {s['version']}: {parts}")
    lines += [
        "",
        "## The month's messages and what each type costs",
        "",
        "| Message | "
        + " | ".join(f"{v} count | {v} mean wall ms | {v} USD / month" for v in versions)
        + " |",
        "|---|" + "---:|---:|---:|" * len(stations),
    ]
    labels = sorted({what for s in stations for what in s["messages"]})
    for what in labels:
        cells = []
        for s in stations:
            count = s["messages"].get(what)
            if count is None:
                cells.append("- | - | -")
                continue
            factor = s["scale_to_month"]
            usd = s.get("by_message_usd", {}).get(what)
            cells.append(
                f"{count * factor:,.0f} | {s['mean_wall_ms'].get(what, '-')} "
                f"| {'-' if usd is None else _usd(usd)}"
            )
        lines.append(f"| {what} | {' | '.join(cells)} |")
    lines += [
        "",
        "Count: per month. USD: the message type's API Gateway messages (frame and reply), "
        "Lambda requests, GB-s, DynamoDB units, logs, and the relay invocations and events its "
        "writes caused.",
    ]
    lines += [
        "",
        "## Lambda by function",
        "",
        "Per month. Log bytes: the handler's own lines plus 250 B of platform lines per "
        "invocation.",
        "",
        "| OCPP | Function | MB | invocations | mean billed ms | GB-s | GB-s at vCPU share "
        "| log bytes |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in stations:
        k = s["scale_to_month"]
        for name, f in s["functions"].items():
            mean = f["billed_ms"] / f["invocations"] if f["invocations"] else 0.0
            lines.append(
                f"| {s['version']} | {name} | {f['memory_mb']} | {f['invocations'] * k:,.0f} "
                f"| {mean:.1f} | {f['gb_s'] * k:.2f} | {f['gb_s_cpu_scaled'] * k:.2f} "
                f"| {f['ingested_log_bytes'] * k:,.0f} |"
            )
    lines += [
        "",
        "## Events published (through the outbox relay), per month",
        "",
        "| Event | " + " | ".join(versions) + " |",
        "|---|" + "---:|" * len(stations),
    ]
    for kind in sorted({k for s in stations for k in s["events"]}):
        counts = " | ".join(
            f"{s['events'].get(kind, 0) * s['scale_to_month']:,.0f}" for s in stations
        )
        lines.append(f"| {kind} | {counts} |")
    lines += ["", "Assumptions: " + " ".join(meta["assumptions"])]
    return "\n".join(lines) + "\n"
