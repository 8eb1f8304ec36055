"""One misclassified digit, large: its labels, the model's confidence and its ten class probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from ...engine.events import Misclassified
from .. import format as fmt
from ..pixels import RGB, SIDE, downscale, halfblock_lines

BAR = 12  # cells of the longest probability bar
EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(value: float, width: int = BAR) -> str:
    """A 0..1 value as a bar of ``width`` cells, to an eighth of a cell."""
    eighths = round(max(0.0, min(1.0, value)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


class ErrorDetail(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "error-detail--ink",
        "error-detail--label",
        "error-detail--true",
        "error-detail--predicted",
        "error-detail--bar",
        "error-detail--empty",
    }

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.entry: Misclassified | None = None
        self.position = ""  # e.g. "3 of 87"
        self.class_names: tuple[str, ...] = ()
        self.empty_text = "no digit chosen"

    def on_mount(self) -> None:
        self.border_title = "Digit"

    def set_entry(
        self, entry: Misclassified | None, class_names: Sequence[str] = (), position: str = "", empty_text: str = ""
    ) -> None:
        """Show ``entry`` (``position`` says where it is in the list), or ``empty_text`` when there is none."""
        self.entry = entry
        self.class_names = tuple(class_names)
        self.position = position
        if empty_text:
            self.empty_text = empty_text
        self.border_subtitle = position if entry is not None else ""
        self.refresh()

    def render(self) -> RenderResult:
        entry = self.entry
        if entry is None:
            return Text(self.empty_text, style=self.get_component_rich_style("error-detail--empty", partial=True))
        label = self.get_component_rich_style("error-detail--label", partial=True)
        true_style = self.get_component_rich_style("error-detail--true", partial=True)
        pred_style = self.get_component_rich_style("error-detail--predicted", partial=True)
        bar_style = self.get_component_rich_style("error-detail--bar", partial=True)
        out = Text(no_wrap=True, overflow="crop")
        out.append("true ", label)
        out.append(fmt.class_label(self.class_names, entry.true, short=False), true_style)
        out.append("  predicted ", label)
        out.append(fmt.class_label(self.class_names, entry.predicted, short=False), pred_style)
        out.append(f"\nconfidence {entry.confidence:.1%} · loss {entry.loss:.3f} · test image {entry.index:,}", label)

        width, height = self.content_region.size
        px = SIDE if height - 2 >= SIDE // 2 and width >= SIDE + 2 + 10 else SIDE // 2
        background, ink = self._colours()
        grid = downscale(entry.image, px) if len(entry.image) == SIDE * SIDE else [[0] * px for _ in range(px)]
        digit = halfblock_lines(grid, background, ink)
        bars: list[Text] = []
        for c, p in enumerate(entry.probabilities):
            style = true_style if c == entry.true else pred_style if c == entry.predicted else bar_style
            text_style = style if c in (entry.true, entry.predicted) else label
            line = Text(no_wrap=True, overflow="crop")
            line.append(f"{fmt.class_label(self.class_names, c)[:2]:>2} ", text_style)
            line.append(bar(p), style)
            line.append(f" {p:6.1%}", text_style)
            bars.append(line)
        top = max(0, (len(digit) - len(bars)) // 2)  # the bars sit level with the digit's middle
        for row in range(max(len(digit), top + len(bars))):
            out.append("\n")
            out.append_text(digit[row] if row < len(digit) else Text(" " * px))
            if top <= row < top + len(bars):
                out.append("  ")
                out.append_text(bars[row - top])
        return out

    def _colours(self) -> tuple[RGB, RGB]:
        _, background = self.background_colors
        style = self.get_component_rich_style("error-detail--ink", partial=True)
        ink = style.color.get_truecolor() if style.color is not None else None
        return background.rgb, (ink.red, ink.green, ink.blue) if ink else (255, 255, 255)
