"""A run that trains on another node of a cluster (here: a real run in a UTS namespace of its own, whose host
name differs, as root) shows as training in ``runs``, ``compare`` and ``sweep --status``, not as failed or
unknown: its process cannot be checked from here, but the lock it holds on the shared file system can."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from helpers.cli import mnist_tui

from mnist_tui.runs import sweep as sw

TRAINING = ("--threads", "1", "--batch-size", "50", "--eval-every", "10", "--epochs", "500", "--max-steps", "100000",
            "--no-early-stopping", "--device", "cpu")  # fmt: skip


def other_node(command: list[str]) -> subprocess.Popen:
    script = 'hostname other-node && exec "$@"'
    return subprocess.Popen(
        ["unshare", "--uts", "sh", "-c", script, "sh", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="another host name needs root")
def test_a_run_training_on_another_node_shows_as_training(synthetic_dir, tmp_path):
    sweep = tmp_path / "sweep"
    plan = mnist_tui("sweep", "--dataset", str(synthetic_dir), *TRAINING, "--run-dir", str(sweep), "--list")
    assert plan.returncode == 0, plan.stderr
    task = [sys.executable, "-m", "mnist_tui", "sweep", "--dataset", str(synthetic_dir), *TRAINING]
    proc = other_node([*task, "--run-dir", str(sweep), "--only", "0"])
    try:
        run = sweep / "seed=0"
        deadline = time.monotonic() + 120
        while not ((sw.read_info(run) and sw.read_info(run).iteration or 0) >= 20):
            assert proc.poll() is None and time.monotonic() < deadline, "the run never trained"
            time.sleep(0.1)
        assert '"host": "other-node"' in (run / "process.json").read_text()

        runs = mnist_tui("runs", str(sweep))
        row = next(line for line in runs.stdout.splitlines() if "seed=0" in line or "%" in line)
        assert "running" in row and "unknown" not in row, runs.stdout
        compare = mnist_tui("compare", "--headless", str(sweep))
        row = next(line for line in compare.stdout.splitlines() if "seed=0" in line)
        assert "running" in row and "failed" not in row, compare.stdout
        status = mnist_tui("sweep", "--status", str(sweep))
        row = next(line for line in status.stdout.splitlines() if "seed=0" in line)
        assert "training" in row and "on other-node" in row, status.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert sw.run_status(sweep / "seed=0")[0] == sw.Status.INTERRUPTED  # stopped here: saved, resumable
