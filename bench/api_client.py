"""One client of ``bench/api.py``'s throughput runs: its own keep-alive HTTP connection
doing its share of the requests.

It runs as a thread of the bench, or as its own process, with its own GIL:
``python bench/api_client.py SPEC`` (SPEC: a JSON object of :func:`run`'s arguments)
prints ``ready`` once connected, starts when a line arrives on stdin and prints what it
measured as one JSON line. Only httpx is imported, so that a process starts in a moment.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def run(
    url: str, headers: dict[str, str], paths: list[str], k: int, n: int, start: Callable
) -> dict[str, Any]:
    """Requests ``k * n .. k * n + n - 1`` of ``paths`` (round the list), after ``start()``
    returns; times are ``perf_counter``, the system's monotonic clock in every process."""
    errors: list[str] = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        http.get(paths[0])  # connect before the clock starts
        start()
        cpu, busy, started = time.thread_time(), machine_busy(), time.perf_counter()
        for i in range(n):
            response = http.get(paths[(k * n + i) % len(paths)])
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.text[:100]}")
        ended, busy = time.perf_counter(), machine_busy() - busy
    return {
        "start": started,
        "end": ended,
        "errors": errors,
        "cpu_seconds": time.thread_time() - cpu,  # this client's own thread
        "machine_busy_seconds": busy,  # every core of the machine, not idle, meanwhile
    }


def machine_busy() -> float:
    """CPU seconds all cores of the machine have spent not idle, from /proc/stat."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait


def _wait_for_go() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


if __name__ == "__main__":
    print(json.dumps(run(**json.loads(sys.argv[1]), start=_wait_for_go)), flush=True)
