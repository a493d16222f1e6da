"""The AEP Segmentation Service REST API over the sandboxes of one workspace.

``create_app(sandboxes)`` builds the FastAPI app; :func:`mount` puts it under
AEP's base path ``/data/core/ups``, which is how the one server process
(``ui/server.py``) serves it beside the dashboard. Endpoints are sync
functions: FastAPI runs them on its thread pool, each thread with its own
DuckDB connection, so readers never wait on each other; long work (jobs,
exports, previews) goes to the task runner and the request answers at once.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI, Request
from starlette.routing import Mount

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

    @app.middleware("http")
    async def request_ids(request: Request, call_next):
        request.state.request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        response = await call_next(request)
        response.headers["x-request-id"] = request.state.request_id
        return response

    for module in ROUTERS:
        app.include_router(module.router)
    return app


def mount(sandboxes: Sandboxes) -> Mount:
    """The API as a route of a bigger ASGI app (the dashboard's st.App)."""
    return Mount(BASE, app=create_app(sandboxes))
