"""`make bench-pricing`: how fast the pricing engine prices sessions, with mixed tariffs.

`python -m csms_bench.pricing [--sessions N] [--seed S] [--results FILE] [--doc FILE]`
(`csms bench pricing` prints the same report without writing files.)

The five example tariffs of docs/examples/pricing/ (public CPO with a peak period and an idle
fee, free workplace, hotel session fee with a maximum, apartment night rate, fleet without tax)
each price the sessions of their business model, generated from a fixed seed: arrival and stay
as at such a site, the EV charging at constant power until it is full (then idle, still
plugged in), the meter sampled every 60 s or every 5 minutes, on days all over 2026 (so some
sessions cross a time-of-use boundary and a few a DST change). Sessions are generated one at a
time, outside the timed part; only `price()` is timed, in one process.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from csms.domain.billing.pricing import price
from csms.domain.billing.tariff import Tariff
from csms.domain.billing.usage import EnergySample, IdlePeriod, SessionUsage
from csms_bench.price_files import load_tariff

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples" / "pricing"
SESSIONS = 100_000
SAMPLE_INTERVALS_S = (60, 300)
YEAR = 2026
# Errors kept in the report (the count says how many there were).
ERRORS_SHOWN = 5
DOC_BEGIN = "<!-- bench-pricing:begin -->"
DOC_END = "<!-- bench-pricing:end -->"


@dataclass(frozen=True)
class Profile:
    """How the sessions of one business model look."""

    # Share of all sessions.
    share: float
    timezone: str
    token_group: str
    # Local hour of arrival, uniform in [from, to).
    arrival_hours: tuple[float, float]
    # Time plugged in, hours, log-uniform in [from, to].
    stay_hours: tuple[float, float]
    # Charging power, kW (one of).
    kw: tuple[float, ...]
    # What the EV takes before it is full, kWh, uniform.
    need_kwh: tuple[float, float]


PROFILES: dict[str, Profile] = {
    "public-cpo": Profile(
        0.40, "Europe/Berlin", "public", (7, 22), (0.25, 4), (11, 22, 50), (5, 50)
    ),
    "workplace-free": Profile(
        0.15, "Europe/Berlin", "employees", (7, 10), (4, 10), (7.4, 11), (5, 40)
    ),
    "hotel-session-fee": Profile(
        0.10, "Europe/London", "guests", (16, 23), (8, 15), (7.4, 11, 22), (10, 70)
    ),
    "apartment-night-rate": Profile(
        0.20, "Europe/Berlin", "residents", (17, 23), (7, 13), (3.7, 7.4, 11), (5, 50)
    ),
    "fleet-excl-tax": Profile(
        0.15, "America/Chicago", "fleet", (0, 24), (1, 10), (11, 19.2, 50), (10, 80)
    ),
}


@dataclass(frozen=True)
class Generated:
    """One generated session, the tariff it is priced under, and facts for the report."""

    model: str
    tariff: Tariff
    usage: SessionUsage
    crosses_tou: bool


def load_tariffs(folder: Path = EXAMPLES) -> dict[str, Tariff]:
    """The example tariff of each business model."""
    return {name: load_tariff(folder / f"{name}.tariff.json") for name in PROFILES}


def generate_session(rng: random.Random, model: str, tariff: Tariff, number: int) -> Generated:
    """One session of a business model (see the module docstring)."""
    profile = PROFILES[model]
    zone = ZoneInfo(profile.timezone)
    day = datetime(YEAR, 1, 1, tzinfo=zone) + timedelta(days=rng.randrange(365))
    low, high = profile.arrival_hours
    # Wall-clock arrival at the site (fold=0 in a DST gap, as the pricing rules say).
    local = (day + timedelta(hours=rng.uniform(low, high))).replace(microsecond=0)
    start = local.astimezone(UTC)
    stay = math.exp(rng.uniform(math.log(profile.stay_hours[0]), math.log(profile.stay_hours[1])))
    stop = start + timedelta(seconds=max(60, round(stay * 3600)))
    kw = rng.choice(profile.kw)
    need_kwh = rng.uniform(*profile.need_kwh)
    full = start + timedelta(hours=need_kwh / kw)
    charged_until = min(full, stop)
    register = rng.randrange(10_000_000 - 200_000)
    interval = timedelta(seconds=rng.choice(SAMPLE_INTERVALS_S))

    def wh(at: datetime) -> Decimal:
        hours = (min(at, charged_until) - start).total_seconds() / 3600
        return Decimal(register + math.floor(kw * 1000 * hours))

    moments = []
    at = start
    while at < stop:
        moments.append(at)
        at += interval
    moments.append(stop)
    # Idle once the EV is full and at least a minute before it leaves (a charger notices).
    idle = IdlePeriod(start=full, end=stop) if full <= stop - timedelta(minutes=1) else None
    usage = SessionUsage(
        session_id=f"{model}-{number:06d}",
        start=start,
        stop=stop,
        samples=tuple(EnergySample(at=moment, wh=wh(moment)) for moment in moments),
        idle=idle,
        timezone=profile.timezone,
        token_group=profile.token_group,
    )
    crosses = bool(tariff.changes_between(start.astimezone(zone), stop.astimezone(zone)))
    return Generated(model, tariff, usage, crosses)


def generate(
    count: int, seed: int, tariffs: dict[str, Tariff] | None = None
) -> Iterator[Generated]:
    """`count` sessions of the business models mixed by their shares, from a fixed seed."""
    tariffs = tariffs if tariffs is not None else load_tariffs()
    rng = random.Random(seed)
    models = list(PROFILES)
    weights = [PROFILES[m].share for m in models]
    for number in range(count):
        model = rng.choices(models, weights)[0]
        yield generate_session(rng, model, tariffs[model], number)


def _ms(seconds: Sequence[float]) -> dict[str, float]:
    if not seconds:
        return {"ms_mean": 0.0, "ms_p95": 0.0, "ms_max": 0.0}
    p95 = (
        statistics.quantiles(seconds, n=20, method="inclusive")[18]
        if len(seconds) > 1
        else seconds[0]
    )
    return {
        "ms_mean": round(1000 * statistics.fmean(seconds), 4),
        "ms_p95": round(1000 * p95, 4),
        "ms_max": round(1000 * max(seconds), 4),
    }


def benchmark(sessions: int = SESSIONS, seed: int = 1) -> dict[str, Any]:
    """Generate and price `sessions` sessions; the report (figures, never asserted)."""
    began = time.perf_counter()
    tariffs = load_tariffs()
    spent: list[float] = []
    by_model: dict[str, list[float]] = {model: [] for model in PROFILES}
    counts: Counter[str] = Counter()
    totals: dict[str, Decimal] = {model: Decimal(0) for model in PROFILES}
    errors: list[str] = []
    failed = 0
    for item in generate(sessions, seed, tariffs):
        counts[item.model] += 1
        counts[f"{item.model}:samples"] += len(item.usage.samples)
        counts[f"{item.model}:idle"] += item.usage.idle is not None
        counts[f"{item.model}:crossing"] += item.crosses_tou
        clock = time.perf_counter()
        try:
            priced = price(item.tariff, item.usage)
        except Exception as exc:  # a bug in the engine: counted and shown, the run goes on
            failed += 1
            if len(errors) < ERRORS_SHOWN:
                errors.append(f"{item.usage.session_id}: {type(exc).__name__}: {exc}")
            continue
        elapsed = time.perf_counter() - clock
        spent.append(elapsed)
        by_model[item.model].append(elapsed)
        totals[item.model] += priced.total_incl_tax
    pricing_s = sum(spent)
    mix = {
        model: {
            "tariff": tariffs[model].id,
            "currency": tariffs[model].currency,
            "sessions": counts[model],
            "samples_mean": round(counts[f"{model}:samples"] / counts[model], 1)
            if counts[model]
            else 0.0,
            "with_idle": counts[f"{model}:idle"],
            "crossing_tou": counts[f"{model}:crossing"],
            # The sum of the prices: the same seed and engine give the same figure.
            "total_incl_tax": str(totals[model]),
            **_ms(by_model[model]),
        }
        for model in PROFILES
    }
    return {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "seed": seed,
            "duration_s": round(time.perf_counter() - began, 1),
        },
        "sessions": sessions,
        "priced": len(spent),
        "failed": failed,
        "errors": errors,
        "pricing_s": round(pricing_s, 3),
        "sessions_per_s": round(len(spent) / pricing_s, 1) if pricing_s else 0.0,
        **_ms(spent),
        "mix": mix,
    }


def render_markdown(report: dict[str, Any]) -> str:
    """The figures as the block docs/pricing.md shows between its markers."""
    meta = report["meta"]
    lines = [
        DOC_BEGIN,
        "<!-- Written by `make bench-pricing` (bench/csms_bench/pricing.py): do not edit here. -->",
        "",
        f"{report['priced']:,} of {report['sessions']:,} sessions priced in one process "
        f"(seed {meta['seed']}, Python {meta['python']}, {meta['machine']}): "
        f"**{report['sessions_per_s']:,.0f} sessions/s**, {report['ms_mean']:.3f} ms per "
        f"session on average, p95 {report['ms_p95']:.3f} ms, slowest "
        f"{report['ms_max']:.3f} ms.",
        "",
        "| business model | tariff | sessions | samples (mean) | with idle | crossing TOU "
        "| ms mean | ms p95 | sum of prices |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {model} | `{m['tariff']}` | {m['sessions']:,} | {m['samples_mean']} "
        f"| {m['with_idle']:,} | {m['crossing_tou']:,} | {m['ms_mean']:.3f} "
        f"| {m['ms_p95']:.3f} | {m['total_incl_tax']} {m['currency']} |"
        for model, m in report["mix"].items()
    ]
    if report["failed"]:
        lines += ["", f"**{report['failed']} sessions failed to price:**", ""]
        lines += [f"- `{error}`" for error in report["errors"]]
    lines.append(DOC_END)
    return "\n".join(lines)


def update_doc(doc: Path, report: dict[str, Any]) -> None:
    """Replace the block between the markers of `doc` with the report's figures."""
    text = doc.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(DOC_BEGIN) + ".*?" + re.escape(DOC_END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{doc} has no {DOC_BEGIN} ... {DOC_END} block")
    doc.write_text(pattern.sub(lambda _: render_markdown(report), text), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """`make bench-pricing`: run, write the results and the docs block, print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--results", type=Path, help="write the report as JSON to this file")
    parser.add_argument("--doc", type=Path, help="update the figures block of this page")
    args = parser.parse_args(argv)
    report = benchmark(args.sessions, args.seed)
    if args.results:
        args.results.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.doc:
        update_doc(args.doc, report)
    print(
        f"{report['priced']:,} of {report['sessions']:,} sessions priced: "
        f"{report['sessions_per_s']:,.0f} sessions/s, mean {report['ms_mean']:.3f} ms, "
        f"p95 {report['ms_p95']:.3f} ms"
    )
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
