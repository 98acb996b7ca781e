"""`python -m cost` (with bench/ on the path): replay a month per OCPP version, price it.

Prints the markdown report (progress on stderr) and writes bench/cost_results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_env import AWS_ENV, load_template
from cost.pricing import LAMBDA_PLATFORM_LOG_BYTES, PRICES_AS_OF, REGION, Prices
from cost.profile import Profile
from cost.replay import month_end_now, replay_station
from cost.report import render_markdown, station_result

RESULTS_PATH = Path(__file__).resolve().parents[1] / "cost_results.json"
ASSUMPTIONS = (
    "Heartbeat every 300 s whatever else is sent;",
    "45 sessions of 3 h in 30 days, meter values every 60 s (180 per session), 15 drivers "
    "taking turns;",
    "a reconnect every 2 h ($disconnect + $connect, no reboot), connected all month;",
    "$connect/$disconnect are not billed as messages, ping/pong control frames neither;",
    "every frame and route response is one message per started 32 KB;",
    "Lambda duration = wall time of the handler on this machine (moto's latency included, "
    "the recorder's own probe reads excluded), rounded up to 1 ms; cold starts (init "
    "duration) not included: containers are shared by the fleet;",
    "DynamoDB on-demand, units from the real item images, GSI writes included; stream reads "
    "by the relay are free (Lambda trigger);",
    f"CloudWatch Logs: handler stdout bytes + {LAMBDA_PLATFORM_LOG_BYTES} B of platform lines "
    "per invocation, 1 GB = 2^30 B;",
    "outbox relay: one invocation per item write carrying events (worst case);",
    "no free tier; the hourly session cleanup job is per deployment, not per station, and "
    "is left out.",
)

# Two days hold a whole number of the profile's sessions (1.5 a day) and of its 2-hour
# connections; 15 of them make the month. The whole month takes ~10 min per station here.
DEFAULT_DAYS = 2
_STARTED = time.monotonic()


def log(message: str) -> None:
    """Progress on stderr (stdout carries the report)."""
    print(f"cost [{time.monotonic() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The period and the versions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--days",
        type=int,
        default=DEFAULT_DAYS,
        help="days to replay, scaled to 30 (default 2: 3 sessions, x15 = the month's 45; "
        "30 replays the whole month in about 20 minutes)",
    )
    parser.add_argument("--versions", nargs="+", default=["1.6", "2.0.1"], choices=["1.6", "2.0.1"])
    parser.add_argument("--output", type=Path, default=RESULTS_PATH, help="where to write JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Replay, price, report."""
    args = parse_args(argv)
    if not 1 <= args.days <= 30:
        sys.exit("cost: --days must be within 1..30")
    profile = Profile(days=args.days)
    template = load_template()
    os.environ.update(AWS_ENV)
    month_end = month_end_now()
    stations: list[dict[str, Any]] = []
    for version in args.versions:
        log(f"replaying {args.days} days of an OCPP {version} station")
        run = replay_station(version, profile, template, month_end, log)
        log(f"{version}: {sum(run.messages.values())} messages in {run.duration_s:.0f} s")
        stations.append(
            station_result(
                version,
                run.usage,
                days=args.days,
                messages=run.messages,
                events=run.events,
                wall_ms=run.wall_ms,
                duration_s=run.duration_s,
                by_message=run.by_message,
            )
        )
    import moto

    replayed = (
        f"{args.days} days (ending {month_end.isoformat(timespec='minutes')}) replayed"
        + ("" if args.days == 30 else f", scaled x{30 / args.days:g} to a month")
        + " through the handlers for one station per OCPP version"
    )
    results: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - _STARTED, 1),
            "python": platform.python_version(),
            "moto": moto.__version__,
            "region": REGION,
            "prices_as_of": PRICES_AS_OF,
            "prices": Prices().as_dict(),
            "profile": {
                "days": profile.days,
                "heartbeat_s": profile.heartbeat_s,
                "sessions": profile.sessions,
                "session_s": profile.session_s,
                "meter_interval_s": profile.meter_interval_s,
                "connection_s": profile.connection_s,
                "drivers": profile.drivers,
            },
            "replayed": replayed,
            "assumptions": list(ASSUMPTIONS),
        },
        "stations": stations,
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(render_markdown(results))
    log(f"done in {results['meta']['duration_s']} s; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
