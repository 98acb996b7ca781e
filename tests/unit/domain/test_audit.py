"""Audit entries: redaction (property-tested), changed fields, outcomes, ids, message log text."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from csms.domain.audit import (
    REDACTED,
    Actor,
    AuditChange,
    AuditOutcome,
    AuditRequest,
    audit_id,
    changed_fields,
    entries_for,
    is_secret_key,
    mask_id_token,
    redact,
    redact_path,
    resource_of,
)
from csms.domain.frames import MAX_FRAME_BYTES, frame_text, traced, truncate

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

# -- strategies ------------------------------------------------------------------------------

# Keys that are never secret and never id tokens (the property tests insert those themselves).
SAFE_KEYS = st.sampled_from(
    ["id", "name", "siteId", "status", "limitKw", "city", "evseId", "note", "kind", "items"]
)
# Text that cannot look like a credential, a secret marker or an id token mask.
SAFE_TEXT = st.text(alphabet="abcdefghijklmnop 0123456789-_", max_size=12)
SCALARS = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | SAFE_TEXT
SAFE_JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(SAFE_KEYS, children, max_size=4)
    ),
    max_leaves=20,
)
SECRET_KEYS = st.sampled_from(
    [
        "password",
        "Password",
        "passwordHash",
        "password_hash",
        "PASSWORD-HASH",
        "basicAuthPassword",
        "secret",
        "clientSecret",
        "apiKey",
        "x-api-key",
        "token",
        "accessToken",
        "refresh_token",
        "bearerToken",
        "authorization",
        "Authorization",
        "authorizationKey",
        "AuthorizationKey",
    ]
)
# Distinctive secret values: never produced by SAFE_JSON, long enough to search for.
SECRETS = st.text(alphabet="QRSTUVWXYZ", min_size=6, max_size=16).map(lambda s: f"S3cr3t{s}")


@st.composite
def with_secret(draw: st.DrawFn) -> tuple[Any, str]:
    """A JSON document with a secret planted under a secret key, somewhere in it."""
    secret = draw(SECRETS)
    planted: Any = {draw(SECRET_KEYS): secret}
    for _ in range(draw(st.integers(0, 3))):
        outer = draw(st.dictionaries(SAFE_KEYS, SAFE_JSON, max_size=3))
        if draw(st.booleans()):
            planted = [*draw(st.lists(SAFE_JSON, max_size=2)), planted]
        else:
            planted = {**outer, draw(SAFE_KEYS) + "x": planted}
    return planted, secret


# -- redaction -------------------------------------------------------------------------------


@settings(max_examples=300)
@given(with_secret())
def test_redact_never_keeps_a_value_under_a_secret_key(document: tuple[Any, str]) -> None:
    # GIVEN a document with a secret under a password/secret/token/authorization key anywhere
    data, secret = document
    # WHEN it is redacted
    redacted = redact(data)
    # THEN the secret appears nowhere in it
    assert secret not in json.dumps(redacted)


@settings(max_examples=200)
@given(SAFE_JSON)
def test_redact_keeps_what_holds_no_secret(data: Any) -> None:
    # GIVEN a document without secrets (tuples become lists, as in JSON)
    # WHEN it is redacted THEN it is unchanged
    assert redact(data) == json.loads(json.dumps(data))


@settings(max_examples=200)
@given(with_secret() | SAFE_JSON.map(lambda d: (d, "")))
def test_redact_is_idempotent(document: tuple[Any, str]) -> None:
    once = redact(document[0])
    assert redact(once) == once


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=36), st.sampled_from(["idToken", "idTag", "parentIdTag"]))
def test_redact_masks_id_tokens_but_the_last_four(value: str, key: str) -> None:
    # GIVEN an id token value (not one that looks like a bearer credential: that goes whole)
    assume(redact({"note": value}) == {"note": value})
    # WHEN it is redacted
    masked = redact({key: value})[key]
    # THEN its length stays, and at most its last 4 characters are visible
    visible = value[-4:] if len(value) > 4 else ""
    assert masked == "*" * (len(value) - len(visible)) + visible


def test_redact_masks_nested_201_id_tokens_and_keeps_their_type() -> None:
    # GIVEN a 2.0.1 idToken object and a 1.6 local list entry
    data = {
        "idToken": {"idToken": "04A2B3C4D5E6F7", "type": "ISO14443"},
        "localAuthorizationList": [{"idTag": "CARD0001", "idTagInfo": {"parentIdTag": "P-9999"}}],
    }
    # WHEN redacted
    redacted = redact(data)
    # THEN the values are masked and the type stays readable
    assert redacted["idToken"] == {"idToken": "**********E6F7", "type": "ISO14443"}
    entry = redacted["localAuthorizationList"][0]
    assert entry["idTag"] == "****0001"
    assert entry["idTagInfo"]["parentIdTag"] == "**9999"


@pytest.mark.parametrize(
    "command",
    [
        # 1.6 ChangeConfiguration, and the same in the API's own command body
        {"key": "AuthorizationKey", "value": "pw-AAAAAAAAAAAAAAAA"},
        {"action": "ChangeConfiguration", "setting": "BasicAuthPassword", "value": "pw-AAAA"},
        # 1.6 GetConfiguration answer
        {"configurationKey": [{"key": "AuthorizationKey", "readonly": False, "value": "pw-AAAA"}]},
        # 2.0.1 SetVariables / GetVariables answer
        {
            "setVariableData": [
                {
                    "attributeValue": "pw-AAAA",
                    "component": {"name": "SecurityCtrlr"},
                    "variable": {"name": "BasicAuthPassword"},
                }
            ]
        },
    ],
)
def test_redact_removes_station_passwords_inside_configuration(command: dict[str, Any]) -> None:
    # WHEN a configuration command or answer carrying a station password is redacted
    redacted = json.dumps(redact(command))
    # THEN the password is gone and the setting's name stays
    assert "pw-AAAA" not in redacted
    assert REDACTED in redacted


def test_redact_keeps_ordinary_configuration_values() -> None:
    data = {"key": "HeartbeatInterval", "value": "300"}
    assert redact(data) == data


@pytest.mark.parametrize(
    "value",
    [
        "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln",
        "basic Q1AtMTpzZWNyZXQtcGFzcw==",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc",
    ],
)
def test_redact_removes_credentials_recognised_by_their_form(value: str) -> None:
    # GIVEN a header value or a JWT under an innocent key
    # THEN it is removed
    assert redact({"note": value, "items": [value]}) == {"note": REDACTED, "items": [REDACTED]}


def test_secret_keys_are_matched_without_regard_to_case_or_separators() -> None:
    assert is_secret_key("PasswordHash")
    assert is_secret_key("password_hash")
    assert is_secret_key("X-Api-Key")
    assert not is_secret_key("idToken")
    assert not is_secret_key("tokenType")
    assert not is_secret_key("authorizationStatus")


def test_mask_id_token_masks_short_values_whole() -> None:
    assert mask_id_token("ABCD") == "****"
    assert mask_id_token("ABCDE") == "*BCDE"


# -- changed fields --------------------------------------------------------------------------


def test_changed_fields_names_nested_paths_sorted() -> None:
    before = {"name": "A", "address": {"city": "X", "street": "S"}, "limitKw": 10}
    after = {"name": "A", "address": {"city": "Y", "street": "S"}, "limitKw": 11, "note": "n"}
    assert changed_fields(before, after) == ["address.city", "limitKw", "note"]


def test_changed_fields_of_created_and_removed_resources_are_all_their_fields() -> None:
    assert changed_fields(None, {"b": 1, "a": 2}) == ["a", "b"]
    assert changed_fields({"a": 1}, None) == ["a"]
    assert changed_fields(None, None) == []


def test_changed_fields_notes_a_nested_object_replaced_by_a_scalar() -> None:
    assert changed_fields({"address": {"city": "X"}}, {"address": None}) == ["address"]


# -- entries ---------------------------------------------------------------------------------


def a_request(**over: Any) -> AuditRequest:
    values: dict[str, Any] = {
        "tenant_id": "t-1",
        "actor": Actor(subject="u-1", role="admin"),
        "method": "PATCH",
        "path": "/v1/sites/s-1",
        "route": "/v1/sites/<site_id>",
        "status": 200,
        "source_ip": "198.51.100.1",
        "request_id": "r-1",
    }
    return AuditRequest(**{**values, **over})


def test_entries_for_a_change_carry_redacted_before_after_and_changed_fields() -> None:
    # GIVEN a route that noted a change, carelessly with a password in it
    change = AuditChange(
        kind="station",
        resource_id="CP-1",
        before={"name": "a", "password": "old-secret-123"},
        after={"name": "b", "password": "new-secret-456"},
        action="station.update",
    )
    # WHEN the entries are built
    [entry] = entries_for(a_request(), [change], T0, ["id-1"])
    # THEN before/after are redacted, yet the password is named as changed
    assert entry.before == {"name": "a", "password": REDACTED}
    assert entry.after == {"name": "b", "password": REDACTED}
    assert entry.changed_fields == ("name", "password")
    assert (entry.action, entry.resource_kind, entry.resource_id) == (
        "station.update",
        "station",
        "CP-1",
    )
    assert entry.outcome is AuditOutcome.SUCCEEDED
    assert "secret" not in entry.model_dump_json()


def test_entries_for_a_change_without_action_name_it_by_kind_and_method() -> None:
    [entry] = entries_for(
        a_request(method="DELETE"), [AuditChange(kind="site", resource_id="s-1")], T0, ["i"]
    )
    assert entry.action == "site.delete"


def test_entries_for_a_request_without_changes_describe_the_request() -> None:
    # GIVEN a refused command (no change recorded)
    request = a_request(
        method="POST",
        path="/v1/stations/CP-1/commands",
        route="/v1/stations/<station_id>/commands",
        status=403,
    )
    # WHEN the entries are built
    [entry] = entries_for(request, [], T0, ["i"])
    # THEN one entry names the request, its resource and the refusal
    assert entry.action == "POST /v1/stations/{station_id}/commands"
    assert (entry.resource_kind, entry.resource_id) == ("station", "CP-1")
    assert (entry.status, entry.outcome) == (403, AuditOutcome.DENIED)


def test_entries_for_token_resources_mask_the_value_in_id_and_path() -> None:
    request = a_request(path="/v1/tokens/04A2B3C4D5E6F7", route=None)
    [entry] = entries_for(
        request, [AuditChange(kind="token", resource_id="04A2B3C4D5E6F7")], T0, ["i"]
    )
    assert entry.resource_id == "**********E6F7"
    assert entry.path == "/v1/tokens/**********E6F7"
    assert "04A2B3C4D5" not in entry.model_dump_json()


def test_entries_for_refuse_naive_times() -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        entries_for(a_request(), [], datetime(2026, 1, 1), ["i"])  # noqa: DTZ001


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, AuditOutcome.SUCCEEDED),
        (204, AuditOutcome.SUCCEEDED),
        (401, AuditOutcome.DENIED),
        (403, AuditOutcome.DENIED),
        (404, AuditOutcome.REJECTED),
        (412, AuditOutcome.REJECTED),
        (500, AuditOutcome.FAILED),
    ],
)
def test_audit_outcome_follows_the_status(status: int, outcome: AuditOutcome) -> None:
    assert AuditOutcome.of(status) is outcome


def test_resource_of_reads_the_first_resource_of_a_path() -> None:
    assert resource_of("/v1/stations/CP-1/commands") == ("station", "CP-1")
    assert resource_of("/v1/sites") == ("site", None)
    assert resource_of("/v1/audit") == ("audit", None)
    assert resource_of("/v1") == (None, None)


def test_redact_path_leaves_other_paths_alone() -> None:
    assert redact_path("/v1/stations/CP-1") == "/v1/stations/CP-1"
    assert redact_path("/v1/tokens") == "/v1/tokens"


def test_audit_id_is_a_uuid7_that_sorts_by_time() -> None:
    # GIVEN ids made a millisecond apart, the later one with smaller random bits
    first = audit_id(T0, "f" * 32)
    second = audit_id(T0 + timedelta(milliseconds=1), "0" * 32)
    # THEN they are version 7 UUIDs in time order
    assert uuid.UUID(first).version == 7
    assert first < second


# -- message log text ------------------------------------------------------------------------


def test_frame_text_redacts_and_reads_the_envelope() -> None:
    raw = json.dumps(
        [2, "m-1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": "pw-secret"}]
    )
    text = frame_text(raw)
    assert (text.message_type, text.unique_id, text.action) == (2, "m-1", "ChangeConfiguration")
    assert "pw-secret" not in text.text
    assert text.size == len(raw.encode())
    assert not text.truncated


def test_frame_text_keeps_unreadable_frames_as_text() -> None:
    text = frame_text(b"\xff[not json")
    assert (text.message_type, text.unique_id, text.action) == (None, None, None)
    assert text.text.endswith("[not json")


def test_frame_text_of_a_result_has_no_action() -> None:
    text = frame_text('[3,"m-1",{"status":"Accepted"}]')
    assert (text.message_type, text.unique_id, text.action) == (3, "m-1", None)


def test_frame_text_cuts_long_frames_at_4_kb() -> None:
    raw = json.dumps([2, "m", "DataTransfer", {"vendorId": "V", "data": "é" * 5000}])
    text = frame_text(raw)
    assert text.truncated
    assert len(text.text.encode()) <= MAX_FRAME_BYTES


def test_truncate_never_cuts_a_character_in_two() -> None:
    kept, cut = truncate("aé", 2)
    assert (kept, cut) == ("a", True)


def test_traced_until_the_end_of_the_window() -> None:
    assert traced(T0 + timedelta(seconds=1), T0)
    assert not traced(T0, T0)
    assert not traced(None, T0)
