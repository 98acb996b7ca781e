"""The Caltech converter on a tiny EventQueue made here."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from csms_bench.caltech import convert, main, read_events
from csms_bench.scenario import ScenarioError, load_scenario


def an_event_queue() -> dict[str, Any]:
    # Two EVs with different batteries at one station, one at another (acnportal's shape).
    def ev(n: int, station: str, arrival: int, departure: int, kwh: float) -> dict[str, Any]:
        return {
            "class": "acnportal.acnsim.models.ev.EV",
            "attributes": {
                "_arrival": arrival,
                "_departure": departure,
                "_session_id": f"sess-{n}",
                "_station_id": station,
                "_requested_energy": kwh,
                "_estimated_departure": departure,
                "_battery": f"bat-{n}",
            },
        }

    def battery(n: int, kw: float) -> dict[str, Any]:
        return {
            "class": "acnportal.acnsim.models.battery.Battery",
            "attributes": {"_max_power": kw, "_capacity": 10},
        }

    context = {
        "ev-1": ev(1, "CA-1", 96, 120, 4.5),
        "bat-1": battery(1, 6.6),
        "ev-2": ev(2, "CA-2", 100, 200, 12.0),
        "bat-2": battery(2, 3.3),
        "ev-3": ev(3, "CA-1", 130, 150, 1.0),
        "bat-3": battery(3, 6.6),
        "plugin": {"class": "acnportal.acnsim.events.event.PluginEvent", "attributes": {}},
        "queue": {"class": "acnportal.acnsim.events.event_queue.EventQueue", "attributes": {}},
    }
    return {"id": "queue", "context_dict": context, "version": "0.2.1"}


def test_caltech_convert_keeps_each_sessions_ev_power() -> None:
    # GIVEN an EventQueue whose EVs have different max powers
    # WHEN it is converted
    scenario = convert(an_event_queue(), limit_kw=10)
    # THEN each session keeps its own EV max power, and the stations are 32 A at 208 V
    by_id = {s.id: s for s in scenario.sessions}
    assert by_id["sess-1"].ev_max_kw == 6.6
    assert by_id["sess-2"].ev_max_kw == 3.3
    assert {s.station_id for s in scenario.site.stations} == {"CA-1", "CA-2"}
    assert scenario.site.stations[0].max_kw == pytest.approx(6.656)
    assert scenario.site.stations[0].phases == 1
    assert scenario.site.limit_kw == 10


def test_caltech_convert_counts_steps_of_five_minutes_from_local_midnight() -> None:
    # GIVEN an EV arriving at step 96 (8:00 local on 1 March 2019, PST = UTC-8)
    # WHEN it is converted
    scenario = convert(an_event_queue())
    first = scenario.sessions[0]
    # THEN its times are 8:00 and 10:00 local, and sessions are in arrival order
    assert first.id == "sess-1"
    assert first.arrival.astimezone(UTC) == datetime(2019, 3, 1, 16, tzinfo=UTC)
    assert first.departure.astimezone(UTC) == datetime(2019, 3, 1, 18, tzinfo=UTC)
    assert [s.id for s in scenario.sessions] == ["sess-1", "sess-2", "sess-3"]
    assert scenario.timezone == "America/Los_Angeles"


def test_caltech_read_events_accepts_the_gzip_of_a_json_string() -> None:
    # GIVEN the shipped layout: gzip of a JSON string holding the document
    raw = gzip.compress(json.dumps(json.dumps(an_event_queue())).encode())
    # WHEN it is read THEN the document comes out
    assert "context_dict" in read_events(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "not an acnportal EventQueue"),
        (gzip.compress(b"[1, 2]", mtime=0), "no context_dict"),
        (b"\x1f\x8b broken gzip", "not an acnportal EventQueue"),
    ],
)
def test_caltech_read_events_refuses_other_files(raw: bytes, message: str) -> None:
    # GIVEN a file that is not an EventQueue
    # WHEN it is read THEN a ScenarioError says so
    with pytest.raises(ScenarioError, match=message):
        read_events(raw)


def test_caltech_convert_refuses_an_incomplete_ev() -> None:
    # GIVEN an EV without its battery
    document = an_event_queue()
    del document["context_dict"]["bat-2"]
    # WHEN converted THEN the error says an EV is incomplete
    with pytest.raises(ScenarioError, match="incomplete"):
        convert(document)


def test_caltech_convert_refuses_a_queue_without_evs() -> None:
    # GIVEN a queue with no EV
    document: dict[str, Any] = {"context_dict": {}}
    # WHEN converted THEN a ScenarioError
    with pytest.raises(ScenarioError, match="no EV"):
        convert(document)


def test_caltech_main_writes_a_scenario_file(tmp_path: Path) -> None:
    # GIVEN the tiny queue as a .json.gz file
    source = tmp_path / "events.json.gz"
    source.write_bytes(gzip.compress(json.dumps(json.dumps(an_event_queue())).encode()))
    target = tmp_path / "out" / "caltech.json"
    # WHEN the converter runs with another limit
    status = main([str(source), str(target), "--limit-kw", "30"])
    # THEN the file is a valid scenario named after the limit
    assert status == 0
    scenario = load_scenario(target)
    assert scenario.name == "caltech-2019-03-30kw"
    assert scenario.site.limit_kw == 30


def test_caltech_main_reports_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a missing file, then a limit the site model refuses
    source = tmp_path / "events.json.gz"
    missing = main([str(source), str(tmp_path / "x.json")])
    source.write_bytes(json.dumps(an_event_queue()).encode())
    negative = main([str(source), str(tmp_path / "x.json"), "--limit-kw", "-5"])
    # THEN both exit 2 with an error line, and nothing is written
    assert (missing, negative) == (2, 2)
    assert capsys.readouterr().err.count("error:") == 2
    assert not (tmp_path / "x.json").exists()
