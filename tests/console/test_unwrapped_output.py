"""Output that is not a terminal is not wrapped: a run's paths in a log file are whole, one to a line, whatever
their length (at 80 columns they were split: '.../las' / 't.pt', and the summary table cut them with '…')."""

from __future__ import annotations

import os
import subprocess
import sys


def test_headless_output_to_a_file_keeps_every_path_whole(synthetic_dir, tmp_path):
    run = tmp_path / ("a-directory-with-a-long-name-" * 3) / "20261206-143934-sweep-lr=0.001-batch=100" / "seed=1"
    log = tmp_path / "train.log"
    with open(log, "w") as out:
        result = subprocess.run(
            [sys.executable, "-m", "mnist_tui", "--headless", "--dataset", str(synthetic_dir), "--device", "cpu",
             "--batch-size", "50", "--max-steps", "10", "--eval-every", "5", "--run-dir", str(run)],
            stdout=out, stderr=subprocess.PIPE, text=True, timeout=240, env=dict(os.environ, COLUMNS="80"),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = log.read_text().splitlines()
    assert len(str(run)) > 120
    assert any(line == f"Run directory: {run}" for line in lines), lines
    assert any(line == f"saved {run / 'checkpoints' / 'last.pt'}" for line in lines), lines
    table_row = [line for line in lines if "run directory" in line]
    assert len(table_row) == 1 and f" {run} " in table_row[0], lines  # the summary table's cell, whole
