"""A 28x28 drawing canvas: each pixel two cells wide and one high (about square), painted with a soft brush.

Mouse: press and drag the left button to draw (each move draws a line from the last point, so a fast stroke
has no gaps), the right button to erase. Keyboard: the arrows move a cursor, shift+arrows move it drawing,
space paints a dab where it is, x erases one, c clears the canvas. The brush is soft, like a pen on paper:
a dab inks its pixel fully and its neighbours less by their distance, and ink builds up where strokes
cross. Every change posts ``Canvas.Changed`` with the 28x28 intensities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from ..common.pixels import RGB, SHADES, blend, lifted, shade_level
from .ink import panel_ink

SIDE = 28
CELL = 2  # terminal columns per pixel (a cell is about twice as high as it is wide)
RADIUS = 1.6  # the brush reaches this far (in pixels)
# The brush: (row offset, column offset, strength), strength falling off with the distance from the centre.
BRUSH = tuple(
    (dr, dc, round(1 - (math.hypot(dr, dc) / RADIUS) ** 2, 3))
    for dr in range(-1, 2)
    for dc in range(-1, 2)
    if math.hypot(dr, dc) < RADIUS
)


class Canvas(Widget, can_focus=True):

    DEFAULT_CSS = """
    Canvas > .canvas--ink { color: $foreground; }
    Canvas > .canvas--cursor { color: $warning; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"canvas--ink", "canvas--cursor"}
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("up", "move(-1, 0)", "Up", show=False),
        Binding("down", "move(1, 0)", "Down", show=False),
        Binding("left", "move(0, -1)", "Left", show=False),
        Binding("right", "move(0, 1)", "Right", show=False),
        Binding("shift+up", "move(-1, 0, True)", "Draw up", show=False),
        Binding("shift+down", "move(1, 0, True)", "Draw down", show=False),
        Binding("shift+left", "move(0, -1, True)", "Draw left", show=False),
        Binding("shift+right", "move(0, 1, True)", "Draw right", show=False),
        Binding("space", "paint", "Paint", tooltip="Paint where the cursor is (shift+arrows draw as they move)"),
        Binding("x", "erase", "Erase", tooltip="Erase where the cursor is"),
        Binding("c", "clear", "Clear", tooltip="Clear the canvas"),
    ]

    @dataclass
    class Changed(Message):
        """The drawing changed: its 28x28 intensities, 0..255, row-major."""

        canvas: "Canvas"
        pixels: bytes

        @property
        def control(self) -> "Canvas":
            return self.canvas

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.values = [0.0] * (SIDE * SIDE)  # 0..1 ink per pixel
        self.cursor = (SIDE // 2, SIDE // 2)  # (row, column)
        self._last: tuple[int, int] | None = None  # where the mouse drew last in this stroke
        self._button = 0  # the mouse button of the stroke: 1 draws, 3 erases
        self._rows: dict[int, tuple[tuple, Strip]] = {}  # each row's last strip, by what it showed
        self._styles: dict[tuple, Style] = {}

    # The drawing ------------------------------------------------------------------------------------------
    @property
    def pixels(self) -> bytes:
        return bytes(min(255, round(v * 255)) for v in self.values)

    @property
    def blank(self) -> bool:
        return not any(self.values)

    def dab(self, row: int, col: int, erase: bool = False) -> None:
        """One touch of the brush at (row, col): ink builds up towards 1 (or is taken away)."""
        for dr, dc, strength in BRUSH:
            r, c = row + dr, col + dc
            if 0 <= r < SIDE and 0 <= c < SIDE:
                i = r * SIDE + c
                v = self.values[i]
                self.values[i] = v * (1 - strength) if erase else 1 - (1 - v) * (1 - strength)

    def line(self, start: tuple[int, int], end: tuple[int, int], erase: bool = False) -> None:
        """Dabs along the straight line from ``start`` to ``end`` (both included), one per pixel."""
        (r0, c0), (r1, c1) = start, end
        steps = max(abs(r1 - r0), abs(c1 - c0))
        for k in range(1, steps + 1) if steps else ():
            self.dab(round(r0 + (r1 - r0) * k / steps), round(c0 + (c1 - c0) * k / steps), erase)
        if not steps:
            self.dab(r1, c1, erase)

    def clear(self) -> None:
        self.values = [0.0] * (SIDE * SIDE)
        self._changed()

    def _changed(self) -> None:
        self.refresh()
        self.post_message(self.Changed(self, self.pixels))

    # Keyboard -------------------------------------------------------------------------------------------
    def action_move(self, dr: int, dc: int, draw: bool = False) -> None:
        row, col = self.cursor
        new = (min(SIDE - 1, max(0, row + dr)), min(SIDE - 1, max(0, col + dc)))
        if draw:
            self.line(self.cursor, new)
            if new == self.cursor:
                self.dab(*new)
        self.cursor = new
        if draw:
            self._changed()
        else:
            self.refresh()

    def action_paint(self) -> None:
        self.dab(*self.cursor)
        self._changed()

    def action_erase(self) -> None:
        self.dab(*self.cursor, erase=True)
        self._changed()

    def action_clear(self) -> None:
        self.clear()

    # Mouse ------------------------------------------------------------------------------------------------
    def _pixel_at(self, event: events.MouseEvent) -> tuple[int, int] | None:
        offset = event.get_content_offset(self)
        if offset is None:
            return None
        row, col = offset.y, offset.x // CELL
        return (row, col) if 0 <= row < SIDE and 0 <= col < SIDE else None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        where = self._pixel_at(event)
        if where is None or event.button not in (1, 3):
            return
        self.focus()
        self.capture_mouse()
        self._button = event.button
        self._last = where
        self.cursor = where
        self.dab(*where, erase=event.button == 3)
        self._changed()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._last is None:
            return
        offset = event.get_content_offset_capture(self)
        row = min(SIDE - 1, max(0, offset.y))
        col = min(SIDE - 1, max(0, offset.x // CELL))
        if (row, col) == self._last:
            return
        self.line(self._last, (row, col), erase=self._button == 3)
        self._last = self.cursor = (row, col)
        self._changed()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._last is not None:
            self._last = None
            self.release_mouse()

    # Drawing on screen ------------------------------------------------------------------------------------
    def get_content_width(self, container, viewport) -> int:  # noqa: ANN001 - Textual's signature
        return SIDE * CELL

    def get_content_height(self, container, viewport, width: int) -> int:  # noqa: ANN001
        return SIDE

    def render_line(self, y: int) -> Strip:
        """One row of pixels (the Line API: a row of a few spans, no markup to parse, a few ms a frame)."""
        if not 0 <= y < SIDE:
            return Strip.blank(self.size.width, self.rich_style)
        background, ink = panel_ink(self, "canvas--ink")
        cursor = self.cursor[1] if self.has_focus and self.cursor[0] == y else -1
        levels = tuple(round(v * 32) for v in self.values[y * SIDE : (y + 1) * SIDE])
        key = (levels, cursor, background, ink, self.app.theme)
        strip = self._rows.get(y)
        if strip is not None and strip[0] == key:
            return strip[1]
        cursor_style = self.get_component_rich_style("canvas--cursor", partial=True)
        segments: list[Segment] = []
        c = 0
        while c < SIDE:
            if c == cursor:
                segments.append(Segment("▐▌", self._shade(levels[c], background, ink) + cursor_style))
                c += 1
                continue
            end = c
            while end < SIDE and levels[end] == levels[c] and end != cursor:
                end += 1
            segments.append(Segment(self._cells(levels[c], background, ink) * (end - c), self._shade(levels[c], background, ink)))
            c = end
        made = Strip(segments, SIDE * CELL).apply_style(self.rich_style)  # the panel's colours beneath
        self._rows[y] = (key, made)
        return made

    @staticmethod
    def _cells(level: int, base: RGB | None, ink: RGB | None) -> str:
        """One pixel's cells: blank where its colour is blended (``_shade``), else its shade by character."""
        if base is None or ink is None:
            return SHADES[shade_level(level * 255 / 32, 12)] * CELL
        return " " * CELL

    def _shade(self, level: int, base: RGB | None, ink: RGB | None) -> Style:
        """One pixel's style: its level blended from the background to the ink, or the terminal's own ink."""
        if base is None or ink is None:
            return Style()
        key = (level, base, ink)
        style = self._styles.get(key)
        if style is None:
            colour = blend(base, ink, lifted(round(level * 255 / 32))) if level else base
            style = self._styles[key] = Style.from_color(bgcolor=_rich(colour))
        return style


def _rich(rgb: RGB):
    from rich.color import Color

    return Color.from_rgb(*rgb)
