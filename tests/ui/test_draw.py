"""The drawing canvas driven as a user would (Pilot's mouse and keys), with a run's real weights: a stroke drawn
off-centre reaches the model centred, the bars and the maps follow, the keyboard draws and clears; the error
browser maps the digit shown; the live run's weights come through the control's holder."""

from __future__ import annotations

import numpy as np
import pytest
from textual.app import App

from mnist_tui.engine.attribution import gradient_x_input
from mnist_tui.engine.checkpoints import load_checkpoint
from mnist_tui.engine.control import Control
from mnist_tui.engine.digitize import centre_of_mass
from mnist_tui.engine.models import build_model
from mnist_tui.engine.predictor import Predictor
from mnist_tui.runs.rundir import RunDirectory
from mnist_tui.ui.apps.draw_app import DrawApp
from mnist_tui.ui.common.inference import LiveWeights
from mnist_tui.ui.apps.inspect_app import InspectApp
from mnist_tui.ui.screens.draw import DrawScreen
from mnist_tui.ui.widgets.canvas import CELL, SIDE
from helpers.engine import config, run_all
from helpers.ui import SIZE, run_async, wait_for


@pytest.fixture(scope="module")
def run_dir(synthetic_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("draw") / "run"
    run_all(config(synthetic_dir, path, epochs=1, model="fast"))
    return str(path)


def predictor_of(run_dir: str) -> Predictor:
    run = RunDirectory(run_dir)
    return Predictor.from_checkpoint(run.final_weights(), "fast")


def at(row: int, col: int) -> tuple[int, int]:
    """The offset in the canvas widget (inside its border) of a pixel."""
    return 1 + col * CELL, 1 + row


async def answered(pilot, screen: DrawScreen, after: int) -> None:
    await wait_for(pilot, lambda: screen.answers > after, timeout=20)


def rested(screen: DrawScreen) -> bool:
    answer = screen.last_answer
    return answer is not None and answer.request.pixels == screen.canvas.pixels and bool(answer.maps)


async def loaded(pilot, screen: DrawScreen) -> None:
    await wait_for(pilot, lambda: screen.inference.predictor is not None, timeout=30)


@run_async
async def test_a_mouse_stroke_off_centre_reaches_the_model_centred(run_dir):
    app = DrawApp(run_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DrawScreen)
        await loaded(pilot, screen)
        assert "iteration" in str(screen.title_label.render())
        before = screen.answers
        # A vertical stroke near the top left corner: press, drag down, release.
        await pilot.mouse_down("#draw-canvas", offset=at(2, 3))
        for row in range(3, 13):
            await pilot.hover("#draw-canvas", offset=at(row, 3))
        await pilot.mouse_up("#draw-canvas", offset=at(12, 3))
        await answered(pilot, screen, before)
        # The answer for the whole stroke once it rests, with its maps (mid-stroke answers carry only the bars).
        await wait_for(pilot, lambda: rested(screen))
        canvas = np.frombuffer(screen.canvas.pixels, dtype=np.uint8).reshape(SIDE, SIDE)
        ink_rows = np.flatnonzero(canvas.any(1))
        assert ink_rows[0] <= 2 and ink_rows[-1] >= 12 and canvas[:, 8:].max() == 0  # drawn where the mouse went
        answer = screen.last_answer
        seen = np.frombuffer(answer.model_input, dtype=np.uint8).reshape(SIDE, SIDE)
        cy, cx = centre_of_mass(seen)
        assert abs(cy - 14) <= 0.52 and abs(cx - 14) <= 0.52
        assert np.flatnonzero(seen.any(1)).size == 20  # scaled to fit 20 pixels high
        # The bars and the panel show that answer; the maps are of the top two classes.
        probabilities = answer.probabilities
        assert len(probabilities) == 10 and abs(sum(probabilities) - 1) < 1e-3
        assert screen.bars.probabilities == probabilities and screen.model_input.image == answer.model_input
        ranked = sorted(range(10), key=lambda c: -probabilities[c])
        assert [c for c, _ in answer.maps] == ranked[:2]
        assert f"looks for {ranked[0]}" in str(screen.first_map.border_title)
        assert f"and for {ranked[1]}" in str(screen.second_map.border_title)


@run_async
async def test_the_maps_are_of_the_classes_they_name(run_dir):
    app = DrawApp(run_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await loaded(pilot, screen)
        before = screen.answers
        await pilot.mouse_down("#draw-canvas", offset=at(5, 10))
        for col in range(11, 20):
            await pilot.hover("#draw-canvas", offset=at(5 + (col - 10), col))
        await pilot.mouse_up("#draw-canvas", offset=at(14, 19))
        await answered(pilot, screen, before)
        await wait_for(pilot, lambda: rested(screen))
        answer = screen.last_answer
        image = np.frombuffer(answer.model_input, dtype=np.uint8).reshape(SIDE, SIDE)
        expected = gradient_x_input(predictor_of(run_dir), image, [c for c, _ in answer.maps])
        for (c, values), want in zip(answer.maps, expected):
            assert np.allclose(np.array(values).reshape(SIDE, SIDE), want, atol=1e-5), c
        assert not np.allclose(expected[0], expected[1])


@run_async
async def test_the_keyboard_draws_erases_and_clears(run_dir):
    app = DrawApp(run_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await loaded(pilot, screen)
        canvas = screen.canvas
        assert canvas.has_focus and canvas.cursor == (14, 14)
        await pilot.press("up", "up", "left")
        assert canvas.cursor == (12, 13) and canvas.blank
        before = screen.answers
        await pilot.press("space")
        assert canvas.values[12 * SIDE + 13] > 0.99 and canvas.values[12 * SIDE + 14] > 0
        await pilot.press(*["shift+down"] * 8)
        assert canvas.cursor == (20, 13) and all(canvas.values[r * SIDE + 13] > 0.99 for r in range(12, 21))
        await answered(pilot, screen, before)
        await wait_for(pilot, lambda: bool(screen.bars.probabilities))
        await pilot.press("x")
        assert canvas.values[20 * SIDE + 13] < 0.01
        await pilot.press("c")
        assert canvas.blank
        await wait_for(pilot, lambda: not screen.bars.probabilities and screen.model_input.image == b"")
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 0


@run_async
async def test_the_error_browser_maps_the_digit_shown(run_dir):
    from mnist_tui.engine.analysis import evaluate_weights

    run = RunDirectory(run_dir)
    snapshot = evaluate_weights(run.read_config(), run.final_weights(), device="cpu")
    assert snapshot.misclassified, "the small synthetic run gets some digits wrong"
    app = InspectApp(snapshot, run_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.maps_shown > 0, timeout=30)
        entry = screen.current
        maps = screen.detail.maps
        assert [c for c, _ in maps] == [entry.predicted, entry.true]
        image = np.frombuffer(entry.image, dtype=np.uint8).reshape(SIDE, SIDE)
        expected = gradient_x_input(predictor_of(run_dir), image, [entry.predicted, entry.true])
        for (_, values), want in zip(maps, expected):
            assert np.allclose(np.array(values).reshape(SIDE, SIDE), want, atol=1e-5)
        if len(screen.shown) > 1:  # moving on maps the next digit
            shown = screen.maps_shown
            await pilot.press("j")
            await wait_for(pilot, lambda: screen.maps_shown > shown and screen.current is not entry, timeout=20)
            assert [c for c, _ in screen.detail.maps] == [screen.current.predicted, screen.current.true]


class LiveHost(App[None]):
    """The draw screen over a live run's holder, as the live app opens it."""

    CSS_PATH = "../../mnist_tui/ui/app.tcss"

    def __init__(self, weights: LiveWeights) -> None:
        super().__init__()
        self.weights = weights

    def on_mount(self) -> None:
        self.push_screen(DrawScreen(self.weights))


@run_async
async def test_live_weights_come_from_the_trainers_copy(run_dir):
    control = Control()
    holder = control.latest_weights
    weights = LiveWeights(holder, None)
    model = build_model("fast")  # the training model, with the run's weights; the holder copies it
    model.load_state_dict(load_checkpoint(RunDirectory(run_dir).final_weights())["model"])
    app = LiveHost(weights)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: holder.wanted)  # the open canvas asks for weights
        assert holder.latest() is None and screen.inference.predictor is None
        holder.offer(model, 400, "fast")  # what the trainer does after an evaluation
        await loaded(pilot, screen)
        assert "latest evaluation (iteration 400)" in str(screen.title_label.render())
        await pilot.press("space")
        await answered(pilot, screen, 0)
        assert screen.last_answer.iteration == 400
        holder.offer(model, 450, "fast")  # a newer evaluation: the drawing is answered again with it
        await wait_for(pilot, lambda: screen.last_answer.iteration == 450, timeout=20)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not holder.wanted)  # closed: the trainer stops copying
