"""Runs that share a CPU take their share of its threads (engine/cpu_share.py), counted from claims in a directory:
a live process's claim counts, an ended or reused process's claim is removed, a paused or ended run withdraws."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest
import torch
from helpers.engine import DEADLINE, Consumer, config, of, state_is

from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control
from mnist_tui.engine.cpu_share import CpuShare, sharing_enabled
from mnist_tui.runs.start import make_trainer


@pytest.fixture(autouse=True)
def torch_threads():
    """Each test may change the process's torch threads: put them back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def other_run(tmp_path):
    """Another live process with its claim in the directory, as a run on the same CPU leaves it."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    claim = tmp_path / str(proc.pid)
    claim.write_text(f"{psutil.Process(proc.pid).create_time():.3f}\n")
    yield proc, claim
    proc.kill()
    proc.wait()


def test_a_lone_run_keeps_every_thread(tmp_path):
    share = CpuShare(4, tmp_path)
    share.join()
    assert (tmp_path / str(share.pid)).exists()
    assert share.adjust(now=1.0) is None
    assert share.current == 4 and share.sharers == 1
    share.leave()
    assert not (tmp_path / str(share.pid)).exists()


def test_two_runs_take_half_each_and_the_whole_again_when_the_other_ends(tmp_path, other_run):
    proc, claim = other_run
    share = CpuShare(4, tmp_path)
    share.join()
    line = share.adjust(now=1.0)
    assert line is not None and "2 runs are training on this CPU" in line and "2 of 4 threads" in line
    assert share.current == 2 and torch.get_num_threads() == 2
    assert share.adjust(now=1.5) is None  # not due yet: no recount
    proc.kill()
    proc.wait()
    line = share.adjust(now=3.0)
    assert line == "alone on this CPU again: back to 4 threads"
    assert torch.get_num_threads() == 4
    assert not claim.exists()  # the ended process's claim is removed by the run that counted it


def test_claims_of_ended_and_reused_processes_do_not_count(tmp_path, other_run):
    _, claim = other_run
    claim.write_text("12345.000\n")  # the same id, another start time: the id was reused
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    (tmp_path / str(ended.pid)).write_text("1.000\n")
    (tmp_path / "notes.txt").write_text("not a claim")
    share = CpuShare(2, tmp_path)
    share.join()
    assert share.count() == 1
    assert not claim.exists() and not (tmp_path / str(ended.pid)).exists()
    assert (tmp_path / "notes.txt").exists()


def test_one_thread_is_the_least_share(tmp_path, other_run):
    share = CpuShare(1, tmp_path)
    share.join()
    assert share.adjust(now=1.0) is None and share.current == 1


def test_a_directory_that_cannot_be_written_is_one_line_and_no_sharing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    share = CpuShare(2, blocker / "claims")
    share.join()
    assert share.problem and "runs sharing this CPU cannot be counted" in share.problem
    assert share.adjust(now=1.0) is None and share.current == 2


def test_a_run_with_fixed_threads_claims_and_keeps_its_threads(tmp_path, other_run):
    fixed = CpuShare(4, tmp_path, adaptive=False)
    fixed.join()
    assert (tmp_path / str(fixed.pid)).exists()  # the other runs count it
    assert fixed.adjust(now=1.0) is None and fixed.current == 4
    fixed.leave()
    assert not (tmp_path / str(fixed.pid)).exists()


def test_fixed_threads_are_left_alone(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert sharing_enabled(0)
    assert not sharing_enabled(3)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert not sharing_enabled(0)


def test_a_run_shares_the_cpu_with_another_and_withdraws_while_paused(synthetic_dir, tmp_path, monkeypatch, other_run):
    """The trainer on the CPU: it takes half the threads beside another run and logs it; paused, its claim is
    withdrawn; at its end, the claim is gone and the process has its threads back."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("MNIST_TUI_CPU_SHARE_DIR", str(tmp_path))
    torch.set_num_threads(2)
    control = Control()
    control.pause()  # at the first step
    cfg = config(synthetic_dir, tmp_path / "runs" / "r", epochs=3, eval_every=1000)
    consumer = Consumer(make_trainer(cfg, control).run())
    consumer.wait_for(state_is(ev.RunState.PAUSED), "the pause")
    assert consumer.of(ev.RunStarted)[0].threads == 1
    own_claim = tmp_path / str(psutil.Process().pid)
    assert not own_claim.exists()
    assert torch.get_num_threads() == 2  # paused, it would train on all of them
    control.resume()
    events = consumer.join(DEADLINE)
    logs = [e.message for e in of(events, ev.Log)]
    assert any("2 runs are training on this CPU: this one now uses 1 of 2 threads" in m for m in logs)
    assert of(events, ev.RunFinished)[0].reason == "completed"
    assert not own_claim.exists()
    assert torch.get_num_threads() == 2
