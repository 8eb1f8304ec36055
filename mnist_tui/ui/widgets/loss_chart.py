"""Training loss per step (raw and smoothed), with the validation loss at each evaluation and the test loss at
each epoch end."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from ..history import Ema, Series, thin
from .run_chart import RunChart


class LossChart(RunChart):
    """Loss over iterations. The app feeds it; it keeps bounded history and redraws on its own timer."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "run-chart--waiting",
        "loss-chart--raw",
        "loss-chart--smooth",
        "loss-chart--val",
        "loss-chart--test",
        "loss-chart--epoch",
    }

    LOG_FLOOR = 1e-4  # losses below this (or 0) sit on the bottom edge of the log axis

    def __init__(
        self,
        *,
        capacity: int = 2000,
        smoothing: float = 0.97,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.raw = Series(capacity)
        self.smooth = Series(capacity)
        self.val = Series(capacity)
        self.test = Series(capacity)
        self._ema = Ema(smoothing)
        self.border_title = "Loss (log scale)"

    def add_losses(self, last_iteration: int, losses: Sequence[float]) -> None:
        """Per-step training losses ending at ``last_iteration`` (one StepMetrics event)."""
        first = last_iteration - len(losses) + 1
        for offset, loss in enumerate(losses):
            if not math.isfinite(loss):
                continue  # a nan/inf step is reported by the run state, not drawn
            x = first + offset
            loss = max(loss, self.LOG_FLOOR)
            self.raw.append(x, loss)
            self.smooth.append(x, self._ema.update(loss))
        self.mark_dirty()

    def add_eval_loss(self, split: str, iteration: int, loss: float) -> None:
        """The loss of one evaluation of ``split`` ("validation" or "test")."""
        if math.isfinite(loss):
            (self.test if split == "test" else self.val).append(iteration, max(loss, self.LOG_FLOOR))
            self.mark_dirty()

    def draw(self, plt: Any) -> None:
        width = max(10, self.size.width)
        evals = [s for s in (self.val, self.test) if s]
        last = self.raw.last[0] if self.raw else (max(s.last[0] for s in evals) if evals else None)
        left, right = self.x_range(last)
        self.border_subtitle = self._subtitle()
        plt.xlabel("iteration")
        self.set_x_axis(plt, left, right)
        if self.raw or evals:
            self.draw_epoch_lines(plt, left, right, "loss-chart--epoch")
        if self.raw:
            xs, ys = thin(self.raw.xs, self.raw.ys, 2 * width)
            plt.plot(xs, _log(ys), marker="braille", color=self.colour("loss-chart--raw"))
            xs, ys = thin(self.smooth.xs, self.smooth.ys, 2 * width)
            plt.plot(xs, _log(ys), marker="braille", color=self.colour("loss-chart--smooth"))
        if self.val:
            colour = self.colour("loss-chart--val")
            plt.plot(self.val.xs, _log(self.val.ys), marker="braille", color=colour)
            plt.scatter(self.val.xs, _log(self.val.ys), marker="•", color=colour)
        if self.test:
            plt.scatter(self.test.xs, _log(self.test.ys), marker="◆", color=self.colour("loss-chart--test"))
        if not self.raw and not evals:
            self.draw_waiting(plt, left, right, "no steps yet")
        else:
            # Log scale: the late, small improvements matter as much as the first drop.
            low = min(v for v in (self.raw.min(), self.val.min(), self.test.min()) if v is not None)
            high = max(v for v in (self.raw.max(), self.val.max(), self.test.max()) if v is not None)
            low = max(low, self.LOG_FLOOR)
            self.set_log_y_axis(plt, low / 1.15, max(high, low * 1.5) * 1.15)

    def _subtitle(self) -> str:
        """The legend, with the latest values: raw and smoothed training loss, validation and test loss."""
        raw = f" {self.raw.last[1]:.3f}" if self.raw else ""
        smooth = f" {self.smooth.last[1]:.3f}" if self.smooth else ""
        parts = [
            self.swatch("loss-chart--raw", f"━ train{raw}"),
            self.swatch("loss-chart--smooth", f"━ smoothed{smooth}"),
        ]
        if self.val or not self.test:
            val = f" {self.val.last[1]:.3f}" if self.val else ""
            parts.append(self.swatch("loss-chart--val", f"• val{val}"))
        if self.test:
            parts.append(self.swatch("loss-chart--test", f"◆ test {self.test.last[1]:.3f}"))
        return " ".join(parts)


def _log(values: list[float]) -> list[float]:
    return [math.log10(v) for v in values]  # values are floored at LOG_FLOOR > 0 on the way in
