"""The seed document and its validation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from csms.domain.errors import InvalidStationIdError
from csms.domain.seed import Seed, SeedStation, Site
from csms.domain.station import ProtocolVersion
from csms.domain.tokens import IdToken, TokenStatus


def a_seed(**over: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "sites": [{"id": "site-1", "name": "Depot", "limitKw": "250"}],
        "stations": [
            {"id": "CP-1", "siteId": "site-1", "password": "secret-password"},
            {"id": "CP-2", "siteId": "site-1", "password": "other-password", "protocol": "ocpp1.6"},
        ],
        "tokens": [{"idToken": "TAG-1", "status": "Accepted", "groupId": "fleet"}],
    }
    values.update(over)
    return values


def test_seed_valid_document_parses_by_alias() -> None:
    # GIVEN a well-formed seed in its JSON spelling
    # WHEN validated
    seed = Seed.model_validate(a_seed())
    # THEN every part is read, aliases included
    assert seed.sites == [Site(id="site-1", name="Depot", limit_kw=Decimal("250"))]
    assert [s.id for s in seed.stations] == ["CP-1", "CP-2"]
    assert seed.stations[0].site_id == "site-1"
    assert seed.stations[0].protocol is None
    assert seed.stations[1].protocol is ProtocolVersion.OCPP16
    assert seed.tokens == [IdToken(id_token="TAG-1", status=TokenStatus.ACCEPTED, group_id="fleet")]


def test_seed_empty_document_is_valid() -> None:
    # GIVEN an empty object
    # WHEN validated
    seed = Seed.model_validate({})
    # THEN it holds nothing
    assert (seed.sites, seed.stations, seed.tokens) == ([], [], [])


@pytest.mark.parametrize(
    ("over", "message"),
    [
        (
            {
                "sites": [
                    {"id": "s", "name": "a", "limitKw": 1},
                    {"id": "s", "name": "b", "limitKw": 1},
                ]
            },
            "duplicate site id 's'",
        ),
        (
            {
                "stations": [
                    {"id": "CP-1", "siteId": "site-1", "password": "secret-password"},
                    {"id": "CP-1", "siteId": "site-1", "password": "secret-password"},
                ]
            },
            "duplicate station id 'CP-1'",
        ),
        (
            {
                "tokens": [
                    {"idToken": "T", "status": "Accepted"},
                    {"idToken": "T", "status": "Blocked"},
                ]
            },
            "duplicate idToken 'T'",
        ),
        (
            {"stations": [{"id": "CP-1", "siteId": "nowhere", "password": "secret-password"}]},
            "station 'CP-1' names unknown site 'nowhere'",
        ),
    ],
)
def test_seed_inconsistent_document_is_refused(over: dict[str, Any], message: str) -> None:
    # GIVEN a seed with duplicates or a dangling site reference
    raw = a_seed(**over)
    # WHEN validated
    with pytest.raises(ValidationError) as caught:
        Seed.model_validate(raw)
    # THEN the error says what is wrong
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "station",
    [
        {"id": "CP-1", "siteId": "site-1", "password": "short"},
        {"id": "CP-1", "siteId": "site-1", "password": "x" * 129},
        {"id": "CP-1", "siteId": "site-1", "password": "secret-password", "protocol": "ocpp2.0"},
        {"id": "CP-1", "siteId": "site-1", "password": "secret-password", "extra": 1},
        {"id": 7, "siteId": "site-1", "password": "secret-password"},
        {"siteId": "site-1", "password": "secret-password"},
    ],
)
def test_seed_station_with_bad_fields_is_refused(station: dict[str, Any]) -> None:
    # GIVEN a station entry with a short password, unknown protocol, extra or missing field
    raw = a_seed(stations=[station])
    # WHEN / THEN the seed is refused
    with pytest.raises(ValidationError):
        Seed.model_validate(raw)


@pytest.mark.parametrize("station_id", ["CP 1", "", "x" * 49, "CP/1"])
def test_seed_station_with_bad_id_is_refused_as_domain_error(station_id: str) -> None:
    # GIVEN a station whose id cannot be a station identity
    raw = a_seed(stations=[{"id": station_id, "siteId": "site-1", "password": "secret-password"}])
    # WHEN validated
    # THEN the station-id rule of the domain refuses it (the seed handler answers DomainError)
    with pytest.raises(InvalidStationIdError):
        Seed.model_validate(raw)


def test_seed_station_password_of_eight_characters_is_enough() -> None:
    # GIVEN the shortest allowed password
    # WHEN / THEN it is accepted
    station = SeedStation.model_validate({"id": "CP-1", "siteId": "s", "password": "12345678"})
    assert station.password == "12345678"


@pytest.mark.parametrize(
    "site",
    [
        {"id": "", "name": "n", "limitKw": 1},
        {"id": "bad id", "name": "n", "limitKw": 1},
        {"id": "s", "name": "", "limitKw": 1},
        {"id": "s", "name": "n", "limitKw": 0},
        {"id": "s", "name": "n", "limitKw": 100_001},
        {"id": "s", "name": "n"},
    ],
)
def test_seed_site_with_bad_fields_is_refused(site: dict[str, Any]) -> None:
    # GIVEN a malformed site
    # WHEN / THEN it is refused
    with pytest.raises(ValidationError):
        Seed.model_validate(a_seed(sites=[site], stations=[]))


@pytest.mark.parametrize(
    "token",
    [
        {"idToken": "", "status": "Accepted"},
        {"idToken": "x" * 37, "status": "Accepted"},
        {"idToken": "T", "status": "ConcurrentTx"},
        {"idToken": "T", "status": "Accepted", "groupId": "g" * 65},
    ],
)
def test_seed_token_with_bad_fields_is_refused(token: dict[str, Any]) -> None:
    # GIVEN a malformed id token
    # WHEN / THEN it is refused
    with pytest.raises(ValidationError):
        Seed.model_validate(a_seed(tokens=[token]))


def test_seed_unknown_top_level_key_is_refused() -> None:
    # GIVEN a seed with a misspelt section
    # WHEN / THEN it is refused rather than silently ignored
    with pytest.raises(ValidationError):
        Seed.model_validate(a_seed(station=[]))
