"""Decisions on a validation split, reports on the test set, and runs that diverge caught early."""

from __future__ import annotations

import json

import pytest
import torch

from helpers.engine import config, of, run_all
from mnist_tui.config import ConfigError, EarlyStoppingConfig, TrainConfig, preset_config
from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control
from mnist_tui.engine.errors import InputError
from mnist_tui.engine.split import split_training_set, validation_size
from mnist_tui.runs.start import make_trainer


# The split -------------------------------------------------------------------------------------------------
def test_the_split_is_balanced_disjoint_and_drawn_from_the_seed():
    labels = torch.arange(60_000) % 10
    labels[:3] = 9  # a little imbalance
    split = split_training_set(labels, 5000, seed=0)
    assert len(split.validation) == 5000 and len(split.train) == 55_000
    assert not set(split.validation.tolist()) & set(split.train.tolist())
    per_class = torch.bincount(labels[split.validation], minlength=10)
    expected = torch.bincount(labels, minlength=10).double() * 5000 / 60_000
    assert (per_class.double() - expected).abs().max() < 1  # each class its share, within one image
    again = split_training_set(labels, 5000, seed=0)
    assert torch.equal(again.validation, split.validation) and again.digest == split.digest
    other = split_training_set(labels, 5000, seed=1)
    assert other.digest != split.digest


def test_counts_and_fractions():
    assert validation_size(5000, 60_000) == 5000
    assert validation_size(1 / 12, 60_000) == 5000
    assert validation_size(0.1, 600) == 60
    assert validation_size(0, 600) == 0
    with pytest.raises(InputError, match="leaves both sets some images"):
        validation_size(600, 600)


def test_the_tutorial_holds_out_5000_and_the_final_weight_presets_train_on_all():
    assert validation_size(TrainConfig().val_split, 60_000) == 5000
    assert preset_config("fast").val_split == 0 and preset_config("best").val_split == 0


@pytest.mark.parametrize(
    "es, plateau, named",
    [
        ({}, False, "early stopping and --restore-best: add --no-early-stopping --no-restore-best"),
        ({"enabled": False}, False, "--restore-best: add --no-restore-best"),
        ({"enabled": False, "restore_best": False}, True, "--lr-plateau"),
    ],
)
def test_without_a_validation_set_decisions_are_refused(es, plateau, named):
    with pytest.raises(ConfigError, match="--val-split 0 leaves no validation set for ") as exc:
        TrainConfig(val_split=0, early_stopping=EarlyStoppingConfig(**es), lr_plateau=plateau)
    assert named in str(exc.value)
    TrainConfig(val_split=0, early_stopping=EarlyStoppingConfig(enabled=False, restore_best=False))  # fine


# Decisions and reports -------------------------------------------------------------------------------------
def test_every_decision_is_made_on_validation_and_the_test_set_only_reports(synthetic_dir, tmp_path):
    events = run_all(config(synthetic_dir, tmp_path / "run", epochs=3))
    started = of(events, ev.RunStarted)[0]
    assert started.val_size == 50 and started.train_size == 550
    evaluations = of(events, ev.Evaluation)
    validation = [e for e in evaluations if e.split == ev.VALIDATION]
    test = [e for e in evaluations if e.split == ev.TEST]
    assert {e.total for e in validation} == {50} and {e.total for e in test} == {200}
    # Test: at each epoch end (3) and the weights the run ends with (restored best: one more).
    assert [e.iteration for e in test][:3] == [11, 22, 33]
    # Early stopping and best.pt follow validation accuracy.
    states = of(events, ev.EarlyStoppingState)[1:]
    assert [s.iteration for s in states] == [e.iteration for e in validation]
    best = max(validation, key=lambda e: (e.accuracy, -e.iteration))
    assert validation[-1].best_accuracy == best.accuracy and validation[-1].best_iteration == best.iteration
    finished = events[-1]
    assert finished.best_accuracy == best.accuracy
    assert finished.weights == f"best from iteration {best.iteration}"
    assert finished.validation_accuracy == best.accuracy  # the validation accuracy that chose the weights
    assert finished.final_accuracy == test[-1].accuracy  # their test accuracy, measured once, at the end
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["final_test_accuracy"] == finished.final_accuracy
    assert summary["validation_accuracy"] == best.accuracy and summary["best_validation_accuracy"] == best.accuracy
    # Snapshots say which set they are of; the CSVs are of the test set.
    snaps = of(events, ev.EvaluationSnapshot)
    assert {s.split for s in snaps} == {ev.VALIDATION, ev.TEST}
    rows = (tmp_path / "run" / "confusion.csv").read_text().strip().splitlines()[1:]
    assert sum(int(c) for row in rows for c in row.split(",")[1:]) == 200


def test_a_resumed_run_holds_out_the_same_images(synthetic_dir, tmp_path):
    control = Control()
    events = []
    for event in make_trainer(config(synthetic_dir, tmp_path / "run", epochs=2), control).run():
        events.append(event)
        if isinstance(event, ev.Evaluation) and event.iteration >= 8:
            control.stop()
    digest = of(events, ev.RunStarted)[0].val_digest
    resumed = list(make_trainer(None, resume=tmp_path / "run").run())
    assert of(resumed, ev.RunStarted)[0].val_digest == digest
    assert resumed[-1].reason == ev.Reason.COMPLETED
    # A config that would hold out other images is refused rather than trained on the wrong split.
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    cfg["val_split"] = 60
    (tmp_path / "run" / "config.json").write_text(json.dumps(cfg))
    again = list(make_trainer(None, resume=tmp_path / "run", changes={"max_steps": 40}).run())
    assert again[-1].reason == ev.Reason.FAILED and "another validation set" in again[-1].message


def test_without_a_validation_set_the_scheduled_evaluations_report_on_test(synthetic_dir, tmp_path):
    es = EarlyStoppingConfig(enabled=False, restore_best=False)
    events = run_all(config(synthetic_dir, tmp_path / "run", val_split=0, early_stopping=es))
    evaluations = of(events, ev.Evaluation)
    assert {e.split for e in evaluations} == {ev.TEST} and {e.total for e in evaluations} == {200}
    assert len({e.iteration for e in evaluations}) == len(evaluations)  # no test evaluation twice at a step
    finished = events[-1]
    assert finished.best_accuracy is None and finished.validation_accuracy is None
    assert finished.final_accuracy == evaluations[-1].accuracy
    assert not (tmp_path / "run" / "checkpoints" / "best.pt").exists()


# Divergence ------------------------------------------------------------------------------------------------
def test_an_exploding_loss_ends_the_run_as_diverged(synthetic_dir, tmp_path):
    events = run_all(config(synthetic_dir, tmp_path / "run", lr=100.0, max_steps=30))
    finished = events[-1]
    assert finished.reason == ev.Reason.DIVERGED, finished.message
    assert "try a lower --lr (it is 100)" in finished.message
    assert finished.iteration < 30


def test_the_divergence_check_can_be_turned_off(synthetic_dir, tmp_path):
    events = run_all(config(synthetic_dir, tmp_path / "run", lr=100.0, max_steps=6, divergence_check=False))
    assert events[-1].reason in (ev.Reason.COMPLETED, ev.Reason.DIVERGED)  # only a non-finite loss may stop it
    if events[-1].reason == ev.Reason.DIVERGED:
        assert "became nan" in events[-1].message or "became inf" in events[-1].message


def test_accuracy_stuck_at_chance_after_the_warm_up_is_diverged(synthetic_dir, tmp_path):
    """An lr of 1e-9 learns nothing: after the warm-up, three evaluations at chance level end the run."""
    es = EarlyStoppingConfig(warmup_evals=3, patience=100)
    events = run_all(config(synthetic_dir, tmp_path / "run", lr=1e-9, epochs=4, early_stopping=es))
    assert events[-1].reason == ev.Reason.DIVERGED and "chance level" in events[-1].message
    healthy = run_all(config(synthetic_dir, tmp_path / "ok", epochs=4, early_stopping=es))
    assert healthy[-1].reason != ev.Reason.DIVERGED
