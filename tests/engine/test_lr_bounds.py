"""A learning rate the user asks for is finite, whatever it is combined with: ``set_lr 1e300`` then
``scale_lr 1e308`` (inf) is refused with a warning, the run trains on and its metrics.jsonl holds no Infinity."""

from __future__ import annotations

import json
import math

from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control, combined_lr

from helpers import engine


def test_a_scale_that_would_make_the_lr_infinite_is_refused_and_nothing_infinite_is_written(synthetic_dir, tmp_path):
    control = Control()
    control.set_lr(1e300)
    control.scale_lr(1e308)  # 1e300 x 1e308 = inf
    cfg = engine.config(synthetic_dir, tmp_path / "run", max_steps=4, eval_every=2)
    events = engine.run_all(cfg, control)
    assert isinstance(events[-1], ev.RunFinished), events[-1]  # it diverges at 1e300: no matter here
    changed = engine.of(events, ev.SettingsChanged)
    assert [c.changes["lr"] for c in changed] == [1e300]
    warnings = [e.message for e in engine.of(events, ev.Log) if e.level == "warning" and "learning rate" in e.message]
    assert warnings == ["learning rate 1e+300 × 1e+308 refused: it is inf, not a finite number above 0; it stays 1e+300"]
    text = (tmp_path / "run" / "metrics.jsonl").read_text()
    settings = [json.loads(line) for line in text.splitlines() if '"settings"' in line[:40]]
    assert [line["changes"]["lr"] for line in settings] == [1e300] and "Infinity" not in text


def test_combined_lr_refuses_each_change_that_leaves_no_finite_lr_above_0():
    assert combined_lr(1e-3, [("lr_scale", 10.0), ("lr", 0.5)]) == (0.5, [])
    lr, refused = combined_lr(1e-300, [("lr_scale", 1e-300), ("lr_scale", 2.0)])
    assert lr == 2e-300 and len(refused) == 1 and "it is 0" in refused[0]
    lr, refused = combined_lr(1.0, [("lr_scale", 1e308), ("lr_scale", 1e308)])
    assert lr == 1e308 and len(refused) == 1 and math.isfinite(lr)
