"""Early stopping, the plateau schedule and learning-rate changes: the rules, then the engine obeying them."""

from __future__ import annotations

import json

import pytest

from mnist_tui.config import ConfigError, EarlyStoppingConfig, TrainConfig
from mnist_tui.engine import events as ev
from mnist_tui.engine.analysis import evaluate_weights
from mnist_tui.engine.checkpoints import load_checkpoint
from mnist_tui.engine.control import Control
from mnist_tui.engine.early_stopping import EarlyStopper, Plateau
from mnist_tui.runs.rundir import RunDirectory
from mnist_tui.runs.start import make_trainer


def feed(stopper: EarlyStopper, values, *, loss=False):
    """Feed accuracies (0..1) or losses; returns should_stop after each."""
    out = []
    for i, v in enumerate(values, 1):
        stopper.update(0.0 if loss else v, v if loss else 0.0, i * 50)
        out.append(stopper.should_stop)
    return out


def test_patience_counts_evaluations_without_improvement():
    s = EarlyStopper(EarlyStoppingConfig(patience=3, warmup_evals=0))
    assert feed(s, [0.5, 0.6, 0.6, 0.59, 0.6]) == [False, False, False, False, True]
    assert s.watch.best == pytest.approx(60.0) and s.watch.best_iteration == 100 and s.watch.wait == 3


def test_min_delta_is_in_percentage_points_for_accuracy():
    s = EarlyStopper(EarlyStoppingConfig(patience=2, min_delta=0.5, warmup_evals=0))
    # +0.3 points is not an improvement by more than 0.5; +0.6 is.
    assert feed(s, [0.900, 0.903, 0.909, 0.910, 0.911]) == [False, False, False, False, True]
    assert s.watch.reference == pytest.approx(90.9)  # the last gain of more than 0.5 points, at 150
    assert s.watch.best_iteration == 250  # small gains still count as the best weights to keep


def test_warmup_holds_off_a_stop():
    s = EarlyStopper(EarlyStoppingConfig(patience=1, warmup_evals=4))
    assert feed(s, [0.9, 0.8, 0.8, 0.8, 0.8]) == [False, False, False, True, True]
    assert s.remaining == 0


def test_loss_is_watched_downwards():
    s = EarlyStopper(EarlyStoppingConfig(monitor="loss", patience=2, warmup_evals=0))
    assert feed(s, [1.0, 0.5, 0.6, 0.4, 0.45, 0.41], loss=True) == [False, False, False, False, False, True]
    assert s.watch.best == 0.4


def test_disabled_never_stops_but_keeps_the_best():
    s = EarlyStopper(EarlyStoppingConfig(enabled=False, patience=1, warmup_evals=0))
    assert feed(s, [0.9, 0.1, 0.1, 0.1]) == [False] * 4
    assert s.watch.best_iteration == 50 and s.remaining is None


def test_remaining_counts_down_and_resets_on_improvement():
    s = EarlyStopper(EarlyStoppingConfig(patience=3, warmup_evals=0))
    remaining = []
    for v in [0.5, 0.4, 0.4, 0.6, 0.5]:
        s.update(v, 0.0, 1)
        remaining.append(s.remaining)
    assert remaining == [3, 2, 1, 3, 2]


def test_reconfigure_keeps_the_count_unless_the_monitor_changes():
    s = EarlyStopper(EarlyStoppingConfig(patience=10, warmup_evals=0))
    feed(s, [0.5, 0.4, 0.4])
    s.reconfigure(s.config.replace(patience=2))
    assert s.should_stop and s.watch.wait == 2
    s.reconfigure(s.config.replace(monitor="loss"))
    assert s.watch.best is None and s.watch.reference is None and s.watch.wait == 0 and not s.should_stop


def test_plateau_cuts_the_learning_rate():
    p = Plateau(higher_is_better=True, patience=2, factor=0.1)
    cuts = [p.update(v, i, 1e-3) for i, v in enumerate([90, 91, 91, 90.5, 92, 92, 92])]
    assert cuts == [None, None, None, pytest.approx(1e-4), None, None, pytest.approx(1e-4)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"patience": 0}, "--patience must be a whole number of 1 or more"),
        ({"min_delta": -1}, "--min-delta must be 0 or more"),
        ({"warmup_evals": -2}, "--warmup-evals"),
        ({"monitor": "f1"}, "--monitor must be one of accuracy, loss"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        EarlyStoppingConfig(**kwargs)


# --- the engine ---------------------------------------------------------------------------------------------


def config(synthetic_dir, tmp_path, **kw) -> TrainConfig:
    base = dict(
        dataset=str(synthetic_dir), epochs=4, batch_size=50, eval_every=3, lr=2e-3, device="cpu", seed=1,
        metrics_interval=0.0, run_dir=str(tmp_path / "run"),
    )  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def test_tight_setting_stops_early_and_keeps_the_best_weights(synthetic_dir, tmp_path):
    es = EarlyStoppingConfig(patience=2, min_delta=50.0, warmup_evals=0)  # nothing improves by 50 points
    events = list(make_trainer(config(synthetic_dir, tmp_path, early_stopping=es)).run())
    finished = events[-1]
    assert finished.reason == ev.Reason.EARLY_STOP and finished.state == ev.RunState.EARLY_STOPPED
    evals = [e for e in events if isinstance(e, ev.Evaluation)]
    scheduled = [e for e in evals if e.split == ev.VALIDATION]  # what decides
    assert [e.iteration for e in scheduled] == [3, 6, 9] and finished.iteration == 9  # 1 best + 2 waits
    assert finished.stopped_early_at == 9
    best = max(scheduled, key=lambda e: e.accuracy)
    assert finished.best_accuracy == finished.validation_accuracy == best.accuracy
    assert finished.best_iteration == best.iteration
    assert finished.weights == f"best from iteration {best.iteration}"
    # The test set only reports: once, at the end, of the kept weights.
    (final,) = [e for e in evals if e.split == ev.TEST]
    assert final is evals[-1] and finished.final_accuracy == final.accuracy
    if best.iteration != 9:
        assert final.weights_from == best.iteration  # the final evaluation is of the restored weights
    run = RunDirectory(tmp_path / "run")
    kept = evaluate_weights(run.read_config(), run.path / "checkpoints" / "best.pt", device="cpu")
    assert kept.accuracy == finished.final_accuracy  # the final test accuracy is best.pt's
    states = [e for e in events if isinstance(e, ev.EarlyStoppingState)]
    assert [(s.wait, s.remaining) for s in states] == [(0, 2), (0, 2), (1, 1), (2, 0)]
    summary = RunDirectory(tmp_path / "run").read_summary()
    assert summary["reason"] == "early_stop" and summary["stopped_early"] and summary["stopped_early_at"] == 9
    assert summary["weights"] == finished.weights
    # last.pt keeps the state the run reached (resumable), best.pt the kept weights.
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["loop"]["iteration"] == 9
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")["loop"]["iteration"] == best.iteration


def test_restore_best_off_ends_with_the_last_weights(synthetic_dir, tmp_path):
    es = EarlyStoppingConfig(enabled=False, restore_best=False)
    events = list(make_trainer(config(synthetic_dir, tmp_path, early_stopping=es, epochs=1)).run())
    evals = [e for e in events if isinstance(e, ev.Evaluation)]
    assert all(e.weights_from is None for e in evals)
    assert evals[-1].split == ev.TEST and events[-1].weights == "last"
    assert events[-1].final_accuracy == evals[-1].accuracy
    last_validation = [e for e in evals if e.split == ev.VALIDATION][-1]
    assert events[-1].validation_accuracy == last_validation.accuracy  # of the last weights, too


def test_settings_changed_mid_run_apply_at_the_next_evaluation_and_are_recorded(synthetic_dir, tmp_path):
    control = Control()
    es = EarlyStoppingConfig(patience=50, warmup_evals=0)
    changed = False
    events = []
    for event in make_trainer(config(synthetic_dir, tmp_path, early_stopping=es, epochs=10), control).run():
        events.append(event)
        if isinstance(event, ev.Evaluation) and event.iteration == 6 and not changed:
            changed = True
            control.set_early_stopping(es.replace(patience=1, min_delta=50.0))
            control.set_lr(1e-3)
            control.scale_lr(0.1)
    settings = [e for e in events if isinstance(e, ev.SettingsChanged)]
    assert settings[0].changes == {"lr": pytest.approx(1e-4)} and settings[0].iteration == 6
    assert settings[1].changes["early_stopping"]["patience"] == 1 and settings[1].iteration == 9
    steps = [e for e in events if isinstance(e, ev.StepMetrics)]
    assert all(s.lr == pytest.approx(1e-4) for s in steps if s.iteration > 7)
    assert events[-1].reason == ev.Reason.EARLY_STOP and events[-1].iteration == 9
    lines = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [l["changes"] for l in lines if l["event"] == "settings"][0] == {"lr": pytest.approx(1e-4)}


def test_early_stopping_can_be_turned_off_and_on_mid_run(synthetic_dir, tmp_path):
    control = Control()
    es = EarlyStoppingConfig(patience=1, min_delta=50.0, warmup_evals=0, enabled=False)
    events = []
    for event in make_trainer(config(synthetic_dir, tmp_path, early_stopping=es, epochs=3), control).run():
        events.append(event)
        if isinstance(event, ev.Evaluation) and event.iteration == 15:
            control.set_early_stopping(es.replace(enabled=True))
    assert events[-1].reason == ev.Reason.EARLY_STOP and events[-1].iteration == 18


def test_plateau_schedule_acts_and_is_shown(synthetic_dir, tmp_path):
    es = EarlyStoppingConfig(enabled=False, min_delta=0.0)
    cfg = config(synthetic_dir, tmp_path, early_stopping=es, lr_plateau=True, plateau_patience=1, epochs=3)
    events = list(make_trainer(cfg).run())
    cuts = [e for e in events if isinstance(e, ev.SettingsChanged) and e.source == "plateau"]
    assert cuts and cuts[0].changes["lr"] == pytest.approx(2e-3 * 0.3)


def test_resume_keeps_early_stopping_state(synthetic_dir, tmp_path):
    es = EarlyStoppingConfig(patience=3, min_delta=50.0, warmup_evals=0)
    list(make_trainer(config(synthetic_dir, tmp_path, early_stopping=es, max_steps=6)).run())
    cfg_path = tmp_path / "run" / "config.json"
    saved = json.loads(cfg_path.read_text())
    saved["max_steps"] = None
    cfg_path.write_text(json.dumps(saved))
    resumed = list(make_trainer(None, resume=tmp_path / "run").run())
    first_state = [e for e in resumed if isinstance(e, ev.EarlyStoppingState)][0]
    assert first_state.wait == 1 and first_state.evals == 2  # carried over from the first part
    # Waits 2 and 3 at 9 and at 11, the end of epoch 1 (550 training digits after the validation split, batch 50).
    assert resumed[-1].reason == ev.Reason.EARLY_STOP and resumed[-1].iteration == 11
