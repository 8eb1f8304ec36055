"""Runs that share a CPU take their share of its threads (engine/cpu_share.py), counted from claims in a directory
when the run starts and kept for its life: a live process's claim counts with the threads it records, an ended or
reused process's claim is removed, a paused or ended run withdraws."""

from __future__ import annotations

import json
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
    assert share.start() is None
    assert share.current == 4 and share.sharers == 1 and torch.get_num_threads() == 4
    claim = tmp_path / str(share.pid)
    assert claim.read_text().split()[1] == "4"  # what it holds, for the runs that start later
    share.leave()
    assert not claim.exists()


def test_a_run_beside_another_takes_its_share_and_keeps_it_when_the_other_ends(tmp_path, other_run):
    """Decided once, when the run starts: the threads are part of its arithmetic (they never change mid-run)."""
    proc, claim = other_run  # a claim without a count: a run that is still deciding
    share = CpuShare(4, tmp_path)
    line = share.start()
    assert line is not None and "2 runs are training on this CPU" in line and "2 of 4 threads" in line
    assert "for its whole life" in line
    assert share.current == 2 and torch.get_num_threads() == 2
    proc.kill()
    proc.wait()
    share.leave()  # a pause ...
    assert share.start() is None  # ... and on again, alone now: the same threads
    assert share.current == 2 and torch.get_num_threads() == 2
    assert share.count() == 1 and not claim.exists()  # the ended process's claim is removed by the next count


def test_a_run_started_beside_one_that_holds_every_thread_takes_what_is_free(tmp_path, other_run):
    """On 4 threads: beside a run that holds all 4, none is free and the run takes the least, 1; beside one that
    holds 3, the 1 left; beside one that holds 1, an equal share (2), not the 3 left."""
    _, claim = other_run
    started = claim.read_text().strip()
    for held, taken in ((4, 1), (3, 1), (1, 2)):
        claim.write_text(f"{started} {held}\n")
        share = CpuShare(4, tmp_path)
        share.start()
        assert share.current == taken and torch.get_num_threads() == taken, held
        share.leave()
    assert CpuShare(8, tmp_path).threads_for([1, None]) == 2  # 8 // 3 at most; one still deciding counts as 2


def test_runs_started_together_split_the_threads(tmp_path):
    """Each run claims when it starts loading and decides once loaded: two that claimed before either decided
    count each other, whichever decides first, and take 2 of 4 threads each (not 4 and then 1)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        first, second = CpuShare(4, tmp_path), CpuShare(4, tmp_path, pid=proc.pid)
        first.join()
        second.join()
        first.start()
        second.start()
        assert (first.current, second.current) == (2, 2)
        assert (tmp_path / str(proc.pid)).read_text().split()[1] == "2"
    finally:
        proc.kill()
        proc.wait()


def test_the_run_ends_with_the_process_threads_given_back(tmp_path, other_run):
    torch.set_num_threads(3)
    share = CpuShare(4, tmp_path)
    share.start()
    assert torch.get_num_threads() == 2
    share.end()
    assert torch.get_num_threads() == 3 and not (tmp_path / str(share.pid)).exists()


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
    assert share.start() is None and share.current == 1


def test_a_directory_that_cannot_be_written_is_one_line_and_no_sharing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    share = CpuShare(2, blocker / "claims")
    assert share.start() is None and share.current == 2
    assert share.problem and "runs sharing this CPU cannot be counted" in share.problem


def test_a_run_with_fixed_threads_claims_and_keeps_its_threads(tmp_path, other_run):
    fixed = CpuShare(4, tmp_path, adaptive=False)
    assert fixed.start() is None and fixed.current == 4 and torch.get_num_threads() == 4
    assert (tmp_path / str(fixed.pid)).read_text().split()[1] == "4"  # the other runs count it, and its threads
    fixed.leave()
    assert not (tmp_path / str(fixed.pid)).exists()


def test_fixed_threads_are_left_alone(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert sharing_enabled(0)
    assert not sharing_enabled(3)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert not sharing_enabled(0)


def test_a_run_shares_the_cpu_with_another_and_withdraws_while_paused(synthetic_dir, tmp_path, monkeypatch, other_run):
    """The trainer on the CPU: it takes half the threads beside another run, logs it and records them in its
    config.json; paused, its claim is withdrawn; on again, it claims the same threads though it is alone by then;
    at its end, the claim is gone."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("MNIST_TUI_CPU_SHARE_DIR", str(tmp_path))
    torch.set_num_threads(2)
    control = Control()
    control.pause()  # at the first step
    cfg = config(synthetic_dir, tmp_path / "runs" / "r", epochs=3, eval_every=1000)
    consumer = Consumer(make_trainer(cfg, control).run())
    consumer.wait_for(state_is(ev.RunState.PAUSED), "the pause")
    started = consumer.of(ev.RunStarted)[0]
    assert started.threads == 1 and started.config["threads"] == 1
    assert json.loads((tmp_path / "runs" / "r" / "config.json").read_text())["threads"] == 1
    own_claim = tmp_path / str(psutil.Process().pid)
    assert not own_claim.exists()
    proc, _ = other_run
    proc.kill()  # the other run ends while this one is paused
    proc.wait()
    control.resume()
    consumer.wait_for(state_is(ev.RunState.RUNNING), "training again")
    events = consumer.join(DEADLINE)
    assert [e.threads for e in of(events, ev.RunStarted)] == [1]
    logs = [e.message for e in of(events, ev.Log)]
    assert any("2 runs are training on this CPU: this one uses 1 of 2 threads for its whole life" in m for m in logs)
    assert not any("alone on this CPU" in m for m in logs)
    assert of(events, ev.RunFinished)[0].reason == "completed"
    assert not own_claim.exists()
