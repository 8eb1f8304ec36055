"""The pure display helpers: bounded chart history, smoothing, ticks, digit pixels, number formats."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_tui.ui.common import format as fmt
from mnist_tui.ui.common.history import Ema, Series, ema, nice_ticks, thin
from mnist_tui.ui.common.pixels import (
    LOWER_HALF,
    UPPER_HALF,
    cell_rows,
    downscale,
    fit_grid,
    grid_text,
    halfblock_lines,
)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


# Series -------------------------------------------------------------------------------------------------
def test_series_keeps_everything_below_capacity():
    s = Series(capacity=10)
    s.extend((i, i * 2.0) for i in range(10))
    assert s.xs == list(map(float, range(10))) and s.ys == [i * 2.0 for i in range(10)]
    assert s.weights == [1] * 10


def test_series_merges_the_oldest_half_pairwise():
    s = Series(capacity=8)
    s.extend((i, float(i)) for i in range(9))
    assert len(s) == 7  # 4 oldest merged into 2, the 5 newest kept
    assert s.xs[:2] == [0.5, 2.5] and s.weights[:2] == [2, 2]
    assert s.xs[2:] == [4.0, 5.0, 6.0, 7.0, 8.0]
    assert s.lows[:2] == [0.0, 2.0] and s.highs[:2] == [1.0, 3.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=1, max_size=600), st.integers(min_value=4, max_value=64))
def test_series_is_bounded_and_preserves_mean_min_max(values, capacity):
    s = Series(capacity)
    for i, v in enumerate(values):
        s.append(i, v)
    assert len(s) <= capacity
    assert s.count == len(values)
    assert sum(s.weights) == len(values)
    assert s.min() == min(values) and s.max() == max(values)
    assert math.isclose(s.mean(), sum(values) / len(values), rel_tol=1e-9, abs_tol=1e-6)
    assert s.xs == sorted(s.xs)  # still in order of x
    assert s.last == (len(values) - 1, values[-1])  # the newest point is never merged away


def test_series_long_run_memory_stays_bounded():
    s = Series(capacity=2000)
    for i in range(200_000):
        s.append(i, 1.0)
    assert len(s) <= 2000 and s.count == 200_000


def test_series_rejects_tiny_capacity():
    with pytest.raises(ValueError):
        Series(capacity=2)


# Smoothing, thinning, ticks ------------------------------------------------------------------------------
def test_ema_starts_at_the_first_value_and_follows():
    assert ema([2.0, 2.0, 2.0], 0.9) == pytest.approx([2.0, 2.0, 2.0])
    smoothed = ema([1.0] + [0.0] * 200, 0.9)
    assert smoothed[0] == 1.0 and smoothed[-1] < 1e-6
    assert all(a >= b for a, b in itertools.pairwise(smoothed))


def test_ema_no_smoothing_is_identity():
    assert ema([3.0, 1.0, 2.0], 0.0) == [3.0, 1.0, 2.0]


def test_ema_rejects_bad_smoothing():
    with pytest.raises(ValueError):
        Ema(1.0)


@given(st.lists(finite, min_size=0, max_size=500), st.integers(min_value=1, max_value=100))
def test_thin_bounds_points_and_keeps_range(values, limit):
    xs = list(map(float, range(len(values))))
    tx, ty = thin(xs, values, limit)
    assert len(tx) == len(ty) <= max(limit, 0) or len(values) <= limit
    if values:
        assert min(values) - 1e-6 <= min(ty) and max(ty) <= max(values) + 1e-6


@given(st.floats(0, 1e6), st.floats(1e-3, 1e6))
def test_nice_ticks_are_round_and_inside(low, span):
    high = low + span
    ticks = nice_ticks(low, high, 5)
    assert 1 <= len(ticks) <= 12
    assert all(low - 1e-6 * span <= t <= high + 1e-6 * span for t in ticks)
    steps = {round(b - a, 6) for a, b in itertools.pairwise(ticks)}
    assert len(steps) <= 1


def test_nice_ticks_examples():
    assert nice_ticks(0, 6000, 5) == [0, 2000, 4000, 6000]
    assert nice_ticks(0, 6000, 10) == [0, 1000, 2000, 3000, 4000, 5000, 6000]
    assert nice_ticks(0, 75, 5) == [0, 20, 40, 60]


# Pixels ------------------------------------------------------------------------------------------------
def digit(value: int = 0) -> bytes:
    return bytes([value]) * (28 * 28)


def test_downscale_averages_areas():
    image = bytearray(28 * 28)
    for r in range(14):
        for c in range(28):
            image[r * 28 + c] = 200  # top half bright
    grid = downscale(bytes(image), 7)
    assert len(grid) == 7 and all(len(row) == 7 for row in grid)
    assert grid[0] == [200] * 7 and grid[6] == [0] * 7
    assert grid[3] == [100] * 7  # straddles the edge: rows 12..15
    assert downscale(digit(9), 28) == [[9] * 28 for _ in range(28)]
    assert len(downscale(digit(), 10)) == 10


def test_downscale_rejects_wrong_size():
    with pytest.raises(ValueError):
        downscale(b"\x00" * 10, 7)


def test_halfblocks_two_pixels_a_cell():
    grid = [[0, 255, 0, 255], [0, 0, 255, 255], [255, 0, 0, 0]]
    lines = halfblock_lines(grid, background=(0, 0, 0), ink=(255, 255, 255))
    assert len(lines) == cell_rows(3) == 2
    assert lines[0].plain == f" {UPPER_HALF}{LOWER_HALF}{UPPER_HALF}"
    assert lines[1].plain == f"{UPPER_HALF}   "
    full = lines[0].spans[-1].style
    assert full.color.triplet == (255, 255, 255) and full.bgcolor.triplet == (255, 255, 255)


def test_fit_grid_prefers_large_digits_then_captions():
    assert fit_grid(40, 200, 200) == (28, 6, 7, True)
    px, columns, rows, captions = fit_grid(40, 82, 16)
    assert (px, columns * rows >= 40) == (7, True) and not captions  # 120x40: all 40 at 7 px, no captions
    px, columns, rows, captions = fit_grid(12, 42, 7)  # 80x24: one captioned row of the strip
    assert (px, columns, rows, captions) == (7, 5, 1, True)
    assert fit_grid(40, 0, 10)[1:3] == (0, 0)


@given(st.integers(1, 60), st.integers(1, 250), st.integers(1, 80))
def test_fit_grid_fits(count, width, height):
    px, columns, rows, captions = fit_grid(count, width, height)
    if columns and rows:
        assert columns * (px + 1) - 1 <= width
        assert rows * (cell_rows(px) + captions) <= height
        assert columns <= count and (rows - 1) * columns < count


def test_grid_text_lays_out_rows_with_captions():
    from rich.text import Text

    cell = [Text("ab"), Text("cd")]
    out = grid_text([cell, cell, cell], [Text("1"), Text("2"), Text("3")], columns=2, cell_width=2)
    assert out.plain.split("\n") == ["ab ab", "cd cd", "1  2 ", "ab", "cd", "3 "]


# Formats -----------------------------------------------------------------------------------------------
def test_formats():
    assert fmt.duration(None) == "N/A" and fmt.duration(65) == "1:05" and fmt.duration(3723) == "1:02:03"
    assert fmt.duration(float("nan")) == "N/A"
    assert fmt.size(None) == "N/A" and fmt.size(512) == "512 B" and fmt.size(1536 * 2**20) == "1.5 GiB"
    assert fmt.percent(None) == "N/A" and fmt.percent(42.4) == "42%"
    assert fmt.fraction(0.98765) == "98.77%"
    assert fmt.rate(None) == "N/A" and fmt.rate(1234.4) == "1,234 img/s" and fmt.rate(25_000) == "25.0k img/s"
    assert fmt.eta(100, 100, 1000.0) == 10.0
    assert fmt.eta(None, 100, 1000.0) is None and fmt.eta(100, 100, 0.0) is None


def test_class_labels():
    mnist = ("0 - zero", "1 - one", "2 - two")
    assert fmt.class_label(mnist, 1) == "1" and fmt.class_label(mnist, 1, short=False) == "1 - one"
    assert fmt.class_label(mnist, 7) == "7" and fmt.class_label((), 3) == "3"  # no name: the number
    letters = ("alpha", "b")
    assert fmt.class_label(letters, 0) == "alpha" and fmt.class_label(letters, 0, width=2) == "0"
    assert fmt.class_label(letters, 1, width=2) == "b"
