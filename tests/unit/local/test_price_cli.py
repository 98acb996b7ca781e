"""`csms price TARIFF.json SESSION.json`: the breakdown as JSON, bad input one readable message."""

from __future__ import annotations

import io
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from csms.domain.billing.tariff import Tariff
from csms.domain.billing.usage import SessionUsage
from csms_bench.price_files import json_schemas, location
from csms_local import cli

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "docs" / "examples" / "pricing"
MODELS = (
    "public-cpo",
    "workplace-free",
    "hotel-session-fee",
    "apartment-night-rate",
    "fleet-excl-tax",
)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["price", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def example(model: str) -> list[str]:
    return [str(EXAMPLES / f"{model}.tariff.json"), str(EXAMPLES / f"{model}.session.json")]


def write(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return str(path)


def a_tariff(**over: Any) -> dict[str, Any]:
    return {"id": "t-1", "name": "Test", "currency": "EUR", **over}


# -- the examples, priced ----------------------------------------------------------------------
# Worked by hand from the pricing rules (docs/pricing.md), not read off the engine's output.
# Each: (component, period, amount) of every line; taxes; total excl. and incl. tax.
EXPECTED: dict[str, dict[str, Any]] = {
    "public-cpo": {
        # 12.000 kWh off-peak x 0.59; 14.346 kWh peak + 0.054 to the 100 Wh step x 0.69;
        # 85 idle minutes - 30 grace = 55 x 0.20 = 11.00, capped at 10.00. VAT 19 % included.
        "lines": [
            ("energy", None, "7.08"),
            ("energy", "peak", "9.94"),
            ("idle", None, "10.00"),
        ],
        "taxes": ["4.31"],
        "excl": "22.71",
        "incl": "27.02",
        "energy_kwh": "26.346",
    },
    "workplace-free": {
        "lines": [],
        "taxes": ["0.00"],
        "excl": "0.00",
        "incl": "0.00",
        "energy_kwh": "31.2",
    },
    "hotel-session-fee": {
        # 5.00 fee + 52.750 kWh x 0.30 = 15.83 -> 20.83, over the 15.00 maximum by 5.83.
        "lines": [
            ("session-fee", None, "5.00"),
            ("energy", None, "15.83"),
            ("maximum-price", None, "-5.83"),
        ],
        "taxes": ["2.50"],
        "excl": "12.50",
        "incl": "15.00",
        "energy_kwh": "52.75",
    },
    "apartment-night-rate": {
        # 10.500 kWh by day x 0.36; 18.623 kWh at night + 0.007 to the 10 Wh step x 0.24.
        "lines": [("energy", None, "3.78"), ("energy", "night", "4.47")],
        "taxes": ["1.32"],
        "excl": "6.93",
        "incl": "8.25",
        "energy_kwh": "29.123",
    },
    "fleet-excl-tax": {
        # 41.234 kWh -> 41.3 x 0.28 = 11.56; 226 min charging -> 240 (15 min steps) = 4 h x
        # 1.20; 1.00 fee; 17.36 net; 6.25 % = 1.085 -> 1.09 (half up), 2.5 % = 0.434 -> 0.43.
        "lines": [
            ("energy", None, "11.56"),
            ("charging-time", None, "4.80"),
            ("session-fee", None, "1.00"),
        ],
        "taxes": ["1.09", "0.43"],
        "excl": "17.36",
        "incl": "18.88",
        "energy_kwh": "41.234",
    },
}


@pytest.mark.parametrize("model", MODELS)
def test_price_cli_prices_each_example_as_worked_by_hand(
    model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the example tariff and session of a business model
    expected = EXPECTED[model]
    # WHEN they are priced
    code, out, err = run(example(model), capsys)
    # THEN the breakdown is the one worked by hand, line by line, tax and totals
    assert (code, err) == (0, "")
    priced = json.loads(out)
    lines = sorted(
        (line["component"], line["period"] or "", Decimal(line["amount"]))
        for line in priced["lines"]
    )
    assert lines == sorted((c, p or "", Decimal(a)) for c, p, a in expected["lines"])
    assert [Decimal(t["amount"]) for t in priced["taxes"]] == [
        Decimal(t) for t in expected["taxes"]
    ]
    assert Decimal(priced["totalExclTax"]) == Decimal(expected["excl"])
    assert Decimal(priced["totalInclTax"]) == Decimal(expected["incl"])
    assert Decimal(priced["energyKwh"]) == Decimal(expected["energy_kwh"])
    # AND the lines add up to the subtotal, and the explanation is there for the driver
    assert sum((Decimal(line["amount"]) for line in priced["lines"]), Decimal(0)) == Decimal(
        priced["subtotal"]
    )
    assert priced["explanation"]


def test_price_cli_prints_money_as_strings_in_camel_case(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the fleet example, whose tax is exactly half a cent before rounding
    # WHEN it is priced
    code, out, _ = run(example("fleet-excl-tax"), capsys)
    # THEN amounts and quantities are decimal strings (no float), keys camelCase
    priced = json.loads(out)
    assert code == 0
    assert priced["tariffId"] == "fleet-depot"
    assert priced["currency"] == "USD"
    assert isinstance(priced["totalInclTax"], str)
    assert all(isinstance(line["quantity"], str) for line in priced["lines"])
    assert all(isinstance(line["unitPrice"], str) for line in priced["lines"])
    assert "total_incl_tax" not in priced


def test_price_cli_compact_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN --compact is asked for
    code, out, _ = run([*example("hotel-session-fee"), "--compact"], capsys)
    # THEN the JSON is one line
    assert code == 0
    assert out.count("\n") == 1
    assert json.loads(out)["tariffId"] == "hotel-guest"


def test_price_cli_reads_the_session_from_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the session piped in
    tariff, session = example("hotel-session-fee")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(Path(session).read_bytes())))
    # WHEN `-` names it
    code, out, _ = run([tariff, "-"], capsys)
    # THEN it is priced as from the file
    assert code == 0
    assert Decimal(json.loads(out)["totalInclTax"]) == Decimal("15.00")


# -- bad input ---------------------------------------------------------------------------------
def test_price_cli_missing_file_is_one_line_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a tariff file that does not exist
    missing = tmp_path / "nope.json"
    # WHEN it is priced
    code, out, err = run([str(missing), example("public-cpo")[1]], capsys)
    # THEN one readable line on stderr, status 2, nothing on stdout
    assert (code, out) == (2, "")
    assert err == f"csms: error: cannot read {missing}: No such file or directory\n"


def test_price_cli_invalid_json_names_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a session file cut short
    session = write(tmp_path / "s.json", '{"start": "2026-03-02T16:30:00+01:00",\n')
    # WHEN it is priced
    code, out, err = run([example("public-cpo")[0], session], capsys)
    # THEN the message says the file is not JSON and where it breaks
    assert (code, out) == (2, "")
    assert f"{session} is not valid JSON" in err
    assert "at line 2 column" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("tariff", "expected"),
    [
        (
            a_tariff(
                tou=[
                    {
                        "name": "a",
                        "windows": [{"days": ["Monday"], "start": "01:00", "end": "02:00"}],
                        "prices": {},
                    },
                    {
                        "name": "b",
                        "windows": [{"days": ["Monday"], "start": "7:00", "end": "08:00"}],
                        "prices": {},
                    },
                ]
            ),
            ["tou[1].windows[0].start: String should match pattern"],
        ),
        (
            a_tariff(prices={"energyPerKwh": -0.1}),
            ["prices.energyPerKwh: Input should be greater than or equal to 0"],
        ),
        (
            a_tariff(currency="EUX"),
            ["currency: 'EUX' is not an ISO 4217 currency code"],
        ),
        (
            a_tariff(
                tou=[
                    {
                        "name": "peak",
                        "windows": [{"days": ["Friday"], "start": "17:00", "end": "21:00"}],
                        "prices": {},
                    },
                    {
                        "name": "evening",
                        "windows": [{"days": ["Friday"], "start": "20:00", "end": "23:00"}],
                        "prices": {},
                    },
                ]
            ),
            ["(document): time-of-use windows overlap: 'peak' and 'evening' (Friday 20:00)"],
        ),
        (
            a_tariff(sessionFee="ten", colour="red"),
            [
                "sessionFee: Input should be a valid decimal",
                "colour: Extra inputs are not permitted",
            ],
        ),
    ],
)
def test_price_cli_invalid_tariff_lists_each_problem_with_its_location(
    tariff: dict[str, Any],
    expected: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a tariff file with mistakes
    path = write(tmp_path / "t.json", tariff)
    # WHEN it is priced
    code, out, err = run([path, example("public-cpo")[1]], capsys)
    # THEN each mistake is a line with its location, status 2, nothing on stdout
    assert (code, out) == (2, "")
    assert err.startswith(f"csms: error: {path} is not a valid tariff")
    problems = err.splitlines()[1:]
    assert len(problems) == len(expected)
    for line, text in zip(problems, expected, strict=True):
        assert line.strip().startswith(text), line


def test_price_cli_invalid_session_names_the_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a session whose register goes down and whose zone is unknown
    session = json.loads(Path(example("public-cpo")[1]).read_text())
    session["samples"][2]["wh"] = 1
    session["timezone"] = "Mars/Olympus"
    path = write(tmp_path / "s.json", session)
    # WHEN it is priced
    code, out, err = run([example("public-cpo")[0], path], capsys)
    # THEN the zone is named with its field (the order check runs once fields are valid)
    assert (code, out) == (2, "")
    assert "  timezone: 'Mars/Olympus' is not an IANA timezone" in err
    # AND once the zone is fixed, the sample that goes down is named
    session["timezone"] = "Europe/Berlin"
    write(tmp_path / "s.json", session)
    code, out, err = run([example("public-cpo")[0], path], capsys)
    assert (code, out) == (2, "")
    assert "(document): energy samples must be in time order and never go down" in err


def test_price_cli_both_files_invalid_reports_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a tariff and a session that are both wrong
    tariff = write(tmp_path / "t.json", a_tariff(currency="XXX"))
    session = write(tmp_path / "s.json", "[]")
    # WHEN they are priced
    code, out, err = run([tariff, session], capsys)
    # THEN both files' problems are reported in one go
    assert (code, out) == (2, "")
    assert f"{tariff} is not a valid tariff" in err
    assert "  currency: 'XXX' is not an ISO 4217 currency code" in err
    assert f"{session} is not a valid session" in err
    assert "  (document): Input should be an object" in err


def test_price_cli_many_problems_are_summarised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a tariff with 25 unknown fields
    path = write(tmp_path / "t.json", a_tariff(**{f"field{n}": n for n in range(25)}))
    # WHEN it is priced
    code, _, err = run([path, example("public-cpo")[1]], capsys)
    # THEN the first 20 are listed and the rest counted
    assert code == 2
    assert len(err.splitlines()) == 22
    assert err.splitlines()[-1] == "  (and 5 more)"


def test_price_cli_names_standard_input_in_messages(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an invalid tariff piped in
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"id": "t"}')))
    # WHEN `-` names it
    code, _, err = run(["-", example("public-cpo")[1]], capsys)
    # THEN the message says where it came from
    assert code == 2
    assert "the tariff on standard input is not a valid tariff" in err


def test_price_cli_refuses_both_files_from_standard_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # WHEN both files are `-`
    code, out, err = run(["-", "-"], capsys)
    # THEN that is refused before anything is read
    assert (code, out) == (2, "")
    assert "only one of TARIFF.json and SESSION.json can be `-`" in err


def test_price_cli_needs_both_files(capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN the session file is left out
    with pytest.raises(SystemExit) as caught:
        cli.main(["price", "tariff.json"])
    # THEN argparse says what is missing, status 2
    assert caught.value.code == 2
    assert "SESSION.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("loc", "text"),
    [
        ((), "(document)"),
        (("currency",), "currency"),
        (("tou", 1, "windows", 0, "start"), "tou[1].windows[0].start"),
        (("samples", 3), "samples[3]"),
    ],
)
def test_location_reads_like_a_path(loc: tuple[int | str, ...], text: str) -> None:
    # WHEN a pydantic location is shown THEN it reads like a path into the document
    assert location(loc) == text


# -- the formats' schemas ----------------------------------------------------------------------
@pytest.mark.parametrize("model", MODELS)
def test_examples_validate_against_the_published_schemas(model: str) -> None:
    # GIVEN the schemas as written to schemas/billing/
    schemas = {name: json.loads((ROOT / "schemas" / name).read_text()) for name in json_schemas()}
    tariff, session = (json.loads(Path(p).read_text()) for p in example(model))
    # THEN each example file is valid under its schema, and the model agrees
    jsonschema.validate(tariff, schemas["billing/tariff.schema.json"])
    jsonschema.validate(session, schemas["billing/session.schema.json"])
    assert Tariff.model_validate(tariff).id == tariff["id"]
    assert SessionUsage.model_validate(session).session_id == session["sessionId"]


def test_pricing_docs_describe_every_field_of_both_formats() -> None:
    # GIVEN docs/pricing.md
    text = (ROOT / "docs" / "pricing.md").read_text()

    def aliases(schema: dict[str, Any]) -> set[str]:
        found = set(schema.get("properties", {}))
        for definition in schema.get("$defs", {}).values():
            found |= set(definition.get("properties", {}))
        return found

    # Names in code spans (fenced blocks left out), and each segment of a path like
    # `tou[].windows[].start`.
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    named = {
        segment
        for span in re.findall(r"`([^`]+)`", prose)
        for segment in re.split(r"[.\[\]]+", span)
    }
    # THEN every field of the tariff and session formats is named there
    for schema in json_schemas().values():
        missing = sorted(aliases(schema) - named)
        assert not missing, f"docs/pricing.md does not describe {missing}"
