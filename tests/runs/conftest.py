"""Fixtures of the runs tests."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest


@pytest.fixture
def run(tmp_path: Path):
    """A run directory's path; a background process still training it at the end of the test is killed."""
    run = tmp_path / "run"
    yield run
    process = run / "process.json"
    if process.exists():  # never leave a background process behind
        pid = json.loads(process.read_text())["pid"]
        if pid == os.getpid():  # the run trained in this process (an app test that failed before its handover)
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
