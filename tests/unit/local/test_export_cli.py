"""`csms export`: follows the export pages, one file per kind, one-line errors."""

from __future__ import annotations

import email.message
import io
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from csms_local import cli, export
from csms_local.export import Answer, ExportError, urllib_fetch

BASE = "http://127.0.0.1:8000"


class StubServer:
    """Pages by URL; records every request it answers."""

    def __init__(self, pages: dict[str, Answer]) -> None:
        self.pages = pages
        self.requests: list[tuple[str, dict[str, str]]] = []

    def __call__(self, url: str, headers: dict[str, str]) -> Answer:
        self.requests.append((url, headers))
        return self.pages.get(url) or Answer(404, {}, b'{"title":"Not Found"}')


def page(body: str, next_path: str | None = None) -> Answer:
    headers = {"link": f'<{next_path}>; rel="next"'} if next_path else {}
    return Answer(200, headers, body.encode())


def jsonl(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> StubServer:
    stub = StubServer({})
    monkeypatch.setattr(export, "urllib_fetch", stub)
    return stub


def test_export_cli_follows_links_and_writes_one_file_per_kind(
    server: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN tokens in two pages and stations in one
    server.pages = {
        f"{BASE}/v1/export/tokens?format=jsonl": page(
            jsonl({"idToken": "A"}), "/v1/export/tokens?format=jsonl&cursor=c1"
        ),
        f"{BASE}/v1/export/tokens?format=jsonl&cursor=c1": page(jsonl({"idToken": "B"})),
        f"{BASE}/v1/export/stations?format=jsonl": page(jsonl({"id": "CP-1"})),
    }
    # WHEN both kinds are exported
    code = cli.main(
        ["export", "--token", "T", "--out", str(tmp_path), "--kinds", "tokens", "stations"]
    )
    # THEN each kind is in its own file, every page of it, and the summary says so
    assert code == 0
    tokens = [json.loads(line) for line in (tmp_path / "tokens.jsonl").read_text().splitlines()]
    assert tokens == [{"idToken": "A"}, {"idToken": "B"}]
    assert (tmp_path / "stations.jsonl").read_text() == jsonl({"id": "CP-1"})
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["tokens", "2"]
    assert out[1].split()[:2] == ["stations", "1"]
    # AND every request carried the bearer token
    assert {h["Authorization"] for _, h in server.requests} == {"Bearer T"}
    assert not list(tmp_path.glob("*.part"))


def test_export_cli_csv_keeps_one_header_row(server: StubServer, tmp_path: Path) -> None:
    # GIVEN a CSV export in two pages, each with its header row
    server.pages = {
        f"{BASE}/v1/export/sites?format=csv&limit=1": page(
            "id,name\r\ns-1,One\r\n", "/v1/export/sites?format=csv&limit=1&cursor=x"
        ),
        f"{BASE}/v1/export/sites?format=csv&limit=1&cursor=x": page("id,name\r\ns-2,Two\r\n"),
    }
    # WHEN exported
    written = export.export(BASE, "T", tmp_path, fmt="csv", kinds=["sites"], limit=1, fetch=server)
    # THEN the file has one header row and every row
    assert (tmp_path / "sites.csv").read_bytes() == b"id,name\r\ns-1,One\r\ns-2,Two\r\n"
    assert (written[0].records, written[0].pages) == (2, 2)


def test_export_cli_http_error_is_one_line_and_leaves_no_file(
    server: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the server refuses the caller
    problem = {"title": "Forbidden", "detail": "role viewer may not export", "status": 403}
    server.pages = {
        f"{BASE}/v1/export/tokens?format=jsonl": Answer(403, {}, json.dumps(problem).encode())
    }
    # WHEN exported
    code = cli.main(["export", "--token", "T", "--out", str(tmp_path), "--kinds", "tokens"])
    # THEN one line with the status and the problem, exit 2, and no file left behind
    assert code == 2
    err = capsys.readouterr().err
    assert err == "csms: error: tokens: HTTP 403: Forbidden: role viewer may not export\n"
    assert list(tmp_path.iterdir()) == []


def test_export_cli_needs_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CSMS_TOKEN", raising=False)
    assert cli.main(["export", "--out", str(tmp_path)]) == 2
    assert "a bearer token is needed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("pages", "expected"),
    [
        # a link to another host: the token must not go there
        (
            {f"{BASE}/v1/export/tokens?format=jsonl": page("", "http://evil.example/steal")},
            "links to another host (evil.example)",
        ),
        # a link to the page just read
        (
            {f"{BASE}/v1/export/tokens?format=jsonl": page("", "/v1/export/tokens?format=jsonl")},
            "links to a page already read",
        ),
        # an error with a problem body, and one with a body that is not JSON
        ({}, "tokens: HTTP 404: Not Found"),
        (
            {f"{BASE}/v1/export/tokens?format=jsonl": Answer(502, {}, b"<html>bad</html>")},
            "tokens: HTTP 502$",
        ),
    ],
)
def test_export_refuses_what_it_cannot_follow(
    tmp_path: Path, pages: dict[str, Answer], expected: str
) -> None:
    with pytest.raises(ExportError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        export.export(BASE, "T", tmp_path, kinds=["tokens"], fetch=StubServer(pages))


@pytest.mark.parametrize(
    ("url", "fmt", "expected"),
    [("ftp://host", "jsonl", "is not an http"), (BASE, "xml", "format must be one of")],
)
def test_export_refuses_bad_url_or_format(
    tmp_path: Path, url: str, fmt: str, expected: str
) -> None:
    with pytest.raises(ExportError, match=expected):
        export.export(url, "T", tmp_path, fmt=fmt, fetch=StubServer({}))


def test_export_ignores_links_that_are_not_next(tmp_path: Path) -> None:
    stub = StubServer(
        {
            f"{BASE}/v1/export/tokens?format=jsonl": Answer(
                200, {"link": '</v1/x>; rel="prev"'}, b'{"idToken":"A"}\n'
            )
        }
    )
    [written] = export.export(BASE, "T", tmp_path, kinds=["tokens"], fetch=stub)
    assert (written.records, written.pages) == (1, 1)


# -- urllib --------------------------------------------------------------------------------


class FakeResponse(io.BytesIO):
    status = 200
    headers = {"Link": '</next>; rel="next"', "Content-Type": "application/x-ndjson"}

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_urllib_fetch_answers_success_and_http_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN urlopen answers once, then fails with 401
    seen: list[urllib.request.Request] = []

    def ok(request: urllib.request.Request, timeout: float) -> FakeResponse:
        seen.append(request)
        return FakeResponse(b"{}\n")

    monkeypatch.setattr(urllib.request, "urlopen", ok)
    answer = urllib_fetch(f"{BASE}/v1/export/tokens", {"Authorization": "Bearer T"})
    assert (answer.status, answer.body, answer.headers["link"]) == (
        200,
        b"{}\n",
        '</next>; rel="next"',
    )
    assert seen[0].get_header("Authorization") == "Bearer T"

    def refused(request: urllib.request.Request, timeout: float) -> FakeResponse:
        headers = email.message.Message()
        headers["Content-Type"] = "application/problem+json"
        raise urllib.error.HTTPError(
            request.full_url, 401, "Unauthorized", headers, io.BytesIO(b'{"title":"Unauthorized"}')
        )

    monkeypatch.setattr(urllib.request, "urlopen", refused)
    answer = urllib_fetch(f"{BASE}/v1/export/tokens", {})
    assert (answer.status, answer.body) == (401, b'{"title":"Unauthorized"}')
    assert answer.headers["content-type"] == "application/problem+json"


def test_urllib_fetch_unreachable_server_is_an_export_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def down(request: urllib.request.Request, timeout: float) -> FakeResponse:
        raise urllib.error.URLError("Connection refused")

    monkeypatch.setattr(urllib.request, "urlopen", down)
    with pytest.raises(ExportError, match=r"cannot reach .*: Connection refused"):
        urllib_fetch(f"{BASE}/v1/export/tokens", {})
    with pytest.raises(ExportError, match="only http and https"):
        urllib_fetch("file:///etc/passwd", {})
