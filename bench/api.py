"""The REST API against direct service calls for the same work, and under 8 clients.

    .venv/bin/python bench/api.py --profiles 200000 --out bench/results-api.json

The bench workspace of ``bench/run.py`` (same data folder, same loader) gets the
definitions of ``bench/segments.py`` and a token, and is copied: ``segmentation
serve`` owns the copy (a real uvicorn process, the dashboard mounted beside the
API, Streamlit's middleware in the path), this process opens the original for the
direct calls, with the same (default) DuckDB settings as the server. Timings are
wall times with ``time.perf_counter``; clients keep their HTTP connection open, as
aepp's ``requests`` session does. Answers carry ``Server-Timing: app;dur=``, the
time spent inside the API, reported beside the client's view.

Measured:
- p50/p99 of ``GET /segment/definitions/{id}`` vs ``svc.definitions.get``, of the
  list (100) vs ``svc.definitions.list``, and of a preview page (50 rows, varying
  offsets) vs ``svc.preview`` on the same cached evaluation;
- a job of every bench segment started with ``POST /segment/jobs`` and polled to
  SUCCEEDED every ``--poll`` seconds (0.05), as AEP's clients do, and waited for with one
  ``GET`` that says ``Prefer: wait=60``, vs ``svc.jobs.run`` (the three interleaved; best
  and median of ``--job-repeat``), and the job's own ``totalTime`` as the server
  recorded it;
- throughput of 1 client and of 8 concurrent clients doing the same requests, and
  their errors, in
  ``--rounds`` interleaved rounds (1 then 8), the ratio of each round and their median;
  the 8 clients are threads of this process; beside them, in the same rounds, 8 clients
  that are processes (each its own GIL), and for every run the CPU that the server and
  the clients spent per request: on 2 cores 8 threads of one process can go no faster
  than that process's one GIL lets them, whatever the server does; from those, the
  ratio this machine allows at most (:func:`ceiling`): where the measured ratio sits
  near it, the cores, not the server, set it;
- the load average (``os.getloadavg``) at the start and the end: on a shared machine
  the neighbours' load moves every number.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_client  # noqa: E402
import httpx  # noqa: E402
from run import ensure_data, log, open_workspace, save_definitions  # noqa: E402
from segments import SEGMENTS  # noqa: E402

from segmentation import SegmentationService  # noqa: E402
from tests.browser_support import _wait_healthy, free_port  # noqa: E402

BASE = "/data/core/ups"
PREVIEW_SEGMENT = "attr_list_date"
RUNS = {"1": (1, False), "8": (8, False), "8 processes": (8, True)}  # clients, as processes?


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3), "p99_ms": round(p99 * 1000, 3)}


def timed(fn: Callable[[int], Any], n: int, warmup: int = 5) -> list[float]:
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(n):
        started = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - started)
    return times


def compare(name: str, api: Callable[[int], Any], direct: Callable[[int], Any], n: int) -> dict:
    """Interleaved in blocks so that load from other work on the machine hits both."""
    api_times, direct_times, inside = [], [], []

    def through_api(i: int) -> None:
        response = api(i)
        assert response.status_code == 200, response.text
        inside.append(float(response.headers["server-timing"].split("dur=")[1]))

    for _ in range(5):
        api_times += timed(through_api, n // 5)
        direct_times += timed(direct, n // 5)
    a, d = percentiles(api_times), percentiles(direct_times)
    row = {"endpoint": name, "api": a, "direct": d}
    row["added_p50_ms"] = round(a["p50_ms"] - d["p50_ms"], 3)
    row["inside_api_p50_ms"] = round(statistics.median(inside), 3)
    log(f"{name}: api p50 {a['p50_ms']} ms, direct p50 {d['p50_ms']} ms")
    return row


def throughput(
    url: str,
    headers: dict[str, str],
    paths: list[str],
    clients: int,
    total: int,
    server_pid: int,
    processes: bool = False,
) -> dict:
    """``clients`` threads (or processes), each with its own keep-alive connection,
    ``total`` requests among them (the same work for any number of clients). Timed from
    the first client's start to the last one's end, by the clients themselves (a main
    thread that is descheduled while they run would otherwise see them take no time;
    ``perf_counter`` is the system's monotonic clock, the same in every process)."""
    n = total // clients
    server_cpu = _cpu_seconds(server_pid)
    done = (_client_processes if processes else _client_threads)(url, headers, paths, clients, n)
    server_cpu = _cpu_seconds(server_pid) - server_cpu  # includes the clients' connecting
    seconds = max(d["end"] for d in done) - min(d["start"] for d in done)
    errors = [e for d in done for e in d["errors"]]
    clients_cpu = sum(d["cpu_seconds"] for d in done)
    first = min(done, key=lambda d: d["start"])  # its view of the machine: about the run
    others = (first["machine_busy_seconds"] - server_cpu - clients_cpu) / (
        first["end"] - first["start"]
    )
    return {
        "clients": clients,
        "processes": processes,
        "requests": clients * n,
        "seconds": round(seconds, 3),
        "per_second": round(clients * n / seconds, 1),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "server_cpu_ms": round(server_cpu * 1000 / (clients * n), 3),  # per request
        "client_cpu_ms": round(clients_cpu * 1000 / (clients * n), 3),
        # cores that other work on the machine took meanwhile (the neighbours' share)
        "other_cores": round(max(0.0, others), 2),
    }


def ceiling(one: dict, many: dict) -> float:
    """The most ``many`` clients could gain over ``one`` on this machine, from what their
    requests cost: no faster than the cores' time allows (the server's and the clients'
    CPU per request), than the server's one event loop (its CPU per request), nor, for
    client threads, than their process's one GIL (their CPU per request)."""
    limits = [
        len(os.sched_getaffinity(0)) * 1000 / (many["server_cpu_ms"] + many["client_cpu_ms"]),
        1000 / many["server_cpu_ms"],
    ]
    if not many["processes"]:
        limits.append(1000 / many["client_cpu_ms"])
    return round(min(limits) / one["per_second"], 2)


def _client_threads(url: str, headers: dict, paths: list[str], clients: int, n: int) -> list:
    barrier, done = threading.Barrier(clients), []

    def client(k: int) -> None:
        done.append(api_client.run(url, headers, paths, k, n, barrier.wait))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done


def _client_processes(url: str, headers: dict, paths: list[str], clients: int, n: int) -> list:
    """Each client a process of its own (bench/api_client.py), all started at once once
    every one is connected."""
    script = str(Path(__file__).resolve().parent / "api_client.py")
    spec = {"url": url, "headers": headers, "paths": paths, "n": n}
    procs = [
        subprocess.Popen(
            [sys.executable, script, json.dumps({**spec, "k": k})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(clients)
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    return [json.loads(p.communicate()[0]) for p in procs]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


WAYS = ("polled", "waited")  # AEP's way (poll every --poll s), and with Prefer: wait=60


def bench_job(http: httpx.Client, svc, ids: list[str], repeat: int, poll: float) -> dict:
    own: dict[str, list[float]] = {way: [] for way in WAYS}  # totalTime, as the server had it

    def through_api(way: str) -> float:
        headers = {"Prefer": "wait=60"} if way == "waited" else {}
        started = time.perf_counter()
        job = http.post(f"{BASE}/segment/jobs", json=[{"segmentId": i} for i in ids]).json()
        while True:
            url = f"{BASE}/segment/jobs/{job['id']}"
            answer = http.get(url, headers=headers).json()
            if answer["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            if way == "polled":
                time.sleep(poll)
        assert answer["status"] == "SUCCEEDED", answer
        own[way].append(answer["metrics"]["totalTime"]["totalTimeInMs"] / 1000)
        return time.perf_counter() - started

    def direct() -> float:
        started = time.perf_counter()
        assert svc.jobs.run(ids).status == "SUCCEEDED"
        return time.perf_counter() - started

    through_api("polled"), through_api("waited"), direct()  # warm-up
    times: dict[str, list[float]] = {way: [] for way in (*WAYS, "direct")}
    for _ in range(repeat):  # interleaved: a quiet or busy spell falls on every way alike
        for way in WAYS:
            times[way].append(through_api(way))
        times["direct"].append(direct())
    # best of the repeats, as bench/run.py does: on a shared machine the minimum is the
    # run least disturbed by other work; the medians are kept too
    d, d_median = min(times["direct"]), statistics.median(times["direct"])
    out: dict[str, Any] = {
        "definitions": len(ids),
        "poll_seconds": poll,
        "direct_seconds": round(d, 3),
        "direct_all": [round(t, 3) for t in times["direct"]],
    }
    for way in WAYS:
        a = min(times[way])
        log(f"job of {len(ids)}, {way}: api {a:.3f} s, direct {d:.3f} s (best of {repeat})")
        out[way] = {
            "api_seconds": round(a, 3),
            "ratio": round(a / d, 3),
            "median_ratio": round(statistics.median(times[way]) / d_median, 3),
            "own_seconds": round(min(own[way][1:]), 3),  # from its start to its commit
            "own_ratio": round(min(own[way][1:]) / d, 3),
            "all": [round(t, 3) for t in times[way]],
        }
    return out


def table(res: dict[str, Any]) -> str:
    lines = [
        "| endpoint | API p50 ms | API p99 ms | in the app p50 ms | direct p50 ms "
        "| direct p99 ms | added p50 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in res["latency"]:
        a, d = row["api"], row["direct"]
        lines.append(
            f"| {row['endpoint']} | {a['p50_ms']:.2f} | {a['p99_ms']:.2f} "
            f"| {row['inside_api_p50_ms']:.2f} | {d['p50_ms']:.2f} | {d['p99_ms']:.2f} "
            f"| {row['added_p50_ms']:.2f} |"
        )
    job = res["job"]
    how = {
        "polled": f"polled every {job['poll_seconds'] * 1000:.0f} ms, as AEP's clients do",
        "waited": "one GET with Prefer: wait=60",
    }
    lines.append("")
    for way in WAYS:
        w = job[way]
        lines.append(
            f"- job of {job['definitions']} definitions ({how[way]}), best of the repeats: "
            f"API {w['api_seconds']} s vs direct {job['direct_seconds']} s: ratio {w['ratio']} "
            f"(of the medians {w['median_ratio']}); the job's own totalTime "
            f"{w['own_seconds']} s, ratio {w['own_ratio']}"
        )
    for name, rate in res["throughput"].items():
        rounds = ", ".join(
            f"{r['1']['per_second']:.0f} -> {r['8']['per_second']:.0f} ({r['ratio']:.2f}x)"
            for r in rate["rounds"]
        )
        procs = ", ".join(
            f"{r['8 processes']['per_second']:.0f} ({r['process_ratio']:.2f}x)"
            for r in rate["rounds"]
        )
        cpu = "; ".join(
            f"{key}: server {_median(rate, key, 'server_cpu_ms')}, "
            f"clients {_median(rate, key, 'client_cpu_ms')}"
            for key in RUNS
        )
        others = sorted(r[key]["other_cores"] for r in rate["rounds"] for key in RUNS)
        lines.append(
            f"- {name}, 1 -> 8 clients: median {rate['median_ratio']:.2f}x ({rounds}), "
            f"errors {rate['errors']}; 8 client processes: median "
            f"{rate['median_process_ratio']:.2f}x ({procs}); the most this machine allows "
            f"(median): {rate['median_ceiling']:.2f}x / {rate['median_process_ceiling']:.2f}x; "
            "CPU ms per request, "
            f"medians: {cpu}; other work on the machine took {others[0]:.2f}-{others[-1]:.2f} "
            "cores"
        )
    start, end = res["load_average"]["start"], res["load_average"]["end"]
    lines.append(f"- load average (1 min): {start} at the start, {end} at the end")
    return "\n".join(lines)


def _median(rate: dict, key: str, field: str) -> float:
    return round(statistics.median(r[key][field] for r in rate["rounds"]), 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=200_000)
    parser.add_argument("--events-per-profile", type=float, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--requests", type=int, default=300, help="per latency endpoint")
    parser.add_argument(
        "--throughput-requests", type=int, default=800, help="per run, shared by its clients"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved 1/8-client rounds")
    parser.add_argument("--job-repeat", type=int, default=7)
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between job polls")
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-api.json")
    args = parser.parse_args(argv)
    load_start = round(os.getloadavg()[0], 2)

    data = ensure_data(ROOT / "bench" / "data", args.profiles, args.events_per_profile, args.seed)
    folder = Path(data["folder"])
    svc, _ = open_workspace(folder, data, args.memory_limit, args.threads)
    ids = dict(
        zip(
            [s.name for s in SEGMENTS],
            save_definitions(svc, [(s.name, s.pql) for s in SEGMENTS]),
            strict=True,
        )
    )
    for name in [t.name for t in svc.tokens.list()]:
        svc.tokens.revoke(name)
    _, token = svc.tokens.create("bench")
    svc.close()
    served = folder / "api" / "bench.duckdb"
    shutil.rmtree(served.parent, ignore_errors=True)
    served.parent.mkdir()
    shutil.copy(folder / "bench.duckdb", served)
    # the direct side with the settings `serve` uses (DuckDB's defaults), like for like
    svc = SegmentationService.open(folder / "bench.duckdb")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = open(folder / "api" / "serve.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "segmentation.cli", "serve", "--workspace", str(served)]
        + ["--port", str(port)],
        cwd=ROOT,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    headers = {"Authorization": f"Bearer {token}", "x-sandbox-name": "prod"}
    try:
        _wait_healthy(url, server)
        http = httpx.Client(base_url=url, headers=headers, timeout=120)
        seg_ids = list(ids.values())
        latency = [
            compare(
                "GET /segment/definitions/{id}",
                lambda i: http.get(f"{BASE}/segment/definitions/{seg_ids[i % len(seg_ids)]}"),
                lambda i: svc.definitions.get(seg_ids[i % len(seg_ids)]),
                args.requests,
            ),
            compare(
                "GET /segment/definitions (100)",
                lambda i: http.get(f"{BASE}/segment/definitions"),
                lambda i: svc.definitions.list(limit=100),
                args.requests,
            ),
        ]
        pql = svc.definitions.get(ids[PREVIEW_SEGMENT]).pql
        as_of = "2026-11-27T23:00:00"
        preview = http.post(f"{BASE}/preview", json={"predicateExpression": pql, "asOf": as_of})
        preview_id = preview.json()["previewId"]
        while http.get(f"{BASE}/estimate/{preview_id}").json()["state"] not in (
            "RESULT_READY",
            "FAILED",
        ):
            time.sleep(0.05)
        total = svc.preview(pql, as_of=as_of, limit=1).total
        pages = max(1, min(total // 50, 200))
        latency.append(
            compare(
                "GET /preview/{id} (50 rows)",
                lambda i: http.get(
                    f"{BASE}/preview/{preview_id}?offset={(i % pages) * 50}&limit=50"
                ),
                lambda i: svc.preview(pql, as_of=as_of, limit=50, offset=(i % pages) * 50),
                args.requests,
            )
        )
        job = bench_job(http, svc, list(ids.values()), args.job_repeat, args.poll)
        paths = {
            "definitions GET": [f"{BASE}/segment/definitions/{i}" for i in seg_ids],
            "preview page": [
                f"{BASE}/preview/{preview_id}?offset={k * 50}&limit=50" for k in range(pages)
            ],
        }
        rates = {}
        for name, targets in paths.items():
            # each once, untimed: what a first read makes and keeps (a block of preview
            # rows as JSON) must not slow only the first round's single client
            for target in targets:
                http.get(target)
            rounds = [
                {
                    key: throughput(
                        url, headers, targets, c, args.throughput_requests, server.pid, procs
                    )
                    for key, (c, procs) in RUNS.items()
                }
                for _ in range(args.rounds)
            ]
            for r in rounds:
                r["ratio"] = round(r["8"]["per_second"] / r["1"]["per_second"], 2)
                r["process_ratio"] = round(r["8 processes"]["per_second"] / r["1"]["per_second"], 2)
                r["ceiling"] = ceiling(r["1"], r["8"])
                r["process_ceiling"] = ceiling(r["1"], r["8 processes"])
                log(
                    f"{name}: {r['1']['per_second']} -> {r['8']['per_second']} req/s "
                    f"(8 processes: {r['8 processes']['per_second']})"
                )
            rates[name] = {
                "rounds": rounds,
                "median_ratio": statistics.median(r["ratio"] for r in rounds),
                "median_process_ratio": statistics.median(r["process_ratio"] for r in rounds),
                "median_ceiling": statistics.median(r["ceiling"] for r in rounds),
                "median_process_ceiling": statistics.median(r["process_ceiling"] for r in rounds),
                "errors": sum(r[c]["errors"] for r in rounds for c in RUNS),
            }
        http.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log_file.close()
        svc.close()
    res = {
        "profiles": data["profiles"],
        "events": data["events"],
        "preview_total": total,
        "latency": latency,
        "job": job,
        "throughput": rates,
        "load_average": {"start": load_start, "end": round(os.getloadavg()[0], 2)},
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }
    args.out.write_text(json.dumps(res, indent=2))
    print(table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
