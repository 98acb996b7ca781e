"""The seed document that loads sites, stations and tokens."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from csms.domain.station import ProtocolVersion, validate_station_id
from csms.domain.tenancy import Site
from csms.domain.tokens import IdToken

__all__ = ["Seed", "SeedStation", "Site"]


class SeedStation(BaseModel):
    """A station to register, with its password in clear (hashed before it is stored)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    id: str
    site_id: Annotated[str, Field(alias="siteId")]
    password: Annotated[str, Field(min_length=8, max_length=128)]
    protocol: ProtocolVersion | None = None

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        validate_station_id(value)
        return value


class Seed(BaseModel):
    """`{"sites": [...], "stations": [...], "tokens": [...]}`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sites: list[Site] = []
    stations: list[SeedStation] = []
    tokens: list[IdToken] = []

    @model_validator(mode="after")
    def _consistent(self) -> Seed:
        _unique("site id", [site.id for site in self.sites])
        _unique("station id", [station.id for station in self.stations])
        _unique("idToken", [token.key for token in self.tokens])
        site_ids = {site.id for site in self.sites}
        for station in self.stations:
            if station.site_id not in site_ids:
                msg = f"station {station.id!r} names unknown site {station.site_id!r}"
                raise ValueError(msg)
        return self


def _unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            msg = f"duplicate {what} {value!r}"
            raise ValueError(msg)
        seen.add(value)
