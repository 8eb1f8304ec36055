"""Signals stop a headless run cleanly: a loadable checkpoint, a summary saying `interrupted`, and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from mnist_tui.engine.checkpoints import load_checkpoint


def exit_status(pid: int, timeout: float) -> int | None:
    """Wait for child ``pid`` to end: its status, or None while it still runs at the deadline."""
    status: list[int] = []
    waiter = threading.Thread(target=lambda: status.append(os.waitpid(pid, 0)[1]), daemon=True)
    waiter.start()
    waiter.join(timeout)
    return status[0] if status else None


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_stops_headless_run_and_resume_continues(sig, synthetic_dir, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "mnist_tui", "--headless", "--dataset", str(synthetic_dir), "--device", "cpu",
           "--batch-size", "50", "--eval-every", "4", "--epochs", "200", "--run-dir", str(run)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    for line in proc.stdout:  # wait until it is training and has evaluated
        if line.startswith("iter"):
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["reason"] == "interrupted" and summary["status"] == "finished"
    reached = summary["iteration"]
    assert load_checkpoint(run / "checkpoints" / "last.pt")["loop"]["iteration"] == reached

    cfg = json.loads((run / "config.json").read_text())
    cfg["max_steps"] = reached + 8
    (run / "config.json").write_text(json.dumps(cfg))
    resumed = subprocess.run(
        [sys.executable, "-m", "mnist_tui", "--resume", str(run), "--headless"], capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["reason"] == "completed" and summary["iteration"] == reached + 8
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    started = [l for l in lines if l["event"] == "run_started"]
    assert [s["start_iteration"] for s in started] == [0, reached]


def test_app_on_a_terminal_that_hangs_up_saves_and_exits(synthetic_dir, tmp_path):
    """A dropped SSH session: the terminal closes under the live app; the run saves, the process ends."""
    import pty
    import select
    import time

    run = tmp_path / "run"
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.executable, [sys.executable, "-m", "mnist_tui", "--dataset", str(synthetic_dir),
                  "--device", "cpu", "--batch-size", "50", "--eval-every", "4", "--epochs", "500",
                  "--run-dir", str(run)])  # fmt: skip
    best = run / "checkpoints" / "best.pt"
    deadline = time.monotonic() + 120
    while not best.exists() and time.monotonic() < deadline:  # reading what the app draws, so it never blocks
        if select.select([fd], [], [], 0.2)[0]:
            try:
                os.read(fd, 65536)
            except OSError:
                break
    os.close(fd)  # the terminal goes away: the kernel sends SIGHUP to the app
    if exit_status(pid, timeout=120) is None:
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the app kept running after its terminal hung up")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["reason"] == "interrupted"
    assert load_checkpoint(run / "checkpoints" / "last.pt")["loop"]["iteration"] == summary["iteration"]
