"""Accuracy at each evaluation: the validation set (what decides), the best of it so far, and the test set at
each epoch end (what reports); without a validation set, the test set at each evaluation. Key a zooms to the top
of the range (where a tenth of a point matters late in a run) and back; the choice stays through every redraw."""

from __future__ import annotations

from typing import Any, ClassVar

from ..common.history import Series
from .run_chart import RunChart


class AccuracyChart(RunChart):

    DEFAULT_CSS = """
    AccuracyChart > .accuracy-chart--line { color: $success; }
    AccuracyChart > .accuracy-chart--best { color: $success-muted; }
    AccuracyChart > .accuracy-chart--test { color: $accent; }
    AccuracyChart > .accuracy-chart--epoch { color: $foreground-darken-3; }
    """
    ZOOM_POINTS = 1.0  # zoomed, the y axis spans this many percentage points under the best accuracy shown

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "run-chart--waiting",
        "accuracy-chart--line",
        "accuracy-chart--test",
        "accuracy-chart--best",
        "accuracy-chart--epoch",
    }

    def __init__(
        self, *, capacity: int = 2000, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.accuracy = Series(capacity)  # percent, of the validation set
        self.test = Series(capacity)  # percent, of the test set
        self.best: float | None = None  # percent, the best validation accuracy
        self.best_iteration: int | None = None
        self.zoomed = False  # the y axis: the top ZOOM_POINTS of the range, or all past the first climb
        self._set_title()

    def toggle_zoom(self) -> None:
        self.zoomed = not self.zoomed
        self._set_title()
        self.redraw()  # at once: the key shows its effect without waiting for the redraw timer

    def _set_title(self) -> None:
        self.border_title = f"Accuracy (top {self.ZOOM_POINTS:g} point)" if self.zoomed else "Accuracy"

    def add_evaluation(
        self, split: str, iteration: int, accuracy: float, best: float | None, best_iteration: int | None
    ) -> None:
        """One evaluation of ``split`` ("validation" or "test"); accuracies are fractions 0..1 as reported."""
        (self.test if split == "test" else self.accuracy).append(iteration, 100.0 * accuracy)
        if best is not None:
            self.best, self.best_iteration = 100.0 * best, best_iteration
        self.mark_dirty()

    def draw(self, plt: Any) -> None:
        series = [s for s in (self.accuracy, self.test) if s]
        last = max(s.last[0] for s in series) if series else None
        left, right = self.x_range(last)
        legend = []
        if self.accuracy:
            legend.append(self.swatch("accuracy-chart--line", f"• val {self.accuracy.last[1]:.2f}%"))
        if self.best is not None:
            legend.append(self.swatch("accuracy-chart--best", f"━ best val {self.best:.2f}%"))
        if self.test:
            legend.append(self.swatch("accuracy-chart--test", f"◆ test {self.test.last[1]:.2f}%"))
        self.border_subtitle = " ".join(legend)
        plt.xlabel("iteration")
        self.set_x_axis(plt, left, right)
        if not series:
            self.draw_waiting(plt, left, right, "no evaluation yet")
            return
        self.draw_epoch_lines(plt, left, right, "accuracy-chart--epoch")
        if self.best is not None:
            plt.hline(self.best, self.colour("accuracy-chart--best"))
        if self.accuracy:
            colour = self.colour("accuracy-chart--line")
            plt.plot(self.accuracy.xs, self.accuracy.ys, marker="braille", color=colour)
            plt.scatter(self.accuracy.xs, self.accuracy.ys, marker="dot", color=colour)
        if self.test:
            plt.scatter(self.test.xs, self.test.ys, marker="◆", color=self.colour("accuracy-chart--test"))
        ys = [y for s in series for y in s.ys]
        top = max(ys)
        if self.zoomed:
            self.set_y_axis(plt, max(0.0, top - self.ZOOM_POINTS), min(100.0, top + 0.1 * self.ZOOM_POINTS))
            return
        main = (self.accuracy or self.test).ys
        recent = main[len(main) // 4 :] if len(main) >= 4 else ys  # zoom past the first climb, where 0.1% matters
        self.set_y_axis(plt, max(0.0, min(recent) - 0.5), min(100.0, top + 0.5))
