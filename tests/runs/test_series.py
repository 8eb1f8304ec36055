"""A run's curves and facts from its directory (runs/series.py): finished runs, runs still being written, the
settings that differ between runs, and where runs are found."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mnist_tui.config import TrainConfig
from mnist_tui.engine import events as ev
from mnist_tui.runs.catalogue import CRASHED
from mnist_tui.runs.rundir import RunDirectory
from mnist_tui.runs.series import (
    TRAIN,
    RunSeries,
    compare_cells,
    dataset_warning,
    differing_settings,
    load,
    run_dirs_in,
)

from helpers.compared import finished_runs, metrics_lines, with_config


@pytest.fixture
def runs(tmp_path_factory, synthetic_dir, tmp_path) -> list[Path]:
    return finished_runs(tmp_path_factory, synthetic_dir, tmp_path / "sweep")


def test_a_finished_run_reads_as_its_metrics_and_summary_say(runs):
    run_dir = runs[0]
    lines = metrics_lines(run_dir)
    evaluations = [line for line in lines if line["event"] == "evaluation"]
    steps = [line for line in lines if line["event"] == "step"]
    summary = json.loads((run_dir / "summary.json").read_text())
    series = RunSeries(run_dir)
    assert series.update()
    assert not series.update()  # nothing new the second time

    assert [(p.split, p.iteration, p.loss, p.accuracy, p.wall) for p in series.evaluations] == [
        (e["split"], e["iteration"], e["loss"], e["accuracy"], e["t"]) for e in evaluations
    ]
    assert {p.split for p in series.evaluations} == {ev.VALIDATION, ev.TEST}
    started = next(line for line in lines if line["event"] == "run_started")
    assert started["steps_per_epoch"] == 11
    assert [p.epoch for p in series.evaluations] == [e["iteration"] / 11 for e in evaluations]
    assert all(p.lr == 2e-3 for p in series.evaluations)

    assert list(series.train.losses) == [loss for s in steps for loss in s["losses"]]
    assert list(series.train.iterations) == list(range(1, 13))
    walls = list(series.train.walls)
    assert walls == sorted(walls) and walls[-1] == steps[-1]["t"]

    assert series.config == RunDirectory(run_dir).read_config()
    assert series.finished is not None and not series.alive
    assert series.ending == "completed"
    assert series.validation_accuracy == summary["validation_accuracy"]
    assert series.test_accuracy == summary["final_test_accuracy"]
    assert series.train_seconds == pytest.approx(summary["train_seconds"], abs=1e-3)
    assert series.device == "cpu"
    assert series.has(TRAIN) and series.has(ev.TEST)


def test_new_lines_of_a_live_run_are_read_as_they_come_and_a_line_being_written_waits(runs, tmp_path):
    source = runs[0]
    whole = (source / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    live = tmp_path / "live"
    live.mkdir()
    (live / "config.json").write_bytes((source / "config.json").read_bytes())
    RunDirectory(live).write_process(mode="foreground")  # this process "trains" it: the run is live
    metrics = live / "metrics.jsonl"
    first_eval = next(i for i, line in enumerate(whole) if b'"evaluation"' in line)
    metrics.write_bytes(b"".join(whole[: first_eval + 1]))

    series = RunSeries(live)
    assert series.update()
    assert series.alive and len(series.evaluations) == 1
    assert series.ending.startswith("running") and series.detail == ""
    assert series.test_accuracy is None  # no epoch has ended yet

    rest = b"".join(whole[first_eval + 1 :])
    torn = rest.index(b'"evaluation"') + 20  # a line cut in the middle: it is being written
    with open(metrics, "ab") as f:
        f.write(rest[:torn])
    series.update()
    assert len(series.evaluations) == 1
    with open(metrics, "ab") as f:
        f.write(rest[torn:])
    assert series.update()
    assert len(series.evaluations) == sum(b'"evaluation"' in line for line in whole)
    assert series.ending == "completed" and not series.alive  # its RunFinished came: it is not live any more


def test_a_run_whose_process_is_gone_without_finishing_reads_as_failed(runs, tmp_path):
    source = runs[0]
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    (crashed / "config.json").write_bytes((source / "config.json").read_bytes())
    lines = (source / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    (crashed / "metrics.jsonl").write_bytes(b"".join(line for line in lines if b'"run_finished"' not in line))
    series = RunSeries(crashed)  # no process.json: nothing trains it
    series.update()
    assert not series.alive and series.finished is None
    assert series.ending == "failed" and series.detail == CRASHED
    assert series.test_accuracy == series.points(ev.TEST)[-1].accuracy  # the latest, not a final one


def test_a_resumed_run_goes_on_after_its_end(runs):
    series = RunSeries(runs[0])
    series.update()
    started = series.started
    assert started is not None and series.finished is not None
    series.apply(99.0, ev.StateChanged(ev.RunState.RUNNING))
    series.apply(100.0, started)  # a resume starts with a RunStarted of its own
    assert series.finished is None


def test_the_settings_that_differ_are_the_ones_that_change_what_a_run_computes():
    base = TrainConfig(run_dir="/a", device="cpu")
    other = base.replace(run_dir="/b", lr=1e-3, seed=4, device="auto", threads=0)
    patient = base.replace(early_stopping=base.early_stopping.replace(patience=5))
    assert differing_settings([base, other]) == ["lr", "seed"]  # not where it ran, nor on which device
    assert differing_settings([base, other, patient]) == ["lr", "seed", "patience"]
    assert differing_settings([base]) == []
    assert differing_settings([base, base.replace(run_dir="/c")]) == []


def test_cells_and_the_data_set_warning(runs):
    with_config(runs[1], dataset="fashion-mnist")
    loaded = load([runs[0].parent])
    assert [r.label for r in loaded] == ["a", "b"]
    settings = differing_settings([r.config for r in loaded])
    assert settings == ["dataset", "lr", "seed"]
    cells = compare_cells(loaded[0], settings)
    assert cells[0] == "a" and cells[-3:] == (loaded[0].config.dataset, "0.002", "1")
    assert cells[3:6] == ("completed", cells[4], "cpu") and cells[4].endswith(" s")
    warning = dataset_warning(loaded)
    assert warning is not None and "fashion-mnist (1 run)" in warning
    assert dataset_warning(loaded[:1]) is None


def test_where_runs_are_found(runs, tmp_path):
    sweep = runs[0].parent
    (sweep / "pending").mkdir()  # a run not started yet: no config.json
    (sweep / "notes.txt").write_text("")
    assert run_dirs_in(sweep) == [sweep / "a", sweep / "b"]
    assert run_dirs_in(sweep / "a") == [sweep / "a"]
    assert run_dirs_in(tmp_path / "missing") == []
    (tmp_path / "empty").mkdir()
    assert run_dirs_in(tmp_path / "empty") == []
    both = load([sweep / "b", sweep])  # named twice: read once
    assert [r.path for r in both] == [sweep / "b", sweep / "a"]


def test_a_damaged_run_says_why(runs):
    (runs[0] / "config.json").write_text("{not json")
    series = RunSeries(runs[0])
    assert series.problem and "config.json" in series.problem
    assert not series.update() and series.ending == "damaged"


def test_lines_the_trainer_did_not_write_are_skipped(runs):
    lines = metrics_lines(runs[0])
    evaluation = next(line for line in lines if line["event"] == "evaluation")
    step = next(line for line in lines if line["event"] == "step")
    damaged = [
        {**evaluation, "iteration": "x"},
        {**step, "iteration": None},
        {**step, "losses": ["a", None]},
        {"t": 1, "event": "evaluation"},
        [1, 2],
    ]
    with open(runs[0] / "metrics.jsonl", "a") as f:
        f.write("".join(json.dumps(d) + "\n" for d in damaged) + "not json\n")
    series = RunSeries(runs[0])
    series.update()
    assert len(series.evaluations) == sum(line["event"] == "evaluation" for line in lines)
    assert len(series.train) == 12
    assert os.path.getsize(runs[0] / "metrics.jsonl") == series._follower.position
