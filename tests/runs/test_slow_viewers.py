"""Viewers that stop reading never hold a run up: the run stops, saves and its process exits (freeing the run's
lock) within seconds, however many of them there are."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mnist_tui.runs.protocol import MAX_VIEWERS
from mnist_tui.runs.rundir import RunDirectory

BOUND = 45  # seconds: a stop and save on this data takes a second or two; 16 stuck viewers took 80 s and more
HISTORY = 600_000  # bytes of metrics.jsonl before the viewers come: more than a socket's buffer holds


def test_viewers_that_never_read_do_not_hold_up_the_end_of_a_run(synthetic_dir: Path, run: Path):
    started = subprocess.run(
        [sys.executable, "-m", "mnist_tui", "--detach", "--dataset", str(synthetic_dir), "--device", "cpu",
         "--batch-size", "50", "--eval-every", "4", "--epochs", "2000", "--threads", "1", "--patience", "100000",
         "--aug-rotate", "10", "--run-dir", str(run)],  # fmt: skip
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    info = json.loads((run / "process.json").read_text())
    process = psutil.Process(info["pid"])
    deadline = time.monotonic() + 120  # a history longer than a socket buffer: a viewer that does not read blocks
    while (run / "metrics.jsonl").stat().st_size < HISTORY and time.monotonic() < deadline:
        time.sleep(0.5)
    assert (run / "metrics.jsonl").stat().st_size >= HISTORY

    viewers = []
    try:
        for _ in range(MAX_VIEWERS):
            viewer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            viewer.connect(info["socket"])
            viewer.sendall(b'{"op": "subscribe"}\n')  # and never read a byte
            viewers.append(viewer)
        # All of them are being served: one more is hung up on at once.
        extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        extra.connect(info["socket"])
        extra.settimeout(30)
        assert extra.recv(1) == b""
        extra.close()

        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=BOUND)
        except psutil.TimeoutExpired:
            pytest.fail(f"the run's process was still there {BOUND} s after it was told to stop")
    finally:
        for viewer in viewers:
            viewer.close()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["reason"] == "interrupted"
    assert not RunDirectory(run).is_locked()
