"""`csms bench smart-charging SCENARIO.json`: every algorithm and the optimum, as JSON;
`csms bench pricing`: sessions priced per second (bench/csms_bench/pricing.py).

This module is imported by the `csms` command when it builds its parser, so it imports
nothing heavy at module level: the simulator, the engine and HiGHS load only when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

NAMES = ("engine", "uncontrolled", "equal-share", "fcfs", "edf", "llf")
MODES = ("exact", "withheld", "noisy", "declared")


def _step_minutes(value: str) -> int:
    try:
        minutes = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of minutes") from None
    if not 1 <= minutes <= 60:
        raise argparse.ArgumentTypeError(f"{minutes} is not between 1 and 60 minutes")
    return minutes


def _sessions(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= count <= 10_000_000:
        raise argparse.ArgumentTypeError(f"{count} is not between 1 and 10,000,000")
    return count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `bench` subcommands and their options."""
    benchmarks = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    smart = benchmarks.add_parser(
        "smart-charging",
        help="replay a scenario through the load-management engine, baselines and the optimum",
        description=(
            "Replay SCENARIO.json (format: docs/smart-charging.md) through each algorithm and "
            "the offline optimum; print the metrics as JSON."
        ),
    )
    smart.add_argument("scenario", type=Path, help="scenario JSON file")
    smart.add_argument(
        "--algorithm",
        dest="algorithms",
        action="append",
        choices=NAMES,
        metavar="NAME",
        help=f"one of {', '.join(NAMES)}; repeat for several (default: all)",
    )
    smart.add_argument("--step-minutes", type=_step_minutes, default=5)
    smart.add_argument("--information", choices=MODES, default="exact")
    smart.add_argument("--seed", type=int, default=0, help="seed of the noisy declared values")
    pricing = benchmarks.add_parser(
        "pricing",
        help="price generated sessions under the five example tariffs; sessions/s as JSON",
        description=(
            "Generate sessions of five business models (fixed seed) and price each under its "
            "example tariff (docs/examples/pricing/); print sessions/s and the time per "
            "session as JSON. See docs/pricing.md."
        ),
    )
    pricing.add_argument("--sessions", type=_sessions, default=100_000)
    pricing.add_argument("--seed", type=int, default=1, help="seed of the generated sessions")


def benchmark(
    scenario_path: Path,
    names: tuple[str, ...] = NAMES,
    *,
    step_minutes: int = 5,
    information: str = "exact",
    seed: int = 0,
) -> dict[str, Any]:
    """The metrics of each algorithm (and `optimum`) on one scenario file."""
    from csms_bench.baselines import algorithm
    from csms_bench.optimum import optimum
    from csms_bench.replay import Information, metrics, replay
    from csms_bench.scenario import load_scenario

    scenario = load_scenario(scenario_path)
    step = timedelta(minutes=step_minutes)
    best = optimum(scenario, step=step)
    best_kwh = sum(best.delivered_kwh)
    results: dict[str, Any] = {"optimum": metrics(best, best_kwh)}
    for name in names:
        outcome = replay(
            scenario,
            algorithm(name, step),
            step=step,
            information=Information(information),
            seed=seed,
        )
        results[name] = metrics(outcome, best_kwh)
    return {
        "scenario": scenario.name,
        "sessions": len(scenario.sessions),
        "step_minutes": step_minutes,
        "information": information,
        "seed": seed,
        "algorithms": results,
    }


def run(args: argparse.Namespace) -> int:
    """Run the benchmark the arguments name; bad input is one line on stderr, status 2."""
    if args.benchmark == "pricing":
        from csms_bench.pricing import benchmark as pricing_benchmark

        report = pricing_benchmark(args.sessions, args.seed)
        print(json.dumps(report, indent=2))
        return 1 if report["failed"] else 0
    from csms_bench.scenario import ScenarioError

    names = tuple(dict.fromkeys(args.algorithms)) if args.algorithms else NAMES
    try:
        result = benchmark(
            args.scenario,
            names,
            step_minutes=args.step_minutes,
            information=args.information,
            seed=args.seed,
        )
    except ScenarioError as exc:
        print(f"csms: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0
