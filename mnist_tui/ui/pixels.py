"""Grey-level images as terminal cells (pure display helpers, no tensors).

A cell shows two pixels stacked with the upper half block ``▀``: the foreground colour is the top pixel,
the background colour the bottom one. A 28x28 digit therefore takes 28 columns by 14 rows at full size;
``downscale`` averages it to fewer pixels when space is short (14x14 -> 14x7 cells, 7x7 -> 7x4 cells).
Intensities are blended from the panel's background colour (0) to the ink colour (255), so the digit sits
on the panel instead of on a black square.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from rich.color import Color
from rich.style import Style
from rich.text import Text

RGB = tuple[int, int, int]
UPPER_HALF = "\u2580"  # ▀
LOWER_HALF = "\u2584"  # ▄
SIDE = 28  # MNIST images are 28x28


def downscale(image: bytes, pixels: int, side: int = SIDE) -> list[list[int]]:
    """Area-average a ``side`` x ``side`` row-major uint8 image down to ``pixels`` x ``pixels``."""
    if len(image) != side * side:
        raise ValueError(f"expected {side * side} bytes, got {len(image)}")
    pixels = max(1, min(pixels, side))
    bounds = [(i * side // pixels, (i + 1) * side // pixels) for i in range(pixels)]
    out: list[list[int]] = []
    for r0, r1 in bounds:
        row = []
        for c0, c1 in bounds:
            total = 0
            for r in range(r0, r1):
                base = r * side
                total += sum(image[base + c0 : base + c1])
            row.append(total // ((r1 - r0) * (c1 - c0)))
        out.append(row)
    return out


def blend(background: RGB, ink: RGB, value: int) -> RGB:
    t = value / 255.0
    return (
        round(background[0] + (ink[0] - background[0]) * t),
        round(background[1] + (ink[1] - background[1]) * t),
        round(background[2] + (ink[2] - background[2]) * t),
    )


@lru_cache(maxsize=4096)
def _style(top: RGB | None, bottom: RGB | None) -> Style:
    return Style(
        color=Color.from_rgb(*top) if top else None,
        bgcolor=Color.from_rgb(*bottom) if bottom else None,
    )


def halfblock_lines(grid: Sequence[Sequence[int]], background: RGB, ink: RGB, threshold: int = 12) -> list[Text]:
    """Render a grid of 0..255 values as ``ceil(rows / 2)`` lines of ``cols`` cells each.

    Values below ``threshold`` are left transparent (a plain space on the panel's own background).
    """
    lines: list[Text] = []
    for r in range(0, len(grid), 2):
        top_row = grid[r]
        bottom_row = grid[r + 1] if r + 1 < len(grid) else [0] * len(top_row)
        line = Text(no_wrap=True, overflow="crop")
        for top, bottom in zip(top_row, bottom_row):
            top_on, bottom_on = top >= threshold, bottom >= threshold
            if not top_on and not bottom_on:
                line.append(" ")
            elif top_on and not bottom_on:
                line.append(UPPER_HALF, _style(blend(background, ink, top), None))
            elif bottom_on and not top_on:
                line.append(LOWER_HALF, _style(blend(background, ink, bottom), None))
            else:
                line.append(UPPER_HALF, _style(blend(background, ink, top), blend(background, ink, bottom)))
        lines.append(line)
    return lines


def cell_rows(pixels: int) -> int:
    """Terminal rows a ``pixels``-high image takes."""
    return (pixels + 1) // 2


def fit_grid(
    count: int,
    width: int,
    height: int,
    sizes: Sequence[int] = (28, 14, 10, 7),
    caption_rows: int = 1,
    gap: int = 1,
) -> tuple[int, int, int, bool]:
    """Pick how to lay ``count`` images out in ``width`` x ``height`` cells.

    Returns ``(pixels, columns, rows, captions)``: the largest image size at which all images fit (with a
    caption line under each if there is room, else without); if none fits, the smallest size and as many
    rows as fit (``columns * rows`` may then be less than ``count``).
    """
    if count <= 0 or width <= 0 or height <= 0:
        return sizes[-1], 0, 0, False
    for px in sizes:
        columns = min(count, (width + gap) // (px + gap))
        if columns == 0:
            continue
        rows = -(-count // columns)
        for captions in (True, False):
            if rows * (cell_rows(px) + (caption_rows if captions else 0)) <= height:
                return px, columns, rows, captions
    px = sizes[-1]  # nothing fits: the smallest size, as many rows as fit, captions if a row fits with them
    columns = min(count, (width + gap) // (px + gap))
    captions = height >= cell_rows(px) + caption_rows
    rows = height // (cell_rows(px) + (caption_rows if captions else 0))
    rows = min(rows, -(-count // columns)) if columns else 0
    return px, columns, rows, captions


def grid_text(
    images: Sequence[list[Text]],
    captions: Sequence[Text] | None,
    columns: int,
    cell_width: int,
    gap: int = 1,
) -> Text:
    """Lay rendered images (each a list of lines ``cell_width`` wide) out in rows of ``columns``."""
    out = Text(no_wrap=True, overflow="crop")
    spacer = " " * gap
    rows = [range(i, min(i + columns, len(images))) for i in range(0, len(images), max(1, columns))]
    first = True
    for row in rows:
        height = max(len(images[i]) for i in row)
        for line_no in range(height):
            if not first:
                out.append("\n")
            first = False
            for n, i in enumerate(row):
                if n:
                    out.append(spacer)
                lines = images[i]
                out.append_text(lines[line_no] if line_no < len(lines) else Text(" " * cell_width))
        if captions is not None:
            out.append("\n")
            for n, i in enumerate(row):
                if n:
                    out.append(spacer)
                caption = captions[i].copy()
                caption.truncate(cell_width, overflow="ellipsis")
                caption.align("center", cell_width)
                out.append_text(caption)
    return out


# Signed maps (attribution): a diverging colour scale ------------------------------------------------------
def downscale_values(values: Sequence[float], pixels: int, side: int = SIDE) -> list[list[float]]:
    """Area-average a ``side`` x ``side`` row-major grid of floats down to ``pixels`` x ``pixels``."""
    if len(values) != side * side:
        raise ValueError(f"expected {side * side} values, got {len(values)}")
    pixels = max(1, min(pixels, side))
    bounds = [(i * side // pixels, (i + 1) * side // pixels) for i in range(pixels)]
    out: list[list[float]] = []
    for r0, r1 in bounds:
        row = []
        for c0, c1 in bounds:
            total = sum(sum(values[r * side + c0 : r * side + c1]) for r in range(r0, r1))
            row.append(total / ((r1 - r0) * (c1 - c0)))
        out.append(row)
    return out


def signed_colour(value: float, background: RGB, positive: RGB, negative: RGB, threshold: float) -> RGB | None:
    """A value in -1..1 as a colour from ``negative`` through the background to ``positive`` (None: too faint)."""
    if abs(value) < threshold:
        return None
    return blend(background, positive if value > 0 else negative, round(min(1.0, abs(value)) * 255))


def signed_halfblock_lines(
    grid: Sequence[Sequence[float]], background: RGB, positive: RGB, negative: RGB, threshold: float = 0.05
) -> list[Text]:
    """Render a grid of -1..1 values as half blocks on a diverging scale; near-zero cells stay transparent."""
    lines: list[Text] = []
    for r in range(0, len(grid), 2):
        top_row = grid[r]
        bottom_row = grid[r + 1] if r + 1 < len(grid) else [0.0] * len(top_row)
        line = Text(no_wrap=True, overflow="crop")
        for top, bottom in zip(top_row, bottom_row):
            t = signed_colour(top, background, positive, negative, threshold)
            b = signed_colour(bottom, background, positive, negative, threshold)
            if t is None and b is None:
                line.append(" ")
            elif b is None:
                line.append(UPPER_HALF, _style(t, None))
            elif t is None:
                line.append(LOWER_HALF, _style(b, None))
            else:
                line.append(UPPER_HALF, _style(t, b))
        lines.append(line)
    return lines


def scale_legend(width: int, background: RGB, positive: RGB, negative: RGB) -> Text:
    """The colour scale as one line ``width`` cells wide: against, through nothing, to for."""
    line = Text(no_wrap=True, overflow="crop")
    inner = max(2, width - 4)
    line.append("− ")
    for i in range(inner):
        value = -1 + 2 * (i + 0.5) / inner
        colour = signed_colour(value, background, positive, negative, 0.0)
        line.append(" ", _style(None, colour))
    line.append(" +")
    return line


def normalise_signed(values: Sequence[float]) -> list[float]:
    """Scale values so the largest magnitude is 1 (all zeros stay zeros)."""
    peak = max((abs(v) for v in values), default=0.0)
    return [v / peak for v in values] if peak > 0 else [0.0 for _ in values]
