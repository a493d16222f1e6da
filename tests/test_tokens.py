"""API tokens on a real workspace file: shown once, stored as a hash, revocable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from segmentation.errors import InvalidInputError, NameTakenError, NotFoundError
from segmentation.service import SegmentationService
from segmentation.tokens import PREFIX

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "segmentation.cli"]


@pytest.fixture
def svc(tmp_path: Path):
    service = SegmentationService.open(tmp_path / "ws.duckdb")
    yield service
    service.close()


def test_a_token_verifies_and_only_its_hash_is_stored(svc):
    token, secret = svc.tokens.create("ci", read_only=True)
    assert secret.startswith(PREFIX) and len(secret) > 40
    assert svc.tokens.verify(secret) == token
    assert token.read_only
    stored = svc.db.rows("SELECT * FROM api_tokens")
    assert secret not in repr(stored)
    assert secret[len(PREFIX) :] not in repr(stored)


@pytest.mark.parametrize("wrong", ["", "sst_", "sst_x", "Bearer x", "ci"])
def test_anything_else_does_not_verify(svc, wrong):
    _, secret = svc.tokens.create("ci")
    assert svc.tokens.verify(wrong) is None
    assert svc.tokens.verify(secret[:-1]) is None


def test_two_tokens_are_told_apart_and_revoke_ends_one(svc):
    a, secret_a = svc.tokens.create("a")
    b, secret_b = svc.tokens.create("b")
    assert (svc.tokens.verify(secret_a), svc.tokens.verify(secret_b)) == (a, b)
    svc.tokens.revoke("a")
    assert svc.tokens.verify(secret_a) is None
    assert [t.name for t in svc.tokens.list()] == ["b"]


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", InvalidInputError),
        ("with space", InvalidInputError),
        ("-dash", InvalidInputError),
        ("x" * 65, InvalidInputError),
        ("taken", NameTakenError),
    ],
)
def test_bad_names_are_refused_and_nothing_is_added(svc, name, error):
    svc.tokens.create("taken")
    with pytest.raises(error):
        svc.tokens.create(name)
    assert [t.name for t in svc.tokens.list()] == ["taken"]


def test_revoking_an_unknown_token_names_the_known_ones(svc):
    svc.tokens.create("ci")
    with pytest.raises(NotFoundError, match=r"'nope'.*ci"):
        svc.tokens.revoke("nope")


def test_tokens_survive_a_reopen(tmp_path: Path):
    path = tmp_path / "ws.duckdb"
    svc = SegmentationService.open(path)
    _, secret = svc.tokens.create("ci")
    svc.close()
    again = SegmentationService.open(path)
    try:
        assert again.tokens.verify(secret).name == "ci"
    finally:
        again.close()


def _cli(*args: str, workspace: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args, "--workspace", str(workspace)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_token_commands(tmp_path: Path):
    ws = tmp_path / "ws.duckdb"
    created = _cli("token", "create", "--name", "ci", "--read-only", workspace=ws)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith(PREFIX)
    assert "read-only" in created.stdout
    listed = _cli("token", "list", workspace=ws)
    assert "ci" in listed.stdout and "read-only" in listed.stdout
    assert secret not in listed.stdout
    again = _cli("token", "create", "--name", "ci", workspace=ws)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert _cli("token", "revoke", "ci", workspace=ws).returncode == 0
    assert "No tokens" in _cli("token", "list", workspace=ws).stdout
    unknown = _cli("token", "create", "--name", "x", "--sandbox", "dev", workspace=ws)
    assert unknown.returncode == 2 and "No sandbox named 'dev'" in unknown.stderr


def test_a_token_command_on_a_file_held_by_another_program_says_who_and_what_to_do(
    tmp_path: Path,
):
    """Only `serve` takes token commands for the file it holds; any other holder (here a
    plain script) is named, with what to do, and nothing is written."""
    ws = tmp_path / "ws.duckdb"
    holder = subprocess.Popen(
        [
            *CLI[:1],
            "-c",
            "import time; from segmentation import SegmentationService as S; "
            f"s = S.open({str(ws)!r}); print('ready', flush=True); time.sleep(60)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        refused = _cli("token", "create", "--name", "ci", workspace=ws)
        assert refused.returncode == 2, refused.stderr
        assert f"PID {holder.pid}" in refused.stderr and "stop that program" in refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        holder.kill()
        holder.wait()
    assert "No tokens" in _cli("token", "list", workspace=ws).stdout
