"""Every error the API answers, in one place: AEP's envelope, AEP's gateway bodies.

The ``SegmentationError`` family maps to HTTP here and nowhere else (the table
``STATUS``). A request that breaks a rule of the API itself (bad header, body
of the wrong shape) raises :class:`ApiError`; a failed token check raises
:class:`GatewayError`, answered with the Adobe I/O gateway's bodies. Anything
else is a bug: it is logged with its request id and answered as a 500 with no
trace, so nothing internal ever reaches a client.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from typing import Any

import pydantic
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

from segmentation.api.asgi import HttpMiddleware
from segmentation.errors import (
    ConflictError,
    InvalidInputError,
    NameTakenError,
    NotFoundError,
    SegmentationError,
    UnsupportedError,
    WorkspaceLockedError,
)
from segmentation.tasks import RunnerBusyError

log = logging.getLogger("segmentation.api")

# most specific first: the first class an error is an instance of decides
STATUS: list[tuple[type[SegmentationError], int, str]] = [
    (NotFoundError, 404, "UPAPI-113430-404"),
    (NameTakenError, 422, "UPAPI-113434-422"),
    (ConflictError, 409, "UPAPI-113434-409"),
    (RunnerBusyError, 429, "UPAPI-113429-429"),
    (WorkspaceLockedError, 503, "UPLIB-101554-503"),
    (UnsupportedError, 400, "UPAPI-113434-400"),
    (InvalidInputError, 400, "UPAPI-113434-400"),
    (SegmentationError, 400, "UPAPI-113434-400"),
]
FORBIDDEN_CODE = "UPAPI-113752-403"
INTERNAL_CODE = "UPAPI-113500-500"


class ApiError(Exception):
    """A request the API refuses: status, AEP code, and a message a person can act on."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class GatewayError(Exception):
    """Refused before the service, with the Adobe I/O gateway's own body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message") or body.get("detail"))
        self.status, self.body = status, body


def missing_token() -> GatewayError:
    return GatewayError(403, {"error_code": "403010", "message": "Oauth token is missing."})


def invalid_token() -> GatewayError:
    return GatewayError(401, {"error_code": "401013", "message": "Oauth token is not valid"})


def not_entitled(message: str) -> GatewayError:
    return GatewayError(
        403, {"error_code": "403025", "message": f"Profile is not valid: {message}"}
    )


def bad_content_type() -> GatewayError:
    detail = "A valid content-type must be specified"
    body = {"type": "/placeholder/type/uri", "status": 400, "title": "BadRequestError"}
    return GatewayError(400, {**body, "detail": detail})


# Request ids: this process's random prefix and a counter, 32 hex digits like a uuid4's.
# Not a uuid4 each: its read of the OS's random source lets go of the GIL, and under
# concurrent requests taking it back cost up to a thread switch interval (5 ms).
_PROCESS = uuid.uuid4().hex[:20]
_COUNTER = itertools.count()


def new_request_id() -> str:
    return f"{_PROCESS}{next(_COUNTER) % 16**12:012x}"


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.state.request_id = new_request_id()
    return rid


def envelope_body(status: int, code: str, message: str, rid: str) -> dict[str, Any]:
    """AEP's service error body (``type``, ``title``, ``status``, ``errors``)."""
    return {
        "requestId": rid,
        "type": f"https://ns.adobe.com/aep/errors/{code}",
        "title": message,
        "status": status,
        "errors": {str(status): [{"code": code, "message": message}]},
    }


def envelope(request: Request, status: int, code: str, message: str) -> JSONResponse:
    body = envelope_body(status, code, message, request_id(request))
    return JSONResponse(body, status_code=status)


def for_segmentation_error(exc: SegmentationError) -> tuple[int, str]:
    for cls, status, code in STATUS:
        if isinstance(exc, cls):
            return status, code
    return 400, "UPAPI-113434-400"  # unreachable: SegmentationError is last


def _describe_validation(errors: list[Any]) -> str:
    """pydantic's errors as one line naming each bad place, e.g. ``body.name: Field required``."""
    parts = []
    for error in errors[:5]:
        where = _path(error.get("loc", ()))
        message = error.get("msg", "invalid")
        if error.get("type") == "json_invalid":  # its loc is ("body", <character>), no path
            ctx = error.get("ctx") or {}
            at = error.get("loc", ())[-1:]
            where = ""
            message = f"the body is not valid JSON ({ctx.get('error', 'parse error')})"
            if at and isinstance(at[0], int):
                message += f" at character {at[0]}"
        parts.append(f"{where}: {message}" if where else message)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "Invalid request: " + "; ".join(parts) + more


def _path(loc: Any) -> str:
    """pydantic's ``("body", "ids", 0, "id")`` as JSON's ``body.ids[0].id``."""
    where = ""
    for part in loc:
        if part == "__root__":
            continue
        where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
    return where


def install(app: FastAPI) -> None:
    """Register the handlers: after this, every answer of ``app`` is JSON."""

    @app.exception_handler(SegmentationError)
    async def segmentation_error(request: Request, exc: SegmentationError) -> JSONResponse:
        status, code = for_segmentation_error(exc)
        response = envelope(request, status, code, exc.message)
        if isinstance(exc, RunnerBusyError):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return envelope(request, exc.status, exc.code, exc.message)

    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return envelope(request, 400, "UPAPI-113434-400", _describe_validation(exc.errors()))

    @app.exception_handler(pydantic.ValidationError)
    async def bad_model(request: Request, exc: pydantic.ValidationError) -> JSONResponse:
        # a body field that a core model refused (e.g. an expression tree node)
        return envelope(request, 400, "UPAPI-113434-400", _describe_validation(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            message = f"No such endpoint: {request.method} {request.url.path}."
        elif exc.status_code == 405:
            allowed = _allowed(request)
            headers = {**headers, "Allow": allowed}
            message = f"{request.method} is not allowed on {request.url.path}; use {allowed}."
        else:
            message = str(exc.detail)
        response = envelope(request, exc.status_code, f"UPAPI-113434-{exc.status_code}", message)
        response.headers.update(headers)
        return response


def _allowed(request: Request) -> str:
    """Every method of the path, where FastAPI's 405 names only the first route's."""
    methods: set[str] = set()
    routes = list(request.app.router.routes)
    while routes:
        route = routes.pop()
        included = getattr(route, "original_router", None)  # an include_router's routes
        if included is not None:
            routes.extend(included.routes)
        elif route.matches(request.scope)[0] is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


class InternalErrors(HttpMiddleware):
    """Innermost middleware: a bug is logged once, with its request id, and answered as a
    500 with no trace. Starlette's own handler of ``Exception`` (ServerErrorMiddleware)
    raises the error again after answering, and the server then logged it a second time,
    without the request id."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except Exception:
            request = Request(scope)
            rid = request_id(request)
            log.exception(
                "unexpected error in %s %s (request %s)", request.method, request.url.path, rid
            )
            if started:  # too late for an answer of our own: the client sees it cut
                return
            message = f"Internal error; it was logged with request id {rid}."
            await envelope(request, 500, INTERNAL_CODE, message)(scope, receive, send)
