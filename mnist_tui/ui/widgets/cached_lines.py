"""A widget drawn line by line from cached strips: for images that change a few times a second and are
redrawn far more often (each redraw of a rich Text of a thousand coloured cells costs milliseconds)."""

from __future__ import annotations

from collections.abc import Hashable

from rich.segment import Segment
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget


class CachedLines(Widget):
    """Subclasses say what they show (``lines``) and what it depends on (``key``); strips are made once per key."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._strips: tuple[Hashable, list[Strip]] | None = None

    def key(self) -> Hashable:
        raise NotImplementedError

    def lines(self, width: int, height: int) -> list[Text]:
        raise NotImplementedError

    def render_line(self, y: int) -> Strip:
        width, height = self.content_region.size
        app = self.app
        key = (self.key(), width, height, self.background_colors[1].rgb, app.theme, app.console.color_system)
        if self._strips is None or self._strips[0] != key:
            console = self.app.console
            base = self.rich_style  # the panel's colours under what the lines set (a Line API widget's job)
            strips = []
            for line in self.lines(width, height):
                line.no_wrap, line.overflow = True, "crop"
                segments = list(line.render(console))
                strips.append(Strip(Segment.adjust_line_length(segments, width), width).apply_style(base))
            self._strips = (key, strips)
        strips = self._strips[1]
        return strips[y] if 0 <= y < len(strips) else Strip.blank(width, self.rich_style)
