"""Served beyond loopback, the dashboard asks for a read-write token first (AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from segmentation import SegmentationService
from segmentation.store import ENV_PATH
from segmentation.tokens import DASHBOARD_AUTH_ENV

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    path = tmp_path / "ws.duckdb"
    svc = SegmentationService.open(path)
    secrets = {
        "writer": svc.tokens.create("writer")[1],
        "reader": svc.tokens.create("reader", read_only=True)[1],
    }
    svc.close()
    monkeypatch.setenv(ENV_PATH, str(path))
    monkeypatch.setenv(DASHBOARD_AUTH_ENV, "1")
    return secrets


def _pages(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


@pytest.mark.parametrize("typed", ["", "sst_wrong", "reader"])
def test_without_a_read_write_token_no_page_runs(tokens, typed):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert _pages(at) == ["Segment Studio"]
    assert at.text_input(key="_token_input").label == "API token"
    if typed:
        at.text_input(key="_token_input").input(tokens.get(typed, typed)).run()
        assert "not valid" in at.error[0].value
        assert _pages(at) == ["Segment Studio"]
        assert not at.sidebar.markdown  # no workspace counts either


def test_a_read_write_token_opens_the_dashboard(tokens):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="_token_input").input(tokens["writer"]).run()
    assert not at.exception
    assert "Home" in _pages(at)  # the start page
    assert any("profiles" in m.value for m in at.sidebar.markdown)


def test_on_loopback_nothing_is_asked(tokens, monkeypatch):
    monkeypatch.delenv(DASHBOARD_AUTH_ENV)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert "Home" in _pages(at)  # the start page


@pytest.mark.parametrize(
    ("host", "outside"),
    [
        ("127.0.0.1", False),
        ("127.0.1.1", False),
        ("localhost", False),
        ("::1", False),
        ("0.0.0.0", True),
        ("192.168.1.20", True),
        ("::", True),
        ("studio.example.com", True),
    ],
)
def test_serve_asks_for_a_dashboard_token_beyond_loopback(host, outside):
    from segmentation.cli import reachable_from_outside

    assert reachable_from_outside(host) is outside
