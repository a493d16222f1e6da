"""Request bodies read as strict JSON, once, before any endpoint sees them.

Python's ``json`` accepts what JSON does not (``NaN``, ``Infinity``, a lone UTF-16
surrogate written ``"\\ud800"``): such a value used to reach DuckDB or the answer's
encoder and fail there as a 500. :class:`JsonRoute` (the route class of every
:class:`wire.Router`) decodes the body with :func:`decode`, which refuses those with a
400 naming the JSON path, and says why a body that is not JSON at all is refused (not
UTF-8, compressed, nested too deep).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from segmentation.api.asgi import HttpMiddleware
from segmentation.api.errors import ApiError, envelope

MAX_BYTES = 16 * 2**20  # a definition is a few kB; more ties up a worker for nothing
MAX_DEPTH = 256  # below what the parser itself survives (the interpreter's recursion limit)
BAD_REQUEST = "UPAPI-113434-400"
# a \u escape of a surrogate: only such an escape can put a lone one in the decoded text
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTAINERS = (dict, list)


class BodyError(HTTPException):
    """A body refused while FastAPI reads it: FastAPI passes an ``HTTPException`` on
    (anything else there becomes its "There was an error parsing the body")."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=400, detail=message)


class _NonFinite:
    """What ``NaN``/``Infinity`` parse to, so that the walk can say where it was."""

    def __init__(self, token: str) -> None:
        self.token = token


def decode(data: bytes, root: str = "body") -> Any:
    """The JSON value of ``data``; :class:`BodyError` naming the place when it is not JSON."""
    text = _text(data)
    found: list[bool] = []

    def non_finite(token: str) -> _NonFinite:
        found.append(True)
        return _NonFinite(token)

    try:
        value = json.loads(text, parse_constant=non_finite)
    except json.JSONDecodeError as e:
        raise BodyError(
            f"The body is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno} "
            f"(character {e.pos})."
        ) from None
    except RecursionError:
        raise BodyError(_too_deep()) from None
    # the walks cost a visit of every value: only for a body that may need them
    if text.count("[") + text.count("{") > MAX_DEPTH and _nesting(value) > MAX_DEPTH:
        raise BodyError(_too_deep())
    if found or _SURROGATE_ESCAPE.search(text):
        _check(value, root)
    return value


def _text(data: bytes) -> str:
    """UTF-8 (or UTF-16/32, which JSON's RFC 4627 allowed and ``json`` detects)."""
    encoding = json.detect_encoding(data)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        name = "UTF-8" if encoding.startswith("utf-8") else encoding.upper()
        raise BodyError(
            f"The body is not valid {name} at byte {e.start}: send JSON encoded as UTF-8."
        ) from None


def _too_deep() -> str:
    return f"The body is nested deeper than {MAX_DEPTH} levels of arrays and objects."


def _nesting(value: Any) -> int:
    """How many arrays and objects deep ``value`` goes, a level at a time (no recursion),
    stopping past :data:`MAX_DEPTH`."""
    depth, level = 0, [value] if isinstance(value, _CONTAINERS) else []
    while level and depth <= MAX_DEPTH:
        depth += 1
        inner: list[Any] = []
        for item in level:  # plain loops: generators here took five times as long
            for child in item.values() if isinstance(item, dict) else item:
                if isinstance(child, _CONTAINERS):
                    inner.append(child)
        level = inner
    return depth


def _check(value: Any, root: str) -> None:
    """Each value, depth first, without recursion (the body may be deep)."""
    stack: list[tuple[Any, str]] = [(value, root)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, _NonFinite):
            raise BodyError(f"{path} is {item.token}, which is not JSON: send a number, or null.")
        elif isinstance(item, dict):
            for key, inner in item.items():
                _check_text(key, f"a key of {path}")
                stack.append((inner, f"{path}.{key}"))
        elif isinstance(item, list):
            stack.extend((inner, f"{path}[{i}]") for i, inner in enumerate(item))


def _check_text(text: str, path: str) -> None:
    match = _SURROGATE.search(text)
    if match:
        raise BodyError(
            f"{path} holds a lone surrogate \\u{ord(match[0]):04x} at character "
            f"{match.start()}: a surrogate must come in a pair, or the text is not Unicode."
        )


class JsonRequest(Request):
    """A request whose ``json()`` is :func:`decode`'s, its errors naming ``root``."""

    root = "body"

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = decode(await self.body(), self.root)
        return self._json


class JsonRoute(APIRoute):
    """A route that reads its body as :class:`JsonRequest` and refuses a compressed one
    (415): a client that gzips its request gets told so, not "not valid JSON"."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler
        root = self.body_field.name  # "body", or "ops" for a JSON-Patch list

        async def read_strictly(request: Request) -> Response:
            encoding = request.headers.get("content-encoding", "identity").strip().lower()
            if encoding != "identity":
                raise ApiError(
                    415,
                    "UPAPI-113434-415",
                    f"Content-Encoding {encoding} is not accepted: send the body as plain "
                    "JSON (no Content-Encoding header).",
                )
            strict = JsonRequest(request.scope, request.receive)
            strict.root = root
            return await handler(strict)

        return read_strictly


def _too_large() -> str:
    return f"The body is larger than the {MAX_BYTES // 2**20} MB this API accepts: send less."


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413, detail=_too_large())


class BodyLimit(HttpMiddleware):
    """A 413 in AEP's envelope for a body over :data:`MAX_BYTES`: at once when its
    Content-Length says so, else (chunked) as the bytes arrive. FastAPI's own
    ``max_body_size`` answers the first case in plain text, whatever the endpoint says."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > MAX_BYTES:
            request = Request(scope)
            await envelope(request, 413, "UPAPI-113434-413", _too_large())(scope, receive, send)
            return
        received = 0

        async def receive_counting() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BYTES:  # read by FastAPI, which passes an HTTPException on
                raise BodyTooLarge()
            return message

        await self.app(scope, receive_counting, send)
