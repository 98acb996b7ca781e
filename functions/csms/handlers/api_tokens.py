"""Id tokens (RFID cards, key codes, app accounts) of the caller's tenant."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from csms.domain.access import Permission
from csms.domain.tokens import MAX_TOKEN_LENGTH
from csms.handlers.api_access import (
    current_principal,
    expected_version,
    if_match_header,
    operation,
)
from csms.handlers.api_common import (
    BAD_REQUEST,
    PRECONDITION_FAILED,
    Cursor,
    Limit,
    audit_change,
    json_response,
    new_router,
    problems,
    responses,
    runtime,
    versioned,
)
from csms.handlers.api_models import TOKEN_PATTERN, TokenCreate, TokenPage, TokenUpdate, TokenView

router = new_router()

IdTokenValue = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_TOKEN_LENGTH,
        pattern=TOKEN_PATTERN,
        description="The token value, matched without regard to case",
    ),
]
_NO_TOKEN = (HTTPStatus.NOT_FOUND, "No such id token in the caller's tenant")
_CONFLICT = (HTTPStatus.CONFLICT, "Changed concurrently so often that the change was not applied")


@operation(
    router,
    "GET",
    "/v1/tokens",
    Permission.READ,
    summary="List id tokens",
    tags=["tokens"],
    responses=responses("A page of id tokens", BAD_REQUEST),
)
def list_tokens(limit: Limit = 50, cursor: Cursor = None) -> TokenPage:
    """The caller's id tokens by value, a page at a time."""
    page = runtime().tokens.list(current_principal().tenant_id, limit, cursor)
    return TokenPage(items=[TokenView.of(t) for t in page.items], next_cursor=page.next_cursor)


@operation(
    router,
    "GET",
    "/v1/tokens/<id_token>",
    Permission.READ,
    summary="Get an id token",
    tags=["tokens"],
    responses=versioned("The id token", TokenView, _NO_TOKEN),
)
def get_token(id_token: IdTokenValue) -> Response[str]:
    """Status, type, expiry, group and parent of one token; its version as `ETag`."""
    token = runtime().tokens.get(current_principal().tenant_id, id_token)
    return json_response(TokenView.of(token), version=token.version)


_TOKEN_EXAMPLES = {
    "card": Example(
        summary="An RFID card of a fleet",
        value={"idToken": "04A2B3C4D5E6F7", "type": "ISO14443", "groupId": "fleet"},
    ),
    "expiring": Example(
        summary="A blocked key code with an expiry",
        value={"idToken": "KEY-1234", "status": "Blocked", "expiresAt": "2027-01-01T00:00:00Z"},
    ),
}


@operation(
    router,
    "POST",
    "/v1/tokens",
    Permission.MANAGE_DRIVERS,
    summary="Create an id token",
    tags=["tokens"],
    responses={
        201: {
            "description": "Created; `Location` names the new token",
            "content": {"application/json": {"model": TokenView}},
        },
        **problems(
            BAD_REQUEST,
            (HTTPStatus.CONFLICT, "A token with this value exists (without regard to case)"),
        ),
    },
)
def create_token(
    body: Annotated[TokenCreate, Body(openapi_examples=_TOKEN_EXAMPLES)],
) -> Response[str]:
    """A new token in the caller's tenant; status Accepted unless given."""
    token = runtime().tokens.create(current_principal().tenant_id, body.token())
    view = TokenView.of(token)
    audit_change("token", token.id_token, "create", None, view)
    return json_response(
        view,
        version=token.version,
        status=HTTPStatus.CREATED,
        location=f"/v1/tokens/{token.id_token}",
    )


@operation(
    router,
    "PATCH",
    "/v1/tokens/<id_token>",
    Permission.MANAGE_DRIVERS,
    summary="Change an id token",
    tags=["tokens"],
    responses=versioned(
        "The id token as changed",
        TokenView,
        BAD_REQUEST,
        _NO_TOKEN,
        PRECONDITION_FAILED,
        _CONFLICT,
    ),
)
def update_token(
    id_token: IdTokenValue,
    body: Annotated[
        TokenUpdate,
        Body(
            openapi_examples={
                "block": Example(summary="Block the card", value={"status": "Blocked"}),
                "no-expiry": Example(
                    summary="Move to another group and clear the expiry",
                    value={"groupId": "residents", "expiresAt": None},
                ),
            }
        ),
    ],
) -> Response[str]:
    """JSON merge patch semantics: fields left out stay, an explicit null clears one.

    With `If-Match`, only the version named is changed (412 otherwise).
    """
    expected = expected_version(if_match_header(router), "token", id_token)
    before, after = runtime().tokens.update(
        current_principal().tenant_id, id_token, body.patch(), expected
    )
    view = TokenView.of(after)
    if after != before:
        audit_change("token", after.id_token, "update", TokenView.of(before), view)
    return json_response(view, version=after.version)
