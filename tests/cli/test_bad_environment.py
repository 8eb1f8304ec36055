"""A full disk or an unwritable run directory: a clear message, and the last good checkpoint kept."""

from __future__ import annotations

import errno
import json

from mnist_tui.config import TrainConfig
from mnist_tui.engine import events as ev
from mnist_tui.engine import reporting as reporting_mod
from mnist_tui.engine import trainer as trainer_mod
from mnist_tui.engine.checkpoints import load_checkpoint
from mnist_tui.runs.start import make_trainer
from helpers.cli import mnist_tui


def test_disk_full_at_a_checkpoint_keeps_the_previous_one(synthetic_dir, tmp_path, monkeypatch):
    real_save = trainer_mod.save_checkpoint
    last = tmp_path / "run" / "checkpoints" / "last.pt"

    def save_until_full(path, state):
        if last.exists():  # the first last.pt was written: from now on the disk is full
            with open(path.with_name(".partial"), "wb") as f:
                f.write(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(path, state)

    monkeypatch.setattr(trainer_mod, "save_checkpoint", save_until_full)
    cfg = TrainConfig(dataset=str(synthetic_dir), epochs=3, batch_size=50, eval_every=5, device="cpu",
                      run_dir=str(tmp_path / "run"))  # fmt: skip
    events = list(make_trainer(cfg).run())
    finished = events[-1]
    assert isinstance(finished, ev.RunFinished) and finished.reason == ev.Reason.FAILED and finished.bad_input
    assert "No space left on device" in finished.message and "from before is kept" in finished.message
    assert load_checkpoint(last)["loop"]["iteration"] == 11  # the end of epoch 1 (550 digits, batch 50), whole
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["reason"] == "failed"


def test_unwritable_run_directory_is_one_line_and_exit_2(synthetic_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = mnist_tui("--dataset", str(synthetic_dir), "--run-dir", str(blocker / "run"), "--headless")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write the run directory" in lines[0] and str(blocker) in lines[0]


def test_out_of_memory_is_one_clear_line_and_keeps_the_checkpoint(synthetic_dir, tmp_path, monkeypatch):
    """CUDA OOM, simulated on CPU: the evaluation after the first epoch runs out of memory."""
    import torch

    real = reporting_mod._evaluate
    calls = {"n": 0}

    def evaluate(*args, **kwargs):
        calls["n"] += 1
        # Validation at 4, 8 and 11 (the end of epoch 1: 550 digits after the validation split), the test set at
        # 11, validation at 12; then the one at 16 runs out.
        if calls["n"] > 5:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(*args, **kwargs)

    monkeypatch.setattr(reporting_mod, "_evaluate", evaluate)
    cfg = TrainConfig(dataset=str(synthetic_dir), epochs=3, batch_size=50, eval_every=4, device="cpu",
                      run_dir=str(tmp_path / "run"))  # fmt: skip
    finished = list(make_trainer(cfg).run())[-1]
    assert finished.reason == ev.Reason.FAILED and finished.bad_input
    assert "ran out of memory at iteration 16" in finished.message and "--batch-size" in finished.message
    assert "last good checkpoint is" in finished.message
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["loop"]["iteration"] == 11
