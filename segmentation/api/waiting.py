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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from segmentation.api.auth import Reader
from segmentation.errors import NotFoundError

MAX_WAIT_SECONDS = 60
WAITERS = 16  # threads that may wait at once; none of them takes the API's thread pool
_WAIT = re.compile(r"(?:^|[,;])\s*wait\s*=\s*(\d{1,6})\s*(?=[,;]|$)", re.IGNORECASE)
_slots = threading.BoundedSemaphore(WAITERS)
_pool = ThreadPoolExecutor(WAITERS, thread_name_prefix="api-wait")

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
                await asyncio.get_running_loop().run_in_executor(
                    _pool,
                    _wait,
                    caller.service.tasks.wait,
                    task_id(request.path_params[param]),
                    seconds,
                )
            finally:
                _slots.release()

    return Depends(wait)


def _wait(wait: Callable[[str, float], Any], task_id: str, seconds: float) -> None:
    with contextlib.suppress(NotFoundError):  # the endpoint answers the 404, in its words
        wait(task_id, seconds)
