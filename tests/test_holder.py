"""The lock message names the program holding the workspace, from its command line."""

from __future__ import annotations

import os
import sys

import pytest

from segmentation.holder import command_line, describe

PY = "/usr/bin/python3.11"

CASES = [
    ([PY, "-m", "segmentation.cli", "--workspace", "w.duckdb", "serve", "--port", "8501"],
     "`segmentation serve` (the dashboard, REST API and schedules)"),
    (["/venv/bin/segmentation", "scheduler", "--poll", "5"],
     "`segmentation scheduler` (the headless scheduler)"),
    ([PY, "-m", "segmentation", "run", "*"], "the CLI command `segmentation run`"),
    ([PY, "-m", "segmentation.cli", "ingest", "profiles", "p.csv"],
     "the CLI command `segmentation ingest`"),
    ([PY, "/venv/bin/streamlit", "run", "/repo/app.py", "--server.port", "8501"],
     "the dashboard (streamlit run app.py)"),
    (["streamlit", "run", "app.py"], "the dashboard (streamlit run app.py)"),
    ([PY, "notebook.py"], "python3.11 notebook.py"),
    ([PY, "-c", "x" * 300], "python3.11 -c " + "x" * 103 + "..."),
]  # fmt: skip


@pytest.mark.parametrize(("args", "text"), CASES)
def test_describe_names_the_program(args: list[str], text: str) -> None:
    assert describe(args) == text


def test_command_line_of_this_process() -> None:
    args = command_line(os.getpid())
    assert args is not None and os.path.basename(args[0]).startswith("python")
    assert any("pytest" in a for a in args) or sys.argv[0] in args
