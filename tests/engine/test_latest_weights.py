"""The trainer hands its evaluated weights to a canvas through the control's holder, only while one wants them."""

from __future__ import annotations

import torch

from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control
from mnist_tui.engine.predictor import Predictor
from helpers.engine import config, of, run_all


def test_no_reader_no_copy(synthetic_dir, tmp_path):
    control = Control()
    events = run_all(config(synthetic_dir, tmp_path / "run", epochs=1, model="fast"), control)
    assert of(events, ev.RunFinished)[-1].reason == ev.Reason.COMPLETED
    assert control.latest_weights.latest() is None


def test_a_reader_gets_the_weights_of_the_latest_evaluation(synthetic_dir, tmp_path):
    control = Control()
    control.latest_weights.want()
    cfg = config(synthetic_dir, tmp_path / "run", epochs=1, model="fast")
    events = run_all(cfg, control)
    copy = control.latest_weights.latest()
    scheduled = [e.iteration for e in of(events, ev.Evaluation)]
    assert copy is not None and copy.model == "fast" and copy.iteration == max(scheduled)
    assert all(t.device.type == "cpu" for t in copy.state.values())
    # The copy is the run's weights: the checkpoint it ended with holds the same numbers.
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)["model"]
    assert all(torch.equal(copy.state[k], saved[k]) for k in saved)
    Predictor(copy.model, copy.state)  # and a canvas can build its model from it
