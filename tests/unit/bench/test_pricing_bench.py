"""The pricing benchmark: generated sessions of five business models, priced, reported."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from pathlib import Path

import pytest

from csms_bench import pricing
from csms_bench.pricing import DOC_BEGIN, DOC_END, PROFILES, benchmark, generate, update_doc
from csms_local import cli


def test_pricing_bench_generates_the_same_valid_mix_for_a_seed() -> None:
    # GIVEN 400 sessions generated twice from one seed, and once from another
    first = list(generate(400, seed=7))
    again = list(generate(400, seed=7))
    other = list(generate(400, seed=8))
    # THEN the same seed gives the same sessions, another seed others
    assert [g.usage for g in first] == [g.usage for g in again]
    assert [g.usage for g in first] != [g.usage for g in other]
    # AND every business model is there, priced under its own example tariff and zone
    assert {g.model for g in first} == set(PROFILES)
    for g in first:
        assert g.usage.timezone == PROFILES[g.model].timezone
        assert g.usage.token_group == PROFILES[g.model].token_group
    assert {g.tariff.id for g in first} == {
        "public-ac",
        "workplace-free",
        "hotel-guest",
        "residents-night",
        "fleet-depot",
    }
    # AND some sessions go idle, some cross a time-of-use boundary, some do neither
    assert 0 < sum(g.usage.idle is not None for g in first) < len(first)
    assert 0 < sum(g.crosses_tou for g in first) < len(first)


def test_pricing_bench_samples_the_meter_every_minute_or_five() -> None:
    # GIVEN generated sessions
    for g in generate(200, seed=1):
        samples = g.usage.samples
        gaps = {b.at - a.at for a, b in itertools.pairwise(samples)}
        # THEN samples start at plug-in, end at unplug, one interval apart (the last shorter)
        assert samples[0].at == g.usage.start
        assert samples[-1].at == g.usage.stop
        steps = gaps - {samples[-1].at - samples[-2].at} if len(samples) > 2 else set()
        assert steps <= {timedelta(seconds=60), timedelta(seconds=300)}
        # AND the register stands still once the EV is idle
        if g.usage.idle is not None:
            assert samples[-1].wh == next(s.wh for s in samples if s.at >= g.usage.idle.start)


def test_pricing_bench_prices_every_session_and_reports_the_figures() -> None:
    # WHEN a few hundred sessions are benchmarked
    report = benchmark(300, seed=2)
    # THEN every session priced and the report has its figures
    assert report["sessions"] == report["priced"] == 300
    assert (report["failed"], report["errors"]) == (0, [])
    assert report["sessions_per_s"] > 0
    assert 0 < report["ms_mean"] <= report["ms_max"]
    assert report["ms_p95"] <= report["ms_max"]
    assert report["meta"]["seed"] == 2
    # AND one entry per business model, adding up to the whole
    assert set(report["mix"]) == set(PROFILES)
    assert sum(m["sessions"] for m in report["mix"].values()) == 300
    assert report["mix"]["workplace-free"]["total_incl_tax"] in {"0", "0.00"}
    assert float(report["mix"]["public-cpo"]["total_incl_tax"]) > 0


def test_pricing_bench_counts_and_shows_sessions_that_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN an engine that fails on every session
    def broken(*_: object) -> None:
        raise ArithmeticError("boom")

    monkeypatch.setattr(pricing, "price", broken)
    # WHEN sessions are benchmarked
    report = benchmark(8, seed=1)
    # THEN the failures are counted and the first few shown, the figures empty
    assert (report["priced"], report["failed"]) == (0, 8)
    assert len(report["errors"]) == pricing.ERRORS_SHOWN
    assert report["errors"][0].endswith("ArithmeticError: boom")
    assert report["sessions_per_s"] == 0.0
    assert "8 sessions failed to price" in pricing.render_markdown(report)


def test_pricing_bench_updates_only_the_block_between_the_markers(tmp_path: Path) -> None:
    # GIVEN a page with the figures block
    doc = tmp_path / "pricing.md"
    doc.write_text(f"# Pricing\n\nbefore\n\n{DOC_BEGIN}\nold figures\n{DOC_END}\n\nafter\n")
    # WHEN the benchmark writes its figures there
    update_doc(doc, benchmark(20, seed=1))
    # THEN the block holds the new figures and the rest of the page is unchanged
    text = doc.read_text()
    assert text.startswith("# Pricing\n\nbefore\n\n")
    assert text.endswith(f"{DOC_END}\n\nafter\n")
    assert "old figures" not in text
    assert "20 of 20 sessions priced" in text
    assert "| public-cpo | `public-ac` |" in text


def test_pricing_bench_refuses_a_page_without_the_markers(tmp_path: Path) -> None:
    # GIVEN a page without the block
    doc = tmp_path / "pricing.md"
    doc.write_text("# Pricing\n")
    # WHEN the figures are written THEN that is refused, the page unchanged
    with pytest.raises(SystemExit, match="has no"):
        update_doc(doc, benchmark(5, seed=1))
    assert doc.read_text() == "# Pricing\n"


def test_pricing_bench_main_writes_results_and_docs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a page with the block
    doc = tmp_path / "pricing.md"
    doc.write_text(f"{DOC_BEGIN}\n{DOC_END}\n")
    results = tmp_path / "results.json"
    # WHEN `make bench-pricing` runs (on 30 sessions)
    code = pricing.main(
        ["--sessions", "30", "--seed", "4", "--results", str(results), "--doc", str(doc)]
    )
    # THEN the results file, the page and a summary line are written
    assert code == 0
    assert json.loads(results.read_text())["priced"] == 30
    assert "30 of 30 sessions priced" in doc.read_text()
    assert capsys.readouterr().out.startswith("30 of 30 sessions priced: ")


def test_csms_bench_pricing_prints_the_report_as_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # WHEN `csms bench pricing --sessions 25 --seed 3` runs
    code = cli.main(["bench", "pricing", "--sessions", "25", "--seed", "3"])
    # THEN the report is printed as JSON
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (report["sessions"], report["priced"], report["meta"]["seed"]) == (25, 25, 3)


@pytest.mark.parametrize(("value", "expected"), [("0", "not between"), ("many", "whole number")])
def test_csms_bench_pricing_refuses_a_wrong_session_count(
    value: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN the session count is not a positive number
    with pytest.raises(SystemExit) as caught:
        cli.main(["bench", "pricing", "--sessions", value])
    # THEN one line says so, status 2
    assert caught.value.code == 2
    assert expected in capsys.readouterr().err
