"""Fuzzing the `$default` handler on moto: >= 10,000 random and mutated frames, both versions.

For every frame: no exception escapes; the result is `{"statusCode": 200}`, with no body or a
well-formed CALLRESULT/CALLERROR whose unique id is the frame's; a CALLERROR code is legal for the
version; a well-formed CALL always gets a reply, a CALLRESULT/CALLERROR never does; an internal
error never leaks exception text; and the station's stored data stays intact (its boot data
changes only when a valid BootNotification is accepted).
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.contract import golden
from tests.integration.conftest import Ctx, connect_event, seed_station

from csms.domain.connector import MAX_ID
from csms.domain.station import BootInfo, ProtocolVersion
from csms.handlers import _runtime, ws_connect, ws_message
from csms.ocpp.common import schemas
from csms.ocpp.common.errors import ErrorKind
from csms.ocpp.common.frames import CALL, CALL_ERROR, CALL_RESULT, MAX_UNIQUE_ID
from csms.ocpp.dispatch import PROTOCOLS
from csms.ocpp.v16 import protocol as p16
from csms.ocpp.v201 import protocol as p201

V16, V201 = ProtocolVersion.OCPP16, ProtocolVersion.OCPP201
STATION = "FUZZ-1"
TENANT = "default"
CONNECTION = "fuzz-conn"
EXAMPLES = 2_500  # per test: 2 families x 2 versions = 10,000 frames
STATION_CHECK_EVERY = 50
BOOT_INFO: dict[ProtocolVersion, Callable[[dict[str, Any]], BootInfo]] = {
    V16: p16.boot_info,
    V201: p201.boot_info,
}
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


# -- the station under fuzz -------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One `$default` event body, and the bytes or text the handler will read from it."""

    body: str
    is_base64: bool = False

    @property
    def seen(self) -> str | bytes:
        """What the handler parses: the body, or its base64 decoding (b"" when undecodable)."""
        if not self.is_base64:
            return self.body
        try:
            return base64.b64decode(self.body, validate=True)
        except ValueError:
            return b""


@dataclass
class Target:
    """A station bound over one version, and what must stay true of its stored data."""

    runtime: _runtime.Runtime
    version: ProtocolVersion
    expected_boot: BootInfo
    posted: list[tuple[str, str]] = field(default_factory=list)
    sent: int = 0
    replies: dict[str, int] = field(default_factory=dict)

    def send(self, frame: Sent) -> dict[str, Any]:
        event = {
            "requestContext": {
                "routeKey": "$default",
                "eventType": "MESSAGE",
                "connectionId": CONNECTION,
            },
            "body": frame.body,
            "isBase64Encoded": frame.is_base64,
        }
        self.sent += 1
        return ws_message.lambda_handler(event, Ctx())


@pytest.fixture(params=[V16, V201], ids=["v16", "v201"])
def target(
    runtime: _runtime.Runtime, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Target:
    version: ProtocolVersion = request.param
    seed_station(runtime, STATION, tenant=TENANT)
    accepted = ws_connect.lambda_handler(
        connect_event(STATION, CONNECTION, protocols=version.value), Ctx()
    )
    assert accepted == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": version.value}}
    posted: list[tuple[str, str]] = []
    # Nothing the station sends may make the CSMS post to a connection.
    monkeypatch.setattr(runtime.sender, "send", lambda cid, frame: posted.append((cid, frame)))
    fuzzed = Target(runtime, version, BootInfo(vendor="?", model="?"), posted)
    boot = golden.frame(version, "boot_notification")
    reply = fuzzed.send(Sent(json.dumps(boot)))
    assert json.loads(reply["body"])[0] == CALL_RESULT
    fuzzed.expected_boot = BOOT_INFO[version](boot[3])
    assert _stored_boot(runtime) == fuzzed.expected_boot
    return fuzzed


def _stored_boot(runtime: _runtime.Runtime) -> BootInfo | None:
    station = runtime.station_repository.get(STATION)
    assert station is not None
    return station.boot


# -- the oracle -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """What the frame entitles the station to, read independently of the dispatcher."""

    unique_id: str | None = None  # the id any reply must carry (None: no reply is possible)
    call: tuple[str, dict[str, Any]] | None = None  # (action, payload) of a well-formed CALL
    is_reply: bool = False  # a CALLRESULT/CALLERROR (well-formed or not): never answered


def _no_constants(name: str) -> None:
    raise ValueError(name)


def expect(seen: str | bytes) -> Expectation:
    """Read the frame as RFC 8259 JSON in UTF-8 and OCPP-J; anything unreadable earns no reply.

    A frame whose strings hold lone surrogates is no Unicode text: it may be answered with a
    CALLERROR, never with a CALLRESULT.
    """
    try:
        text = seen.decode("utf-8") if isinstance(seen, bytes) else seen
        data = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return Expectation()
    if not isinstance(data, list) or not data:
        return Expectation()
    first = data[0]
    type_id = first if isinstance(first, int) and not isinstance(first, bool) else None
    if type_id in (CALL_RESULT, CALL_ERROR):
        return Expectation(is_reply=True)
    second = data[1] if len(data) > 1 else None
    unique_id = second if isinstance(second, str) and 1 <= len(second) <= MAX_UNIQUE_ID else None
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return Expectation(unique_id)
    if (
        type_id == CALL
        and unique_id is not None
        and len(data) == 4
        and isinstance(data[2], str)
        and data[2]
        and isinstance(data[3], dict)
    ):
        return Expectation(unique_id, (data[2], data[3]))
    return Expectation(unique_id)


def check(target: Target, frame: Sent) -> None:
    """Send one frame and hold the handler to every rule."""
    expectation = expect(frame.seen)
    result = target.send(frame)
    assert isinstance(result, dict)
    assert result.get("statusCode") == 200
    assert set(result) <= {"statusCode", "body"}
    body = result.get("body")
    if body is None:
        assert expectation.call is None, "a well-formed CALL got no reply"
        kind = "none"
    else:
        assert not expectation.is_reply, "a CALLRESULT/CALLERROR was answered"
        assert expectation.unique_id is not None, "a reply to a frame without a readable id"
        kind = _check_reply(target.version, expectation, body)
    target.replies[kind] = target.replies.get(kind, 0) + 1
    _check_station(target, expectation, kind)


def _check_reply(version: ProtocolVersion, expectation: Expectation, body: object) -> str:
    assert isinstance(body, str)
    reply = json.loads(body, parse_constant=_no_constants)
    assert isinstance(reply, list)
    assert reply[1] == expectation.unique_id
    if reply[0] == CALL_RESULT:
        assert expectation.call is not None, "a CALLRESULT to something that is not a CALL"
        assert len(reply) == 3
        assert isinstance(reply[2], dict)
        action, _ = expectation.call
        schemas.validate(golden.SCHEMA_VERSIONS[version], CALL_RESULT, action, reply[2])
        return "result"
    assert reply[0] == CALL_ERROR
    assert len(reply) == 5
    _, _, code, description, details = reply
    assert isinstance(code, str)
    assert code in golden.LEGAL_ERROR_CODES[version]
    assert isinstance(description, str)
    assert len(description) <= 255
    assert isinstance(details, dict)
    assert "Traceback" not in description
    if code == PROTOCOLS[version].code(ErrorKind.INTERNAL_ERROR):
        assert description == "internal error", "an internal error leaked its text"
        assert details == {}
    return code


def _check_station(target: Target, expectation: Expectation, kind: str) -> None:
    action, payload = expectation.call or ("", {})
    if kind == "result" and action == "BootNotification":
        target.expected_boot = BOOT_INFO[target.version](payload)
    elif kind == "InternalError":
        raise AssertionError(f"{action or 'a frame'} failed inside the CSMS: InternalError")
    elif target.sent % STATION_CHECK_EVERY:
        # Reading the station costs more than the frame: check after writes, and now and then.
        return
    assert_station_intact(target)


def assert_station_intact(target: Target) -> None:
    """The station exists, is still online on its connection, and its boot data is as expected."""
    station = target.runtime.station_repository.get(STATION)
    assert station is not None
    assert station.tenant_id == TENANT
    assert station.online
    assert station.connection_id == CONNECTION
    assert station.protocol is target.version
    assert station.boot == target.expected_boot
    assert target.posted == []


# -- strategies -------------------------------------------------------------------------------

KNOWN_ACTIONS = sorted(schemas.known_actions("1.6") | schemas.known_actions("2.0.1"))
TRICKY_STRINGS = [
    "",
    " ",
    "\x00",
    "\ud800",
    "\udfff",
    "é",
    "\U0001f50c" * 9,
    "2026-11-24T08:00:00Z",
    "2026-11-24",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2026-11-24T08:00:00+14:00",
    "2026-13-01T00:00:00Z",
    "not a date",
    "NaN",
    "null",
    "Available",
    "Occupied",
    "NoError",
    "PowerUp",
    "Hard",
    "x" * 37,
    "-1",
    "%s%n{0}",
    "'; DROP TABLE stations; --",
    "<script>alert(1)</script>",
    "../" * 6,
]
KEYS = [
    "chargePointVendor",
    "chargePointModel",
    "chargingStation",
    "vendorName",
    "model",
    "serialNumber",
    "firmwareVersion",
    "modem",
    "iccid",
    "reason",
    "connectorId",
    "evseId",
    "errorCode",
    "status",
    "connectorStatus",
    "timestamp",
    "customData",
    "vendorId",
    "idTag",
    "idToken",
    "__proto__",
]
GOLDEN_FRAMES: list[list[Any]] = [
    golden.frame(version, name) for version in (V16, V201) for name in golden.names(version)
] + [
    [CALL_ERROR, "golden-cmd", "GenericError", "broken", {}],
    [CALL_ERROR, "golden-cmd", "NotSupported", "", {"detail": [1, 2]}],
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    st.text(max_size=40),
    st.sampled_from(TRICKY_STRINGS),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=12)), children, max_size=4
        ),
    ),
    max_leaves=12,
)
unique_ids = st.one_of(
    st.text(min_size=1, max_size=MAX_UNIQUE_ID),
    st.sampled_from(["", "x" * 36, "x" * 37, "\ud800", " ", "\U0001f50c" * 36, "\U0001f50c" * 37]),
    json_values,
)
actions = st.one_of(
    st.sampled_from(KNOWN_ACTIONS),
    st.sampled_from(["", "heartbeat", "HEARTBEAT", "Heartbeat ", "BootNotificationRequest"]),
    st.text(max_size=20),
    json_values,
)
# Values of the same JSON type as the golden value they replace: frames that often stay valid.
tweaked_strings = st.one_of(st.text(max_size=25), st.sampled_from(TRICKY_STRINGS))
tweaked_integers = st.one_of(
    st.integers(min_value=-2, max_value=12),
    st.sampled_from([MAX_ID, MAX_ID + 1, 2**31, 2**63, -(2**63), 10**30]),
    st.integers(),
)
message_types: st.SearchStrategy[object] = st.one_of(
    st.sampled_from([0, 1, 2, 3, 4, 5, 6, -2, 2.0, 3.0, "2", "3", True, None, [], {}]),
    st.integers(),
)


def _huge(draw: st.DrawFn) -> str:
    size = draw(st.integers(min_value=256, max_value=120_000))
    return draw(st.sampled_from(["x", "\U0001f50c", "\\", '"', "\x00"])) * size


def _nested(draw: st.DrawFn) -> object:
    depth = draw(st.integers(min_value=1, max_value=200))
    value: object = draw(scalars)
    for _ in range(depth):
        value = [value] if draw(st.booleans()) else {"a": value}
    return value


def _slots(value: object) -> list[tuple[Any, Any]]:
    """Every (container, key) inside a frame, depth first."""
    found: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((value, key))
            found.extend(_slots(child))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((value, index))
            found.extend(_slots(child))
    return found


def _containers(value: object) -> list[Any]:
    found: list[Any] = []
    if isinstance(value, dict | list):
        found.append(value)
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            found.extend(_containers(child))
    return found


def _fresh(draw: st.DrawFn, strategy: st.SearchStrategy[Any]) -> Any:
    """A drawn value that later mutations may change without touching the strategy's own."""
    return copy.deepcopy(draw(strategy))


def _mutate(draw: st.DrawFn, frame: list[Any]) -> list[Any]:
    mutation = draw(
        st.sampled_from(
            ["tweak"] * 4
            + ["retype", "drop", "extend", "type", "id", "action", "length", "huge", "nest"]
        )
    )
    slots = _slots(frame)
    payload = frame[-1] if frame and isinstance(frame[-1], dict) else {}
    leaves = [
        (parent, key)
        for parent, key in _slots(payload)
        if isinstance(parent[key], str | int) and not isinstance(parent[key], bool)
    ]
    if mutation == "tweak" and leaves:
        parent, key = draw(st.sampled_from(leaves))
        parent[key] = draw(tweaked_strings if isinstance(parent[key], str) else tweaked_integers)
    elif mutation == "retype" and slots:
        parent, key = draw(st.sampled_from(slots))
        parent[key] = _fresh(draw, json_values)
    elif mutation == "drop" and slots:
        parent, key = draw(st.sampled_from(slots))
        del parent[key]
    elif mutation == "extend":
        container = draw(st.sampled_from(_containers(frame)))
        if isinstance(container, dict):
            key = draw(st.one_of(st.sampled_from(KEYS), st.text(max_size=12)))
            container[key] = _fresh(draw, json_values)
        else:
            container.insert(draw(st.integers(0, len(container))), _fresh(draw, json_values))
    elif mutation == "type" and frame:
        frame[0] = _fresh(draw, message_types)
    elif mutation == "id" and len(frame) > 1:
        frame[1] = _fresh(draw, unique_ids)
    elif mutation == "action" and len(frame) > 2:
        frame[2] = _fresh(draw, actions)
    elif mutation == "length":
        del frame[draw(st.integers(0, len(frame))) :]
    elif mutation == "huge" and slots:
        parent, key = draw(st.sampled_from(slots))
        parent[key] = _huge(draw)
    elif mutation == "nest" and slots:
        parent, key = draw(st.sampled_from(slots))
        parent[key] = _nested(draw)
    return frame


def _serialize(draw: st.DrawFn, frame: object) -> Sent:
    """JSON text as a station would send it: plain, padded, truncated or as a binary frame."""
    text = json.dumps(frame, ensure_ascii=draw(st.booleans()))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: only its \u escape can travel as UTF-8
        text = json.dumps(frame)
    form = draw(st.sampled_from(["plain", "plain", "plain", "padded", "truncated", "binary"]))
    if form == "padded":
        return Sent(" \n\t" + text + "\r\n ")
    if form == "truncated":
        return Sent(text[: draw(st.integers(0, max(0, len(text) - 1)))])
    if form == "binary":
        encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-32"]))
        return Sent(base64.b64encode(text.encode(encoding)).decode(), is_base64=True)
    return Sent(text)


@st.composite
def mutated_golden_frames(draw: st.DrawFn) -> Sent:
    """A golden frame (any version, any direction) with up to four mutations."""
    frame = copy.deepcopy(draw(st.sampled_from(GOLDEN_FRAMES)))
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        frame = _mutate(draw, frame)
    return _serialize(draw, frame)


@st.composite
def garbage_frames(draw: st.DrawFn) -> Sent:
    """Anything a socket can carry: random JSON, text, bytes, huge and deeply nested frames."""
    kind = draw(
        st.sampled_from(
            [
                "call",
                "call",
                "reply",
                "json",
                "text",
                "bytes",
                "bad-base64",
                "non-utf8",
                "huge",
                "deep",
                "constants",
            ]
        )
    )
    if kind == "call":  # well-formed CALLs of any action, with random payloads
        payload = draw(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5))
        return _serialize(draw, [CALL, draw(unique_ids), draw(actions), payload])
    if kind == "reply":
        if draw(st.booleans()):
            return _serialize(draw, [CALL_RESULT, draw(unique_ids), draw(json_values)])
        return _serialize(
            draw,
            [CALL_ERROR, draw(unique_ids), draw(json_values), draw(json_values), draw(json_values)],
        )
    if kind == "json":
        return _serialize(draw, draw(json_values))
    if kind == "text":
        return Sent(draw(st.text(max_size=300)))
    if kind == "bytes":
        return Sent(base64.b64encode(draw(st.binary(max_size=300))).decode(), is_base64=True)
    if kind == "bad-base64":
        return Sent(draw(st.text(min_size=1, max_size=60)), is_base64=True)
    if kind == "non-utf8":
        head = json.dumps([CALL, draw(unique_ids), "Heartbeat", {"a": ""}]).encode()[:-3]
        junk = draw(st.binary(min_size=1, max_size=8)) + b"\xff"
        return Sent(base64.b64encode(head + junk + b'"}]').decode(), is_base64=True)
    if kind == "huge":
        big = _huge(draw)
        return draw(
            st.sampled_from(
                [
                    Sent(
                        json.dumps([CALL, "huge", "BootNotification", {"chargePointVendor": big}])
                    ),
                    Sent(json.dumps([CALL, "huge", "Heartbeat", {big[:64]: big}])),
                    Sent(json.dumps([CALL, big, "Heartbeat", {}])),
                    Sent(json.dumps([CALL, "huge", big, {}])),
                    Sent(big),
                ]
            )
        )
    if kind == "deep":
        depth = draw(st.integers(min_value=5_000, max_value=60_000))
        return draw(
            st.sampled_from(
                [
                    Sent("[" * depth),
                    Sent("[" * depth + "]" * depth),
                    Sent('[2,"deep","Heartbeat",' + '{"a":' * depth + "{}" + "}" * depth + "]"),
                ]
            )
        )
    literal = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-0", "1.5e-400"]))
    return Sent(f'[2,"{draw(st.sampled_from(["c1", "c2"]))}","Heartbeat",{{"a":{literal}}}]')


# -- the tests --------------------------------------------------------------------------------


def _fuzz(target: Target, frames: st.SearchStrategy[Sent]) -> None:
    @FUZZ_SETTINGS
    @given(frame=frames)
    def run(frame: Sent) -> None:
        check(target, frame)

    started = time.perf_counter()
    run()
    assert_station_intact(target)
    elapsed = time.perf_counter() - started
    print(  # noqa: T201 - shown with -s: how much was sent, how it was answered, how fast
        f"{target.version}: {target.sent} frames in {elapsed:.1f}s, replies {target.replies}"
    )
    assert target.sent > EXAMPLES


def test_ws_message_mutated_golden_frames_get_legal_replies(target: Target) -> None:
    # GIVEN a station bound over its version, booted with a golden BootNotification
    # WHEN it sends thousands of golden frames with fields dropped, retyped, extended, made huge
    #      or nested, wrong message types, ids and actions, truncated or as binary frames
    # THEN every frame gets a legal reply or none, as OCPP-J demands, and the data stays intact
    _fuzz(target, mutated_golden_frames())


def test_ws_message_garbage_frames_get_legal_replies(target: Target) -> None:
    # GIVEN a station bound over its version, booted with a golden BootNotification
    # WHEN it sends random JSON, text, bytes, bad base64, non-UTF-8, huge and deep frames
    # THEN every frame gets a legal reply or none, as OCPP-J demands, and the data stays intact
    _fuzz(target, garbage_frames())


def test_ws_message_reply_to_escaped_lone_surrogate_id_is_valid_utf8(target: Target) -> None:
    # GIVEN a bound station
    # WHEN it sends a well-formed CALL whose unique id is the JSON escape of a lone surrogate
    result = target.send(Sent('[2,"\\ud800","Heartbeat",{}]'))
    # THEN the reply can travel as a WebSocket text frame and still carries the same id
    body = result["body"]
    assert isinstance(body, str)
    wire = body.encode("utf-8")
    assert json.loads(wire)[1] == "\ud800"


SURROGATE_BOOTS = {
    V16: '{"chargePointVendor":"Acme","chargePointModel":"NEW",'
    '"chargePointSerialNumber":"\\udfff"}',
    V201: '{"reason":"PowerUp","chargingStation":'
    '{"vendorName":"Acme","model":"NEW","serialNumber":"\\udfff"}}',
}


def test_ws_message_boot_with_escaped_lone_surrogate_is_refused_without_writing(
    target: Target,
) -> None:
    # GIVEN a booted station
    before = _stored_boot(target.runtime)
    # WHEN it boots again with a string that no UTF-8 text can carry (a lone surrogate)
    result = target.send(
        Sent(f'[2,"surrogate","BootNotification",{SURROGATE_BOOTS[target.version]}]')
    )
    # THEN the boot is refused as malformed, and nothing of it is stored
    reply = json.loads(result["body"])
    assert reply[0] == CALL_ERROR
    assert reply[2] in golden.LEGAL_ERROR_CODES[target.version] - {"InternalError"}
    assert _stored_boot(target.runtime) == before
