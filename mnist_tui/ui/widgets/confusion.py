"""The confusion matrix: counts by true label (rows) and predicted label (columns), shaded by intensity.

Right answers (the diagonal) are shaded by the class's accuracy, mistakes by their count against the largest
mistake. A cursor cell moves with the arrows (or h/j/k/l); enter or a click chooses it and posts
``ConfusionMatrix.CellChosen``, which the screen turns into a filter of the misclassified digits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import RenderResult
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

from ..common import format as fmt
from ..common.pixels import RGB, blend

CELL = 5  # characters a cell takes: up to 4 digits and a space
LABEL = 3  # the row-label column


def _rgb(style: Style, fallback: RGB) -> RGB:
    color = style.color.get_truecolor() if style.color is not None else None
    return (color.red, color.green, color.blue) if color else fallback


def _readable(background: RGB) -> Color:
    """Black or white text, whichever reads on ``background``."""
    r, g, b = background
    return Color.from_rgb(0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else Color.from_rgb(255, 255, 255)


class ConfusionMatrix(Widget, can_focus=True):

    DEFAULT_CSS = """
    ConfusionMatrix > .confusion--header { color: $text-muted; }
    ConfusionMatrix > .confusion--right { color: $success; }
    ConfusionMatrix > .confusion--wrong { color: $error; }
    ConfusionMatrix > .confusion--zero { color: $text-muted; }
    ConfusionMatrix > .confusion--cursor { text-style: reverse bold; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "confusion--header",
        "confusion--right",
        "confusion--wrong",
        "confusion--zero",
        "confusion--cursor",
    }
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("up,k", "move(-1, 0)", "Up", show=False),
        Binding("down,j", "move(1, 0)", "Down", show=False),
        Binding("left,h", "move(0, -1)", "Left", show=False),
        Binding("right,l", "move(0, 1)", "Right", show=False),
        Binding("enter", "choose", "Filter", tooltip="Show the digits of this cell"),
    ]

    @dataclass
    class CellChosen(Message):
        """The user chose the cell (true row, predicted column)."""

        matrix: ConfusionMatrix
        true: int
        predicted: int

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.confusion: tuple[tuple[int, ...], ...] = ()
        self.class_names: tuple[str, ...] = ()
        self.cursor: tuple[int, int] = (0, 0)

    def on_mount(self) -> None:
        self.border_title = "Confusion: rows true, columns predicted"

    # What the screen sets -----------------------------------------------------------------------------
    def set_confusion(self, confusion: Sequence[Sequence[int]], class_names: Sequence[str] = ()) -> None:
        """A new matrix; the cursor goes to the most frequent mistake (or stays, if asked to keep it)."""
        first = not self.confusion
        self.confusion = tuple(tuple(row) for row in confusion)
        self.class_names = tuple(class_names)
        n = len(self.confusion)
        if first or not (self.cursor[0] < n and self.cursor[1] < n):
            self.cursor = self.worst_cell()
        self._update_subtitle()
        self.refresh()

    def worst_cell(self) -> tuple[int, int]:
        """The off-diagonal cell with the largest count ((0, 0) with none)."""
        best, cell = 0, (0, 0)
        for t, row in enumerate(self.confusion):
            for p, count in enumerate(row):
                if t != p and count > best:
                    best, cell = count, (t, p)
        return cell

    def label(self, index: int) -> str:
        return fmt.class_label(self.class_names, index, width=2)

    # Keys and mouse ----------------------------------------------------------------------------------------
    def action_move(self, rows: int, columns: int) -> None:
        n = len(self.confusion)
        if not n:
            return
        t, p = self.cursor
        self.cursor = (min(max(t + rows, 0), n - 1), min(max(p + columns, 0), n - 1))
        self._update_subtitle()
        self.refresh()

    def action_choose(self) -> None:
        if self.confusion:
            self.post_message(self.CellChosen(self, *self.cursor))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self.confusion:
            return
        row, column = offset.y - 1, (offset.x - LABEL) // CELL
        n = len(self.confusion)
        if 0 <= row < n and 0 <= column < n and offset.x >= LABEL:
            self.cursor = (row, column)
            self._update_subtitle()
            self.refresh()
            self.action_choose()

    def _update_subtitle(self) -> None:
        if not self.confusion:
            self.border_subtitle = ""
            return
        t, p = self.cursor
        count = self.confusion[t][p]
        what = "right" if t == p else "wrong"
        self.border_subtitle = f"true {self.label(t)} → predicted {self.label(p)}: {count:,} {what}"

    # Drawing -------------------------------------------------------------------------------------------
    def render(self) -> RenderResult:
        if not self.confusion:
            return Text("no evaluation yet", style=self.get_component_rich_style("confusion--zero", partial=True))
        _, background = self.background_colors
        base = background.rgb
        right = _rgb(self.get_component_rich_style("confusion--right", partial=True), (80, 200, 120))
        wrong = _rgb(self.get_component_rich_style("confusion--wrong", partial=True), (220, 70, 70))
        header = self.get_component_rich_style("confusion--header", partial=True)
        zero = self.get_component_rich_style("confusion--zero", partial=True)
        cursor = self.get_component_rich_style("confusion--cursor", partial=True)
        n = len(self.confusion)
        worst = max((c for t, row in enumerate(self.confusion) for p, c in enumerate(row) if t != p), default=0)
        out = Text(no_wrap=True, overflow="crop")
        out.append(" " * LABEL + "".join(self.label(p).rjust(CELL - 1) + " " for p in range(n)), header)
        for t, row in enumerate(self.confusion):
            out.append("\n")
            out.append(self.label(t).rjust(LABEL - 1) + " ", header)
            total = sum(row)
            for p, count in enumerate(row):
                text = (str(count) if count < 10_000 else f"{count // 1000}k").rjust(CELL - 1) + " "
                if t == p:
                    level = count / total if total else 0.0
                    colour = blend(base, right, round(255 * level))
                elif count:
                    level = math.sqrt(count / worst) if worst else 0.0  # small counts stay visible
                    colour = blend(base, wrong, round(255 * (0.25 + 0.75 * level)))
                else:
                    colour = None
                style = (
                    Style(bgcolor=Color.from_rgb(*colour), color=_readable(colour)) if colour is not None else zero
                )
                if (t, p) == self.cursor:
                    style = style + cursor if self.has_focus else style + Style(underline=True, bold=True)
                out.append(text if count or t == p else "·".rjust(CELL - 1) + " ", style)
        return out

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
