"""How often the live screen updates: one setting, ``--refresh SECONDS`` and the palette's "Refresh rate".

Every byte the app writes crosses the user's link (often SSH, often slow), and a terminal app rewrites a
widget's whole area when it repaints it. So the numbers on screen (position, elapsed, speed, device
readings) update at most once per refresh interval, each widget repaints only what changed, and the charts,
which cost the most to send, redraw at most once per ``CHART_PERIODS`` intervals. No data is dropped: the
charts keep every point, the numbers show the latest values.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.timer import Timer
from textual.widget import Widget

DEFAULT_REFRESH = 1.0  # seconds between updates of the numbers on screen
CHART_PERIODS = 2  # the charts redraw at most once per this many refresh intervals
RATES = (0.5, 1.0, 2.0, 5.0, 10.0)  # what the palette's "Refresh rate" steps through
MAX_REFRESH = 60.0


def next_rate(current: float) -> float:
    """The next slower rate of ``RATES`` (after the slowest, the fastest again)."""
    slower = [rate for rate in RATES if rate > current + 1e-9]
    return slower[0] if slower else RATES[0]


def describe(seconds: float) -> str:
    """What the status line says about the rate: nothing at the default."""
    return "" if abs(seconds - DEFAULT_REFRESH) < 1e-9 else f"refresh {seconds:g} s"


class Throttle:
    """Runs ``apply`` at most once every ``interval`` seconds on ``widget``'s timers: at once when the last run
    is an interval ago, else once when the interval is up (``apply`` then shows the latest state)."""

    def __init__(self, widget: Widget, apply: Callable[[], None], interval: float = DEFAULT_REFRESH) -> None:
        self.widget = widget
        self.apply = apply
        self.interval = interval
        self._last = -float("inf")
        self._timer: Timer | None = None

    def request(self) -> None:
        if self._timer is not None:
            return  # already due: it will show the latest state
        wait = self._last + self.interval - time.monotonic()
        if wait <= 0:
            self._run()
        else:
            self._timer = self.widget.set_timer(wait, self._run)

    def flush(self) -> None:
        """Apply now if a request is waiting (the state changed: show the latest numbers with it)."""
        if self._timer is not None:
            self._timer.stop()
            self._run()

    def _run(self) -> None:
        self._timer = None
        self._last = time.monotonic()
        self.apply()
