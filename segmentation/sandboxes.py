"""Sandboxes: ``prod`` is the workspace file; every other one is its own DuckDB
file beside it, with its own data, definitions, jobs, exports and tokens.

``workspace/segments.duckdb`` has sandbox ``dev`` in
``workspace/segments.sandbox-dev.duckdb`` and its exports in
``workspace/exports-dev/``. The files are the registry: nothing else lists
sandboxes, so a sandbox made while the server runs is found on its first use.

The server process opens every sandbox it serves read-write (the one writer of
each file) and keeps them here; :func:`serving` hands the same services to the
dashboard running in that process.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from segmentation.errors import InvalidInputError, NameTakenError, NotFoundError
from segmentation.service import SegmentationService

PROD = "prod"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_serving: Sandboxes | None = None


class Sandboxes:
    """The sandboxes of one workspace, opened lazily, one service per file."""

    def __init__(self, workspace: str | Path, **open_config: Any) -> None:
        self.workspace = Path(workspace).resolve()
        self._config = open_config
        self._services: dict[str, SegmentationService] = {}
        self._lock = threading.Lock()

    def path(self, name: str) -> Path:
        if name == PROD:
            return self.workspace
        return self.workspace.with_name(f"{self.workspace.stem}.sandbox-{name}.duckdb")

    def exports_dir(self, name: str) -> Path:
        folder = "exports" if name == PROD else f"exports-{name}"
        return self.workspace.parent / folder

    def names(self) -> list[str]:
        prefix = f"{self.workspace.stem}.sandbox-"
        others = sorted(
            p.name[len(prefix) : -len(".duckdb")]
            for p in self.workspace.parent.glob(f"{glob_escape(prefix)}*.duckdb")
        )
        return [PROD, *[n for n in others if _NAME.match(n)]]

    def exists(self, name: str) -> bool:
        return name == PROD or (bool(_NAME.match(name)) and self.path(name).exists())

    def create(self, name: str) -> Path:
        """A new, empty sandbox file (migrated, no data)."""
        if not _NAME.match(name):
            raise InvalidInputError(
                f"Sandbox name {name!r} is not valid: use 1 to 63 lowercase letters, digits "
                "or '-', starting with a letter or digit."
            )
        if self.exists(name):
            raise NameTakenError(f"The sandbox {name!r} already exists ({self.path(name)}).")
        self.service(name, create=True)
        return self.path(name)

    def service(self, name: str, *, create: bool = False) -> SegmentationService:
        """The open service of a sandbox (opened on first use)."""
        with self._lock:
            svc = self._services.get(name)
            if svc is None:
                if not create and not self.exists(name):
                    known = ", ".join(self.names())
                    raise NotFoundError(f"No sandbox named {name!r}; sandboxes: {known}.")
                svc = SegmentationService.open(
                    self.path(name), exports_dir=self.exports_dir(name), **self._config
                )
                self._services[name] = svc
            return svc

    def open_services(self) -> dict[str, SegmentationService]:
        return {name: self.service(name) for name in self.names()}

    def close(self) -> None:
        with self._lock:
            services, self._services = list(self._services.values()), {}
        for svc in services:
            svc.close()


def glob_escape(text: str) -> str:
    """A name inside a glob pattern matches itself only."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def serve(sandboxes: Sandboxes | None) -> None:
    """Declare the sandboxes this process serves (None when it stops)."""
    global _serving
    _serving = sandboxes


def serving() -> Sandboxes | None:
    """The sandboxes of the running server in this process, if any."""
    return _serving
