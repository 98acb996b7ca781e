"""`csms bench smart-charging` prints JSON; the report writes results, the page and the plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from csms_bench.generate import depot, workplace
from csms_bench.generate import main as generate_main
from csms_bench.report import main as report_main
from csms_bench.report import render_markdown, summary, targets
from csms_bench.scenario import dump_scenario, load_scenario
from csms_bench.timing import synthetic_site, time_rebalance
from csms_local.cli import main as csms_main

TOY = {
    "name": "toy",
    "timezone": "UTC",
    "site": {
        "siteId": "toy",
        "limitKw": 12,
        "stations": [{"stationId": f"CS-{n}", "maxKw": 11} for n in (1, 2)],
    },
    "sessions": [
        {
            "id": "a",
            "stationId": "CS-1",
            "arrival": "2026-03-02T08:00:00Z",
            "departure": "2026-03-02T10:00:00Z",
            "energyKwh": 15,
            "evMaxKw": 11,
        },
        {
            "id": "b",
            "stationId": "CS-2",
            "arrival": "2026-03-02T08:30:00Z",
            "departure": "2026-03-02T11:00:00Z",
            "energyKwh": 20,
            "evMaxKw": 7.4,
        },
    ],
}


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(TOY), encoding="utf-8")
    return path


def test_cli_prints_metrics_of_each_algorithm_and_the_optimum(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a scenario file
    # WHEN two algorithms are asked for, with noisy declared values
    status = csms_main(
        [
            "bench",
            "smart-charging",
            str(toy),
            "--algorithm",
            "fcfs",
            "--algorithm",
            "edf",
            "--information",
            "noisy",
            "--seed",
            "3",
            "--step-minutes",
            "10",
        ]
    )
    # THEN stdout is one JSON document with the optimum first and both algorithms
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["algorithms"]) == ["optimum", "fcfs", "edf"]
    assert (result["information"], result["seed"], result["step_minutes"]) == ("noisy", 3, 10)
    fcfs = result["algorithms"]["fcfs"]
    assert fcfs["limit_violations"] == 0
    assert fcfs["energy_pct_of_optimum"] <= 100
    assert result["algorithms"]["optimum"]["energy_pct_of_optimum"] == 100


def test_cli_runs_every_algorithm_by_default(toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a scenario file
    # WHEN no algorithm is named
    assert csms_main(["bench", "smart-charging", str(toy)]) == 0
    # THEN every algorithm is there
    names = json.loads(capsys.readouterr().out)["algorithms"]
    assert set(names) == {"optimum", "engine", "uncontrolled", "equal-share", "fcfs", "edf", "llf"}


def test_cli_bad_scenario_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a scenario whose session names an unknown station
    bad = json.loads(json.dumps(TOY))
    bad["sessions"][0]["stationId"] = "CS-9"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    # WHEN the benchmark runs
    status = csms_main(["bench", "smart-charging", str(path)])
    # THEN exit 2 and the reason on stderr, nothing on stdout
    captured = capsys.readouterr()
    assert status == 2
    assert "CS-9" in captured.err
    assert captured.out == ""


@pytest.mark.parametrize("argv", [["--step-minutes", "0"], ["--algorithm", "magic"]])
def test_cli_refuses_bad_options(toy: Path, argv: list[str]) -> None:
    # GIVEN a bad option WHEN parsed THEN argparse exits with status 2
    with pytest.raises(SystemExit) as exit_info:
        csms_main(["bench", "smart-charging", str(toy), *argv])
    assert exit_info.value.code == 2


def test_generators_are_deterministic_and_valid(tmp_path: Path) -> None:
    # GIVEN one seed
    # WHEN each scenario is generated twice, and once with another seed
    # THEN the same seed gives the same scenario, another seed another one
    assert dump_scenario(workplace(5, weeks=1)) == dump_scenario(workplace(5, weeks=1))
    assert dump_scenario(depot(5, nights=2)) != dump_scenario(depot(6, nights=2))
    target = tmp_path / "depot.json"
    assert generate_main(["depot", str(target), "--seed", "5"]) == 0
    scenario = load_scenario(target)
    assert scenario.site.time_of_day
    assert all(s.declared_departure is not None for s in scenario.sessions)


def test_timing_measures_the_engine_on_a_synthetic_site() -> None:
    # GIVEN a 10-connector synthetic site
    config = synthetic_site(10)
    # WHEN its rebalance is timed
    found = time_rebalance(10, repeats=2)
    # THEN the site has 10 EVSEs and the timing has its figures
    assert sum(len(s.evses) for s in config.stations) == 10
    assert found["connectors"] == 10
    assert found["ms_mean"] > 0
    assert found["ms_p95"] >= found["ms_mean"] or found["repeats"] == 2


def test_report_writes_results_page_and_plot(
    toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the toy scenario
    results, doc, plot = (
        tmp_path / "r.json",
        tmp_path / "docs" / "sc.md",
        tmp_path / "docs" / "img" / "p.svg",
    )
    # WHEN the report runs in one worker
    status = report_main(
        [
            str(toy),
            "--results",
            str(results),
            "--doc",
            str(doc),
            "--plot",
            str(plot),
            "--workers",
            "1",
            "--timing-repeats",
            "1",
        ]
    )
    # THEN the results hold every mode and algorithm, the page links the plot, a summary is printed
    assert status == 0
    document = json.loads(results.read_text())
    entry = document["scenarios"][0]
    assert set(entry["modes"]) == {"exact", "withheld", "noisy"}
    assert "engine" in entry["modes"]["noisy"]
    assert [t["connectors"] for t in document["timing"]] == [10, 100, 1000]
    page = doc.read_text()
    assert "](img/p.svg)" in page
    assert "| optimum (LP, hindsight) |" in page
    assert plot.read_text().startswith("<?xml")
    assert "toy (exact), energy % of requested: optimum" in capsys.readouterr().out


def a_document(**engine: Any) -> dict[str, Any]:
    def m(**over: Any) -> dict[str, Any]:
        base = {
            "sessions": 954,
            "requested_kwh": 1.0,
            "delivered_kwh": 1.0,
            "energy_pct_of_requested": 88.0,
            "energy_pct_of_optimum": 99.0,
            "sessions_fully_served": 1,
            "worst_off_5pct_share": 0.6,
            "peak_site_kw": 20.0,
            "limit_violations": 0,
            "profile_messages": 100,
            "rebalances": 1,
            "rebalance_ms_mean": 1.0,
            "rebalance_ms_p95": 2.0,
            "compute_s": 0.1,
        }
        base.update(over)
        return base

    modes = {
        mode: {"engine": m(**engine), "edf": m(profile_messages=50), "equal-share": m()}
        for mode in ("exact", "noisy")
    }
    return {
        "meta": {
            "step_minutes": 5,
            "python": "3.11",
            "machine": "x",
            "workers": 2,
            "duration_s": 1,
        },
        "scenarios": [
            {
                "name": "caltech-x",
                "description": "d",
                "sessions": 954,
                "optimum": m(rebalances=0, profile_messages=None),
                "modes": modes,
            }
        ],
        "timing": [
            {"connectors": 1000, "sessions": 800, "rows": 600, "ms_mean": 60.0, "ms_p95": 70.0}
        ],
    }


def test_report_targets_say_which_are_met() -> None:
    # GIVEN figures that meet the optimum and worst-off targets but not messages, noise or time
    lines = targets(a_document(energy_pct_of_optimum=99.6))
    text = "\n".join(lines)
    # THEN each target is listed with its verdict
    assert "1,000 connectors (mean): **60.0 ms (p95 70.0 ms)** — NOT met" in text
    assert "optimum (Caltech, 20 kW): **99.60 %** — met" in text
    assert "worst-off 5 % ≥ 0.5 of need: **0.600** — met" in text
    assert "fewer profile messages than EDF: **100 vs 50** — NOT met" in text
    assert "more energy than EDF and equal share" in text
    assert "0 limit violations (every scenario and mode, all but uncontrolled): **0** — met" in text


def test_report_page_and_summary_render_every_scenario() -> None:
    # GIVEN a results document
    document = a_document()
    # WHEN the page and the summary are rendered
    page = render_markdown(document, "img/p.svg")
    short = summary(document)
    # THEN both name the scenario, the page shows the published figures and the format
    assert "## caltech-x" in page
    assert "Published figures at 20 kW" in page
    assert '"stationId": "CS-1"' in page
    assert short.startswith("caltech-x (exact)")
