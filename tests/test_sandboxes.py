"""Sandboxes: each its own DuckDB file beside the workspace, with its own everything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from segmentation.errors import InvalidInputError, NameTakenError, NotFoundError
from segmentation.sandboxes import Sandboxes

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sandboxes(tmp_path: Path):
    boxes = Sandboxes(tmp_path / "ws" / "segments.duckdb")
    yield boxes
    boxes.close()


def test_a_sandbox_is_a_file_beside_the_workspace(sandboxes, tmp_path: Path):
    path = sandboxes.create("dev")
    assert path == tmp_path / "ws" / "segments.sandbox-dev.duckdb"
    assert path.exists()
    assert sandboxes.names() == ["prod", "dev"]
    assert sandboxes.exports_dir("dev") == tmp_path / "ws" / "exports-dev"


def test_sandboxes_share_nothing(sandboxes):
    sandboxes.create("dev")
    sandboxes.service("prod").definitions.create(name="Prod seg", pql="age > 1")
    sandboxes.service("dev").tokens.create("dev-token")
    assert sandboxes.service("dev").definitions.all() == []
    assert sandboxes.service("prod").tokens.list() == []


@pytest.mark.parametrize(
    ("name", "error", "fragment"),
    [
        ("prod", NameTakenError, "already exists"),
        ("Dev", InvalidInputError, "lowercase"),
        ("a/b", InvalidInputError, "lowercase"),
        ("../x", InvalidInputError, "lowercase"),
        ("x" * 64, InvalidInputError, "63"),
        ("", InvalidInputError, "lowercase"),
    ],
)
def test_bad_sandbox_names_make_no_file(sandboxes, tmp_path: Path, name, error, fragment):
    before = sorted(p.name for p in (tmp_path / "ws").glob("*"))
    with pytest.raises(error, match=fragment):
        sandboxes.create(name)
    assert sorted(p.name for p in (tmp_path / "ws").glob("*")) == before


def test_an_unknown_sandbox_is_not_opened(sandboxes, tmp_path: Path):
    with pytest.raises(NotFoundError, match=r"'staging'.*prod"):
        sandboxes.service("staging")
    assert not sandboxes.path("staging").exists()


def test_the_sandbox_commands(tmp_path: Path):
    ws = tmp_path / "ws.duckdb"
    cli = [sys.executable, "-m", "segmentation.cli", "--workspace", str(ws)]
    created = subprocess.run(
        [*cli, "sandbox", "create", "dev"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert created.returncode == 0, created.stderr
    assert "ws.sandbox-dev.duckdb" in created.stdout
    listed = subprocess.run(
        [*cli, "sandbox", "list"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["prod", "dev"]
    again = subprocess.run(
        [*cli, "sandbox", "create", "dev"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 2 and "already exists" in again.stderr
