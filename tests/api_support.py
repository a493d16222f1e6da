"""A real workspace file with data, tokens and a second sandbox, behind the API.

``api`` is a :class:`Api`: a FastAPI TestClient on the app mounted at AEP's
base path exactly as the server mounts it, with the writer's token sent by
default. Tests import the fixtures from here.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette

from segmentation.api import mount
from segmentation.sandboxes import Sandboxes
from segmentation.service import SegmentationService
from tests.conftest import make_frames

BASE = "http://testserver/data/core/ups"


@dataclass
class Api:
    client: TestClient
    sandboxes: Sandboxes
    writer: str  # token of prod that may write
    reader: str  # read-only token of prod
    dev: str  # token of the "dev" sandbox

    @property
    def svc(self) -> SegmentationService:
        return self.sandboxes.service("prod")

    def headers(self, token: str | None = None, sandbox: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token or self.writer}"}
        if sandbox:
            headers["x-sandbox-name"] = sandbox
        return headers

    def get(self, path: str, token: str | None = None, sandbox: str | None = None, **kw: Any):
        return self.client.get(path, headers=self.headers(token, sandbox), **kw)

    def delete(self, path: str, token: str | None = None, sandbox: str | None = None):
        return self.client.delete(path, headers=self.headers(token, sandbox))

    def post(self, path: str, body: Any, token: str | None = None, sandbox: str | None = None):
        return self.client.post(path, json=body, headers=self.headers(token, sandbox))

    def patch(self, path: str, body: Any, token: str | None = None, sandbox: str | None = None):
        return self.client.patch(path, json=body, headers=self.headers(token, sandbox))


def definition_body(name: str, pql: str, **extra: Any) -> dict[str, Any]:
    """What aepp's createSegment sends."""
    return {
        "name": name,
        "description": extra.pop("description", ""),
        "ttlInDays": 30,
        "expression": {"type": "PQL", "format": "pql/text", "value": pql},
        "schema": {"name": "_xdm.context.profile"},
        **extra,
    }


def assert_error(response, status: int, *fragments: str) -> dict[str, Any]:
    """AEP's envelope with ``status``; its title names each fragment."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    assert set(body) >= {"type", "title", "status", "errors", "requestId"}
    assert body["errors"][str(status)][0]["message"] == body["title"]
    for fragment in fragments:
        assert fragment in body["title"], body["title"]
    return body


def assert_full_runner_refuses(api: Api, kind: str, request: Callable[[], Any]) -> None:
    """With every place of ``kind``'s pool taken, ``request()`` gets 429 with Retry-After and
    records no task; the blocking tasks are then released and finished."""
    release = threading.Event()
    _, capacity = api.svc.tasks.capacity(kind)
    blockers = [api.svc.tasks.submit(kind, lambda ctx: release.wait(60)) for _ in range(capacity)]
    try:
        before = len(api.svc.tasks.list(kind))
        response = request()
        assert_error(response, 429, "try again")
        assert int(response.headers["retry-after"]) > 0
        assert len(api.svc.tasks.list(kind)) == before
    finally:
        release.set()
    for task in blockers:
        api.svc.tasks.wait(task.id, timeout=60)


def _load(svc: SegmentationService, folder: Path) -> None:
    profiles, events = make_frames()
    profiles.to_csv(folder / "profiles.csv", index=False)
    events.to_csv(folder / "events.csv", index=False)
    svc.ingest("profiles", folder / "profiles.csv")
    svc.ingest("events", folder / "events.csv")


@pytest.fixture(scope="session")
def api_template(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A workspace folder built once (data, tokens, a dev sandbox); each test copies it."""
    folder = tmp_path_factory.mktemp("api-template")
    sandboxes = Sandboxes(folder / "ws" / "segments.duckdb")
    prod = sandboxes.service("prod", create=True)
    _load(prod, folder)
    tokens = {
        "writer": prod.tokens.create("writer")[1],
        "reader": prod.tokens.create("reader", read_only=True)[1],
    }
    sandboxes.create("dev")
    tokens["dev"] = sandboxes.service("dev").tokens.create("dev-writer")[1]
    sandboxes.close()
    return folder / "ws", tokens


@pytest.fixture
def api(tmp_path: Path, api_template) -> Iterator[Api]:
    template, tokens = api_template
    shutil.copytree(template, tmp_path / "ws")
    sandboxes = Sandboxes(tmp_path / "ws" / "segments.duckdb")
    app = Starlette(routes=[mount(sandboxes)])
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as client:
        yield Api(client, sandboxes, tokens["writer"], tokens["reader"], tokens["dev"])
    sandboxes.close()
