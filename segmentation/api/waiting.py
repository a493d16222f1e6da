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
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from segmentation.api.auth import Reader
from segmentation.errors import NotFoundError
from segmentation.tasks import Task

MAX_WAIT_SECONDS = 60
WAITERS = 16  # GETs that may wait at once, each on a thread of its own (not the API's pool)
_WAIT = re.compile(r"(?:^|[,;])\s*wait\s*=\s*(\d{1,6})\s*(?=[,;]|$)", re.IGNORECASE)
SLICE_SECONDS = 0.25
_slots = threading.BoundedSemaphore(WAITERS)
_stopping = threading.Event()

PREFER_DOC = (
    "`wait=<seconds>` (RFC 7240): answer when the task has finished, or after that "
    f"many seconds (at most {MAX_WAIT_SECONDS}), instead of at once. Not sent by AEP's clients."
)


def requested_wait(prefer: str | None) -> float:
    """Seconds asked for by a ``Prefer`` header; 0 when none is readable."""
    found = _WAIT.search(prefer or "")
    return min(int(found.group(1)), MAX_WAIT_SECONDS) if found else 0.0


def waiting_now() -> int:
    """How many GETs are waiting at this moment."""
    return WAITERS - _slots._value  # a BoundedSemaphore keeps its count there


def until_finished(param: str, task_id: Callable[[str], str] = str) -> Any:
    """A dependency that waits, as ``Prefer`` asks, for the task whose id is
    ``task_id(<path parameter param>)``."""

    async def wait(
        request: Request,
        caller: Reader,
        prefer: Annotated[str | None, Header(description=PREFER_DOC)] = None,
    ) -> None:
        seconds = requested_wait(prefer)
        if seconds and _slots.acquire(blocking=False):
            try:
                wait_for = caller.service.tasks.wait
                await _in_thread(_wait, wait_for, task_id(request.path_params[param]), seconds)
            finally:
                _slots.release()

    return Depends(wait)


def stop_waiting() -> None:
    """Answer every waiting GET now (the server was told to stop) and wait no more."""
    _stopping.set()


def _wait(wait: Callable[[str, float], Task], task_id: str, seconds: float) -> None:
    """In slices, so that :func:`stop_waiting` ends it within one."""
    deadline = time.monotonic() + seconds
    with contextlib.suppress(NotFoundError):  # the endpoint answers the 404, in its words
        while not _stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            if wait(task_id, min(left, SLICE_SECONDS)).finished:
                return


async def _in_thread(fn: Callable[..., None], *args: Any) -> None:
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
    await done
