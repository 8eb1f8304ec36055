"""A run killed before its first checkpoint (kill -9 during its first save, the OOM killer) leaves a directory
with no checkpoint: the same command starts it over, and --resume says that is what to do."""

from __future__ import annotations

import json

from mnist_tui.runs.rundir import RunDirectory

from helpers.cli import mnist_tui


def leave_unstarted_run(synthetic_dir, run):
    """A real run's directory as a kill -9 in its first checkpoint write leaves it: its config, the metrics it
    wrote, a half-written temporary checkpoint, no last.pt and no summary."""
    result = mnist_tui("--headless", "--dataset", str(synthetic_dir), "--device", "cpu", "--batch-size", "50",
                       "--max-steps", "4", "--eval-every", "2", "--run-dir", str(run))  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("summary.json",):
        (run / name).unlink()
    for checkpoint in (run / "checkpoints").glob("*.pt"):
        checkpoint.unlink()
    (run / "checkpoints" / ".last.pt.abcd1234.tmp").write_bytes(b"\0" * 4096)


def test_the_same_command_starts_over_a_run_killed_before_its_first_checkpoint(synthetic_dir, tmp_path):
    run = tmp_path / "run"
    leave_unstarted_run(synthetic_dir, run)
    result = mnist_tui("--resume", str(run), "--headless")
    assert result.returncode == 2 and "nothing to resume; start it over" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    again = mnist_tui("--headless", "--dataset", str(synthetic_dir), "--device", "cpu", "--batch-size", "50",
                      "--max-steps", "4", "--eval-every", "2", "--run-dir", str(run))  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads((run / "summary.json").read_text())["reason"] == "completed"
    assert not list((run / "checkpoints").glob("*.tmp"))
    starts = [line for line in (run / "metrics.jsonl").read_text().splitlines() if '"run_started"' in line]
    assert len(starts) == 1  # the killed attempt's lines are gone, not mixed into the new run's


def test_a_run_with_a_checkpoint_is_still_never_overwritten(synthetic_dir, tmp_path):
    run = tmp_path / "run"
    result = mnist_tui("--headless", "--dataset", str(synthetic_dir), "--device", "cpu", "--batch-size", "50",
                       "--max-steps", "4", "--eval-every", "2", "--run-dir", str(run))  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run / "summary.json").unlink()  # killed after its checkpoint: resumable
    before = (run / "metrics.jsonl").read_bytes()
    again = mnist_tui("--headless", "--dataset", str(synthetic_dir), "--device", "cpu", "--run-dir", str(run))
    assert again.returncode == 2 and "already holds a run; continue it with --resume" in again.stderr
    assert (run / "metrics.jsonl").read_bytes() == before and RunDirectory(run).last_checkpoint.exists()


def test_resuming_a_run_that_trains_before_its_first_checkpoint_names_the_process(synthetic_dir, tmp_path):
    """A run with no checkpoint yet that is still training is not one that ended: --resume says who trains it."""
    run = tmp_path / "run"
    leave_unstarted_run(synthetic_dir, run)
    directory = RunDirectory(run)
    directory.lock()  # as the process training it holds it
    try:
        result = mnist_tui("--resume", str(run), "--headless")
    finally:
        directory.close()
    assert result.returncode == 2 and "is training this run" in result.stderr, result.stderr
