"""``Prefer: wait=<seconds>`` (RFC 7240) on the GETs that clients poll: a job, a
preview's results and estimate, an export. An AEP client polls (aepp has no other
way), and on a small machine each poll takes CPU from the job it asks about; with the
header a GET of a task still running answers when the task finishes, or after the
seconds asked for (at most :data:`MAX_WAIT_SECONDS`), as it would have then. Without
it, or when :data:`WAITERS` clients are already waiting, a GET answers at once:
the preference is a hint, as RFC 7240 says, and an unreadable one is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from segmentation.api.auth import Reader
from segmentation.errors import NotFoundError
from segmentation.tasks import TaskRunner

MAX_WAIT_SECONDS = 60
WAITERS = 16  # GETs that may wait at once, each on a thread of its own (not the API's pool)
_WAIT = re.compile(r'(?:^|[,;])\s*wait\s*=\s*"?(\d{1,6})"?\s*(?=[,;]|$)', re.IGNORECASE)
SLICE_SECONDS = 0.25
_slots = threading.BoundedSemaphore(WAITERS)
_stopping = threading.Event()

PREFER_DOC = (
    "`wait=<seconds>` (RFC 7240): answer when the task has finished, or after that "
    f"many seconds (at most {MAX_WAIT_SECONDS}), instead of at once. Not sent by AEP's clients."
)


def requested_wait(prefer: str | None) -> float:
    """Seconds asked for by ``Prefer`` headers (their lines joined); 0 when none is readable."""
    found = _WAIT.search(prefer or "")
    return min(int(found.group(1)), MAX_WAIT_SECONDS) if found else 0.0


def waiting_now() -> int:
    """How many GETs are waiting at this moment."""
    return WAITERS - _slots._value  # a BoundedSemaphore keeps its count there


@dataclass(frozen=True)
class Pending:
    """A wait asked for, run by the endpoint's wrapper (:func:`wire.memory_first`) once
    FastAPI has checked the whole request: a bad query answers its 400 at once."""

    request: Request
    tasks: TaskRunner
    task_id: str
    kind: str
    seconds: float

    async def __call__(self) -> None:
        if not _slots.acquire(blocking=False):
            return
        gone = threading.Event()  # the client went away: stop waiting for it
        try:
            await self._until(_in_thread(_wait, self, gone))
        finally:
            gone.set()
            _slots.release()

    async def _until(self, done: asyncio.Future) -> None:
        """``done``, or the client's disconnect, seen within a slice."""
        while not done.done():
            await asyncio.wait({done}, timeout=SLICE_SECONDS)
            if not done.done() and await self.request.is_disconnected():
                return


def until_finished(param: str, kind: str, task_id: Callable[[str], str] = str) -> Any:
    """A dependency giving the :class:`Pending` wait that ``Prefer`` asks for (None when
    it asks none) on the task of ``kind`` whose id is ``task_id(<path parameter param>)``."""

    def pending(
        request: Request,
        caller: Reader,
        prefer: Annotated[str | None, Header(description=PREFER_DOC)] = None,
    ) -> Pending | None:
        # ``prefer`` is there for the OpenAPI document; it holds the first line only
        seconds = requested_wait(",".join(request.headers.getlist("prefer")))
        if not seconds:
            return None
        the_id = task_id(request.path_params[param])
        return Pending(request, caller.service.tasks, the_id, kind, seconds)

    return Depends(pending)


def stop_waiting() -> None:
    """Answer every waiting GET now (the server was told to stop) and wait no more."""
    _stopping.set()


def _wait(pending: Pending, gone: threading.Event) -> None:
    """In slices, so that :func:`stop_waiting` or the client's going ends it within one;
    not at all for a task of another kind or none (the endpoint answers the 404)."""
    deadline = time.monotonic() + pending.seconds
    with contextlib.suppress(NotFoundError):
        if pending.tasks.get(pending.task_id, pending.kind).finished:
            return
        while not (_stopping.is_set() or gone.is_set()):
            left = deadline - time.monotonic()
            if left <= 0 or pending.tasks.wait(pending.task_id, min(left, SLICE_SECONDS)).finished:
                return


def _in_thread(fn: Callable[..., None], *args: Any) -> asyncio.Future:
    """``fn(*args)`` on a daemon thread of its own (a pool's threads are joined at exit)."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def run() -> None:
        try:
            fn(*args)
        finally:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits now
                loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))

    threading.Thread(target=run, name="api-wait", daemon=True).start()
    return done
