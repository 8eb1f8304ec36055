"""A process killed (kill -9) while it writes a checkpoint leaves its temporary file behind, as big as a checkpoint:
the run's next writer (its resume) removes it, and nothing else."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from helpers.cli import mnist_tui

from mnist_tui.engine.checkpoints import load_checkpoint

KILLED_WRITER = """
import os, signal, sys
from mnist_tui.engine.files import atomic_write

def write(f):
    f.write(b"\\0" * (1 << 20))  # a checkpoint half-written ...
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)  # ... when the process is killed

atomic_write(sys.argv[1], write)
"""


def test_a_checkpoint_temporary_left_by_a_killed_writer_is_removed_on_resume(synthetic_dir: Path, tmp_path: Path):
    run = tmp_path / "run"
    first = mnist_tui("--headless", "--dataset", str(synthetic_dir), "--device", "cpu", "--batch-size", "50",
                      "--eval-every", "4", "--max-steps", "8", "--run-dir", str(run))  # fmt: skip
    assert first.returncode == 0, first.stderr
    checkpoints = run / "checkpoints"
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(checkpoints / "last.pt")], capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    stale = [p for p in checkpoints.iterdir() if p.name.endswith(".tmp")]
    assert len(stale) == 1 and stale[0].name.startswith(".last.pt.") and stale[0].stat().st_size == 1 << 20
    assert load_checkpoint(checkpoints / "last.pt")["loop"]["iteration"] == 8  # the old one is whole
    mine = checkpoints / "notes.tmp"  # not a checkpoint temporary: stays
    mine.write_text("mine")

    config = json.loads((run / "config.json").read_text())
    config["max_steps"] = 12
    (run / "config.json").write_text(json.dumps(config))
    resumed = mnist_tui("--resume", str(run), "--headless")
    assert resumed.returncode == 0, resumed.stderr

    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.pt", "last.pt", "notes.tmp"]
    assert load_checkpoint(checkpoints / "last.pt")["loop"]["iteration"] == 12
