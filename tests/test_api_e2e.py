"""End to end: `segmentation serve` as a user starts it, driven by Adobe's aepp 0.6.0.

One server process for the module, over a workspace with data and a token made
by the CLI. aepp is configured exactly as the README says, and a socket audit
hook refuses any host but 127.0.0.1 while it runs, so nothing reaches Adobe.
The last test opens the dashboard of the same process in Chromium.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from segmentation.service import SegmentationService
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, _wait_healthy, free_port
from tests.conftest import make_frames

aepp = pytest.importorskip("aepp")
from aepp import configs, segmentation  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "segmentation.cli"]
PQL = 'loyaltyTier = "gold" and age >= 30'
_guard = {"on": False}


def _local_only(event: str, args: tuple) -> None:
    """While aepp runs: any connection to a host other than 127.0.0.1 is refused."""
    if not _guard["on"] or event not in ("socket.connect", "socket.getaddrinfo"):
        return
    host = args[1][0] if event == "socket.connect" else args[0]
    if isinstance(host, str) and host not in ("127.0.0.1", "localhost"):
        raise ConnectionRefusedError(f"the test refuses a connection to {host!r}")


sys.addaudithook(_local_only)


@dataclass
class Server:
    url: str
    workspace: Path
    token: str
    log: Path
    seen: dict[str, Any] = field(default_factory=dict)


def _cli(*args: str) -> str:
    result = subprocess.run([*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("serve")
    workspace = folder / "ws" / "segments.duckdb"
    profiles, events = make_frames()
    profiles.to_csv(folder / "profiles.csv", index=False)
    events.to_csv(folder / "events.csv", index=False)
    svc = SegmentationService.open(workspace)
    svc.ingest("profiles", folder / "profiles.csv")
    svc.ingest("events", folder / "events.csv")
    svc.close()  # one writer: the server opens it next
    token = _cli("token", "create", "--workspace", str(workspace), "--name", "e2e").split()[-1]
    port = free_port()
    log = folder / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [*CLI, "serve", "--workspace", str(workspace), "--port", str(port)]
            + ["--log-level", "info"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process)
            yield Server(url, workspace, token, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def seg(server: Server):
    """aepp's Segmentation, configured as the README says."""
    aepp.configure(
        org_id="SEGSTUDIO@AdobeOrg",
        client_id="segment-studio",
        environment="support",
        endpoint=server.url,
        accesstoken=server.token,
        sandbox="prod",
        retry=0,
    )
    aepp.config.config_object["connectionType"] = "support"
    aepp.config.config_object["date_limit"] = float("inf")
    _guard["on"] = True
    try:
        yield segmentation.Segmentation()
    finally:
        _guard["on"] = False


def _poll(read, done, timeout: float = 60.0) -> dict:
    """Poll as a client would, until ``done(answer)``; the answer as it last was."""
    deadline = time.monotonic() + timeout
    while True:
        answer = read()
        if done(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def _definition(name: str, pql: str) -> dict:
    return {
        "name": name,
        "description": f"{name}, made by aepp",
        "ttlInDays": 30,
        "expression": {"type": "PQL", "format": "pql/text", "value": pql},
        "schema": {"name": "_xdm.context.profile"},
    }


def test_1_definitions_are_created_listed_and_updated(seg, server):
    gold = seg.createSegment(_definition("Gold 30+", PQL))
    assert gold["name"] == "Gold 30+" and gold["id"]
    us = seg.createSegment(_definition("US", 'country = "US"'))
    assert {"Gold 30+", "US"} <= {s["name"] for s in seg.getSegments()}
    changed = seg.updateSegment(us["id"], _definition("US or DE", 'country in ["US", "DE"]'))
    assert (changed["name"], changed["version"]) == ("US or DE", 2)
    assert seg.getSegment(us["id"])["expression"]["value"] == 'country in ["US", "DE"]'
    # what an AEP user does most: read it, change a key, send the whole object back
    read = seg.getSegment(us["id"])
    read["description"] = "two countries"
    again = seg.updateSegment(us["id"], read)
    assert (again["description"], again["version"], again["ttlInDays"]) == ("two countries", 3, 30)
    # aepp's own defaults: description None
    as_json = seg.convertSegmentDef(name="US", expression=read["expression"])
    assert as_json["expression"]["format"] == "pql/json", as_json
    back = seg.convertSegmentDef(name="US", expression=as_json["expression"])
    assert back["expression"]["value"] == 'country in ["US", "DE"]'
    duplicate = seg.createSegment(_definition("Gold 30+", "age > 1"))
    assert duplicate["status"] == 422  # aepp hands back the error body
    bad = seg.createSegment(_definition("Broken", "age >"))
    assert bad["status"] == 400 and "line 1, column" in bad["title"]
    server.seen.update(gold=gold["id"], us=us["id"])


def test_2_preview_and_estimate(seg, server):
    preview = seg.createPreview(PQL)
    assert preview["state"] == "NEW"
    estimate = _poll(
        lambda: seg.getEstimate(preview["previewId"]),
        lambda e: e["state"] in ("RESULT_READY", "FAILED"),
    )
    assert estimate["state"] == "RESULT_READY", estimate
    assert estimate["profilesReadSoFar"] == estimate["totalRows"] == 400
    rows = seg.getPreview(preview["previewId"])
    assert rows["totalRows"] == estimate["estimatedSize"]  # the whole data set was read: exact
    assert len(rows["results"]) == rows["totalRows"] and rows["links"]["next"] == ""
    assert seg.deletePreview(preview["previewId"]) == 200
    server.seen["previewed"] = rows["totalRows"]


def test_3_a_job_runs_to_succeeded_with_metrics(seg, server):
    gold = server.seen["gold"]
    job = seg.createJob([gold])
    assert job["status"] in ("NEW", "PROCESSING", "SUCCEEDED")
    done = _poll(lambda: seg.getJob(job["id"]), lambda j: j["status"] in ("SUCCEEDED", "FAILED"))
    assert done["status"] == "SUCCEEDED", done
    counter = done["metrics"]["segmentedProfileCounter"][gold]
    statuses = done["metrics"]["segmentedProfileByStatusCounter"][gold]
    assert statuses["realized"] + statuses["existing"] == counter
    assert counter == server.seen["previewed"]  # time-independent PQL: preview = job
    assert job["id"] in {j["id"] for j in seg.getJobs()}
    server.seen["counter"] = counter


def test_4_a_schedule_is_created_and_patched(seg, server):
    body = {
        "name": "Nightly",
        "type": "batch_segmentation",
        "properties": {"segments": ["*"]},
        "schedule": "0 30 13 * * ?",
        "state": "inactive",
    }
    created = seg.createSchedule(body)
    assert created["state"] == "inactive"
    assert (
        seg.updateSchedule(created["id"], [{"op": "add", "path": "/state", "value": "active"}])
        == {}
    )
    ops = [{"op": "add", "path": "/schedule", "value": "0 0 2 * * ?"}]
    assert seg.updateSchedule(created["id"], ops) == {}
    stored = seg.getSchedule(created["id"])
    assert (stored["state"], stored["schedule"]) == ("active", "0 0 2 * * ?")
    assert [s["name"] for s in seg.getSchedules()] == ["Nightly"]
    assert seg.deleteSchedule(created["id"]) == 204


def test_5_an_export_succeeds_with_the_jobs_count(seg, server):
    gold, counter = server.seen["gold"], server.seen["counter"]
    body = {
        "fields": "email,country",
        "filter": {"segments": [{"segmentId": gold, "status": ["realized", "existing"]}]},
        "destination": {"datasetId": "e2e", "segmentPerBatch": False},
        "schema": {"name": "_xdm.context.profile"},
    }
    export = seg.createExport(body)
    done = _poll(
        lambda: seg.getExport(export["id"]), lambda e: e["status"] in ("SUCCEEDED", "FAILED")
    )
    assert done["status"] == "SUCCEEDED", done
    assert done["metrics"]["totalExportedProfileCounter"] == counter
    assert Path(done["files"][0]).exists()
    assert export["id"] in {e["id"] for e in seg.getExportJobs()}


def test_6_search_and_audiences(seg, server):
    hits = seg.searchEntities("segmentName:gold*", namespace="ups")
    assert [h["name"] for h in hits] == ["Gold 30+"]
    namespaces = seg.searchNamespaces("gold")
    assert namespaces["namespaces"][0]["count"] == 1
    assert {a["name"] for a in seg.getAudiences()} == {"Gold 30+", "US or DE"}
    bulk = seg.getMultipleSegments({"ids": [{"id": server.seen["gold"]}]})
    assert list(bulk) == [server.seen["gold"]]


def test_7_a_wrong_token_is_refused(server, seg):
    other = configs.ConnectObject(
        org_id="SEGSTUDIO@AdobeOrg",
        client_id="segment-studio",
        accesstoken="sst_wrong",
        environment="support",
        endpoint=server.url,
        date_limit=float("inf"),
    )
    other.getConfigObject()["connectionType"] = "support"
    intruder = segmentation.Segmentation(config=other)
    answer = intruder.createSegment(_definition("Intruder", "age > 1"))
    assert answer == {"error_code": "401013", "message": "Oauth token is not valid"}
    assert "Intruder" not in {s["name"] for s in seg.getSegments()}


def test_8_delete(seg, server):
    assert seg.deleteSegment(server.seen["us"]) == 200
    assert seg.getSegment(server.seen["us"])["status"] == 404


def test_9_the_token_never_reaches_the_log(server):
    text = server.log.read_text()
    assert "/data/core/ups/segment/definitions" in text  # the access log is on
    assert server.token not in text


def test_9_token_commands_work_while_the_server_holds_the_workspace(server):
    """DuckDB lets one process open the file; the CLI asks the running server instead,
    and a token it makes is accepted at once, one it revokes refused at once."""
    import httpx

    ws = ["--workspace", str(server.workspace)]
    out = _cli("token", "create", *ws, "--name", "made-while-serving", "--read-only")
    assert "Created read-only token 'made-while-serving'" in out
    secret = out.split()[-1]
    headers = {"Authorization": f"Bearer {secret}"}
    url = f"{server.url}/data/core/ups/segment/definitions"
    assert httpx.get(url, headers=headers).status_code == 200
    assert httpx.post(url, headers=headers, json=_definition("No", "age > 1")).status_code == 403
    assert "made-while-serving" in _cli("token", "list", *ws)
    _cli("token", "revoke", *ws, "made-while-serving")
    assert httpx.get(url, headers=headers).status_code == 401
    refused = subprocess.run(
        [*CLI, "token", "revoke", *ws, "made-while-serving"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2 and "No token named 'made-while-serving'" in refused.stderr


@pytest.mark.parametrize(
    "path",
    [
        "/data/core/ups/segment/definitions/..%2F..%2Fetc",
        "//data/core/ups/segment/definitions",
        "/data/core/ups/segment/definitions/%00",
    ],
)
def test_9_paths_refused_before_the_api_still_answer_json(server, path):
    """Streamlit's path check answers these before the API sees them."""
    import httpx

    response = httpx.get(server.url + path, headers={"Authorization": f"Bearer {server.token}"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert "not allowed" in response.json()["title"]


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
def test_10_the_dashboard_of_the_same_process_shows_what_aepp_made(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    from tests.browser_support import wait_idle

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(45_000)
            page.goto(f"{server.url}/search")
            wait_idle(page)
            sidebar = page.get_by_test_id("stSidebarContent")
            # Gold 30+ made through the API, US deleted through it: one segment
            sync_api.expect(sidebar).to_contain_text("· 1 segment")
            page.get_by_role("textbox").first.fill("gold")
            page.keyboard.press("Enter")
            wait_idle(page)
            sync_api.expect(page.get_by_test_id("stMain")).to_contain_text("Gold 30+")
        finally:
            browser.close()
