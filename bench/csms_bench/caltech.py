"""Convert ACN-Data's Caltech events (acnportal EventQueue JSON) into a benchmark scenario.

`python -m csms_bench.caltech IN.json.gz OUT.json [--limit-kw 20]`

The input is a gzip of a JSON *string* that holds acnportal's serialised EventQueue: a
`context_dict` of objects by id, among them `...EV` objects (`_arrival`, `_departure` as 5-minute
step indices from 2019-03-01 00:00 America/Los_Angeles, `_requested_energy` kWh, `_station_id`,
`_session_id`, and `_battery` naming a `...Battery` object whose `_max_power` is the EV's kW).
Each session keeps its own EV max power: giving every EV the station's max instead makes
deadline-driven algorithms look far worse than they are (shared/data/README.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from csms.domain.load.config import PhaseRotation, SiteLoadConfig, StationLoad
from csms_bench.scenario import Scenario, ScenarioError, ScenarioSession, dump_scenario

TIMEZONE = "America/Los_Angeles"
# acnportal counts steps of 5 minutes of elapsed time from local midnight, 1 March 2019.
ORIGIN = datetime(2019, 3, 1, tzinfo=ZoneInfo(TIMEZONE))
PERIOD = timedelta(minutes=5)
# Caltech's EVSEs: 32 A pilot at 208 V line-to-line (one phase as the tree counts it).
EVSE_AMPS = 32.0
VOLTAGE = 208.0
DEFAULT_LIMIT_KW = 20.0


def read_events(raw: bytes) -> dict[str, Any]:
    """The EventQueue document from the file's bytes (gzip of a JSON string, or plain JSON)."""
    try:
        text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        document = json.loads(text)
        if isinstance(document, str):
            document = json.loads(document)
    except (OSError, EOFError, ValueError) as exc:
        raise ScenarioError(f"not an acnportal EventQueue (gzip of JSON): {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("context_dict"), dict):
        raise ScenarioError("not an acnportal EventQueue: no context_dict")
    return document


def _at(step: int) -> datetime:
    # Elapsed time, not wall-clock steps: 10 March 2019 has 23 local hours.
    return (ORIGIN + PERIOD * step).astimezone(ZoneInfo(TIMEZONE))


def convert(
    document: dict[str, Any],
    *,
    limit_kw: float = DEFAULT_LIMIT_KW,
    name: str = "caltech-2019-03",
) -> Scenario:
    """The scenario of an EventQueue: one site, one aggregate limit, one EVSE per station."""
    objects: dict[str, Any] = document["context_dict"]
    sessions: list[ScenarioSession] = []
    try:
        for each in objects.values():
            if not str(each.get("class", "")).endswith(".EV"):
                continue
            ev = each["attributes"]
            battery = objects[str(ev["_battery"])]["attributes"]
            sessions.append(
                ScenarioSession(
                    id=str(ev["_session_id"]),
                    station_id=str(ev["_station_id"]),
                    arrival=_at(int(ev["_arrival"])),
                    departure=_at(int(ev["_departure"])),
                    energy_kwh=round(float(ev["_requested_energy"]), 6),
                    ev_max_kw=float(battery["_max_power"]),
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(f"an EV in the EventQueue is incomplete: {exc}") from None
    if not sessions:
        raise ScenarioError("the EventQueue holds no EV")
    sessions.sort(key=lambda s: (s.arrival, s.id))
    stations = tuple(
        StationLoad(
            station_id=station_id,
            max_kw=EVSE_AMPS * VOLTAGE / 1000,
            phases=1,
            voltage=VOLTAGE,
            rotation=PhaseRotation.RST,
        )
        for station_id in sorted({s.station_id for s in sessions})
    )
    site = SiteLoadConfig(
        site_id="caltech", timezone=TIMEZONE, limit_kw=limit_kw, stations=stations
    )
    requested = sum(s.energy_kwh for s in sessions)
    return Scenario(
        name=name,
        description=(
            f"ACN-Data Caltech garage, March 2019: {len(sessions)} sessions, {len(stations)} "
            f"stations, {requested:.1f} kWh requested, one aggregate limit of {limit_kw:g} kW."
        ),
        timezone=TIMEZONE,
        site=site,
        sessions=tuple(sessions),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Convert a file; wrong input is one line on stderr and exit status 2."""
    parser = argparse.ArgumentParser(prog="python -m csms_bench.caltech", description=__doc__)
    parser.add_argument("source", type=Path, help="acn_caltech_*_events.json.gz")
    parser.add_argument("target", type=Path, help="scenario JSON to write")
    parser.add_argument("--limit-kw", type=float, default=DEFAULT_LIMIT_KW)
    parser.add_argument("--name", default=None, help="scenario name (default from the limit)")
    args = parser.parse_args(argv)
    try:
        raw = args.source.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {args.source}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        scenario = convert(
            read_events(raw),
            limit_kw=args.limit_kw,
            name=args.name or f"caltech-2019-03-{args.limit_kw:g}kw",
        )
    except (ScenarioError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.target.parent.mkdir(parents=True, exist_ok=True)
    args.target.write_text(dump_scenario(scenario), encoding="utf-8")
    print(f"{args.target}: {len(scenario.sessions)} sessions", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
