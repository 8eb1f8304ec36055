"""A strip of test digits with the model's latest prediction for each, marked right or wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text

from ..common import format as fmt
from .digit_grid import DigitGrid


class PredictionStrip(DigitGrid):

    DEFAULT_CSS = """
    PredictionStrip > .predictions--right { color: $text-success; }
    PredictionStrip > .predictions--wrong { color: $text-error; text-style: bold; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "digit-grid--ink",
        "digit-grid--empty",
        "predictions--right",
        "predictions--wrong",
    }
    EMPTY_TEXT = "test digits appear once the data is loaded…"

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.predictions: tuple[int, ...] = ()
        self.iteration: int | None = None

    def on_mount(self) -> None:
        self.border_title = "Predictions"

    def set_predictions(self, predictions: Sequence[int], iteration: int) -> None:
        """The model's labels for the test images, from the evaluation at ``iteration``. Repainted only when
        they changed: each repaint sends every line of the digits to the terminal (a slow link feels it)."""
        predictions = tuple(predictions)
        changed = predictions != self.predictions
        self.predictions = predictions
        self.iteration = iteration
        if changed:
            self.refresh_layout_info()

    @property
    def right(self) -> int:
        return sum(1 for p, t in zip(self.predictions, self.labels) if p == t)

    def caption(self, index: int) -> Text:
        truth = self.labels[index] if index < len(self.labels) else None
        if index >= len(self.predictions) or truth is None:
            return Text(f"{fmt.class_label(self.class_names, truth)} ·" if truth is not None else "")
        predicted = self.predictions[index]
        if predicted == truth:
            return Text(f"{fmt.class_label(self.class_names, predicted)} ✓", self.get_component_rich_style("predictions--right"))
        return Text(
            f"{fmt.class_label(self.class_names, predicted)} ✗({fmt.class_label(self.class_names, truth)})",
            self.get_component_rich_style("predictions--wrong"),
        )

    def update_subtitle(self, shown: int) -> None:
        if self.iteration is None:
            subtitle = "no evaluation yet"
        else:
            n = min(len(self.predictions), len(self.labels))
            subtitle = f"{self.right}/{n} right"  # no iteration: the status line has it, and this stays put
        if shown < len(self.images):
            subtitle += f" · {shown} of {len(self.images)} shown"
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle
