"""Which program holds a workspace file: words for the lock message, not a PID alone.

DuckDB's lock error names the executable (``python3.11``) and a PID. The holder's
command line (from ``/proc``, or ``ps`` where there is no ``/proc``) tells what it
really is: ``segmentation serve``, the dashboard, or a CLI command.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

_MAX_TEXT = 120
# subcommands and what a person calls them
_CLI_WORDS = {
    "serve": "the dashboard, REST API and schedules",
    "scheduler": "the headless scheduler",
}


def command_line(pid: int) -> list[str] | None:
    """The program's arguments, or None when it cannot be read (gone, or not ours)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
        return args or None
    except OSError:
        pass
    try:
        out = subprocess.run(
            ["ps", "-o", "command=", "-p", str(int(pid))],
            capture_output=True, text=True, timeout=5, check=False,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return shlex.split(out) if out else None


def describe(args: list[str]) -> str:
    """``segmentation serve``, ``the dashboard (streamlit run app.py)``, ``the CLI command
    `segmentation run *```, or the command line itself, shortened."""
    names = [Path(a).name for a in args]
    if "streamlit" in names or any(a.endswith("streamlit") for a in args):
        script = next((a for a in args if a.endswith(".py")), "app.py")
        return f"the dashboard (streamlit run {Path(script).name})"
    rest = _segmentation_args(args)
    if rest is not None:
        sub = _subcommand(rest)
        if sub is None:
            return "the segmentation command"
        what = _CLI_WORDS.get(sub)
        text = f"`segmentation {sub}`"
        return f"{text} ({what})" if what else f"the CLI command {text}"
    text = " ".join([names[0], *args[1:]]) if args else "an unknown program"
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def describe_pid(pid: int) -> str | None:
    args = command_line(pid)
    return describe(args) if args else None


def _segmentation_args(args: list[str]) -> list[str] | None:
    """The arguments after ``segmentation`` (the entry point, or ``-m segmentation.cli``)."""
    for i, arg in enumerate(args):
        if (
            arg == "-m"
            and i + 1 < len(args)
            and args[i + 1] in ("segmentation", "segmentation.cli")
        ):
            return args[i + 2 :]
        if Path(arg).name == "segmentation" and i <= 1:
            return args[i + 1 :]
    return None


def _subcommand(rest: list[str]) -> str | None:
    skip = False
    for arg in rest:
        if skip:
            skip = False
        elif arg == "--workspace":
            skip = True  # its value follows
        elif not arg.startswith("-"):
            return arg
    return None
