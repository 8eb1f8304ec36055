"""A seeded CPU run computes the same numbers whatever else trains beside it, before or after an interruption
(engine/cpu_share.py): its threads are decided once, when it starts, recorded in its config.json and kept on
resume. The threads are part of the arithmetic: a run that changed them while another run trained, or took a new
share when it was resumed beside one, computed other losses from that step on."""

from __future__ import annotations

import json
import subprocess
import sys

import psutil
import pytest
import torch
from helpers.engine import DEADLINE, Consumer, config, of
from helpers.reproducible import run_check

from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control
from mnist_tui.runs.start import THREADS_CHANGED, make_trainer


@pytest.fixture(autouse=True)
def torch_threads(monkeypatch, tmp_path):
    """The runs here choose their own threads (no OMP_NUM_THREADS), counted among this test's claims only; the
    process's torch threads are put back afterwards."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("MNIST_TUI_CPU_SHARE_DIR", str(tmp_path / "claims"))
    (tmp_path / "claims").mkdir(mode=0o700)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_same_seed_alone_beside_another_run_with_fixed_threads_and_resumed_twice_is_identical(
    synthetic_dir, tmp_path
):
    """Through the command line, as scripts/reproducible.py does: every step's loss and every evaluation of the
    lone run, bit for bit, beside a second training process started and stopped during it, with --threads fixed
    beside one, and interrupted and resumed twice (once beside one)."""
    lines: list[str] = []
    results = run_check(str(synthetic_dir), tmp_path / "check", epochs=20, report=lines.append)
    assert results == {"beside": [], "fixed": [], "resumed": []}, "\n".join(lines)


def test_a_resumed_run_keeps_the_threads_it_recorded(synthetic_dir, tmp_path):
    """A run that started alone on 2 threads and is resumed while another run holds the CPU trains on 2 again
    (not on the 1 it would take as a new run), and says nothing of a share."""
    torch.set_num_threads(2)
    run_dir = tmp_path / "runs" / "r"
    control = Control()
    consumer = Consumer(make_trainer(config(synthetic_dir, run_dir, epochs=3, eval_every=1000), control).run())
    consumer.wait_for(lambda e: isinstance(e, ev.StepMetrics), "a step")
    control.stop(ev.Reason.INTERRUPTED)
    first = consumer.join(DEADLINE)
    assert of(first, ev.RunStarted)[0].threads == 2
    assert of(first, ev.RunFinished)[0].reason == "interrupted"
    assert json.loads((run_dir / "config.json").read_text())["threads"] == 2

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:  # another run on the CPU, holding one thread
        (tmp_path / "claims" / str(other.pid)).write_text(f"{psutil.Process(other.pid).create_time():.3f} 1\n")
        events = list(make_trainer(None, resume=run_dir).run())
    finally:
        other.kill()
        other.wait()
    assert of(events, ev.RunStarted)[0].threads == 2
    assert not any("runs are training on this CPU" in e.message for e in of(events, ev.Log))
    assert of(events, ev.RunFinished)[0].reason == "completed"


def test_threads_given_on_resume_are_logged_with_what_they_change(synthetic_dir, tmp_path):
    run_dir = tmp_path / "runs" / "r"
    list(make_trainer(config(synthetic_dir, run_dir, epochs=1, eval_every=1000, threads=2)).run())
    trainer = make_trainer(None, resume=run_dir, changes={"threads": 1})
    assert trainer.notes == (f"--threads 1 for this resumed run (it was 2){THREADS_CHANGED}",)
