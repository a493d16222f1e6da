"""The AEP Segmentation Service REST API over the sandboxes of one workspace.

``create_app(sandboxes)`` builds the FastAPI app; :func:`mount` puts it under
AEP's base path ``/data/core/ups``, which is how the one server process
(``ui/server.py``) serves it beside the dashboard, with :class:`ApiFirst` in front
so that API requests skip the dashboard's middleware. Endpoints are sync
functions: FastAPI runs them on its thread pool, each thread with its own
DuckDB connection, so readers never wait on each other (a GET answers on the
event loop instead while all it reads is kept in memory: :func:`wire.memory_first`);
long work (jobs, exports, previews) goes to the task runner and the request
answers at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from segmentation.api import body, errors
from segmentation.api.asgi import HttpMiddleware
from segmentation.api.routers import (
    audiences,
    definitions,
    exports,
    jobs,
    preview,
    schedules,
    search,
)
from segmentation.sandboxes import Sandboxes

BASE = "/data/core/ups"
ROUTERS = (definitions, jobs, preview, schedules, exports, search, audiences)
GZIP_FROM_BYTES = 1400  # about one Ethernet packet's payload


def create_app(sandboxes: Sandboxes) -> FastAPI:
    app = FastAPI(
        title="Segment Studio: Segmentation Service API",
        version="1.0",
        description=(
            "Adobe Experience Platform's Segmentation Service API, served by Segment Studio. "
            "Every request needs `Authorization: Bearer <token>` (see `segmentation token "
            "create`); `x-sandbox-name` picks the sandbox (default `prod`)."
        ),
    )
    app.state.sandboxes = sandboxes
    errors.install(app)

    # inside RequestIds: they answer or log with the request id
    app.add_middleware(errors.InternalErrors)
    app.add_middleware(body.BodyLimit)
    app.add_middleware(RequestIds)
    # outermost, so that Server-Timing is the API's own time, as it was behind the
    # dashboard's gzip (level 9 from 500 bytes): an answer within one packet (a definition)
    # gains nothing from it, and level 1 makes a 50-row preview page (21 kB) 4.3 kB in
    # 0.10 ms, where level 9 made 3.5 kB in 0.32 ms on the event loop
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_FROM_BYTES, compresslevel=1)
    for module in ROUTERS:
        app.include_router(module.router)
    return app


class RequestIds(HttpMiddleware):
    """Each request's id (the client's ``x-request-id``, else a new one) in
    ``request.state`` and on the answer, with the time the API took as
    ``Server-Timing: app;dur=<ms>`` (what a client sees beyond it is the HTTP stack
    and the network). Plain ASGI: cheaper than BaseHTTPMiddleware."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = dict(scope["headers"]).get(b"x-request-id", b"")
        rid = sent.decode("latin-1")[:128] or errors.new_request_id()
        scope.setdefault("state", {})["request_id"] = rid

        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = f"app;dur={(time.perf_counter() - started) * 1000:.2f}".encode()
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", rid.encode()),
                    (b"server-timing", took),
                ]
            await send(message)

        await self.app(scope, receive, send_with_id)


class JsonAnswers:
    """Around the server's path check, for requests under the API's base path: the check
    answers some bad paths itself, in plain text; such an answer becomes AEP's envelope,
    so that every API answer is JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        replaced = False

        async def send_json(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                is_json = headers.get(b"content-type", b"").startswith(b"application/json")
                if message["status"] >= 400 and not is_json:
                    replaced = True
                    status = message["status"]
                    text = f"The path {path!r} is not allowed here (no '..', '//' or NUL)."
                    code = f"UPAPI-113434-{status}"
                    body = errors.envelope_body(status, code, text, errors.new_request_id())
                    data = json.dumps(body).encode()
                    await send(
                        {
                            "type": "http.response.start",
                            "status": status,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(data)).encode()),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": data})
                    return
            if not replaced:
                await send(message)

        await self.app(scope, receive, send_json)


class ApiFirst:
    """Put in front of the whole server with the API's mount: a request under the API's
    base path goes through ``path_check`` (the server's check of unsafe paths, whose plain
    answers :class:`JsonAnswers` turns into AEP's envelope) straight to the API, past the
    dashboard's own middleware (its session cookie, its gzip at level 9) and its router:
    measured in-process, that took a definitions GET from 0.39 to 0.34 ms of CPU."""

    def __init__(self, app: ASGIApp, api: Mount, path_check: Callable[[ASGIApp], ASGIApp]) -> None:
        self.app = app
        self.api = api
        self.checked = JsonAnswers(path_check(self._route))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _under_base(scope["path"]):
            await self.checked(_without_trailing_slash(scope), receive, send)
        else:
            await self.app(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        match, child = self.api.matches(scope)
        if match is Match.FULL:
            await self.api.handle({**scope, **child}, receive, send)
        else:  # the base path itself, without a slash: the server's router, as before
            await self.app(scope, receive, send)


def _without_trailing_slash(scope: Scope) -> Scope:
    """``/export/jobs/`` is ``/export/jobs``: AEP's own next link has that slash, and the
    router's answer to it was an empty 307."""
    path = scope["path"]
    if not path.endswith("/") or path.rstrip("/") in ("", BASE):
        return scope
    raw = scope.get("raw_path")
    return {**scope, "path": path.rstrip("/"), "raw_path": raw and raw.rstrip(b"/")}


def _under_base(path: str) -> bool:
    return path.lstrip("/").startswith(BASE.lstrip("/"))


def mount(sandboxes: Sandboxes) -> Mount:
    """The API as a route of a bigger ASGI app (the dashboard's st.App)."""
    return Mount(BASE, app=create_app(sandboxes))
