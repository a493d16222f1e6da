"""The core package never imports streamlit, so it runs in notebooks, the CLI and CI."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import segmentation


def test_importing_every_core_module_loads_no_streamlit():
    names = [m.name for m in pkgutil.walk_packages(segmentation.__path__, "segmentation.")]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "assert 'streamlit' not in sys.modules, 'streamlit was imported'\n"
        "print(len(sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_only_the_api_package_imports_fastapi():
    names = [
        m.name
        for m in pkgutil.walk_packages(segmentation.__path__, "segmentation.")
        if not m.name.startswith("segmentation.api")
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "assert 'fastapi' not in sys.modules, 'fastapi was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
