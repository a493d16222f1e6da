"""Run `streamlit run app.py` on a free port and drive it with Debian's Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def streamlit_server(workspace: Path) -> Iterator[str]:
    """Start the dashboard on ``workspace``; yields its base URL."""
    port = free_port()
    log = open(workspace.parent / "streamlit.log", "w")  # noqa: SIM115 - closed below
    env = {**os.environ, "SEGMENTATION_WORKSPACE": str(workspace)}
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "app.py"),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("streamlit did not become healthy in time")


# --- driving the page the way Streamlit's own e2e tests do ------------------------------
# (imported lazily so the module loads where playwright is missing)

APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
APP_CONNECTED = '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'


def wait_idle(page, timeout: float = 45_000) -> None:
    """Wait until the script run a click or a keystroke started has finished.

    A widget change flips the app's script state away from ``notRunning`` on the
    client before the request reaches the server, so waiting for ``notRunning``
    right after an interaction does not pass early. The status widget
    ("Running...") must be gone too; a short pause lets the last delta paint.
    """
    from playwright.sync_api import expect

    page.wait_for_selector(APP_CONNECTED, timeout=timeout)
    page.wait_for_selector(APP_IDLE, timeout=timeout)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=timeout)
    page.wait_for_timeout(150)


def by_key(page, key: str):
    """A keyed Streamlit element (Streamlit adds the class ``st-key-<key>``)."""
    return page.locator(f".st-key-{key}")


def pick_option(page, widget, option, search: str | None = None) -> None:
    """Open a selectbox or multiselect, type ``search``, click ``option``, check it took.

    ``option`` is the visible text (exact) or a compiled regex.
    """
    from playwright.sync_api import expect

    box = widget.get_by_role("combobox").first
    box.click()
    if search:
        box.fill(search)
    exact = isinstance(option, str)
    page.get_by_role("option", name=option, exact=exact if exact else None).first.click()
    wait_idle(page)
    if widget.get_by_test_id("stMultiSelect").count():
        chips = widget.locator("[data-tag]")  # one per chosen value
        expect(chips.filter(has_text=option)).to_have_count(1)
    else:
        expect(box).to_have_value(option)


def grid_rows(frame) -> list[dict[str, str]]:
    """The rendered rows of an ``st.dataframe`` (glide-data-grid's accessible table).

    The grid draws on a canvas and fills its hidden table only while on screen,
    and only with the rows in view: enough for the first rows of a list.
    """
    frame.scroll_into_view_if_needed()
    frame.locator('td[role="gridcell"]').first.wait_for(state="attached", timeout=30_000)
    headers = [h.inner_text() for h in frame.locator('th[role="columnheader"]').all()]
    rows = []
    for row in frame.locator('tbody tr[role="row"]').all():
        cells = [c.inner_text() for c in row.locator('td[role="gridcell"]').all()]
        rows.append(dict(zip(headers, cells, strict=False)))
    return rows


def full_screenshot(page, path: Path) -> None:
    """The whole app, not just the viewport: the main area scrolls inside ``stMain``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or {"width": 1400, "height": 1000}
    height = page.evaluate(
        """() => Math.max(...['stMain', 'stSidebarContent'].map((id) => {
            const el = document.querySelector(`[data-testid="${id}"]`);
            return el ? el.scrollHeight : 0;
        }), window.innerHeight)"""
    )
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 8000)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
