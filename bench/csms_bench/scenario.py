"""The scenario format: a site's load configuration and the sessions that charge there.

A scenario is one JSON document (schema: schemas/smart-charging-scenario.schema.json, written by
`make schemas`). The site is exactly the runtime's `SiteLoadConfig` (camelCase, as the HTTP API
takes it), so a configuration tried here can be saved to a real site unchanged. Each session
carries the truth (arrival, departure, the energy the EV really takes, its max power) and,
optionally, what the driver declared: the benchmark's information modes choose which the
algorithms see.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from csms.domain.load.config import MeterKind, NodeId, SiteLoadConfig
from csms.domain.load.inputs import MAX_READING_KW
from csms.domain.load.needs import connector_key

SCHEMA_ID = "csms/smart-charging-scenario.schema.json"

Kwh = Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)]


class ScenarioError(Exception):
    """A scenario file that cannot be read or does not describe a valid site and sessions."""


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class ScenarioSession(_Model):
    """One charging session: what really happened, and what the driver said would."""

    id: Annotated[str, Field(min_length=1, max_length=128)]
    station_id: NodeId
    evse_id: Annotated[int, Field(ge=1, le=99)] = 1
    arrival: AwareDatetime
    departure: AwareDatetime
    # What the EV really takes before it is full (the driver's need, in hindsight).
    energy_kwh: Kwh
    # The most the vehicle's charger draws, whatever the station offers.
    ev_max_kw: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]
    # The phases the vehicle charges on (AC): a single-phase car on a three-phase station draws
    # its current on one phase. More than the station has: the station's.
    ev_phases: Annotated[int, Field(ge=1, le=3)] = 3
    declared_departure: AwareDatetime | None = None
    declared_energy_kwh: Kwh | None = None
    priority: Annotated[int, Field(ge=-100, le=100)] = 0

    @model_validator(mode="after")
    def _leaves_after_arriving(self) -> Self:
        if self.departure <= self.arrival:
            raise ValueError(f"session {self.id}: departure must be after arrival")
        return self


class LoadPoint(_Model):
    """The building's own load (chargers excluded) from `at` until the next point."""

    at: AwareDatetime
    kw: Annotated[float, Field(ge=0, le=MAX_READING_KW, allow_inf_nan=False)]


class Scenario(_Model):
    """A site, its sessions and, optionally, its building's load over time."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=4000)] | None = None
    # The site's local time zone (IANA); time-of-day limits are read in it.
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    site: SiteLoadConfig
    # Needs `site.meter` of kind "building": the series is turned into the meter's readings.
    building_load_kw: Annotated[tuple[LoadPoint, ...], Field(max_length=1_000_000)] = ()
    sessions: Annotated[tuple[ScenarioSession, ...], Field(min_length=1, max_length=1_000_000)]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name)") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _site_in_scenario_zone(cls, data: Any) -> Any:
        # The scenario names its zone once; the site inherits it unless it names its own.
        if isinstance(data, dict) and isinstance(data.get("site"), dict):
            site = data["site"]
            if "timezone" not in site and "timezone" in data:
                data = {**data, "site": {**site, "timezone": data["timezone"]}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.site.timezone != self.timezone:
            raise ValueError(
                f"site.timezone {self.site.timezone!r} differs from timezone {self.timezone!r}"
            )
        if self.building_load_kw and (
            self.site.meter is None or self.site.meter.kind is not MeterKind.BUILDING
        ):
            raise ValueError("buildingLoadKw needs site.meter with kind 'building'")
        evses = {
            connector_key(station.station_id, evse.evse_id)
            for station in self.site.stations
            for evse in station.evses
        }
        seen: set[str] = set()
        by_connector: dict[str, list[ScenarioSession]] = {}
        for session in self.sessions:
            if session.id in seen:
                raise ValueError(f"session id {session.id!r} appears more than once")
            seen.add(session.id)
            key = connector_key(session.station_id, session.evse_id)
            if key not in evses:
                raise ValueError(
                    f"session {session.id}: station {session.station_id!r} has no EVSE "
                    f"{session.evse_id} in site.stations"
                )
            by_connector.setdefault(key, []).append(session)
        for key, sessions in by_connector.items():
            ordered = sorted(sessions, key=lambda s: s.arrival)
            for before, after in itertools.pairwise(ordered):
                if after.arrival < before.departure:
                    raise ValueError(
                        f"sessions {before.id} and {after.id} overlap on EVSE {key}: "
                        "one vehicle per EVSE at a time"
                    )
        return self

    @property
    def start(self) -> datetime:
        """The first arrival."""
        return min(session.arrival for session in self.sessions)

    @property
    def end(self) -> datetime:
        """The last departure."""
        return max(session.departure for session in self.sessions)


def parse_scenario(document: str | bytes) -> Scenario:
    """A scenario from its JSON text, or a ScenarioError listing what is wrong and where."""
    try:
        return Scenario.model_validate_json(document)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or '(document)'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        ]
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise ScenarioError(f"invalid scenario: {shown}{more}") from None


def load_scenario(path: Path) -> Scenario:
    """A scenario from a file."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_scenario(text)


def dump_scenario(scenario: Scenario) -> str:
    """The scenario as JSON text (camelCase, defaults left out), as `parse_scenario` reads it."""
    document = scenario.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    # The site's zone is the scenario's, unless it differs (then both are kept).
    document["timezone"] = scenario.timezone
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def json_schema() -> dict[str, Any]:
    """The scenario format as JSON Schema (draft 2020-12), for schemas/."""
    schema = Scenario.model_json_schema(by_alias=True)
    schema["$id"] = SCHEMA_ID
    schema["title"] = "Smart-charging benchmark scenario"
    schema["description"] = (
        "A site's load configuration (as the HTTP API takes it) and the charging sessions to "
        "replay through the allocation engine: `csms bench smart-charging SCENARIO.json`. "
        "See docs/smart-charging.md."
    )
    return schema
