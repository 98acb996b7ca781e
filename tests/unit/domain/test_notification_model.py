"""The notification model: JSON detail, cutting, fingerprints, retransmissions."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.fakes import T0

from csms.domain.notifications import (
    MAX_DETAIL_CHARS,
    RETRANSMISSION_WINDOW,
    CertificateAnswer,
    ChargingNeeds,
    NoteKind,
    StationNote,
    cut,
    fingerprint,
    json_text,
)

FAST = settings(database=None, deadline=None, max_examples=200)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def a_note(**over: object) -> StationNote:
    values: dict[str, object] = {
        "kind": NoteKind.FIRMWARE_STATUS,
        "at": T0,
        "received_at": T0,
        "unique_id": "u-1",
        "fingerprint": "f" * 32,
        "status": "Installing",
        "detail": '{"a":1}',
        "truncated": True,
    }
    values.update(over)
    return StationNote(**values)


@FAST
@given(JSON)
def test_json_text_of_any_json_value_is_compact_json_or_none(value: object) -> None:
    # GIVEN any JSON value
    # WHEN it is written as a note's detail
    text = json_text(value)  # type: ignore[arg-type]
    # THEN it is None exactly for no value, else JSON text that reads back as the value
    assert (text is None) == (value is None)
    if text is not None:
        assert json.loads(text) == value


def test_json_text_keeps_unicode_as_it_is() -> None:
    # GIVEN a value with non-ASCII text
    # WHEN written
    # THEN the characters stay themselves (a note is read by people)
    assert json_text({"name": "Café ⚡"}) == '{"name":"Café ⚡"}'


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [1, float("-inf")]])
def test_json_text_of_a_value_json_cannot_hold_is_none(value: object) -> None:
    # GIVEN a value with NaN or an infinity (not JSON, though Python writes them)
    # WHEN written / THEN there is no text
    assert json_text(value) is None  # type: ignore[arg-type]


def test_json_text_of_a_value_too_deep_to_write_is_none() -> None:
    # GIVEN a value nested deeper than the interpreter can write
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    # WHEN it is written
    # THEN there is no detail rather than a failure
    assert json_text(deep) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, (None, False)),
        ("", ("", False)),
        ("x" * MAX_DETAIL_CHARS, ("x" * MAX_DETAIL_CHARS, False)),
        ("x" * (MAX_DETAIL_CHARS + 1), ("x" * MAX_DETAIL_CHARS, True)),
    ],
    ids=["none", "empty", "at-the-limit", "over-the-limit"],
)
def test_cut_keeps_at_most_the_limit(text: str | None, expected: tuple[str | None, bool]) -> None:
    # GIVEN a text / WHEN cut / THEN at most MAX_DETAIL_CHARS remain, and the flag says so
    assert cut(text) == expected


def test_fingerprint_is_stable_and_tells_every_part_apart() -> None:
    # GIVEN the parts of a message
    parts = ("FirmwareStatus", "u-1", T0, "Installing", None, 3, False)
    # WHEN fingerprinted twice, and with any part changed
    # THEN the same parts give the same digest, and any change another
    assert fingerprint(*parts) == fingerprint(*parts)
    assert len(fingerprint(*parts)) == 32
    changed = {fingerprint(*parts[:i], "other", *parts[i + 1 :]) for i in range(len(parts))}
    assert len(changed) == len(parts)
    assert fingerprint(*parts) not in changed
    # A lone surrogate cannot reach here from a frame, but must not break the digest either.
    assert len(fingerprint("\ud800")) == 32


def test_note_is_retransmission_only_of_the_same_fingerprint_within_the_window() -> None:
    # GIVEN a note
    earlier = a_note()
    # WHEN the same message arrives again, later, or another one arrives
    again = a_note(received_at=T0 + RETRANSMISSION_WINDOW)
    late = a_note(received_at=T0 + RETRANSMISSION_WINDOW + timedelta(microseconds=1))
    other = a_note(fingerprint="0" * 32)
    # THEN only the first is a retransmission
    assert again.is_retransmission_of(earlier)
    assert not late.is_retransmission_of(earlier)
    assert not other.is_retransmission_of(earlier)


def test_note_without_detail_drops_only_the_detail() -> None:
    # GIVEN a note with a cut detail
    note = a_note()
    # WHEN its latest-of-kind form is taken
    slim = note.without_detail()
    # THEN detail and flag are gone, the rest stays
    assert (slim.detail, slim.truncated) == (None, False)
    assert slim.model_copy(update={"detail": note.detail, "truncated": True}) == note


def test_note_times_must_be_tz_aware() -> None:
    # GIVEN / WHEN a note with a naive time / THEN it is refused
    with pytest.raises(ValidationError):
        a_note(at=T0.replace(tzinfo=None))


def test_certificate_answer_reason_fits_status_info() -> None:
    # GIVEN / WHEN a reason longer than 2.0.1 StatusInfoType allows (20) / THEN it is refused
    with pytest.raises(ValidationError):
        CertificateAnswer(accepted=False, reason_code="x" * 21, info="")


@pytest.mark.parametrize(
    "over",
    [{"evse_id": -1}, {"evse_id": 100_000}, {"energy_amount_wh": -1}, {"state_of_charge_pct": 101}],
)
def test_charging_needs_out_of_range_are_refused(over: dict[str, int]) -> None:
    # GIVEN / WHEN needs with a value out of range / THEN they are refused
    with pytest.raises(ValidationError):
        ChargingNeeds.model_validate({"evse_id": 1, "requested_transfer": "DC", **over})
