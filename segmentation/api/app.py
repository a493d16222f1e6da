"""The AEP Segmentation Service REST API over the sandboxes of one workspace.

``create_app(sandboxes)`` builds the FastAPI app; :func:`mount` puts it under
AEP's base path ``/data/core/ups``, which is how the one server process
(``ui/server.py``) serves it beside the dashboard. Endpoints are sync
functions: FastAPI runs them on its thread pool, each thread with its own
DuckDB connection, so readers never wait on each other; long work (jobs,
exports, previews) goes to the task runner and the request answers at once.
"""

from __future__ import annotations

import time
import uuid

from fastapi import FastAPI
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from segmentation.api import errors
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

    app.add_middleware(RequestIds)
    for module in ROUTERS:
        app.include_router(module.router)
    return app


class RequestIds:
    """Each request's id (the client's ``x-request-id``, else a new one) in
    ``request.state`` and on the answer, with the time the API took as
    ``Server-Timing: app;dur=<ms>`` (what a client sees beyond it is the HTTP stack
    and the network). Plain ASGI: cheaper than BaseHTTPMiddleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"x-request-id", b"")
        rid = sent.decode("latin-1")[:128] or uuid.uuid4().hex
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


def mount(sandboxes: Sandboxes) -> Mount:
    """The API as a route of a bigger ASGI app (the dashboard's st.App)."""
    return Mount(BASE, app=create_app(sandboxes))
