"""Training loss per step (raw and smoothed), with the validation loss at each evaluation and the test loss at
each epoch end. The user chooses the view (keys y and n): a log or a linear loss axis, the whole run or only the
last iterations; the choice stays through every redraw, and the border's title says it."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any, ClassVar

from ..common.history import Ema, Series, thin
from .run_chart import RunChart


class LossChart(RunChart):
    """Loss over iterations. The app feeds it; it keeps bounded history and redraws on its own timer."""

    DEFAULT_CSS = """
    LossChart > .loss-chart--raw { color: $primary 45%; }
    LossChart > .loss-chart--smooth { color: $primary; }
    LossChart > .loss-chart--val { color: $warning; }
    LossChart > .loss-chart--test { color: $accent; }
    LossChart > .loss-chart--epoch { color: $foreground-darken-3; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "run-chart--waiting",
        "loss-chart--raw",
        "loss-chart--smooth",
        "loss-chart--val",
        "loss-chart--test",
        "loss-chart--epoch",
    }

    LOG_FLOOR = 1e-4  # losses below this (or 0) sit on the bottom edge of the log axis
    WINDOW = 500  # iterations shown by "the last iterations" (about an epoch of the tutorial recipe)

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
        self.log_scale = True  # log: the late, small improvements matter as much as the first drop
        self.window: int | None = None  # only the last this many iterations, or the whole run
        self.validation = True  # the run evaluates on a validation set (else on the test set only)
        self._set_title()

    def set_validation(self, validation: bool) -> None:
        """Whether the run holds out a validation set: the legend offers only the losses it will have."""
        self.validation = validation
        self.mark_dirty()

    def toggle_scale(self) -> None:
        """Log or linear loss axis."""
        self.log_scale = not self.log_scale
        self._view_changed()

    def toggle_window(self) -> None:
        """The whole run, or only the last ``WINDOW`` iterations."""
        self.window = None if self.window else self.WINDOW
        self._view_changed()

    def _view_changed(self) -> None:
        self._set_title()
        self.redraw()  # at once: the key shows its effect without waiting for the redraw timer

    def _set_title(self) -> None:
        view = ["log scale" if self.log_scale else "linear"]
        if self.window:
            view.append(f"last {self.window:,} iterations")
        self.border_title = f"Loss ({', '.join(view)})"

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
        if self.window and last is not None:
            left = max(left, right - self.window)
        raw, smooth, val, test = (_in_view(s, left) for s in (self.raw, self.smooth, self.val, self.test))
        y = _log if self.log_scale else list
        self.border_subtitle = self._subtitle()
        plt.xlabel("iteration")
        self.set_x_axis(plt, left, right)
        if raw[0] or val[0] or test[0]:
            self.draw_epoch_lines(plt, left, right, "loss-chart--epoch")
        if raw[0]:
            xs, ys = thin(raw[0], raw[1], 2 * width)
            plt.plot(xs, y(ys), marker="braille", color=self.colour("loss-chart--raw"))
            xs, ys = thin(smooth[0], smooth[1], 2 * width)
            plt.plot(xs, y(ys), marker="braille", color=self.colour("loss-chart--smooth"))
        if val[0]:
            colour = self.colour("loss-chart--val")
            plt.plot(val[0], y(val[1]), marker="braille", color=colour)
            plt.scatter(val[0], y(val[1]), marker="•", color=colour)
        if test[0]:
            plt.scatter(test[0], y(test[1]), marker="◆", color=self.colour("loss-chart--test"))
        # The y range covers every loss in view, also those merged into a point of a long run's history.
        shown = [v for s in (raw, val, test) for v in (*s[2], *s[3])]
        if not shown:
            self.draw_waiting(plt, left, right, "no steps yet")
        elif self.log_scale:
            low, high = max(min(shown), self.LOG_FLOOR), max(shown)
            self.set_log_y_axis(plt, low / 1.15, max(high, low * 1.5) * 1.15)
        else:
            self.set_y_axis(plt, 0.0, max(shown) * 1.05)

    def _subtitle(self) -> str:
        """The legend, with the latest values: raw and smoothed training loss, validation and test loss."""
        raw = f" {self.raw.last[1]:.3f}" if self.raw else ""
        smooth = f" {self.smooth.last[1]:.3f}" if self.smooth else ""
        parts = [
            self.swatch("loss-chart--raw", f"━ train{raw}"),
            self.swatch("loss-chart--smooth", f"━ smoothed{smooth}"),
        ]
        if self.val or (self.validation and not self.test):
            val = f" {self.val.last[1]:.3f}" if self.val else ""
            parts.append(self.swatch("loss-chart--val", f"• val{val}"))
        if self.test or not self.validation:  # a run without a validation set evaluates on the test set only
            test = f" {self.test.last[1]:.3f}" if self.test else ""
            parts.append(self.swatch("loss-chart--test", f"◆ test{test}"))
        return " ".join(parts)


def _in_view(series: Series, left: float) -> tuple[list[float], ...]:
    """The x, y, low and high of the points of ``series`` at or after iteration ``left`` (the view's left edge)."""
    xs = series.xs
    start = bisect.bisect_left(xs, left)
    return xs[start:], series.ys[start:], series.lows[start:], series.highs[start:]


def _log(values: list[float]) -> list[float]:
    return [math.log10(v) for v in values]  # values are floored at LOG_FLOOR > 0 on the way in
