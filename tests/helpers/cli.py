"""Running the real command line in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys


def mnist_tui(*args: str, env_extra: dict | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "mnist_tui", *args], capture_output=True, text=True, env=env, timeout=timeout
    )
