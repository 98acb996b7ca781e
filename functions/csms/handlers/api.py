"""The HTTP API under /v1 (API Gateway HTTP API, JWT authorizer in front).

In AWS the JWT authorizer has verified the token before this function runs; the local runtime
does the same with its own key. Either way the claims arrive in
`requestContext.authorizer.jwt.claims`; every operation is declared with the permission it
requires (`csms.handlers.api_access`), and every read and write is scoped to the caller's tenant.
The routes live in one router per area; this module assembles them and maps errors.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.utilities.typing import LambdaContext

from csms.domain.errors import DomainError
from csms.handlers import (
    api_alerts,
    api_audit,
    api_billing,
    api_billing_accounts,
    api_billing_reports,
    api_commands,
    api_export,
    api_live,
    api_load,
    api_maintenance,
    api_messages,
    api_reports,
    api_sessions,
    api_stations,
    api_tariffs,
    api_tenancy,
    api_tokens,
    api_uptime,
    api_webhooks,
)
from csms.handlers._runtime import logger
from csms.handlers.api_access import ROUTE_PERMISSIONS, GuardedRequestValidation, begin_request
from csms.handlers.api_audit import audit_pending, audit_request, begin_audit
from csms.handlers.api_openapi import amend_document
from csms.handlers.problems import domain_problem, problem

OPENAPI_PATH = "/v1/openapi.json"
API_TITLE = "CSMS operator API"
API_VERSION = "1"

_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

app = APIGatewayHttpResolver(enable_validation=True)
# Powertools validates before any middleware of ours: check the caller first (401/403 before 400).
app._request_validation_middleware = GuardedRequestValidation()


def _request_middleware(
    app_: APIGatewayHttpResolver, next_middleware: NextMiddleware
) -> Response[Any]:
    """Audit what a mutating request changed (or that it was refused).

    A route that raises is audited by `lambda_handler` once its error became an answer.
    """
    changes = begin_request()
    route = getattr(app_.context.get("_route"), "path", None)
    begin_audit(changes, route)
    response = next_middleware(app_)
    audit_request(app_.current_event.raw_event, response.status_code, changes, route)
    return response


app.use(middlewares=[_request_middleware])
for _module in (
    api_tenancy,
    api_stations,
    api_live,
    api_commands,
    api_messages,
    api_sessions,
    api_tokens,
    api_audit,
    api_export,
    api_load,
    api_tariffs,
    api_billing,
    api_billing_accounts,
    api_billing_reports,
    api_reports,
    api_alerts,
    api_uptime,
    api_maintenance,
    api_webhooks,
):
    app.include_router(_module.router)
ROUTE_PERMISSIONS[("GET", OPENAPI_PATH)] = None  # public: the document describes, holds no data
# (METHOD, path) that need no bearer token: the gateways let exactly these through unsigned in
# (the API Gateway routes without the JWT authorizer in infra, the local gateway).
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    key for key, permission in ROUTE_PERMISSIONS.items() if permission is None
)


@app.get(OPENAPI_PATH, include_in_schema=False)
def openapi_document() -> Response[str]:
    """The OpenAPI 3.1 document of this API, generated from the code."""
    return Response(status_code=200, content_type="application/json", body=openapi_json())


def openapi_json() -> str:
    """The generated OpenAPI document (also written to schemas/openapi.json)."""
    document = json.loads(
        app.get_openapi_json_schema(
            title=API_TITLE,
            version=API_VERSION,
            openapi_version="3.1.0",
            security_schemes={"bearer": HTTPBearer(bearerFormat="JWT")},
            security=[{"bearer": []}],
        )
    )
    # Say what the API really answers: 400 problems instead of Powertools' 422, 401/403 from
    # the guard, 413 from the body limit, 404 for ids; public operations need no token.
    document = amend_document(document, ROUTE_PERMISSIONS)
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


@app.exception_handler(DomainError)
def _domain_error(exc: DomainError) -> Response[str]:
    return domain_problem(exc, instance=app.current_event.path)


@app.exception_handler(RequestValidationError)
def _invalid_request(exc: RequestValidationError) -> Response[str]:
    errors = [
        {"location": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", "")}
        for err in exc.errors()
    ]
    return problem(
        HTTPStatus.BAD_REQUEST,
        "invalid-request",
        "the request does not match the API's schema",
        instance=app.current_event.path,
        errors=errors,
    )


@app.exception_handler(RequestUnsupportedContentType)
def _unsupported_media_type(exc: RequestUnsupportedContentType) -> Response[str]:
    del exc  # Powertools reads JSON (and forms) only; anything else is not ours to guess
    return problem(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "the body must be application/json",
        instance=app.current_event.path,
    )


@app.not_found
def _not_found(exc: NotFoundError) -> Response[str]:
    del exc
    return problem(
        HTTPStatus.NOT_FOUND, "not-found", "no such resource", instance=app.current_event.path
    )


@app.exception_handler(Exception)
def _internal(exc: Exception) -> Response[str]:
    logger.exception("unhandled error in the HTTP API", exc_info=exc)
    return problem(HTTPStatus.INTERNAL_SERVER_ERROR, "internal-error", "internal error")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Resolve the HTTP request; audit it if the middleware could not (see `api_audit`)."""
    begin_audit(begin_request())
    result = app.resolve(event, context)
    # Refused before the middleware ran (an invalid body), or a route raised: audited now that
    # the answer is known, with the changes the route noted before it raised.
    audit_pending(event, int(result.get("statusCode", 500)))
    return result
