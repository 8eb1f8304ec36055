"""The canvas in the live app: t (and the palette) opens it over a run this process trains, with the trainer's
copy of its latest evaluated weights; training goes on underneath; closing it stops the copying."""

from __future__ import annotations

from pathlib import Path

from mnist_tui.config import TrainConfig
from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control
from mnist_tui.ui.live.app import MnistApp
from mnist_tui.ui.screens.draw import DrawScreen
from helpers.ui import footer_actions, run_async, wait_for


WAIT = 90.0  # a real trainer on a shared CPU: its first evaluation can take a while


def source_for(cfg: TrainConfig):
    def source(control: Control):
        from mnist_tui.runs.start import make_trainer

        return make_trainer(cfg, control).run()

    return source


@run_async
async def test_t_opens_the_canvas_on_the_latest_evaluated_weights(synthetic_dir: Path, tmp_path: Path):
    cfg = TrainConfig(
        dataset=str(synthetic_dir), max_steps=400, eval_every=6, batch_size=50, run_dir=str(tmp_path / "run"),
        device="cpu", model="fast", metrics_interval=0.0,
    )  # fmt: skip
    control = Control()
    app = MnistApp(source_for(cfg), control=control, stats_reader=lambda device: None)
    async with app.run_test(size=(120, 40)) as pilot:
        assert "draw" not in footer_actions(app)  # no weights before the first evaluation
        await wait_for(pilot, lambda: app.error_snapshot is not None, WAIT)
        await pilot.press("p")  # paused: the canvas opens on the newest checkpoint until an evaluation comes
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED, WAIT)
        assert "draw" in footer_actions(app)
        await pilot.press("t")
        screen = app.screen
        assert isinstance(screen, DrawScreen)
        await wait_for(pilot, lambda: control.latest_weights.wanted, WAIT)
        await wait_for(pilot, lambda: screen.inference.predictor is not None, WAIT)
        assert "best.pt" in str(screen.title_label.render()) or "last.pt" in str(screen.title_label.render())
        await pilot.press("space")
        await wait_for(pilot, lambda: screen.answers > 0 and bool(screen.bars.probabilities), WAIT)
        control.resume()  # training goes on under the canvas; its next evaluation reaches it
        await wait_for(pilot, lambda: "latest evaluation" in str(screen.title_label.render()), WAIT)
        copy = control.latest_weights.latest()
        assert copy is not None and copy.model == "fast" and copy.iteration > 0
        await pilot.press("escape")
        await wait_for(pilot, lambda: not control.latest_weights.wanted, WAIT)
        assert not isinstance(app.screen, DrawScreen)
        control.stop()
        await wait_for(pilot, lambda: app.trainer_done, WAIT)
