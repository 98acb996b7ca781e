"""`csms export`: follow the HTTP API's export pages and write one file per kind.

Only the standard library: the export is a handful of GET requests. The bearer token goes only
to the origin given with `--url` (a `Link` to anywhere else is refused).
"""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

KINDS: tuple[str, ...] = (
    "stations",
    "sites",
    "tokens",
    "groups",
    "vehicles",
    "sessions",
    "meter-values",
)
FORMATS = ("jsonl", "csv")
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?', re.IGNORECASE)
TIMEOUT_S = 60.0


class ExportError(Exception):
    """The export could not be completed (printed as one line)."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, headers (lower-cased names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


Fetch = Callable[[str, dict[str, str]], Answer]
"""GET a URL with these headers; raises ExportError when the server cannot be reached."""


def urllib_fetch(url: str, headers: dict[str, str]) -> Answer:
    """GET with urllib; an HTTP error status is an answer too."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ExportError(f"{url}: only http and https URLs are supported")
    request = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310 - checked
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            return Answer(
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as exc:
        body = exc.read() if exc.fp is not None else b""
        return Answer(exc.code, {k.lower(): v for k, v in (exc.headers or {}).items()}, body)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ExportError(f"cannot reach {url}: {reason}") from None


@dataclass(frozen=True)
class Written:
    """What was written for one kind."""

    kind: str
    path: Path
    records: int
    pages: int


def export(
    url: str,
    token: str,
    out: Path,
    *,
    fmt: str = "jsonl",
    kinds: Sequence[str] = KINDS,
    limit: int | None = None,
    fetch: Fetch | None = None,
) -> list[Written]:
    """Write `{out}/{kind}.{fmt}` for each kind, following the pages to the end.

    A file is written under a temporary name and renamed when complete, so an interrupted
    export never leaves a file that looks whole.
    """
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}")
    base = url.rstrip("/")
    origin = urlsplit(base)
    if origin.scheme not in ("http", "https") or not origin.netloc:
        raise ExportError(f"--url {url!r} is not an http(s) URL")
    out.mkdir(parents=True, exist_ok=True)
    get = fetch or urllib_fetch
    headers = {"Authorization": f"Bearer {token}", "Accept": "*/*"}
    written = []
    for kind in kinds:
        query = {"format": fmt, **({"limit": str(limit)} if limit else {})}
        first = f"{base}/v1/export/{kind}?{urlencode(query)}"
        path = out / f"{kind}.{fmt}"
        partial = path.with_name(path.name + ".part")
        try:
            with partial.open("w", encoding="utf-8", newline="") as file:
                records, pages = _follow(get, first, headers, file, fmt=fmt, kind=kind, base=base)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(path)
        written.append(Written(kind=kind, path=path, records=records, pages=pages))
    return written


def _follow(
    get: Fetch,
    url: str,
    headers: dict[str, str],
    file: io.TextIOBase,
    *,
    fmt: str,
    kind: str,
    base: str,
) -> tuple[int, int]:
    """Write every page of one kind; return the records and pages."""
    netloc = urlsplit(base).netloc
    next_url: str | None = url
    records = pages = 0
    seen: set[str] = set()
    while next_url is not None:
        if next_url in seen:
            raise ExportError(f"{kind}: the server links to a page already read")
        seen.add(next_url)
        answer = get(next_url, headers)
        if answer.status != 200:
            raise ExportError(f"{kind}: {_describe(answer)}")
        text = answer.body.decode("utf-8", errors="replace")
        count, text = _page(text, fmt, first=pages == 0)
        file.write(text)
        records += count
        pages += 1
        next_url = _next_url(answer.headers.get("link"), base, netloc)
    return records, pages


def _page(text: str, fmt: str, *, first: bool) -> tuple[int, str]:
    """The records in a page, and what of it goes into the file."""
    if fmt == "jsonl":
        return sum(1 for line in text.splitlines() if line.strip()), text
    rows = list(csv.reader(io.StringIO(text)))
    if first:
        return max(len(rows) - 1, 0), text
    # Every page starts with the header row; the file keeps only the first one.
    _, _, rest = text.partition("\n")
    return max(len(rows) - 1, 0), rest


def _next_url(link: str | None, base: str, netloc: str) -> str | None:
    if not link:
        return None
    match = _NEXT.search(link)
    if match is None:
        return None
    target: str = urljoin(base + "/", match.group(1))
    if urlsplit(target).netloc != netloc:
        raise ExportError(f"the server links to another host ({urlsplit(target).netloc})")
    return target


def _describe(answer: Answer) -> str:
    """One line for an error answer: its status and, from a problem body, title and detail."""
    problem: Any = None
    try:
        problem = json.loads(answer.body.decode("utf-8")) if answer.body else None
    except (UnicodeDecodeError, ValueError):
        problem = None
    parts = [f"HTTP {answer.status}"]
    if isinstance(problem, dict):
        texts = (problem.get(key) for key in ("title", "detail"))
        parts.extend(" ".join(text.split()) for text in texts if isinstance(text, str) and text)
    return ": ".join(parts)
