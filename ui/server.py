"""One process for a workspace: the dashboard at ``/``, the REST API under
``/data/core/ups`` and the schedules, over one read-write DuckDB file.

DuckDB lets one process write a file, so the dashboard and the API must share
the process, and with it the services: the lifespan opens every sandbox once,
starts their schedulers, and declares them with :func:`segmentation.sandboxes.serve`
so that the dashboard's ``ui.state.service()`` returns the same object the API
uses (a definition saved in the browser is listed by the API at once).

Run it with ``segmentation serve --workspace PATH`` (or ``uvicorn ui.server:app``
with ``$SEGMENTATION_WORKSPACE`` set).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from streamlit.web import bootstrap
from streamlit.web.server.starlette.starlette_path_security_middleware import (
    PathSecurityMiddleware,
)

from segmentation.api import mount
from segmentation.api.app import ApiFirst
from segmentation.control import ControlServer
from segmentation.sandboxes import Sandboxes, serve
from segmentation.store import default_path

ROOT = Path(__file__).resolve().parent.parent
sandboxes = Sandboxes(default_path())


@asynccontextmanager
async def lifespan(app: st.App) -> AsyncIterator[None]:
    for svc in sandboxes.open_services().values():
        svc.start_scheduler()
    serve(sandboxes)
    control = ControlServer(sandboxes)  # `segmentation token ...` while this process runs
    control.start()
    try:
        yield
    finally:
        control.close()
        serve(None)
        sandboxes.close()


def configure_streamlit(log_level: str) -> None:
    """Streamlit's settings for ``serve``, as ``streamlit run`` passes its flags: outside
    its own command Streamlit reads no ``STREAMLIT_*`` variable but its cookie secret.
    Its log level is the server's, since Streamlit sets uvicorn's loggers to it when it
    reads its settings (at ``info``, whatever ``--log-level`` said, it logged every request)."""
    level = {"critical": "error", "trace": "debug"}.get(log_level, log_level)
    bootstrap.load_config_options(
        {
            "server.headless": True,
            "server.fileWatcherType": "none",
            "browser.gatherUsageStats": False,
            "logger.level": level,
        }
    )


api = mount(sandboxes)
app = st.App(
    ROOT / "app.py",
    routes=[api],
    lifespan=lifespan,
    # before Streamlit's own: API requests get its path check, then go straight to the API
    middleware=[Middleware(ApiFirst, api=api, path_check=PathSecurityMiddleware)],
)
