"""A learning rate the user asks for is one a run can train on, whatever it is combined with: ``set_lr 1e300``
(Adam's float32 step overflows from about 3e37) and ``scale_lr 1e308`` (inf) are refused with a warning, the run
trains on at its lr, and its metrics.jsonl holds no Infinity; ``--lr 1e300`` is one line."""

from __future__ import annotations

import json
import math

import pytest

from mnist_tui.config import MAX_LR, ConfigError, TrainConfig
from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control, combined_lr

from helpers import engine


def test_learning_rates_a_run_cannot_train_on_are_refused_and_nothing_infinite_is_written(synthetic_dir, tmp_path):
    control = Control()
    control.set_lr(1e300)
    control.scale_lr(1e308)  # even from the run's lr: 2e-3 x 1e308 is over the maximum
    control.scale_lr(10.0)  # this one holds
    cfg = engine.config(synthetic_dir, tmp_path / "run", max_steps=4, eval_every=2)
    events = engine.run_all(cfg, control)
    assert isinstance(events[-1], ev.RunFinished) and events[-1].reason == ev.Reason.COMPLETED, events[-1]
    changed = engine.of(events, ev.SettingsChanged)
    assert [c.changes["lr"] for c in changed] == [pytest.approx(2e-2)]
    warnings = [e.message for e in engine.of(events, ev.Log) if e.level == "warning" and "learning rate" in e.message]
    assert len(warnings) == 2 and all("refused" in w and "it stays 0.002" in w for w in warnings), warnings
    text = (tmp_path / "run" / "metrics.jsonl").read_text()
    settings = [json.loads(line) for line in text.splitlines() if '"settings"' in line[:40]]
    assert [line["changes"]["lr"] for line in settings] == [pytest.approx(2e-2)] and "Infinity" not in text


def test_combined_lr_refuses_each_change_that_leaves_no_lr_to_train_on():
    assert combined_lr(1e-3, [("lr_scale", 10.0), ("lr", 0.5)]) == (0.5, [])
    lr, refused = combined_lr(1e-300, [("lr_scale", 1e-300), ("lr_scale", 2.0)])
    assert lr == 2e-300 and len(refused) == 1 and "it is 0" in refused[0]
    lr, refused = combined_lr(1.0, [("lr_scale", 1e308), ("lr", MAX_LR), ("lr_scale", 1.5)])
    assert lr == MAX_LR and len(refused) == 2 and math.isfinite(lr)


def test_an_lr_over_the_maximum_is_a_config_error():
    with pytest.raises(ConfigError, match="--lr must be greater than 0 and at most 1e\\+06, got 1e\\+300"):
        TrainConfig(lr=1e300)
    assert TrainConfig(lr=MAX_LR).lr == MAX_LR
