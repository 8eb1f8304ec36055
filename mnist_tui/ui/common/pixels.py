"""Grey-level images as terminal cells (pure display helpers, no tensors).

A cell shows two pixels stacked with the upper half block ``▀``: the foreground colour is the top pixel,
the background colour the bottom one. A 28x28 digit therefore takes 28 columns by 14 rows at full size;
``downscale`` averages it to fewer pixels when space is short (14x14 -> 14x7 cells, 7x7 -> 7x4 cells).
Intensities are blended from the panel's background colour (0) to the ink colour (255), so the digit sits
on the panel instead of on a black square.

That needs both colours as true colours. Under the ANSI themes (the terminal's own colours, which only the
terminal knows: the background may be black, white or anything) and with ``NO_COLOR`` there is nothing to blend:
a colour picked there can be the background itself. So when ``background`` or ``ink`` is None, a digit is
drawn in the terminal's default foreground, which contrasts with its default background by construction, and
its grey levels become shades of characters (``░▒▓█``) while the half blocks keep its outline.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache

from rich.color import Color
from rich.style import Style
from rich.text import Text

RGB = tuple[int, int, int]
UPPER_HALF = "\u2580"  # ▀
LOWER_HALF = "\u2584"  # ▄
FLOOR = 64  # the least ink a drawn pixel gets (of 255): on 256 colours fainter blends round to the panel
SHADES = " ░▒▓█"  # grey levels by character, for the terminal's own colours (level 0 is blank)
NEGATIVE_SHADES = " ·:=#"  # a signed map's other side, told apart without colour
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
    """The colour ``value`` (0..255) of the way from ``background`` to ``ink``."""
    t = value / 255.0
    return (
        round(background[0] + (ink[0] - background[0]) * t),
        round(background[1] + (ink[1] - background[1]) * t),
        round(background[2] + (ink[2] - background[2]) * t),
    )


def lifted(value: int) -> int:
    """A drawn pixel's ink, at least ``FLOOR``: faint strokes stay visible on every colour system."""
    return FLOOR + (value * (255 - FLOOR)) // 255


@lru_cache(maxsize=4096)
def _style(top: RGB | None, bottom: RGB | None) -> Style:
    return Style(
        color=Color.from_rgb(*top) if top else None,
        bgcolor=Color.from_rgb(*bottom) if bottom else None,
    )


def row_pairs(grid: Sequence[Sequence[float]]) -> Iterator[tuple[Sequence[float], Sequence[float]]]:
    """The grid's rows two at a time, as one line of cells shows them (a blank row under an odd last one)."""
    for r in range(0, len(grid), 2):
        yield grid[r], grid[r + 1] if r + 1 < len(grid) else [0] * len(grid[r])


def shade_level(value: float, threshold: float, top: float = 255) -> int:
    """A value (0..``top``) as a level of ``SHADES``: 0 below ``threshold``, else 1..4."""
    if value < threshold:
        return 0
    return 1 + min(3, int(4 * value / (top + 1e-9)))


def shaded_cell(top: int, bottom: int) -> str:
    """One cell of two stacked pixels given as shade levels (0..4), for the terminal's own ink.

    Both lit: the shade of their mean. One lit: its half block where it is strong, its shade where it is faint.
    """
    if top and bottom:
        return SHADES[(top + bottom + 1) // 2]
    level = top or bottom
    if not level:
        return " "
    if level >= 3:
        return UPPER_HALF if top else LOWER_HALF
    return SHADES[level]


def shaded_lines(grid: Sequence[Sequence[int]], threshold: int = 12) -> list[Text]:
    """Render a grid of 0..255 values in the panel's own ink, grey levels as characters: see the module."""
    lines: list[Text] = []
    for top_row, bottom_row in row_pairs(grid):
        cells = "".join(
            shaded_cell(shade_level(t, threshold), shade_level(b, threshold)) for t, b in zip(top_row, bottom_row)
        )
        lines.append(Text(cells, no_wrap=True, overflow="crop"))
    return lines


def halfblock_lines(
    grid: Sequence[Sequence[int]], background: RGB | None, ink: RGB | None, threshold: int = 12
) -> list[Text]:
    """Render a grid of 0..255 values as ``ceil(rows / 2)`` lines of ``cols`` cells each.

    Values below ``threshold`` are left transparent (a plain space on the panel's own background). With no
    ``background`` or ``ink`` (colours only the terminal knows), the digit is shaded in its default ink.
    """
    if background is None or ink is None:
        return shaded_lines(grid, threshold)
    lines: list[Text] = []
    for top_row, bottom_row in row_pairs(grid):
        line = Text(no_wrap=True, overflow="crop")
        for top, bottom in zip(top_row, bottom_row):
            top_on, bottom_on = top >= threshold, bottom >= threshold
            if not top_on and not bottom_on:
                line.append(" ")
            elif top_on and not bottom_on:
                line.append(UPPER_HALF, _style(blend(background, ink, lifted(top)), None))
            elif bottom_on and not top_on:
                line.append(LOWER_HALF, _style(blend(background, ink, lifted(bottom)), None))
            else:
                line.append(UPPER_HALF, _style(blend(background, ink, lifted(top)), blend(background, ink, lifted(bottom))))
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


def _signed_shaded_lines(
    grid: Sequence[Sequence[float]], positive: RGB | None, negative: RGB | None, threshold: float
) -> list[Text]:
    """A signed map in the terminal's own colours: each side's strength as shades, the positive side in
    ``SHADES`` and the negative in ``NEGATIVE_SHADES`` (so they differ without colour), coloured when given."""
    pos_style = _style(positive, None) if positive else Style()
    neg_style = _style(negative, None) if negative else Style()
    lines: list[Text] = []
    for top_row, bottom_row in row_pairs(grid):
        line = Text(no_wrap=True, overflow="crop")
        for top, bottom in zip(top_row, bottom_row):
            value = top if abs(top) >= abs(bottom) else bottom  # the stronger of the two speaks for the cell
            level = shade_level(abs(value), threshold, top=1.0)
            if not level:
                line.append(" ")
            elif value > 0:
                line.append(SHADES[level], pos_style)
            else:
                line.append(NEGATIVE_SHADES[level], neg_style)
        lines.append(line)
    return lines


def signed_halfblock_lines(
    grid: Sequence[Sequence[float]],
    background: RGB | None,
    positive: RGB | None,
    negative: RGB | None,
    threshold: float = 0.05,
) -> list[Text]:
    """Render a grid of -1..1 values as half blocks on a diverging scale; near-zero cells stay transparent.
    With no ``background`` (colours only the terminal knows), the two sides are shades of two characters sets."""
    if background is None or positive is None or negative is None:
        return _signed_shaded_lines(grid, positive, negative, threshold)
    lines: list[Text] = []
    for top_row, bottom_row in row_pairs(grid):
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


def scale_legend(width: int, background: RGB | None, positive: RGB | None, negative: RGB | None) -> Text:
    """The colour scale as one line ``width`` cells wide: against, through nothing, to for."""
    line = Text(no_wrap=True, overflow="crop")
    inner = max(2, width - 4)
    if background is None or positive is None or negative is None:
        values = [-1 + 2 * (i + 0.5) / inner for i in range(inner)]
        line.append("− ")
        line.append_text(_signed_shaded_lines([values], positive, negative, 0.05)[0])
        line.append(" +")
        return line
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
