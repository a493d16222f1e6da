"""The `segmentation` command, run as a user would: a real process on a real file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import make_frames

CLI = [sys.executable, "-m", "segmentation.cli"]


def run(*args: str, workspace: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "--workspace", str(workspace), *args], capture_output=True, text=True, timeout=120
    )


def test_help_explains_the_commands():
    result = subprocess.run([*CLI, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("init", "ingest", "generate-demo", "info", "run", "scheduler"):
        assert command in result.stdout


def test_a_reader_that_stops_early_gets_no_error_message(tmp_path: Path):
    """`segmentation info | head -1`: the pipe is closed before the command writes."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [*CLI, "--workspace", str(tmp_path / "ws.duckdb"), "info"],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(writer)
    assert result.returncode == 141  # as a shell reports a command stopped by SIGPIPE
    assert result.stderr == ""


def test_ingest_run_and_info(tmp_path: Path):
    profiles, events = make_frames(200, 2000)
    profiles.to_csv(tmp_path / "p.csv", index=False)
    events.to_csv(tmp_path / "e.csv", index=False)
    ws = tmp_path / "ws.duckdb"
    assert (
        "Loaded 200 of 200"
        in run("ingest", "profiles", str(tmp_path / "p.csv"), workspace=ws).stdout
    )
    assert run("ingest", "events", str(tmp_path / "e.csv"), workspace=ws).returncode == 0
    info = run("info", "--catalog", workspace=ws)
    assert '"profiles": 200' in info.stdout and "loyaltyTier" in info.stdout
    missing = run("ingest", "profiles", str(tmp_path / "nope.csv"), workspace=ws)
    assert missing.returncode == 2
    assert missing.stderr.startswith("error:") and "nope.csv" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_second_writer_is_told_who_holds_the_file(tmp_path: Path):
    ws = tmp_path / "ws.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from segmentation import SegmentationService as S; "
            f"s = S.open({str(ws)!r}); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = run("info", workspace=ws)
        assert result.returncode == 2
        assert f"PID {holder.pid}" in result.stderr and "in use by another program" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.2)
    assert run("info", workspace=ws).returncode == 0


def test_workspace_may_follow_the_command(tmp_path: Path):
    ws = tmp_path / "after.duckdb"
    result = subprocess.run(
        [*CLI, "init", "--workspace", str(ws)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert ws.exists() and "0 profiles" in result.stdout


def test_headless_scheduler_runs_due_schedules(tmp_path: Path):
    from segmentation import SegmentationService

    profiles, _ = make_frames(100, 10)
    profiles.to_csv(tmp_path / "p.csv", index=False)
    ws = tmp_path / "ws.duckdb"
    svc = SegmentationService.open(ws)
    svc.ingest("profiles", tmp_path / "p.csv")
    svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    schedule = svc.schedules.create(name="Every second", cron="* * * * * ?", segments=["*"])
    svc.close()
    runner = subprocess.Popen(
        [*CLI, "--workspace", str(ws), "scheduler", "--poll", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(6)
    runner.terminate()
    runner.wait(timeout=30)
    again = SegmentationService.open(ws)
    jobs = [j for j in again.jobs.list() if j.schedule_id == schedule.id]
    assert jobs and all(j.status == "SUCCEEDED" for j in jobs)
    assert again.schedules.get(schedule.id).last_job_id == jobs[0].id
    again.close()


def test_ingest_preview_column_types_and_date_format(tmp_path: Path):
    ws = tmp_path / "ws.duckdb"
    base = tmp_path / "p.csv"
    base.write_text("profile_id,birthday,score\np1,1990-12-31,1.5\n", encoding="utf-8")
    assert run("ingest", "profiles", str(base), workspace=ws).returncode == 0
    more = tmp_path / "more.csv"
    more.write_text("profile_id;birthday;score\np2;31/01/1991;2,5\np3;x;3\n", encoding="utf-8")
    args = ["ingest", "profiles", str(more), "--mode", "append", "--date-format", "DD/MM/YYYY"]
    preview = run(*args, "--column-type", "score=number", "--preview", workspace=ws)
    assert preview.returncode == 0, preview.stderr
    assert "1 of 2 rows would load, 1 rejected. Nothing was stored." in preview.stdout
    assert "birthday: date (DD/MM/YYYY)" in preview.stdout
    assert "row 2, column birthday: not a date ('x')" in preview.stdout
    loaded = run(*args, workspace=ws)
    assert "Loaded 1 of 2 rows into profiles; 1 rejected (not a date: 1)" in loaded.stdout
    assert "every rejected row, with its reason:" in loaded.stdout
    bad = run(*args, "--column-type", "score", workspace=ws)
    assert bad.returncode == 2 and "write COLUMN=TYPE" in bad.stderr


def test_lock_message_names_the_cli_command_that_holds_the_file(tmp_path: Path):
    ws = tmp_path / "ws.duckdb"
    assert run("init", workspace=ws).returncode == 0
    holder = subprocess.Popen(
        [*CLI, "--workspace", str(ws), "scheduler", "--poll", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        # The scheduler says so once it holds the file: no polling deadline to miss under load.
        assert holder.stdout.readline().startswith("Scheduler running on")
        result = run("info", workspace=ws)
        assert result.returncode == 2, result.stderr
        assert (
            "in use by another program: `segmentation scheduler` (the headless scheduler) "
            f"(PID {holder.pid})"
        ) in result.stderr
        assert "python3" not in result.stderr.split("(PID")[0]
    finally:
        holder.terminate()
        holder.wait(timeout=30)
