"""A run handed over (detached) keeps what the user asked for and the trainer had not applied yet."""

from __future__ import annotations

import json
from dataclasses import replace

from mnist_tui.engine import events as ev
from mnist_tui.engine.checkpoints import load_checkpoint
from mnist_tui.runs.start import make_trainer

from helpers.engine import Consumer, WatchedControl, config, state_is


def test_a_change_asked_for_while_paused_is_carried_over_by_a_handover(synthetic_dir, tmp_path):
    """Paused, the user scales the lr (applies from the next step) and changes early stopping (applies at
    the next evaluation), then detaches: the checkpoint the background run resumes from has both, and the
    run's metrics say when they were made."""
    run_dir = tmp_path / "run"
    cfg = config(synthetic_dir, run_dir, epochs=50, eval_every=1000, lr=2e-3)
    control = WatchedControl()
    run = Consumer(make_trainer(cfg, control).run())
    run.wait_for(lambda e: isinstance(e, ev.StepMetrics), "a step")
    control.pause()
    run.wait_for(state_is(ev.RunState.PAUSED), "the pause")
    assert control.trainer_waiting.wait(60)
    control.scale_lr(0.1)
    patience = cfg.early_stopping.patience + 7
    control.set_early_stopping(replace(cfg.early_stopping, patience=patience))
    control.stop(ev.Reason.DETACHED)
    seen = run.join()

    detached = [e for e in seen if isinstance(e, ev.RunDetached)]
    assert len(detached) == 1
    changes = [e.changes for e in seen if isinstance(e, ev.SettingsChanged)]
    assert {"lr": 2e-4} in [{k: round(v, 12) for k, v in c.items() if k == "lr"} for c in changes if "lr" in c]
    assert any(c.get("early_stopping", {}).get("patience") == patience for c in changes)
    recorded = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r for r in recorded if r.get("event") == "settings" and "lr" in r.get("changes", {})]

    checkpoint = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert checkpoint["loop"]["iteration"] == detached[0].iteration
    resumed = make_trainer(None, WatchedControl(), resume=run_dir)
    events = resumed.run()
    for event in events:  # set up the resumed run: its learner is made from the checkpoint
        if isinstance(event, ev.RunStarted):
            break
    assert abs(resumed.learner.lr - 2e-4) < 1e-12
    assert resumed.learner.stopper.config.patience == patience
    events.close()
