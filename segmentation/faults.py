"""Crash points: where a test kills this process to prove that a crash leaves nothing torn.

``SEGMENTATION_CRASH_AT=<name>`` in the environment makes :func:`crash_point` of that
name kill the process with SIGKILL, as ``kill -9`` or a power cut would: no cleanup,
no ``finally``. Unset (always, outside the recovery tests), a crash point does nothing.
"""

from __future__ import annotations

import os
import signal

ENV = "SEGMENTATION_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
