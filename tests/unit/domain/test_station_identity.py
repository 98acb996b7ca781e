"""Station identity, subprotocol negotiation and the station model."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.fakes import a_station

from csms.domain.errors import InvalidStationIdError
from csms.domain.station import (
    SERVER_PREFERENCE,
    BootInfo,
    BootReason,
    ProtocolVersion,
    negotiate_subprotocol,
    parse_subprotocol_header,
    validate_station_id,
)

ID_ALPHABET = string.ascii_letters + string.digits + "._~:*+@-"
FAST = settings(database=None, deadline=None, max_examples=100)


@pytest.mark.parametrize(
    "raw",
    ["CP-1", "a", "x" * 48, "CP_1.2~3:4*5+6@7-8", "0123456789"],
)
def test_validate_station_id_accepts_cistring48_identities(raw: str) -> None:
    # GIVEN a well-formed identity
    # WHEN it is validated
    result = validate_station_id(raw)
    # THEN it comes back unchanged
    assert result == raw


@pytest.mark.parametrize(
    "raw",
    ["", "x" * 49, "CP 1", "CP/1", "CP-1\n", "\nCP-1", "CP%201", "CP?1", "CP#1", "stación", "a,b"],
)
def test_validate_station_id_rejects_malformed_identities(raw: str) -> None:
    # GIVEN an identity that cannot be a CiString48 URL path segment
    # WHEN it is validated
    with pytest.raises(InvalidStationIdError) as caught:
        validate_station_id(raw)
    # THEN the error keeps the raw value for logs but does not echo it in its message
    assert caught.value.raw == raw
    assert "1-48 characters" in str(caught.value)


@FAST
@given(st.text(alphabet=ID_ALPHABET, min_size=1, max_size=48))
def test_validate_station_id_accepts_every_identity_of_the_alphabet(raw: str) -> None:
    # GIVEN any 1-48 characters of the allowed alphabet
    # WHEN / THEN it validates
    assert validate_station_id(raw) == raw


@FAST
@given(
    st.text(alphabet=ID_ALPHABET, max_size=20),
    st.characters().filter(lambda c: c not in ID_ALPHABET),
    st.text(alphabet=ID_ALPHABET, max_size=20),
)
def test_validate_station_id_rejects_any_foreign_character(head: str, bad: str, tail: str) -> None:
    # GIVEN an identity with one character outside the alphabet
    # WHEN / THEN it is refused
    with pytest.raises(InvalidStationIdError):
        validate_station_id(head + bad + tail)


def test_server_preference_is_newest_first() -> None:
    # GIVEN / WHEN / THEN 2.0.1 is preferred over 1.6 (DESIGN §3)
    assert SERVER_PREFERENCE == (ProtocolVersion.OCPP201, ProtocolVersion.OCPP16)


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        (["ocpp1.6", "ocpp2.0.1"], ProtocolVersion.OCPP201),
        (["ocpp2.0.1", "ocpp1.6"], ProtocolVersion.OCPP201),
        (["ocpp1.6"], ProtocolVersion.OCPP16),
        (["ocpp2.0.1"], ProtocolVersion.OCPP201),
        ([" ocpp1.6 "], ProtocolVersion.OCPP16),
        (["ocpp2.0", "ocpp1.5", "OCPP1.6"], None),
        ([], None),
    ],
)
def test_negotiate_subprotocol_prefers_201_then_16(
    offered: list[str], expected: ProtocolVersion | None
) -> None:
    # GIVEN the subprotocols a station offers and no pin
    # WHEN the server negotiates
    chosen = negotiate_subprotocol(offered)
    # THEN it picks its own preference among them, or nothing
    assert chosen is expected


@pytest.mark.parametrize(
    ("pinned", "offered", "expected"),
    [
        (ProtocolVersion.OCPP16, ["ocpp2.0.1", "ocpp1.6"], ProtocolVersion.OCPP16),
        (ProtocolVersion.OCPP16, ["ocpp2.0.1"], None),
        (ProtocolVersion.OCPP201, ["ocpp1.6", "ocpp2.0.1"], ProtocolVersion.OCPP201),
        (ProtocolVersion.OCPP201, ["ocpp1.6"], None),
    ],
)
def test_negotiate_subprotocol_pinned_station_gets_its_version_or_nothing(
    pinned: ProtocolVersion, offered: list[str], expected: ProtocolVersion | None
) -> None:
    # GIVEN a station pinned to one version
    # WHEN it offers a set of subprotocols
    chosen = negotiate_subprotocol(offered, pinned)
    # THEN only the pinned version can be chosen
    assert chosen is expected


def test_negotiate_subprotocol_accepts_any_iterable() -> None:
    # GIVEN offered subprotocols as a one-shot generator
    offered = (p for p in ["ocpp1.6"])
    # WHEN / THEN it is consumed once and still negotiates
    assert negotiate_subprotocol(offered) is ProtocolVersion.OCPP16


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, []),
        ("", []),
        ("ocpp1.6", ["ocpp1.6"]),
        ("ocpp1.6,ocpp2.0.1", ["ocpp1.6", "ocpp2.0.1"]),
        ("  ocpp2.0.1 ,   ocpp1.6  ", ["ocpp2.0.1", "ocpp1.6"]),
        (" , ocpp1.6,, ,", ["ocpp1.6"]),
        (" ,  , ", []),
    ],
)
def test_parse_subprotocol_header_splits_and_trims(header: str | None, expected: list[str]) -> None:
    # GIVEN a Sec-WebSocket-Protocol header value
    # WHEN it is parsed
    parts = parse_subprotocol_header(header)
    # THEN it yields the non-empty, trimmed tokens in order
    assert parts == expected


def test_parse_subprotocol_header_feeds_negotiation() -> None:
    # GIVEN a header with odd spacing
    header = "ocpp1.6 ,ocpp2.0.1"
    # WHEN parsed and negotiated
    chosen = negotiate_subprotocol(parse_subprotocol_header(header))
    # THEN the server preference wins
    assert chosen is ProtocolVersion.OCPP201


def test_boot_info_defaults_to_unknown_reason() -> None:
    # GIVEN boot information without a reason (1.6 never gives one)
    # WHEN built
    boot = BootInfo(vendor="V", model="M")
    # THEN the reason is Unknown and optional fields are empty
    assert boot.reason is BootReason.UNKNOWN
    assert boot.serial_number is None
    assert boot.meter_type is None


def test_station_starts_offline_and_unbooted() -> None:
    # GIVEN a freshly registered station
    station = a_station()
    # WHEN / THEN it is offline, unbooted and not bound to any connection
    assert station.online is False
    assert station.protocol is None
    assert station.connection_id is None
    assert station.boot is None
    assert station.pinned_protocol is None
