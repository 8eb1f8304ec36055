"""Several runs' curves overlaid: one set's loss (log scale) or accuracy, against iteration, epoch or wall time.

The screen hands the chart the runs (``runs.series.RunSeries``, which it keeps up to date), the set and the
x axis, and marks it dirty; the chart reads them when its timer redraws it (RunChart: at most once a second).
Each run has its colour by its position, from the component classes ``compare-chart--run-0`` to ``-9``
in app.tcss (the legend and the table use the same colours, through ``run_colour``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from ...runs.series import TRAIN, RunSeries
from ..common.history import ema, thin
from .run_chart import RunChart

PALETTE_SIZE = 10  # distinct colours; an 11th run takes the first again
AXES = ("iteration", "epoch", "wall")
AXIS_LABELS = {"iteration": "iteration", "epoch": "epoch", "wall": "wall time"}
SET_NAMES = {"validation": "validation", "test": "test", TRAIN: "training (smoothed)"}
LOG_FLOOR = 1e-4  # losses at or below this sit on the bottom edge of the log axis


class CompareChart(RunChart):
    """Loss (``metric="loss"``) or accuracy (``metric="accuracy"``) of every run, one line a run."""

    DEFAULT_CSS = """
    CompareChart > .compare-chart--run-0 { color: #4c9be8; }
    CompareChart > .compare-chart--run-1 { color: #e07000; }
    CompareChart > .compare-chart--run-2 { color: #3fbf5f; }
    CompareChart > .compare-chart--run-3 { color: #e8505b; }
    CompareChart > .compare-chart--run-4 { color: #b58cf0; }
    CompareChart > .compare-chart--run-5 { color: #e6d84a; }
    CompareChart > .compare-chart--run-6 { color: #35c9c9; }
    CompareChart > .compare-chart--run-7 { color: #f07cc0; }
    CompareChart > .compare-chart--run-8 { color: #b08355; }
    CompareChart > .compare-chart--run-9 { color: #c8c8c8; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "run-chart--waiting",
        *(f"compare-chart--run-{i}" for i in range(PALETTE_SIZE)),
    }

    def __init__(self, metric: str, *, name: str | None = None, id: str | None = None, classes: str | None = None):
        super().__init__(name=name, id=id, classes=classes)
        self.metric = metric
        self.runs: Sequence[RunSeries] = ()
        self.split = "validation"
        self.axis = "iteration"
        self.highlight: int | None = None  # the run drawn last (on top): the one the table's cursor is on
        self.lines = 0  # runs drawn in the last redraw (tests look)

    def show(self, runs: Sequence[RunSeries], *, split: str, axis: str, highlight: int | None = None) -> None:
        self.runs, self.split, self.axis, self.highlight = runs, split, axis, highlight
        self.mark_dirty()

    def run_colour(self, index: int) -> Any:
        """The colour of run ``index`` as plotext takes it (see RunChart.colour)."""
        return self.colour(f"compare-chart--run-{index % PALETTE_SIZE}")

    def run_style(self, index: int) -> str:
        """The same colour as a rich style, for the legend and the table."""
        colour = self.run_colour(index)
        if isinstance(colour, tuple):
            r, g, b = colour
            return f"#{r:02x}{g:02x}{b:02x}"
        return f"color({colour})" if isinstance(colour, int) else ""

    # Drawing -------------------------------------------------------------------------------------------
    def curve(self, run: RunSeries) -> tuple[list[float], list[float]]:
        """The run's points of this chart's set on the chosen axis (seconds for wall time); y as plotted."""
        width = max(10, self.size.width)
        if self.split == TRAIN:
            if self.metric != "loss" or not len(run.train):
                return [], []
            columns = {"iteration": run.train.iterations, "epoch": run.train.epochs, "wall": run.train.walls}
            xs, ys = thin(list(columns[self.axis]), ema(run.train.losses, 0.97), 2 * width)
        else:
            points = run.points(self.split)
            xs = [p.iteration if self.axis == "iteration" else p.epoch if self.axis == "epoch" else p.wall for p in points]
            ys = [p.loss if self.metric == "loss" else 100.0 * p.accuracy for p in points]
        if self.metric == "loss":
            ys = [math.log10(max(y, LOG_FLOOR)) for y in ys]
        return xs, ys

    def draw(self, plt: Any) -> None:
        what = "Loss" if self.metric == "loss" else "Accuracy"
        scale = " (log scale)" if self.metric == "loss" else ""
        self.border_title = f"{what} · {SET_NAMES.get(self.split, self.split)}{scale}"
        order = list(range(len(self.runs)))
        if self.highlight is not None and self.highlight in order:
            order.remove(self.highlight)
            order.append(self.highlight)  # on top
        curves = {i: self.curve(self.runs[i]) for i in order}
        drawn = [i for i in order if curves[i][0]]
        minutes = self.axis == "wall" and any(max(curves[i][0]) > 600 for i in drawn)
        if minutes:
            curves = {i: ([x / 60 for x in xs], ys) for i, (xs, ys) in curves.items()}
        unit = " (min)" if minutes else " (s)" if self.axis == "wall" else ""
        plt.xlabel(AXIS_LABELS[self.axis] + unit)
        self.border_subtitle = f"x: {AXIS_LABELS[self.axis]}{unit}"
        self.lines = len(drawn)
        if not drawn:
            self.set_x_axis(plt, 0.0, 1.0)
            waiting = "no runs yet" if not self.runs else f"no {SET_NAMES.get(self.split, self.split)} {self.metric} yet"
            if self.split == TRAIN and self.metric == "accuracy":
                waiting = "training has a loss, no accuracy"
            self.draw_waiting(plt, 0.0, 1.0, waiting)
            return
        left = min(min(curves[i][0]) for i in drawn)
        right = max(max(curves[i][0]) for i in drawn)
        if not right > left:
            right = left + 1.0
        self.set_x_axis(plt, left, right)
        for i in drawn:
            xs, ys = curves[i]
            colour = self.run_colour(i)
            if len(xs) > 1:
                plt.plot(xs, ys, marker="braille", color=colour)
            if len(xs) < 3 or self.split == "test":  # few points (a test set's, at epoch ends): show each
                plt.scatter(xs, ys, marker="•", color=colour)
        ys_all = [y for i in drawn for y in curves[i][1]]
        if self.metric == "loss":
            low, high = 10 ** min(ys_all), 10 ** max(ys_all)
            self.set_log_y_axis(plt, low / 1.15, max(high, low * 1.5) * 1.15)
        else:
            # Zoom past each run's first climb, where tenths of a percent tell the runs apart.
            recent = [y for i in drawn for y in curves[i][1][len(curves[i][1]) // 4 :]] or ys_all
            self.set_y_axis(plt, max(0.0, min(recent) - 0.5), min(100.0, max(ys_all) + 0.5))
