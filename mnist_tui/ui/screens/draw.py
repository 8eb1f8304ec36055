"""Try the model: draw a digit and watch its ten probabilities, the image it sees, and what it looks at.

Opened from the live app (its latest evaluated weights, copied by the trainer while this screen is open;
training goes on underneath) and by ``mnist-tui draw RUN_DIR`` (the weights a finished run ended with). The
canvas (widgets/canvas.py) posts each change; the screen hands the latest drawing to its ``Inference``
worker (common/inference.py), which preprocesses it as MNIST was made (engine/digitize.py), runs its own CPU copy
of the model and maps what it looks at for the top two guesses; the answer comes back as plain values.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Footer, Label

from ..common import format as fmt
from ..common.inference import DrawRequest, Inference, WeightsSource
from ..widgets.attribution_map import AttributionMap
from ..widgets.canvas import Canvas
from ..widgets.model_input import ModelInput
from ..widgets.probability_bars import ProbabilityBars

MNIST_NAMES = tuple(str(i) for i in range(10))
REST = 0.15  # seconds without a stroke before the maps are made for the drawing


class DrawScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[Binding]] = [Binding("escape,q", "close", "Back", tooltip="Back to the run")]

    def __init__(self, weights: WeightsSource, class_names: Sequence[str] = MNIST_NAMES) -> None:
        super().__init__()
        self.weights = weights
        self.class_names = tuple(class_names)
        self.inference = Inference(weights, self.post_message)
        self.answers = 0  # answers shown (tests wait on it)
        self.last_answer: Inference.Answer | None = None
        self.answered_at = 0.0  # time.monotonic() when the last answer was put on screen
        self.weights_label = "loading the weights…"
        self._rest: Timer | None = None

    def compose(self) -> ComposeResult:
        self.title_label = Label("", id="draw-title")
        self.canvas = Canvas(id="draw-canvas")
        self.model_input = ModelInput(id="draw-input")
        self.bars = ProbabilityBars(id="draw-bars")
        self.first_map = AttributionMap(id="draw-map-first")
        self.second_map = AttributionMap(id="draw-map-second")
        with Vertical(id="draw"):
            yield self.title_label
            with Horizontal(id="draw-body"):
                yield self.canvas
                with Vertical(id="draw-side"):
                    with Horizontal(id="draw-top"):
                        yield self.model_input
                        yield self.bars
                    with Horizontal(id="draw-maps"):
                        yield self.first_map
                        yield self.second_map
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.canvas.border_title = "Draw a digit"
        self.canvas.border_subtitle = "mouse: left draws, right erases"
        self._update_title()
        self._clear_readout("loading the weights…")
        self.canvas.focus()
        self.run_worker(self.inference.run, thread=True, name="inference", group="inference", exit_on_error=False)

    def on_unmount(self) -> None:
        self.inference.close()

    def action_close(self) -> None:
        self.dismiss(None)

    # From the canvas and the worker ------------------------------------------------------------------------
    @on(Canvas.Changed)
    def _drawn(self, message: Canvas.Changed) -> None:
        """The bars follow every stroke; the maps come once the drawing has rested for REST seconds."""
        self.inference.submit(DrawRequest(message.pixels, maps=False))
        if self._rest is not None:
            self._rest.stop()
        self._rest = self.set_timer(REST, lambda: self.inference.submit(DrawRequest(self.canvas.pixels)))

    def on_inference_weights_loaded(self, message: Inference.WeightsLoaded) -> None:
        at = f" (iteration {message.iteration:,})" if message.iteration else ""
        self.weights_label = f"weights: {message.source}{at}"
        self._update_title()
        if self.canvas.blank:
            self._clear_readout("draw a digit")

    def on_inference_weights_failed(self, message: Inference.WeightsFailed) -> None:
        self.weights_label = f"no weights: {message.message}"
        self._update_title()
        self._clear_readout("no weights to ask")

    def on_inference_answer(self, message: Inference.Answer) -> None:
        if not isinstance(message.request, DrawRequest):
            return
        self.answers += 1
        self.last_answer = message
        self.answered_at = time.monotonic()
        if not message.probabilities:
            self._clear_readout("draw a digit")
            return
        self.model_input.set_image(message.model_input)
        self.bars.set_probabilities(message.probabilities, self.class_names)
        if not message.maps:
            return  # mid-stroke: the maps come when the drawing rests
        titles = ("looks for", "and for")
        for widget, title, (c, values) in zip((self.first_map, self.second_map), titles, message.maps):
            p = message.probabilities[c]
            widget.set_map(values, f"{title} {fmt.class_label(self.class_names, c, short=False)} ({p:.0%})")

    # Showing -----------------------------------------------------------------------------------------------
    def _update_title(self) -> None:
        self.title_label.update(f"Try the model · {self.weights_label}")

    def _clear_readout(self, text: str) -> None:
        self.model_input.set_image(b"")
        self.bars.set_empty(text)
        self.first_map.set_empty("What it looks at", "orange: for the class, blue: against")
        self.second_map.set_empty("and for the runner-up")
