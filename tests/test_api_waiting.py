"""``Prefer: wait=N`` on the polled GETs: the answer comes when the task finishes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from segmentation.api import waiting
from segmentation.jobs import KIND as JOB_KIND
from segmentation.service import Previews
from tests.api_support import assert_error

JOB = {"segments": [], "as_of": "2026-01-01T00:00:00", "engine": "duckdb"}
PREVIEW = {"pql": 'country = "US"', "as_of": "2026-01-01T00:00:00"}


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("wait=5", 5),
        ("respond-async, wait=10", 10),
        ("WAIT = 3", 3),
        ("return=minimal; wait=2", 2),
        ("wait=100000", waiting.MAX_WAIT_SECONDS),
        ("wait=0", 0),
        ("wait=-4", 0),
        ("wait=soon", 0),
        ("nowait=5", 0),
        ("wait=5x", 0),
        ('wait="7"', 7),
        ("", 0),
        (None, 0),
    ],
)
def test_the_seconds_a_prefer_header_asks_for(header, seconds):
    assert waiting.requested_wait(header) == seconds


@pytest.fixture
def blocked(api) -> Iterator[tuple[threading.Event, ThreadPoolExecutor]]:
    """An event that a task waits on, and threads to send requests from meanwhile."""
    release = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        try:
            yield release, pool
        finally:
            release.set()


def _waiting_get(api, pool: ThreadPoolExecutor, path: str, prefer: str) -> Future:
    headers = {**api.headers(), "Prefer": prefer}
    before = waiting.waiting_now()
    answer = pool.submit(api.client.get, path, headers=headers)
    deadline = time.monotonic() + 30
    while waiting.waiting_now() == before and not answer.done():
        assert time.monotonic() < deadline, "the GET never waited"
        time.sleep(0.01)
    return answer


@pytest.mark.parametrize(
    ("kind", "payload", "path", "state"),
    [
        (JOB_KIND, JOB, "/segment/jobs/{id}", lambda body: body["status"]),
        (Previews.KIND, PREVIEW, "/estimate/{id}", lambda body: body["state"]),
        (Previews.KIND, PREVIEW, "/preview/{id}", lambda body: body["state"]),
    ],
)
def test_a_get_that_prefers_to_wait_answers_when_the_task_finishes(
    api, blocked, kind, payload, path, state
):
    release, pool = blocked

    def evaluate(ctx) -> dict:  # a task's result as each kind makes it, once released
        release.wait(60)
        if kind == JOB_KIND:
            return {}
        pql = payload["pql"]
        total = api.svc.preview(pql, limit=1).total
        return {"total": total, "estimate": api.svc.estimate(pql).model_dump()}

    task = api.svc.tasks.submit(kind, evaluate, payload=payload)
    url = path.format(id=task.id)
    assert state(api.get(url).json()) in ("NEW", "PROCESSING", "RUNNING")  # no header: at once
    answer = _waiting_get(api, pool, url, "wait=30")
    assert not answer.done()  # it waits for the task...
    release.set()
    response = answer.result(timeout=30)  # ...and answers once it has finished
    assert response.status_code == 200, response.text
    assert state(response.json()) in ("SUCCEEDED", "RESULT_READY")


def test_a_wait_that_runs_out_answers_the_task_as_it_stands(api, blocked):
    release, pool = blocked
    task = api.svc.tasks.submit(JOB_KIND, lambda ctx: release.wait(60) and {}, payload=JOB)
    response = _waiting_get(api, pool, f"/segment/jobs/{task.id}", "wait=1").result(timeout=30)
    assert response.json()["status"] in ("NEW", "PROCESSING")


def test_waiting_on_an_unknown_id_is_the_endpoints_404(api):
    headers = {**api.headers(), "Prefer": "wait=30"}
    assert_error(api.client.get("/segment/jobs/nope", headers=headers), 404, "'nope'")


def test_a_server_told_to_stop_answers_its_waiting_gets_at_once(api, blocked):
    release, pool = blocked
    task = api.svc.tasks.submit(JOB_KIND, lambda ctx: release.wait(60) and {}, payload=JOB)
    answer = _waiting_get(api, pool, f"/segment/jobs/{task.id}", "wait=60")
    try:
        waiting.stop_waiting()  # what `serve` does on SIGTERM / Ctrl-C
        response = answer.result(timeout=30)  # the task still runs: it is not released
        assert response.json()["status"] in ("NEW", "PROCESSING")
    finally:
        waiting._stopping.clear()  # this process goes on serving other tests


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/estimate/{id}", "preview"),  # a job's id where a preview's belongs: no wait
        ("/preview/{id}?limit=abc", "limit"),  # a bad query: its 400 before any wait
    ],
)
def test_a_request_that_cannot_be_answered_is_refused_without_waiting(api, blocked, path, fragment):
    release, pool = blocked
    task = api.svc.tasks.submit(JOB_KIND, lambda ctx: release.wait(60) and {}, payload=JOB)
    headers = {**api.headers(), "Prefer": "wait=60"}
    answer = pool.submit(api.client.get, path.format(id=task.id), headers=headers)
    response = answer.result(timeout=20)  # the task runs on for a minute
    assert response.status_code in (400, 404), response.text
    assert fragment in response.text
    assert api.svc.tasks.get(task.id).status in ("NEW", "PROCESSING")


def test_prefer_sent_on_two_header_lines_is_read_whole(api, blocked):
    release, pool = blocked
    task = api.svc.tasks.submit(JOB_KIND, lambda ctx: release.wait(60) and {}, payload=JOB)
    headers = [("Authorization", f"Bearer {api.writer}"), ("Prefer", "respond-async")]
    headers.append(("Prefer", "wait=30"))
    before = waiting.waiting_now()
    answer = pool.submit(api.client.get, f"/segment/jobs/{task.id}", headers=headers)
    while waiting.waiting_now() == before and not answer.done():
        time.sleep(0.01)
    assert not answer.done()  # the second line's wait was read
    release.set()
    assert answer.result(timeout=30).json()["status"] == "SUCCEEDED"
