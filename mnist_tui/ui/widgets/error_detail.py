"""One misclassified digit, large: its labels, the model's confidence and its ten class probabilities, and,
once its screen has computed them, what the model looks at for the predicted and the true class."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from ...engine.events import Misclassified
from ..common import format as fmt
from ..common.pixels import SIDE, downscale, halfblock_lines, scale_legend
from .attribution_map import map_lines
from .ink import map_ink, panel_ink

BAR = 12  # cells of the longest probability bar
EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(value: float, width: int = BAR) -> str:
    """A 0..1 value as a bar of ``width`` cells, to an eighth of a cell."""
    eighths = round(max(0.0, min(1.0, value)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


def image_label(entry: Misclassified, split: str) -> str:
    """Which image the digit is, by its set: a validation digit is held out of the training set."""
    if split == "test":
        return f"test image {entry.index:,}"
    return f"{split} digit · training image {entry.index:,}"


class ErrorDetail(Widget):

    DEFAULT_CSS = """
    ErrorDetail > .error-detail--ink { color: $foreground; }
    ErrorDetail > .error-detail--label { color: $text-muted; }
    ErrorDetail > .error-detail--true { color: $text-success; text-style: bold; }
    ErrorDetail > .error-detail--predicted { color: $text-error; text-style: bold; }
    ErrorDetail > .error-detail--bar { color: $primary; }
    ErrorDetail > .error-detail--empty { color: $text-muted; }
    ErrorDetail > .error-detail--positive { color: #e07000; }
    ErrorDetail > .error-detail--negative { color: #2f7fe0; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "error-detail--ink",
        "error-detail--label",
        "error-detail--true",
        "error-detail--predicted",
        "error-detail--bar",
        "error-detail--empty",
        "error-detail--positive",
        "error-detail--negative",
    }

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.entry: Misclassified | None = None
        self.position = ""  # e.g. "3 of 87"
        self.class_names: tuple[str, ...] = ()
        self.empty_text = "no digit chosen"
        self.maps: tuple[tuple[int, tuple[float, ...]], ...] = ()  # (class, 784 attribution values)
        self.maps_note = ""  # whose weights the maps are of, or why there are none
        self.split = "test"  # which set the digit is from

    def on_mount(self) -> None:
        self.border_title = "Digit"

    def set_entry(
        self,
        entry: Misclassified | None,
        class_names: Sequence[str] = (),
        position: str = "",
        empty_text: str = "",
        split: str = "test",
    ) -> None:
        """Show ``entry`` of the ``split`` evaluation ("test" or "validation"; ``position`` says where it is
        in the list), or ``empty_text`` when there is none."""
        self.entry = entry
        self.split = split
        self.class_names = tuple(class_names)
        self.position = position
        if empty_text:
            self.empty_text = empty_text
        self.border_subtitle = position if entry is not None else ""
        self.maps = ()
        self.refresh()

    def set_maps(self, maps: Sequence[tuple[int, Sequence[float]]], note: str = "") -> None:
        """What the model looks at in the digit shown: one attribution map per class (predicted, true)."""
        self.maps = tuple((c, tuple(values)) for c, values in maps)
        self.maps_note = note
        self.refresh()

    def set_maps_note(self, note: str) -> None:
        self.maps_note = note
        self.refresh()

    def render(self) -> RenderResult:
        entry = self.entry
        if entry is None:
            return Text(self.empty_text, style=self.get_component_rich_style("error-detail--empty", partial=True))
        label = self.get_component_rich_style("error-detail--label", partial=True)
        true_style = self.get_component_rich_style("error-detail--true", partial=True)
        pred_style = self.get_component_rich_style("error-detail--predicted", partial=True)
        out = Text(no_wrap=True, overflow="crop")
        out.append("true ", label)
        out.append(fmt.class_label(self.class_names, entry.true, short=False), true_style)
        out.append("  predicted ", label)
        out.append(fmt.class_label(self.class_names, entry.predicted, short=False), pred_style)
        out.append(f"\nconfidence {entry.confidence:.1%} · loss {entry.loss:.3f} · {image_label(entry, self.split)}", label)

        width, height = self.content_region.size
        if self.maps:
            return self._render_with_maps(out, entry, width, height)
        px = SIDE if height - 2 >= SIDE // 2 and width >= SIDE + 2 + 10 else SIDE // 2
        background, ink = panel_ink(self, "error-detail--ink")
        grid = downscale(entry.image, px) if len(entry.image) == SIDE * SIDE else [[0] * px for _ in range(px)]
        digit = halfblock_lines(grid, background, ink)
        bars = self._bars(entry)
        top = max(0, (len(digit) - len(bars)) // 2)  # the bars sit level with the digit's middle
        for row in range(max(len(digit), top + len(bars))):
            out.append("\n")
            out.append_text(digit[row] if row < len(digit) else Text(" " * px))
            if top <= row < top + len(bars):
                out.append("  ")
                out.append_text(bars[row - top])
        if self.maps_note:
            out.append(f"\n{self.maps_note}", label)
        return out

    def _render_with_maps(self, out: Text, entry: Misclassified, width: int, height: int) -> Text:
        """The digit and its maps side by side (28 or 14 pixels), a caption under each, the scale, the bars."""
        label = self.get_component_rich_style("error-detail--label", partial=True)
        gap = 2
        px = SIDE if width >= 3 * SIDE + 2 * gap and height >= 2 + SIDE // 2 + 2 + 10 else SIDE // 2
        background, ink = panel_ink(self, "error-detail--ink")
        _, positive, negative = map_ink(self, "error-detail")
        grid = downscale(entry.image, px) if len(entry.image) == SIDE * SIDE else [[0] * px for _ in range(px)]
        columns = [halfblock_lines(grid, background, ink)]
        captions = ["the digit"]
        for c, values in self.maps:
            columns.append(map_lines(values, px, background, positive, negative))
            which = "predicted" if c == entry.predicted else "true" if c == entry.true else "class"
            captions.append(f"for {which} {fmt.class_label(self.class_names, c)}")
        for row in range(len(columns[0])):
            out.append("\n")
            for n, lines in enumerate(columns):
                if n:
                    out.append(" " * gap)
                out.append_text(lines[row])
        out.append("\n")
        for n, caption in enumerate(captions):
            out.append((" " * gap if n else "") + caption[:px].ljust(px), label)
        out.append("\n")
        out.append_text(Text(" " * (px + gap)))
        out.append_text(scale_legend(px, background, positive, negative))
        if self.maps_note:
            out.append(f" {self.maps_note}", label)
        for line in self._bars(entry):
            out.append("\n")
            out.append_text(line)
        return out

    def _bars(self, entry: Misclassified) -> list[Text]:
        label = self.get_component_rich_style("error-detail--label", partial=True)
        true_style = self.get_component_rich_style("error-detail--true", partial=True)
        pred_style = self.get_component_rich_style("error-detail--predicted", partial=True)
        bar_style = self.get_component_rich_style("error-detail--bar", partial=True)
        bars: list[Text] = []
        for c, p in enumerate(entry.probabilities):
            style = true_style if c == entry.true else pred_style if c == entry.predicted else bar_style
            text_style = style if c in (entry.true, entry.predicted) else label
            line = Text(no_wrap=True, overflow="crop")
            line.append(f"{fmt.class_label(self.class_names, c)[:2]:>2} ", text_style)
            line.append(bar(p), style)
            line.append(f" {p:6.1%}", text_style)
            bars.append(line)
        return bars
