"""The command line at its edges: stop signals while a run still starts, and a reader that goes away
(``mnist-tui --detach | head -1``). One line at most, the usual exit code, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mnist_tui.runs.catalogue import process_alive

COMMON = ("--dataset", "{data}", "--device", "cpu", "--batch-size", "50", "--threads", "1", "--epochs", "200")


def args(synthetic_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mnist_tui", *(a.format(data=synthetic_dir) for a in COMMON), *extra]


def test_two_sigterms_while_the_run_starts_end_it_quietly_with_the_interrupted_code(synthetic_dir, tmp_path):
    proc = subprocess.Popen(
        args(synthetic_dir, "--headless", "--run-dir", str(tmp_path / "run")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.readline()  # its first line (the data set found): the trainer is setting up
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)  # two signals sent at once arrive as one
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert len(err.strip().splitlines()) <= 1, err


def test_detach_whose_reader_has_gone_starts_the_run_and_exits_cleanly(synthetic_dir, tmp_path):
    run = tmp_path / "run"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before a word is written: every write is a broken pipe
    try:
        result = subprocess.run(
            args(synthetic_dir, "--run-dir", str(run), "--detach"), stdout=write_end, stderr=subprocess.PIPE,
            text=True, timeout=120,
        )  # fmt: skip
    finally:
        os.close(write_end)
    process = json.loads((run / "process.json").read_text())
    try:
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""  # no traceback, no "Exception ignored" at exit
        assert process_alive(process)  # the run trains all the same
    finally:
        os.kill(process["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 60
        while process_alive(process) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert json.loads((run / "summary.json").read_text())["reason"] == "interrupted"
