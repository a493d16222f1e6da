"""Token and sandbox commands for a workspace that a running server holds.

DuckDB lets one process open a workspace file, so while ``segmentation serve``
runs, the CLI cannot open it to create, list or revoke a token. The server
therefore listens on a Unix socket of its own (:func:`socket_path`: in the
user's runtime folder, named after the workspace, readable and writable by its
owner only, so the file permissions are the access check, as for Docker's
socket), and the CLI sends it the command instead. The server runs it on its
own open services: a token created that way is accepted by the API at once.

:func:`run` is what the CLI calls: it runs a command on the workspace file when
it can open it, and through the server's socket when the server holds the file.
One table (:data:`COMMANDS`) says what each command does, on either side.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import socketserver
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from segmentation.errors import SegmentationError, WorkspaceLockedError
from segmentation.sandboxes import Sandboxes

MAX_MESSAGE = 64 * 1024
TIMEOUT = 30.0  # seconds the CLI waits for the server's answer


def _token_create(sandboxes: Sandboxes, sandbox: str, name: str, read_only: bool) -> dict:
    token, secret = sandboxes.service(sandbox).tokens.create(name, read_only=read_only)
    return {"name": token.name, "read_only": token.read_only, "secret": secret}


def _token_list(sandboxes: Sandboxes, sandbox: str) -> dict:
    tokens = sandboxes.service(sandbox).tokens.list()
    return {"tokens": [t.model_dump(mode="json") for t in tokens]}


def _token_revoke(sandboxes: Sandboxes, sandbox: str, name: str) -> dict:
    sandboxes.service(sandbox).tokens.revoke(name)
    return {"name": name}


COMMANDS: dict[str, Callable[..., dict]] = {
    "token create": _token_create,
    "token list": _token_list,
    "token revoke": _token_revoke,
}


def socket_path(workspace: str | os.PathLike[str]) -> Path:
    """Where the server holding ``workspace`` listens. Not beside the workspace: a Unix
    socket's path may be at most ~100 bytes, and a workspace's path may be longer."""
    folder = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    digest = hashlib.sha256(str(Path(workspace).resolve()).encode()).hexdigest()[:16]
    return Path(folder) / f"segmentation-{_uid()}-{digest}.sock"


def run(workspace: str | os.PathLike[str], command: str, **arguments: Any) -> dict:
    """``command`` on the workspace file, or through the server that holds it."""
    sandboxes = Sandboxes(workspace)
    try:
        return COMMANDS[command](sandboxes, **arguments)
    except WorkspaceLockedError as exc:
        path = socket_path(workspace)
        if not _ours(path):
            raise
        try:
            return request(path, command, arguments)
        except OSError:  # a socket left by a server that died: the lock message says why
            raise exc from None
    finally:
        sandboxes.close()


def request(path: Path, command: str, arguments: dict[str, Any]) -> dict:
    """One command to the server listening on ``path``; its error raised here as ours."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(TIMEOUT)
        conn.connect(str(path))
        conn.sendall(json.dumps({"command": command, "arguments": arguments}).encode() + b"\n")
        answer = json.loads(_read_line(conn))
    if "error" in answer:
        raise SegmentationError(answer["error"])
    return answer["result"]


def _ours(path: Path) -> bool:
    """A socket there, owned by this user: another user's file is never talked to."""
    try:
        return path.is_socket() and path.stat().st_uid == _uid()
    except OSError:
        return False


def _uid() -> int:
    return os.getuid() if hasattr(os, "getuid") else 0  # no uids on Windows


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_MESSAGE:
            raise SegmentationError("The message on the control socket is too long.")
    return data


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline(MAX_MESSAGE)
        try:
            message = json.loads(line)
            handler = COMMANDS[message["command"]]
            answer = {"result": handler(self.server.sandboxes, **message["arguments"])}  # type: ignore[attr-defined]
        except SegmentationError as exc:
            answer = {"error": exc.message}
        except (ValueError, KeyError, TypeError) as exc:
            answer = {"error": f"Not a command this server knows: {exc}"}
        self.wfile.write(json.dumps(answer).encode() + b"\n")


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class ControlServer:
    """The server side: listens on :func:`socket_path` of the workspace while it serves."""

    def __init__(self, sandboxes: Sandboxes) -> None:
        self.path = socket_path(sandboxes.workspace)
        self._sandboxes = sandboxes
        self._server: _Server | None = None

    def start(self) -> None:
        if not hasattr(socket, "AF_UNIX"):
            return  # no Unix sockets (Windows): the CLI says to stop the server instead
        self.path.unlink(missing_ok=True)  # left by a server that died; we hold the file
        # connecting needs write permission on the socket: the owner's alone (the default
        # umask already leaves others without it; this makes sure)
        self._server = _Server(str(self.path), _Handler)
        self.path.chmod(0o600)
        self._server.sandboxes = self._sandboxes  # type: ignore[attr-defined]
        threading.Thread(
            target=self._server.serve_forever, name="control-socket", daemon=True
        ).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self.path.unlink(missing_ok=True)
