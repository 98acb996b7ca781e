"""The scenario format: what it accepts, what it refuses, and how clearly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from csms_bench.report import EXAMPLE
from csms_bench.scenario import (
    ScenarioError,
    dump_scenario,
    json_schema,
    load_scenario,
    parse_scenario,
)


def a_document(**over: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": "toy",
        "timezone": "Europe/Berlin",
        "site": {
            "siteId": "s",
            "limitKw": 20,
            "stations": [
                {"stationId": "CS-1", "maxKw": 11},
                {"stationId": "CS-2", "maxKw": 11, "evses": [{"evseId": 1}, {"evseId": 2}]},
            ],
        },
        "sessions": [
            {
                "id": "a",
                "stationId": "CS-1",
                "arrival": "2026-03-02T08:00:00+01:00",
                "departure": "2026-03-02T12:00:00+01:00",
                "energyKwh": 10,
                "evMaxKw": 7.4,
            }
        ],
    }
    document.update(over)
    return document


def a_session(**over: Any) -> dict[str, Any]:
    session = {
        "id": "b",
        "stationId": "CS-2",
        "evseId": 2,
        "arrival": "2026-03-02T09:00:00+01:00",
        "departure": "2026-03-02T10:00:00+01:00",
        "energyKwh": 5,
        "evMaxKw": 11,
    }
    session.update(over)
    return session


def test_scenario_documented_example_parses() -> None:
    # GIVEN the example of docs/smart-charging.md
    # WHEN it is parsed
    scenario = parse_scenario(EXAMPLE)
    # THEN the site inherits the scenario's zone and the session defaults apply
    assert scenario.site.timezone == "Europe/Berlin"
    assert scenario.sessions[0].evse_id == 1
    assert scenario.sessions[1].priority == 1
    assert scenario.sessions[0].declared_energy_kwh == 25


def test_scenario_dump_round_trips() -> None:
    # GIVEN a parsed scenario
    scenario = parse_scenario(json.dumps(a_document(sessions=[a_session()])))
    # WHEN it is dumped and read back
    again = parse_scenario(dump_scenario(scenario))
    # THEN nothing changed
    assert again == scenario


def test_scenario_load_reads_a_file(tmp_path: Path) -> None:
    # GIVEN a scenario file
    path = tmp_path / "s.json"
    path.write_text(json.dumps(a_document()), encoding="utf-8")
    # WHEN it is loaded
    scenario = load_scenario(path)
    # THEN its sessions are there
    assert [s.id for s in scenario.sessions] == ["a"]
    assert scenario.start < scenario.end


def test_scenario_load_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    # GIVEN no file
    # WHEN it is loaded THEN the error names the path
    with pytest.raises(ScenarioError, match=r"cannot read .*nope\.json"):
        load_scenario(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (a_document(sessions=[a_session(departure="2026-03-02T08:00:00+01:00")]), "departure"),
        (a_document(sessions=[a_session(stationId="CS-9")]), "has no EVSE 2"),
        (a_document(sessions=[a_session(evseId=3)]), "has no EVSE 3"),
        (a_document(sessions=[a_session(), a_session()]), "more than once"),
        (
            a_document(
                sessions=[a_session(), a_session(id="c", arrival="2026-03-02T09:30:00+01:00")]
            ),
            "overlap on EVSE CS-2/2",
        ),
        (a_document(timezone="Mars/Olympus"), "unknown time zone"),
        (
            a_document(site={"siteId": "s", "limitKw": 20, "timezone": "UTC", "stations": []}),
            "differs from timezone",
        ),
        (a_document(buildingLoadKw=[{"at": "2026-03-02T08:00:00+01:00", "kw": 5}]), "site.meter"),
        (a_document(sessions=[a_session(arrival="2026-03-02T09:00:00")]), "sessions.0.arrival"),
        (a_document(sessions=[a_session(energyKwh=-1)]), "sessions.0.energyKwh"),
        (a_document(sessions=[]), "sessions"),
        (
            a_document(
                site={"siteId": "s", "limitKw": 20, "groups": [{"id": "g", "parentId": "g"}]}
            ),
            "loop",
        ),
    ],
)
def test_scenario_bad_input_is_refused_with_its_place(
    document: dict[str, Any], message: str
) -> None:
    # GIVEN a scenario with one mistake
    # WHEN it is parsed THEN the error says what and where
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(json.dumps(document))


def test_scenario_not_json_is_refused() -> None:
    # GIVEN text that is not JSON
    # WHEN it is parsed THEN a ScenarioError, not a crash
    with pytest.raises(ScenarioError, match="invalid scenario"):
        parse_scenario("{nope")


def test_scenario_many_errors_are_summarised() -> None:
    # GIVEN a scenario with a dozen bad sessions
    sessions = [{"id": f"s{n}"} for n in range(12)]
    # WHEN it is parsed THEN the message lists ten and counts the rest
    with pytest.raises(ScenarioError, match=r"and \d+ more"):
        parse_scenario(json.dumps(a_document(sessions=sessions)))


def test_scenario_json_schema_names_the_camel_case_fields() -> None:
    # GIVEN the exported schema
    schema = json_schema()
    # THEN it has an id and the fields as the files spell them
    assert schema["$id"] == "csms/smart-charging-scenario.schema.json"
    assert {"name", "site", "sessions", "buildingLoadKw"} <= set(schema["properties"])
    session = schema["$defs"]["ScenarioSession"]["properties"]
    assert {"stationId", "evMaxKw", "declaredDeparture"} <= set(session)
