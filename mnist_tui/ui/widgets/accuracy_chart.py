"""Test accuracy at each evaluation, with the best so far."""

from __future__ import annotations

from typing import Any, ClassVar

from ..history import Series
from .run_chart import RunChart


class AccuracyChart(RunChart):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "run-chart--waiting",
        "accuracy-chart--line",
        "accuracy-chart--best",
        "accuracy-chart--epoch",
    }

    def __init__(
        self, *, capacity: int = 2000, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.accuracy = Series(capacity)  # percent
        self.best: float | None = None  # percent
        self.best_iteration: int | None = None
        self.border_title = "Test accuracy"

    def add_evaluation(self, iteration: int, accuracy: float, best: float, best_iteration: int) -> None:
        """One evaluation; accuracies are fractions 0..1 as the engine reports them."""
        self.accuracy.append(iteration, 100.0 * accuracy)
        self.best = 100.0 * best
        self.best_iteration = best_iteration
        self.mark_dirty()

    def draw(self, plt: Any) -> None:
        last = self.accuracy.last[0] if self.accuracy else None
        left, right = self.x_range(last)
        if self.accuracy and self.best is not None:
            self.border_subtitle = " ".join(
                (
                    self.swatch("accuracy-chart--line", f"• {self.accuracy.last[1]:.2f}%"),
                    self.swatch("accuracy-chart--best", f"━ best {self.best:.2f}%"),
                )
            )
        else:
            self.border_subtitle = ""
        plt.xlabel("iteration")
        self.set_x_axis(plt, left, right)
        if not self.accuracy:
            self.draw_waiting(plt, left, right, "no evaluation yet")
            return
        self.draw_epoch_lines(plt, left, right, "accuracy-chart--epoch")
        if self.best is not None:
            plt.hline(self.best, self.colour("accuracy-chart--best"))
        plt.plot(self.accuracy.xs, self.accuracy.ys, marker="braille", color=self.colour("accuracy-chart--line"))
        plt.scatter(self.accuracy.xs, self.accuracy.ys, marker="dot", color=self.colour("accuracy-chart--line"))
        ys = self.accuracy.ys
        recent = ys[len(ys) // 4 :] if len(ys) >= 4 else ys  # zoom past the first climb, where 0.1% matters
        self.set_y_axis(plt, max(0.0, min(recent) - 0.5), min(100.0, max(ys) + 0.5))
