"""OCPP-J framing: strict parsing that raises only FrameError, encoding, timestamps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.ocpp.common.frames import (
    CALL,
    CALL_ERROR,
    CALL_RESULT,
    MAX_UNIQUE_ID,
    Call,
    CallError,
    CallResult,
    Frame,
    FrameError,
    FrameProblem,
    encode_call,
    encode_error,
    encode_result,
    format_timestamp,
    parse_frame,
    parse_timestamp,
)

FAST = settings(database=None, deadline=None, max_examples=150)
ROUND_TRIP = settings(database=None, deadline=None, max_examples=75)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=5)
unique_ids = st.text(min_size=1, max_size=MAX_UNIQUE_ID)


# -- well-formed frames -----------------------------------------------------------------------


def test_parse_frame_call() -> None:
    # GIVEN a CALL
    raw = '[2,"19223201","BootNotification",{"reason":"PowerUp"}]'
    # WHEN parsed
    frame = parse_frame(raw)
    # THEN its parts are read
    assert frame == Call("19223201", "BootNotification", {"reason": "PowerUp"})


def test_parse_frame_call_result_from_bytes() -> None:
    # GIVEN a CALLRESULT as UTF-8 bytes with non-ASCII text
    raw = '[3,"u-1",{"info":"Ladesäule"}]'.encode()
    # WHEN parsed
    frame = parse_frame(raw)
    # THEN it is decoded
    assert frame == CallResult("u-1", {"info": "Ladesäule"})


def test_parse_frame_call_error() -> None:
    # GIVEN a CALLERROR
    raw = '[4,"u-1","NotSupported","no",{"hint":1}]'
    # WHEN parsed
    frame = parse_frame(raw)
    # THEN code, description and details are read
    assert frame == CallError("u-1", "NotSupported", "no", {"hint": 1})


def test_parse_frame_unique_id_of_36_characters_is_accepted() -> None:
    # GIVEN the longest allowed message id
    uid = "x" * 36
    # WHEN / THEN it parses
    assert parse_frame(json.dumps([2, uid, "Heartbeat", {}])) == Call(uid, "Heartbeat", {})


# -- broken frames: one test per FrameProblem ---------------------------------------------------


def problem_of(raw: str | bytes) -> FrameError:
    with pytest.raises(FrameError) as caught:
        parse_frame(raw)
    return caught.value


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not json",
        "[2,",
        b"\xff\xfe\x00",
        '[2,"a","Heartbeat",{"v":NaN}]',
        '[2,"a","Heartbeat",{"v":Infinity}]',
        '[2,"a","Heartbeat",{"v":-Infinity}]',
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        "[2" + "0" * 5000 + "]",
    ],
)
def test_parse_frame_not_json(raw: str | bytes) -> None:
    # GIVEN text that is not JSON (NaN/Infinity, invalid UTF-8, absurd nesting or numbers)
    # WHEN parsed
    error = problem_of(raw)
    # THEN it is NOT_JSON with nothing recovered
    assert error.problem is FrameProblem.NOT_JSON
    assert (error.unique_id, error.message_type) == (None, None)
    assert str(error) == "not valid JSON"


@pytest.mark.parametrize("raw", ["{}", "[]", "5", '"frame"', "null", "true"])
def test_parse_frame_not_array(raw: str) -> None:
    # GIVEN JSON that is not a non-empty array
    # WHEN / THEN it is NOT_ARRAY
    error = problem_of(raw)
    assert error.problem is FrameProblem.NOT_ARRAY
    assert (error.unique_id, error.message_type) == (None, None)


@pytest.mark.parametrize(
    ("frame", "unique_id", "message_type"),
    [
        ([5, "u-1", "Heartbeat", {}], "u-1", 5),
        ([0, "u-1"], "u-1", 0),
        ([True, "u-1", "Heartbeat", {}], "u-1", None),
        ([2.0, "u-1", "Heartbeat", {}], "u-1", None),
        (["2", "u-1", "Heartbeat", {}], "u-1", None),
        ([None], None, None),
        ([6, 7], None, 6),
    ],
)
def test_parse_frame_bad_message_type(
    frame: list[Any], unique_id: str | None, message_type: int | None
) -> None:
    # GIVEN an unknown MessageTypeId (a bool or a float is not an int here)
    # WHEN parsed
    error = problem_of(json.dumps(frame))
    # THEN it is BAD_MESSAGE_TYPE, with the id recovered when it is readable
    assert error.problem is FrameProblem.BAD_MESSAGE_TYPE
    assert (error.unique_id, error.message_type) == (unique_id, message_type)


@pytest.mark.parametrize(
    "frame",
    [
        [2],
        [2, 5, "Heartbeat", {}],
        [2, "", "Heartbeat", {}],
        [2, "x" * 37, "Heartbeat", {}],
        [3, None, {}],
        [4, ["u"], "c", "d", {}],
    ],
)
def test_parse_frame_bad_unique_id(frame: list[Any]) -> None:
    # GIVEN a frame whose MessageId is missing, not a string, empty or longer than 36
    # WHEN parsed
    error = problem_of(json.dumps(frame))
    # THEN it is BAD_UNIQUE_ID with the type known and no id
    assert error.problem is FrameProblem.BAD_UNIQUE_ID
    assert error.unique_id is None
    assert error.message_type == frame[0]


@pytest.mark.parametrize(
    "frame",
    [
        [2, "u-1", "Heartbeat"],
        [2, "u-1", "Heartbeat", {}, {}],
        [3, "u-1"],
        [3, "u-1", {}, {}],
        [4, "u-1", "GenericError", "d"],
        [4, "u-1", "GenericError", "d", {}, {}],
        [4, "u-1", 500, "d", {}],
        [4, "u-1", "GenericError", None, {}],
    ],
)
def test_parse_frame_bad_length(frame: list[Any]) -> None:
    # GIVEN a frame with the wrong number (or kinds) of elements for its type
    # WHEN parsed
    error = problem_of(json.dumps(frame))
    # THEN it is BAD_LENGTH, with id and type recovered
    assert error.problem is FrameProblem.BAD_LENGTH
    assert (error.unique_id, error.message_type) == ("u-1", frame[0])


@pytest.mark.parametrize("action", ["", 7, None, ["Heartbeat"]])
def test_parse_frame_bad_action(action: object) -> None:
    # GIVEN a CALL whose action is not a non-empty string
    # WHEN parsed
    error = problem_of(json.dumps([2, "u-1", action, {}]))
    # THEN it is BAD_ACTION
    assert error.problem is FrameProblem.BAD_ACTION
    assert (error.unique_id, error.message_type) == ("u-1", CALL)


@pytest.mark.parametrize(
    "frame",
    [
        [2, "u-1", "Heartbeat", []],
        [2, "u-1", "Heartbeat", None],
        [3, "u-1", "ok"],
        [4, "u-1", "GenericError", "d", []],
    ],
)
def test_parse_frame_payload_not_object(frame: list[Any]) -> None:
    # GIVEN a frame whose payload (or error details) is not an object
    # WHEN parsed
    error = problem_of(json.dumps(frame))
    # THEN it is PAYLOAD_NOT_OBJECT
    assert error.problem is FrameProblem.PAYLOAD_NOT_OBJECT
    assert (error.unique_id, error.message_type) == ("u-1", frame[0])


# -- properties -------------------------------------------------------------------------------


def _parse_or_error(raw: str | bytes) -> Frame | FrameError:
    try:
        return parse_frame(raw)
    except FrameError as exc:
        return exc


def _check_only_frame_error(raw: str | bytes) -> None:
    outcome = _parse_or_error(raw)
    if isinstance(outcome, FrameError):
        assert isinstance(outcome.problem, FrameProblem)
        assert outcome.unique_id is None or 0 < len(outcome.unique_id) <= MAX_UNIQUE_ID
        return
    assert 0 < len(outcome.unique_id) <= MAX_UNIQUE_ID
    if isinstance(outcome, Call):
        assert outcome.action
        assert isinstance(outcome.payload, dict)


@FAST
@given(st.text(max_size=200))
def test_parse_frame_any_text_raises_only_frame_error(raw: str) -> None:
    # GIVEN any text / WHEN parsed / THEN it is a frame or a FrameError, never anything else
    _check_only_frame_error(raw)


@FAST
@given(st.binary(max_size=200))
def test_parse_frame_any_bytes_raise_only_frame_error(raw: bytes) -> None:
    # GIVEN any bytes / WHEN parsed / THEN it is a frame or a FrameError, never anything else
    _check_only_frame_error(raw)


@FAST
@given(
    st.one_of(
        st.lists(json_values, max_size=6),
        st.builds(
            lambda t, rest: [t, *rest],
            st.sampled_from([2, 3, 4, 0, 5, True, False, 2.0, "2", None]),
            st.lists(json_values | unique_ids, max_size=5),
        ),
        json_values,
    )
)
def test_parse_frame_any_json_raises_only_frame_error(value: object) -> None:
    # GIVEN any JSON value, including near-frames / WHEN parsed / THEN only FrameError
    _check_only_frame_error(json.dumps(value))


@ROUND_TRIP
@given(unique_ids, st.text(min_size=1, max_size=40), json_objects)
def test_encode_call_round_trips(unique_id: str, action: str, payload: dict[str, Any]) -> None:
    # GIVEN any CALL / WHEN encoded and parsed back / THEN it is the same CALL
    assert parse_frame(encode_call(unique_id, action, payload)) == Call(unique_id, action, payload)


@ROUND_TRIP
@given(unique_ids, json_objects)
def test_encode_result_round_trips(unique_id: str, payload: dict[str, Any]) -> None:
    # GIVEN any CALLRESULT / WHEN encoded and parsed back / THEN it is the same CALLRESULT
    assert parse_frame(encode_result(unique_id, payload)) == CallResult(unique_id, payload)


@ROUND_TRIP
@given(unique_ids, st.text(min_size=1, max_size=30), st.text(max_size=400), json_objects)
def test_encode_error_round_trips_with_description_capped(
    unique_id: str, code: str, description: str, details: dict[str, Any]
) -> None:
    # GIVEN any CALLERROR
    # WHEN encoded and parsed back
    frame = parse_frame(encode_error(unique_id, code, description, details))
    # THEN it is the same error, its description cut at 255 characters
    assert frame == CallError(unique_id, code, description[:255], details)


# -- encoding ---------------------------------------------------------------------------------


def test_encode_error_truncates_description_to_255() -> None:
    # GIVEN an overlong description
    # WHEN encoded
    frame = json.loads(encode_error("u-1", "GenericError", "x" * 1000))
    # THEN exactly 255 characters go on the wire, with empty details
    assert frame == [CALL_ERROR, "u-1", "GenericError", "x" * 255, {}]


def test_encode_frames_are_compact_ascii_and_round_trip_unicode() -> None:
    # GIVEN payloads with non-ASCII text, and an id holding a lone surrogate (escaped by a
    # station, so it must be echoed)
    # WHEN encoded
    call = encode_call("u-1", "DataTransfer", {"data": "Zürich"})
    result = encode_result("u-1", {})
    error = encode_error("\ud800", "FormatViolation", "x")
    # THEN they are compact ASCII JSON, valid UTF-8 text that decodes to the same values
    assert call == '[2,"u-1","DataTransfer",{"data":"Z\\u00fcrich"}]'
    assert json.loads(call)[3] == {"data": "Zürich"}
    assert result == '[3,"u-1",{}]'
    assert json.loads(result)[0] == CALL_RESULT
    assert json.loads(error.encode("utf-8"))[1] == "\ud800"


def test_parse_lone_surrogate_is_not_unicode_and_keeps_the_id() -> None:
    # GIVEN frames whose strings hold an escaped lone surrogate, in text or in UTF-8 bytes
    for raw in ('[2,"a","Heartbeat",{"x":"\\udfff"}]', b'[2,"a","Heartbeat",{"x":"\\ud800"}]'):
        # WHEN parsed
        with pytest.raises(FrameError) as caught:
            parse_frame(raw)
        # THEN the frame is malformed, and the id can still be answered
        assert caught.value.problem is FrameProblem.NOT_UNICODE
        assert caught.value.unique_id == "a"
    # AND a proper surrogate pair (an emoji) is ordinary text
    frame = parse_frame('[2,"a","Heartbeat",{"x":"\\ud83d\\ude00"}]')
    assert isinstance(frame, Call)
    assert frame.payload == {"x": "\U0001f600"}


def test_parse_bytes_must_be_utf8() -> None:
    # GIVEN a frame in UTF-16 (json.loads alone would accept it)
    raw = '[2,"a","Heartbeat",{}]'.encode("utf-16")
    # WHEN parsed THEN it is no OCPP-J frame
    with pytest.raises(FrameError) as caught:
        parse_frame(raw)
    assert caught.value.problem is FrameProblem.NOT_JSON


# -- timestamps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 11, 24, 8, 0, tzinfo=UTC), "2026-11-24T08:00:00.000Z"),
        (datetime(2026, 11, 24, 8, 0, 1, 999_999, tzinfo=UTC), "2026-11-24T08:00:01.999Z"),
        (
            datetime(2026, 11, 24, 9, 30, 0, 5000, tzinfo=timezone(timedelta(hours=1))),
            "2026-11-24T08:30:00.005Z",
        ),
    ],
)
def test_format_timestamp_is_utc_milliseconds_z(value: datetime, expected: str) -> None:
    # GIVEN an aware datetime / WHEN formatted / THEN UTC, ms precision, Z suffix
    assert format_timestamp(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-24T08:00:00Z", datetime(2026, 11, 24, 8, 0, tzinfo=UTC)),
        ("2026-11-24T08:00:00.123Z", datetime(2026, 11, 24, 8, 0, 0, 123_000, tzinfo=UTC)),
        ("2026-11-24T10:00:00+02:00", datetime(2026, 11, 24, 8, 0, tzinfo=UTC)),
        ("2026-11-24T08:00:00", datetime(2026, 11, 24, 8, 0, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_returns_utc(value: str, expected: datetime) -> None:
    # GIVEN an OCPP dateTime, with offset, Z or none (taken as UTC)
    # WHEN parsed
    parsed = parse_timestamp(value)
    # THEN it is the instant, in UTC
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("value", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-24T25:00Z"])
def test_parse_timestamp_rejects_garbage(value: str) -> None:
    # GIVEN text that is no date-time / WHEN / THEN ValueError
    with pytest.raises(ValueError, match=r"isoformat|out of range|must be in"):
        parse_timestamp(value)


@FAST
@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.builds(
            timezone,
            st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timedelta(minutes=m)),
        ),
    )
)
def test_timestamp_round_trips_at_millisecond_precision(value: datetime) -> None:
    # GIVEN any aware datetime / WHEN formatted and parsed / THEN same instant to the ms
    expected = value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)
    assert parse_timestamp(format_timestamp(value)) == expected
