"""Sweeps on disk: the plan, what each run's directory says to do with it, time to a target, the table's
statistics, and the runner on real runs (a crashed one restarted, a finished one kept)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from helpers.engine import config, run_all, until
from helpers.synthetic import write_dataset

from mnist_tui.config import EarlyStoppingConfig
from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control
from mnist_tui.runs import sweep as sw
from mnist_tui.runs.catalogue import list_runs
from mnist_tui.runs.start import make_trainer


def recorded(run: Path, event: str) -> bool:
    metrics = run / "metrics.jsonl"
    return metrics.exists() and f'"event":"{event}"'.encode() in metrics.read_bytes()


def planned(index: int, seed: int, setting=(), args=(), **cfg) -> sw.PlannedRun:
    return sw.PlannedRun(index, sw.run_name(setting, seed), seed, tuple(setting), tuple(args), {"seed": seed, **cfg})


def test_run_names_are_safe_file_names_in_the_grid_order():
    assert sw.run_name((("lr", "1e-3"), ("batch-size", "128")), 0) == "lr=1e-3_batch-size=128_seed=0"
    assert sw.run_name((), 7) == "seed=7"
    assert sw.run_name((("dataset", "../my digits/x"),), 1) == "dataset=..-my-digits-x_seed=1"


def test_the_plan_round_trips_and_tells_another_plan_apart(tmp_path):
    runs = (planned(0, 0, (("lr", "1e-3"),), ("--lr", "1e-3", "--seed", "0")), planned(1, 1, (("lr", "1e-3"),)))
    plan = sw.SweepPlan(("--preset", "fast"), (0, 1), (("lr", ("1e-3",)),), runs, command="mnist-tui sweep ...")
    sweep = sw.SweepDirectory(tmp_path / "sweep")
    assert sweep.read_plan() is None
    sweep.write_plan(plan)
    again = sweep.read_plan()
    assert again == plan and again.same_runs(plan) and again.runs[0].config == {"seed": 0}
    other = sw.SweepPlan(plan.options, plan.seeds, plan.grid, (runs[0], planned(1, 1, (("lr", "1e-3"),), lr=2)))
    assert not other.same_runs(plan)  # the same names computing something else
    assert sw.is_sweep(sweep.path) and not sw.is_sweep(tmp_path)

    (sweep.path / "sweep.json").write_text('{"version": 1, "runs": 3}')
    with pytest.raises(sw.SweepError, match="not a sweep plan"):
        sweep.read_plan()


def test_one_sweep_process_per_directory(tmp_path):
    first, second = sw.SweepDirectory(tmp_path / "s"), sw.SweepDirectory(tmp_path / "s")
    first.lock("foreground")
    try:
        with pytest.raises(sw.SweepError, match=f"process {os.getpid()} is running this sweep"):
            second.lock("foreground")
        with pytest.raises(sw.SweepError, match="is running this sweep"):
            second.check_free()
    finally:
        first.close()
    second.check_free()


def write_metrics(path: Path, lines: list[dict]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def started(t: float, start_iteration: int = 0, val_size: int = 0) -> dict:
    return {"t": t, "event": "run_started", "config": {"eval_every": 4}, "steps_per_epoch": 10,
            "start_iteration": start_iteration, "val_size": val_size}  # fmt: skip


def evaluated(t: float, iteration: int, accuracy: float, **kw) -> dict:
    return {"t": t, "event": "evaluation", "split": "test", "iteration": iteration, "accuracy": accuracy, **kw}


def test_time_to_target_counts_training_seconds_over_the_parts_of_a_resumed_run(tmp_path):
    run = write_metrics(tmp_path / "run", [
        started(2.0, val_size=50),  # loading took 2 s: not counted
        evaluated(5.0, 10, 0.50),
        evaluated(6.0, 13, 0.95),  # the test evaluation a stop by a signal made at step 13: not scheduled
        evaluated(6.5, 13, 0.97, weights_from=12),  # restored best weights: not counted either
        {"t": 7.0, "event": "run_finished", "reason": "interrupted", "iteration": 13},
        started(10.0, start_iteration=13, val_size=50),  # resumed: 5 s of the first part so far
        evaluated(14.0, 20, 0.96),
        evaluated(16.0, 30, 0.99),
    ])  # fmt: skip
    assert sw.time_to_target(run, 0.9) == pytest.approx(5.0 + 4.0)
    assert sw.time_to_target(run, 0.99) == pytest.approx(5.0 + 6.0)
    assert sw.time_to_target(run, 0.995) is None
    assert sw.time_to_target(run, 0.5) == pytest.approx(3.0)

    # Without a validation set every evaluation is of the test set: one at a scheduled step counts.
    plain = write_metrics(tmp_path / "plain", [
        started(1.0), evaluated(3.0, 12, 0.97), {"t": 3.5, "event": "run_finished", "reason": "interrupted", "iteration": 12},
    ])  # fmt: skip
    assert sw.time_to_target(plain, 0.9) == pytest.approx(2.0)
    assert sw.time_to_target(tmp_path / "nothing", 0.9) is None


def test_time_to_target_of_a_real_run(synthetic_dir, tmp_path):
    no_stopping = EarlyStoppingConfig(enabled=False, restore_best=False)
    events = run_all(config(synthetic_dir, tmp_path / "run", val_split=0, early_stopping=no_stopping))
    assert events[-1].reason == ev.Reason.COMPLETED
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    tests = [line for line in lines if line["event"] == "evaluation" and line["split"] == "test"]
    target = tests[1]["accuracy"]
    first = next(line for line in tests if line["accuracy"] >= target)
    start = next(line for line in lines if line["event"] == "run_started")  # loading before it: not counted
    assert sw.time_to_target(tmp_path / "run", target) == pytest.approx(first["t"] - start["t"], abs=1e-3)


def result(run: sw.PlannedRun, status: str, accuracy=None, seconds=None) -> sw.RunResult:
    return sw.RunResult(run, status, final_test_accuracy=accuracy, time_to_target=seconds)


def test_the_table_per_setting_counts_finished_runs_only():
    a, b = (("lr", "1e-3"),), (("lr", "3e-3"),)
    rows = [
        result(planned(0, 0, a), sw.Status.FINISHED, 0.98, 10.0),
        result(planned(1, 1, a), sw.Status.FINISHED, 0.99, 14.0),
        result(planned(2, 2, a), sw.Status.FINISHED, 0.97, None),  # never reached the target
        result(planned(3, 0, b), sw.Status.FINISHED, 0.95, None),
        result(planned(4, 1, b), sw.Status.INTERRUPTED),
    ]
    first, second = sw.summarise(rows)
    assert (first.label, first.planned, first.finished, first.reached) == ("lr=1e-3", 3, 3, 2)
    assert first.accuracy.mean == pytest.approx(0.98) and first.accuracy.std == pytest.approx(0.01)
    assert (first.accuracy.min, first.accuracy.max) == (0.97, 0.99)
    assert (first.time.mean, first.time.min, first.time.max) == (12.0, 10.0, 14.0)
    assert (second.planned, second.finished, second.accuracy.n, second.accuracy.std, second.time) == (2, 1, 1, None, None)
    assert sw.SettingSummary((), 1, 0, None, None).label == "all runs"


def test_the_status_of_each_run_directory(synthetic_dir, tmp_path):
    assert sw.run_status(tmp_path / "none")[0] == sw.Status.MISSING
    run_all(config(synthetic_dir, tmp_path / "done", max_steps=3))
    assert sw.run_status(tmp_path / "done")[0] == sw.Status.FINISHED

    control = Control()
    control.stop(ev.Reason.INTERRUPTED)  # as a signal does
    list(make_trainer(config(synthetic_dir, tmp_path / "stopped"), control).run())
    assert sw.run_status(tmp_path / "stopped")[0] == sw.Status.INTERRUPTED

    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_text("[")
    assert sw.run_status(damaged)[0] == sw.Status.DAMAGED


@pytest.fixture(scope="module")
def slow_dir(tmp_path_factory) -> Path:
    """Digits enough for an epoch of 110 steps: a run is killed well before its first checkpoint."""
    return write_dataset(tmp_path_factory.mktemp("slow"), n_train=6000, n_test=200)


def test_a_run_crashed_before_its_first_checkpoint_restarts_and_a_finished_one_is_kept(slow_dir, tmp_path):
    sweep = sw.SweepDirectory(tmp_path / "sweep")
    args = ("--dataset", str(slow_dir), "--device", "cpu", "--threads", "1", "--batch-size", "50",
            "--eval-every", "20", "--max-steps", "30")  # fmt: skip
    crashed, kept = planned(0, 0, args=(*args, "--seed", "0")), planned(1, 1, args=(*args, "--seed", "1"))
    sweep.write_plan(sw.SweepPlan(args, (0, 1), (), (crashed, kept)))
    run_all(config(slow_dir, sweep.run_dir(kept), max_steps=2))

    # The crash: the process training the run is killed outright once it trains, before any checkpoint.
    path = sweep.run_dir(crashed)
    proc = subprocess.Popen(sw.train_command(sweep, crashed, "start", None), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    until(lambda: recorded(path, "step"), "a first step")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (path / "checkpoints" / "last.pt").exists()
    assert sw.run_status(path)[0] == sw.Status.CRASHED

    # Killed on another node of a shared file system (a cluster's task, OOM-killed): its lock is free, so its
    # process is gone wherever it ran, and this node starts it again (it used to be left "elsewhere" for good).
    process = json.loads((path / "process.json").read_text())
    (path / "process.json").write_text(json.dumps({**process, "host": "node-17"}))
    assert sw.run_status(path)[0] == sw.Status.CRASHED

    events = list(sw.SweepRunner(sweep, [crashed, kept], poll=0.1).events())
    launched = [e for e in events if isinstance(e, sw.RunLaunched)]
    assert [(e.run.name, e.action, e.was) for e in launched] == [("seed=0", "restart", sw.Status.CRASHED)]
    assert [e.run.name for e in events if isinstance(e, sw.RunKept)] == ["seed=1"]
    (ended,) = [e for e in events if isinstance(e, sw.RunEnded)]
    assert (ended.exit_code, ended.status) == (0, sw.Status.FINISHED)
    metrics = (path / "metrics.jsonl").read_text().splitlines()
    assert sum('"run_started"' in line for line in metrics) == 1  # started afresh: nothing of the crash left
    assert " restart" in sweep.log_path(crashed).read_text()

    rows = sw.results(sweep, sweep.read_plan(), 0.1)
    csv_path = sw.write_results(sweep, sweep.read_plan(), rows, 0.1)
    header, *lines = csv_path.read_text().splitlines()
    assert header.startswith("index,name,seed,status,reason,final_test_accuracy") and len(lines) == 2
    assert lines[0].startswith("0,seed=0,0,finished,completed,")


def test_runs_lists_the_runs_inside_a_sweep_directory(synthetic_dir, tmp_path):
    root = tmp_path / "runs"
    run_all(config(synthetic_dir, root / "alone", max_steps=2))
    sweep = sw.SweepDirectory(root / "my-sweep")
    run = planned(0, 0)
    sweep.write_plan(sw.SweepPlan((), (0,), (), (run,)))
    run_all(config(synthetic_dir, sweep.run_dir(run), max_steps=2))
    found = {info.path for info in list_runs([root])}
    assert found == {(root / "alone").resolve(), sweep.run_dir(run)}
    assert {info.path for info in list_runs([sweep.path])} == {sweep.run_dir(run)}


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # deeper than the parser goes: RecursionError
        '{"version": 1, "options": [], "seeds": [0], "grid": [], "runs": [{"index": 1e400, "name": "seed=0", '
        '"seed": 0, "setting": {}, "args": [], "config": {}}]}',  # an index that is no whole number
        '{"version": 1, "options": [], "seeds": [0], "grid": [], "runs": [{"index": 0, "name": "../../elsewhere", '
        '"seed": 0, "setting": {}, "args": [], "config": {}}]}',  # a run directory outside the sweep
        '{"version": 1, "options": null, "seeds": [0], "grid": [], "runs": []}',
        "\x00\xff",
    ],
)
def test_a_plan_that_is_not_what_mnist_tui_writes_is_one_error(tmp_path, text):
    sweep = sw.SweepDirectory(tmp_path / "sweep")
    sweep.path.mkdir()
    (sweep.path / "sweep.json").write_text(text, encoding="latin-1")
    with pytest.raises(sw.SweepError, match="not a sweep plan mnist-tui can read"):
        sweep.read_plan()


def test_more_seeds_or_grid_values_extend_a_plan_and_other_options_are_another_sweep(synthetic_dir, tmp_path):
    from mnist_tui.cli import sweep as sweep_cli

    def plan(*args: str) -> sw.SweepPlan:
        parsed = sweep_cli.parser().parse_args(["--dataset", str(synthetic_dir), "--run-dir", str(tmp_path), *args])
        return sweep_cli.plan_sweep(parsed)

    first = plan("--seeds", "0-1", "--grid", "lr=1e-3,3e-3")
    more = plan("--seeds", "0-2", "--grid", "lr=3e-3,1e-2")
    assert first.difference(more) is None and first.key() == more.key()
    merged = first.merged(more)
    assert merged.seeds == (0, 1, 2) and merged.grid == (("lr", ("1e-3", "3e-3", "1e-2")),)
    assert [r.name for r in merged.runs] == [f"lr={lr}_seed={s}" for lr in ("1e-3", "3e-3", "1e-2") for s in (0, 1, 2)
                                             if (lr, s) != ("1e-3", 2)]  # fmt: skip
    assert [r.index for r in merged.runs] == list(range(8))
    assert merged.merged(first).to_dict() == merged.to_dict()  # an older task's plan changes nothing

    other = plan("--seeds", "0-1", "--grid", "lr=1e-3,3e-3", "--epochs", "3")
    assert first.difference(other) == "other training options (epochs)" and first.key() != other.key()
    two_options = plan("--grid", "lr=1e-3", "--grid", "batch-size=50")
    assert "a grid of lr, not of lr, batch-size" in first.difference(two_options)
