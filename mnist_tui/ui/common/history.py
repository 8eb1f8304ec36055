"""Display-side history for the charts: bounded series and an EMA for smoothing (pure Python).

A chart only needs as many points as it has pixels, but a long run produces a loss per step. ``Series``
keeps at most ``capacity`` points: when it overflows, the older half is merged pairwise. A merged point
stands for all the steps it covers (its weight), at the weighted mean position and value, and remembers the
lowest and highest value it covers, so the series' weighted mean, minimum and maximum are preserved while
old history gets coarser instead of being dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


class Series:
    """(x, y) points in order of x, bounded to ``capacity`` points by merging old ones pairwise."""

    def __init__(self, capacity: int = 2000) -> None:
        if capacity < 4:
            raise ValueError("capacity must be at least 4")
        self.capacity = capacity
        self._x: list[float] = []
        self._y: list[float] = []
        self._w: list[int] = []  # how many original points each point stands for
        self._lo: list[float] = []
        self._hi: list[float] = []
        self.count = 0  # points ever appended

    def __len__(self) -> int:
        return len(self._x)

    def __bool__(self) -> bool:
        return bool(self._x)

    @property
    def xs(self) -> list[float]:
        return list(self._x)

    @property
    def ys(self) -> list[float]:
        return list(self._y)

    @property
    def weights(self) -> list[int]:
        return list(self._w)

    @property
    def lows(self) -> list[float]:
        return list(self._lo)

    @property
    def highs(self) -> list[float]:
        return list(self._hi)

    @property
    def last(self) -> tuple[float, float] | None:
        return (self._x[-1], self._y[-1]) if self._x else None

    def min(self) -> float | None:
        return min(self._lo) if self._lo else None

    def max(self) -> float | None:
        return max(self._hi) if self._hi else None

    def mean(self) -> float | None:
        total = sum(self._w)
        return sum(y * w for y, w in zip(self._y, self._w)) / total if total else None

    def append(self, x: float, y: float) -> None:
        self._x.append(float(x))
        self._y.append(float(y))
        self._w.append(1)
        self._lo.append(float(y))
        self._hi.append(float(y))
        self.count += 1
        if len(self._x) > self.capacity:
            self._compact()

    def extend(self, points: Iterable[tuple[float, float]]) -> None:
        for x, y in points:
            self.append(x, y)

    def clear(self) -> None:
        for values in (self._x, self._y, self._w, self._lo, self._hi):
            values.clear()
        self.count = 0

    def _compact(self) -> None:
        """Merge the points of the older half pairwise (amortised O(1) an append)."""
        half = (len(self._x) // 2) & ~1  # an even number of points to pair up
        x, y, w, lo, hi = [], [], [], [], []
        for i in range(0, half, 2):
            w0, w1 = self._w[i], self._w[i + 1]
            total = w0 + w1
            x.append((self._x[i] * w0 + self._x[i + 1] * w1) / total)
            y.append((self._y[i] * w0 + self._y[i + 1] * w1) / total)
            w.append(total)
            lo.append(min(self._lo[i], self._lo[i + 1]))
            hi.append(max(self._hi[i], self._hi[i + 1]))
        self._x[:half] = x
        self._y[:half] = y
        self._w[:half] = w
        self._lo[:half] = lo
        self._hi[:half] = hi


class Ema:
    """Exponential moving average with bias correction (starts at the first value, not at 0)."""

    def __init__(self, smoothing: float = 0.97) -> None:
        if not 0.0 <= smoothing < 1.0:
            raise ValueError("smoothing must be in [0, 1)")
        self.smoothing = smoothing
        self._average = 0.0
        self._correction = 1.0  # smoothing ** n
        self.value: float | None = None

    def update(self, value: float) -> float:
        self._average = self.smoothing * self._average + (1.0 - self.smoothing) * value
        self._correction *= self.smoothing
        self.value = self._average / (1.0 - self._correction)
        return self.value

    def reset(self) -> None:
        self._average = 0.0
        self._correction = 1.0
        self.value = None


def ema(values: Iterable[float], smoothing: float = 0.97) -> list[float]:
    """The smoothed sequence of ``values``."""
    average = Ema(smoothing)
    return [average.update(v) for v in values]


def thin(xs: list[float], ys: list[float], limit: int) -> tuple[list[float], list[float]]:
    """At most ``limit`` points: consecutive points averaged in equal groups (what a plot can show)."""
    n = len(xs)
    if limit <= 0 or n <= limit:
        return list(xs), list(ys)
    group = -(-n // limit)  # ceil
    out_x, out_y = [], []
    for start in range(0, n, group):
        chunk_x, chunk_y = xs[start : start + group], ys[start : start + group]
        out_x.append(sum(chunk_x) / len(chunk_x))
        out_y.append(sum(chunk_y) / len(chunk_y))
    return out_x, out_y


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round tick positions (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if not high > low or target < 1:
        return [low]
    raw = (high - low) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def log_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round tick positions for a log axis over [low, high] (both > 0): 1-2-5, 1-3 or 1 a decade."""
    if not (0 < low < high) or target < 1:
        return [low] if low > 0 else []
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    ticks: list[float] = []
    for mantissas in ((1, 2, 5), (1, 3), (1,)):
        ticks = [
            round(m * 10.0**k, 12) for k in range(first, last + 1) for m in mantissas if low <= m * 10.0**k <= high
        ]
        if len(ticks) <= target:
            break
    return ticks
