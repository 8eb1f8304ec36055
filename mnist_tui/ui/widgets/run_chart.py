"""Shared behaviour of the run charts: iterations on x, epoch boundaries, throttled redraws.

Data arrives as often as the trainer reports; the chart only marks itself dirty and redraws on a timer every
two seconds at most. A redraw draws into a plotext figure of its own (``self.plt``, never module state) on the
UI thread, which is quick, and the timer's redraws build that figure into text in a thread: plotext's build
takes 60-130 ms of a busy CPU, and a key pressed while the UI thread built two charts waited a quarter of a
second to show. Until a build arrives the chart shows the one before; a redraw asked for directly (a key that
changes the view, a theme) builds at once, so it shows in the same frame.
Colours come from the chart's component classes, styled in ``app.tcss`` with the theme's variables, so the
charts recolour when the theme changes. Under an ANSI theme (the default: the terminal's own colours) a colour
is one of the terminal's 16, passed to plotext as its number, and the plot's canvas is the terminal's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any

from rich.color import ColorType
from rich.text import Text
from textual.color import ANSI_COLORS
from textual.geometry import Size
from textual.message import Message
from textual.theme import Theme
from textual.timer import Timer
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from ..common.history import log_ticks, nice_ticks
from ..common.refresh import CHART_PERIODS, DEFAULT_REFRESH

# A colour as plotext takes it: RGB, one of the terminal's 256 by number, or "default" (the terminal's text).
PlotColour = tuple[int, int, int] | int | str
DEFAULT_COLOUR = "default"  # a component without a colour: the theme's text colour, never a fixed one
CLEAR_PLOT_THEME = "textual-clear"  # textual-plotext's theme that leaves canvas and ticks to the terminal


@dataclass(frozen=True)
class BuiltPlot:
    """A figure built into text: which redraw it was, and for what size."""

    redraw: int
    size: Size
    text: Text


class RunChart(PlotextPlot):
    """A plot over training iterations. Subclasses implement ``draw`` with ``self.plt``."""

    DEFAULT_CSS = """
    RunChart > .run-chart--waiting { color: $text-muted; }
    """

    # At most one redraw every two seconds, however fast events arrive: a redraw resends the whole chart (about
    # 8-11 KB at 60x19), the most costly thing the app sends over SSH. --refresh slows it further (common/refresh.py).
    REDRAW_SECONDS = DEFAULT_REFRESH * CHART_PERIODS

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.steps_per_epoch = 0
        self.total_steps = 0
        self.start_iteration = 0
        self._dirty = True
        self.redraws = 0  # how many times the plot was rebuilt (tests check the throttle)
        self.redraw_seconds = self.REDRAW_SECONDS
        self._redraw_timer: Timer | None = None
        self._built: BuiltPlot | None = None  # the newest figure built, shown until a newer one is

    def on_mount(self) -> None:
        self._redraw_timer = self.set_interval(self.redraw_seconds, self.redraw_if_dirty)
        self.app.theme_changed_signal.subscribe(self, self.on_theme_changed)
        self.on_theme_changed(self.app.current_theme)

    def on_theme_changed(self, theme: Theme) -> None:
        """Redraw in the new theme's colours (the CSS is refreshed by then); an ANSI theme's canvas is the
        terminal's own background, not the black a plotext theme built from its placeholder RGB would paint."""
        self.theme = CLEAR_PLOT_THEME if theme.ansi else "auto"
        self.redraw()

    def set_run(self, *, steps_per_epoch: int, total_steps: int, start_iteration: int = 0) -> None:
        """The run's shape, from RunStarted: where the epoch boundaries fall.

        A run resumed in the same view (a viewer replaying a run that was handed over or resumed) keeps
        its earlier points: the chart still starts where the first RunStarted said.
        """
        first = self.total_steps == 0
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = total_steps
        self.start_iteration = start_iteration if first else min(self.start_iteration, start_iteration)
        self.mark_dirty()

    def set_redraw_interval(self, seconds: float) -> None:
        """Redraw at most every ``seconds`` from now on (the refresh rate changed)."""
        self.redraw_seconds = seconds
        if self._redraw_timer is not None:
            self._redraw_timer.stop()
            self._redraw_timer = self.set_interval(seconds, self.redraw_if_dirty)

    def mark_dirty(self) -> None:
        self._dirty = True

    def redraw_if_dirty(self) -> None:
        """What the chart's timer calls: if data arrived since the last redraw, draw now and build in a thread."""
        if self._dirty:
            plot, built_for = self._draw()
            self.run_worker(partial(self._build_in_thread, plot, built_for), thread=True, group="chart-build")

    def redraw(self) -> None:
        """Draw and build the plot now, on this thread: what a key that changes the view, or a theme, calls."""
        self._accept(self._build_now())

    def _build_now(self) -> BuiltPlot:
        return self._build(*self._draw())

    def _draw(self) -> tuple[Plot, tuple[int, Size]]:
        """A fresh figure with the chart's data, sized and themed for the chart as it is now (each build has
        a figure of its own: a thread building one shares nothing with the next redraw)."""
        self._dirty = False
        self.redraws += 1
        plot = self._plot = Plot()  # self.plt from now on
        self.draw(plot)
        width, height = self.size
        plot.plotsize(width, height)
        plot._set_size(width, height)  # as textual-plotext's own render does: plotsize alone does not resize
        plot.theme(self._get_plotext_theme_name(self.app.theme))
        return plot, (self.redraws, self.size)

    @staticmethod
    def _build(plot: Plot, built_for: tuple[int, Size]) -> BuiltPlot:
        """plotext's build of ``plot`` (the slow part), as text, for the redraw and size it was drawn for."""
        redraw, size = built_for
        return BuiltPlot(redraw, size, Text.from_ansi(plot.build()))

    def _build_in_thread(self, plot: Plot, built_for: tuple[int, Size]) -> None:
        self.post_message(self.Built(self._build(plot, built_for)))

    class Built(Message):
        """A figure built in a thread, for the chart to show."""

        def __init__(self, built: BuiltPlot) -> None:
            super().__init__()
            self.built = built

    def on_run_chart_built(self, message: Built) -> None:
        message.stop()
        self._accept(message.built)

    def _accept(self, built: BuiltPlot) -> None:
        """Show ``built`` unless a later redraw's figure is shown already (a thread can finish late)."""
        if self._built is None or built.redraw >= self._built.redraw:
            self._built = built
            self.refresh()

    def render(self) -> Text:
        """The newest figure built for this size; the first paint and a new size build one now."""
        if self._built is None or self._built.size != self.size:
            legend = self.border_subtitle
            self._built = self._build_now()  # being painted already: no refresh to ask for the figure
            if self.border_subtitle != legend:  # but the border, painted before this, showed the old legend
                self.call_after_refresh(self.refresh)
        return self._built.text

    def draw(self, plt: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # Helpers for subclasses ----------------------------------------------------------------------------
    def colour(self, component: str) -> PlotColour:
        """The foreground colour of a component class, for plotext: RGB, or a terminal colour's number under
        an ANSI theme (so it follows the terminal's palette), or the terminal's text colour when it has none."""
        try:
            colour = self.get_component_rich_style(component).color
        except Exception:  # noqa: BLE001 - a missing style draws in the text colour, never a crash
            colour = None
        if colour is None or colour.type is ColorType.DEFAULT:
            return DEFAULT_COLOUR
        if colour.type in (ColorType.STANDARD, ColorType.EIGHT_BIT) and colour.number is not None:
            return colour.number
        triplet = colour.get_truecolor()
        return (triplet.red, triplet.green, triplet.blue)

    def swatch(self, component: str, text: str) -> str:
        """``text`` in the colour of ``component``, as Textual markup (legends in the border)."""
        colour = self.colour(component)
        if isinstance(colour, tuple):
            r, g, b = colour
            return f"[#{r:02x}{g:02x}{b:02x}]{text}[/]"
        if isinstance(colour, int) and colour < len(ANSI_COLORS):
            return f"[ansi_{ANSI_COLORS[colour]}]{text}[/]"
        return text

    def set_x_axis(self, plt: Any, left: float, right: float) -> None:
        """Iterations on x, with round tick labels."""
        plt.xlim(left, right)
        ticks = [t for t in nice_ticks(left, right, max(3, self.size.width // 12)) if left <= t <= right]
        plt.xticks(ticks, [f"{int(t):,}" if float(t).is_integer() else f"{t:g}" for t in ticks])

    def set_y_axis(self, plt: Any, low: float, high: float) -> None:
        """y limits with round tick labels, as few decimals as the tick step needs."""
        if not high > low:
            high = low + 1.0
        plt.ylim(low, high)
        ticks = [t for t in nice_ticks(low, high, max(2, self.size.height // 2)) if low <= t <= high]
        if len(ticks) >= 2:
            step = ticks[1] - ticks[0]
            decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
            plt.yticks(ticks, [f"{t:.{decimals}f}" for t in ticks])

    def set_log_y_axis(self, plt: Any, low: float, high: float) -> None:
        """A log y axis over [low, high] (both > 0) for data plotted as ``log10(value)``.

        The chart transforms the values itself and labels round ticks with the real values: plotext's own
        log scale mixes exponent and value limits (and fails on vertical lines).
        """
        plt.ylim(math.log10(low), math.log10(high))
        ticks = log_ticks(low, high, max(2, self.size.height // 2))
        if ticks:
            plt.yticks([math.log10(t) for t in ticks], [f"{t:g}" for t in ticks])

    def draw_waiting(self, plt: Any, left: float, right: float, text: str) -> None:
        """An empty frame that says what it is waiting for."""
        plt.xlim(left, right)
        plt.ylim(0, 1)
        plt.yticks([])
        plt.text(text, (left + right) / 2, 0.5, alignment="center", color=self.colour("run-chart--waiting"))

    def x_range(self, last_x: float | None) -> tuple[float, float]:
        """From the run's first iteration to the latest point (the whole run while there is none)."""
        left = float(self.start_iteration)
        if last_x is None:
            return left, float(max(self.total_steps, self.start_iteration + 1))
        return left, max(left + 1.0, float(last_x))

    def draw_epoch_lines(self, plt: Any, left: float, right: float, component: str) -> None:
        """A vertical line at each epoch boundary inside [left, right]."""
        if self.steps_per_epoch <= 0:
            return
        colour = self.colour(component)
        boundary = (int(left) // self.steps_per_epoch + 1) * self.steps_per_epoch
        lines = 0
        while boundary < right and lines < 200:
            plt.vline(boundary, colour)
            boundary += self.steps_per_epoch
            lines += 1
