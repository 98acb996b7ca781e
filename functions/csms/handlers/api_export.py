"""Data export for portability: a tenant's data as JSON Lines or CSV, a page per request.

Each record is the public API representation of its kind (the models the other routes
answer with); CSV flattens nested objects into dotted columns, fixed per kind, with a header
row on every page. A page holds up to `limit` records (meter values: at least, see below) and
stays far below Lambda's 6 MB response limit; the next page is named in a `Link` header
(RFC 8288, `rel="next"`), and is absent on the last page.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field

from csms.domain.access import Permission, Principal
from csms.domain.errors import InvalidCursorError
from csms.domain.sessions import MeterChunk, Session
from csms.handlers.api_access import current_principal, operation
from csms.handlers.api_common import BAD_REQUEST, new_router, problems, runtime
from csms.handlers.api_models import (
    ApiModel,
    MeterSampleView,
    MeterUnit,
    Number,
    SessionSummary,
    TokenView,
)
from csms.handlers.api_models_stations import StationView
from csms.handlers.api_models_tenancy import GroupView, SiteView, VehicleView
from csms.services.ports import Page, SessionQuery, StationQuery

router = new_router()

JSONL = "application/x-ndjson"
CSV = "text/csv"
# The underlying lists read at most this many items per query.
_INNER_PAGE = 100
# Meter values: sessions are read in pages of this size (the cursor counts within one), and a
# request reads the chunks of at most this many sessions (sessions without meter values cost a
# query each, and a request must answer within API Gateway's 29 s).
_SESSION_PAGE = 20
_MAX_SESSIONS_PER_REQUEST = 200
_CHUNK_PAGE = 50


class ExportKind(StrEnum):
    """What can be exported."""

    STATIONS = "stations"
    SITES = "sites"
    TOKENS = "tokens"
    GROUPS = "groups"
    VEHICLES = "vehicles"
    SESSIONS = "sessions"
    METER_VALUES = "meter-values"


class ExportFormat(StrEnum):
    """JSON Lines (one JSON object a line) or CSV (a header row, then one row a record)."""

    JSONL = "jsonl"
    CSV = "csv"


class MeterValueRow(ApiModel):
    """One sampled value of a session (a meter-values export record)."""

    session_id: str
    station_id: str
    evse_id: int | None = None
    connector_id: int | None = None
    timestamp: datetime = Field(description="When the station sampled it")
    measurand: str
    phase: str | None = Field(default=None, description="L1, L2, L3, N, ...; null = total")
    value: Number
    unit: MeterUnit
    context: str | None = None


@dataclass(frozen=True)
class _Export:
    model: type[ApiModel]
    read: Callable[[Principal, int, str | None], Page[ApiModel]]


def _paged(
    read: Callable[[Principal, int, str | None], Page[Any]],
    view: Callable[[Any], ApiModel],
) -> Callable[[Principal, int, str | None], Page[ApiModel]]:
    """Up to `limit` records from a list read `_INNER_PAGE` at a time, never past `limit`."""

    def export(principal: Principal, limit: int, cursor: str | None) -> Page[ApiModel]:
        records: list[ApiModel] = []
        while True:
            page = read(principal, min(_INNER_PAGE, limit - len(records)), cursor)
            records.extend(view(item) for item in page.items)
            cursor = page.next_cursor
            if cursor is None or len(records) >= limit:
                return Page(items=records, next_cursor=cursor)

    return export


def _stations(principal: Principal, limit: int, cursor: str | None) -> Page[Any]:
    # Decommissioned stations too: an export is everything the tenant has.
    return runtime().station_admin.find(principal, StationQuery(state=None), limit, cursor)


def _tokens(principal: Principal, limit: int, cursor: str | None) -> Page[Any]:
    return runtime().tokens.list(principal.tenant_id, limit, cursor)


def _sessions(principal: Principal, limit: int, cursor: str | None) -> Page[Any]:
    return runtime().sessions.find(principal.tenant_id, SessionQuery(), limit, cursor)


def _sites(principal: Principal, limit: int, cursor: str | None) -> Page[Any]:
    return runtime().tenancy.list_sites(principal, limit, cursor)


def _groups(principal: Principal, limit: int, cursor: str | None) -> Page[Any]:
    return runtime().tenancy.list_groups(principal, limit, cursor)


def _vehicles(principal: Principal, limit: int, cursor: str | None) -> Page[Any]:
    return runtime().tenancy.list_vehicles(principal, limit, cursor)


# -- meter values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _MeterCursor:
    """Where a meter-values export goes on: a page of sessions, one in it, a chunk in that."""

    sessions: str | None = None  # the cursor of the page of sessions (None: the first)
    index: int = 0  # the session in that page
    chunks: str | None = None  # the cursor in that session's chunks (None: the first)

    def encode(self) -> str:
        raw = json.dumps({"s": self.sessions, "i": self.index, "c": self.chunks})
        return "mv." + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str | None) -> _MeterCursor:
        if cursor is None:
            return cls()
        if not cursor.startswith("mv."):
            raise InvalidCursorError
        text = cursor.removeprefix("mv.")
        try:
            data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InvalidCursorError from None
        if not isinstance(data, dict) or set(data) != {"s", "i", "c"}:
            raise InvalidCursorError
        sessions, index, chunks = data["s"], data["i"], data["c"]
        if not (
            (sessions is None or isinstance(sessions, str))
            and (chunks is None or isinstance(chunks, str))
            and type(index) is int
            and 0 <= index < _SESSION_PAGE
        ):
            raise InvalidCursorError
        return cls(sessions=sessions, index=index, chunks=chunks)


def _meter_rows(session: Session, chunks: list[MeterChunk]) -> Iterator[MeterValueRow]:
    evse = session.evse
    for chunk in chunks:
        for reading in chunk.readings:
            for sample in reading.samples:
                view = MeterSampleView.of(sample)
                yield MeterValueRow(
                    session_id=session.id,
                    station_id=session.station_id,
                    evse_id=evse.evse_id if evse else None,
                    connector_id=evse.connector_id if evse else None,
                    timestamp=reading.timestamp,
                    measurand=view.measurand.value,
                    phase=view.phase,
                    value=view.value,
                    unit=view.unit,
                    context=view.context,
                )


def _meter_values(principal: Principal, limit: int, cursor: str | None) -> Page[ApiModel]:
    """Rows of the tenant's sessions, newest session first, each session's oldest first.

    A page ends after the chunk page that reaches `limit` rows (so it can hold up to a few
    dozen more), or after `_MAX_SESSIONS_PER_REQUEST` sessions (so it can hold fewer).
    """
    sessions = runtime().sessions
    at = _MeterCursor.decode(cursor)
    rows: list[ApiModel] = []
    visited = 0
    while True:
        page = sessions.find(principal.tenant_id, SessionQuery(), _SESSION_PAGE, at.sessions)
        if at.index >= len(page.items) and at.index:
            raise InvalidCursorError  # a cursor into a page that has no such session
        while at.index < len(page.items):
            session = page.items[at.index]
            chunks = sessions.chunks(principal.tenant_id, session.id, _CHUNK_PAGE, at.chunks)
            rows.extend(_meter_rows(session, list(chunks.items)))
            if chunks.next_cursor is not None:
                at = _MeterCursor(at.sessions, at.index, chunks.next_cursor)
            else:
                at = _MeterCursor(at.sessions, at.index + 1, None)
                visited += 1
            if len(rows) >= limit or visited >= _MAX_SESSIONS_PER_REQUEST:
                if at.index >= len(page.items):
                    if page.next_cursor is None:
                        return Page(items=rows)
                    at = _MeterCursor(page.next_cursor)
                return Page(items=rows, next_cursor=at.encode())
        if page.next_cursor is None:
            return Page(items=rows)
        at = _MeterCursor(page.next_cursor)


_EXPORTS: dict[ExportKind, _Export] = {
    ExportKind.STATIONS: _Export(StationView, _paged(_stations, StationView.of)),
    ExportKind.SITES: _Export(SiteView, _paged(_sites, SiteView.of)),
    ExportKind.TOKENS: _Export(TokenView, _paged(_tokens, TokenView.of)),
    ExportKind.GROUPS: _Export(GroupView, _paged(_groups, GroupView.of)),
    ExportKind.VEHICLES: _Export(VehicleView, _paged(_vehicles, VehicleView.of)),
    ExportKind.SESSIONS: _Export(SessionSummary, _paged(_sessions, SessionSummary.of)),
    ExportKind.METER_VALUES: _Export(MeterValueRow, _meter_values),
}


# -- CSV ------------------------------------------------------------------------------------


def csv_columns(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The columns of a model: its fields by alias, nested models flattened (`address.city`)."""
    columns: list[str] = []
    for name, field in model.model_fields.items():
        column = f"{prefix}{field.alias or name}"
        nested = _nested_model(field.annotation)
        if nested is not None:
            columns.extend(csv_columns(nested, f"{column}."))
        else:
            columns.append(column)
    return columns


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (also when optional), if any; lists are not descended."""
    candidates = (
        typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType)
        else (annotation,)
    )
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def to_csv(model: type[BaseModel], records: list[ApiModel]) -> str:
    """A CSV document: the header row, then one row per record."""
    columns = csv_columns(model)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for record in records:
        flat = _flatten(record.model_dump(mode="json", by_alias=True))
        writer.writerow([_cell(flat.get(column)) for column in columns])
    return out.getvalue()


def to_jsonl(records: list[ApiModel]) -> str:
    """One JSON object per line, each line ending in a newline."""
    return "".join(record.model_dump_json(by_alias=True) + "\n" for record in records)


# -- GET /v1/export/{kind} ------------------------------------------------------------------


@operation(
    router,
    "GET",
    "/v1/export/<kind>",
    Permission.EXPORT,
    summary="Export a kind of data of the tenant",
    tags=["export"],
    responses={
        HTTPStatus.OK.value: {
            "description": "A page of records; a `Link` header names the next page, if any",
            "headers": {
                "Link": {
                    "description": 'The next page: `</v1/export/...>; rel="next"`',
                    "schema": {"type": "string"},
                }
            },
            "content": {
                JSONL: {"schema": {"type": "string"}},
                CSV: {"schema": {"type": "string"}},
            },
        },
        **problems(BAD_REQUEST),
    },
)
def export(
    kind: Annotated[ExportKind, Path(description="What to export")],
    format_: Annotated[
        ExportFormat, Query(alias="format", description="jsonl (default) or csv")
    ] = ExportFormat.JSONL,
    limit: Annotated[
        int, Query(ge=1, le=5000, description="Records per page (meter values: about)")
    ] = 1000,
    cursor: Annotated[
        str | None, Query(max_length=4096, description="From the `Link` header")
    ] = None,
) -> Response[str]:
    """The tenant's stations, sites, id tokens, groups, vehicles, sessions or meter values.

    Each record is what the API's other routes answer for it; meter values come one row per
    sample (session, station, EVSE, time, measurand, phase, value, unit). Follow the `Link`
    header (`rel="next"`) until it is absent to get everything.
    """
    spec = _EXPORTS[kind]
    page = spec.read(current_principal(), limit, cursor)
    if format_ is ExportFormat.CSV:
        body, content_type = to_csv(spec.model, page.items), f"{CSV}; charset=utf-8"
    else:
        body, content_type = to_jsonl(page.items), JSONL
    headers: dict[str, str] = {}
    if page.next_cursor is not None:
        query = urlencode({"format": format_.value, "limit": limit, "cursor": page.next_cursor})
        headers["Link"] = f'</v1/export/{kind.value}?{query}>; rel="next"'
    return Response(
        status_code=HTTPStatus.OK.value, content_type=content_type, body=body, headers=headers
    )
