"""The model's ten class probabilities as bars, the top guess highlighted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from ..common import format as fmt
from .error_detail import bar

WIDTH = 16  # cells of a bar at 100%


class ProbabilityBars(Widget):

    DEFAULT_CSS = """
    ProbabilityBars > .probability-bars--label { color: $text-muted; }
    ProbabilityBars > .probability-bars--bar { color: $primary; }
    ProbabilityBars > .probability-bars--top { color: $text-success; text-style: bold; }
    ProbabilityBars > .probability-bars--empty { color: $text-muted; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "probability-bars--label",
        "probability-bars--bar",
        "probability-bars--top",
        "probability-bars--empty",
    }

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.probabilities: tuple[float, ...] = ()
        self.class_names: tuple[str, ...] = ()
        self.empty_text = "draw a digit"

    def on_mount(self) -> None:
        self.border_title = "Prediction"

    def set_probabilities(self, probabilities: Sequence[float], class_names: Sequence[str] = ()) -> None:
        self.probabilities = tuple(probabilities)
        if class_names:
            self.class_names = tuple(class_names)
        self.border_subtitle = f"{self.top_label} {max(self.probabilities):.1%}" if self.probabilities else ""
        self.refresh()

    def set_empty(self, text: str) -> None:
        self.probabilities = ()
        self.empty_text = text
        self.border_subtitle = ""
        self.refresh()

    @property
    def top(self) -> int | None:
        p = self.probabilities
        return max(range(len(p)), key=p.__getitem__) if p else None

    @property
    def top_label(self) -> str:
        top = self.top
        return "" if top is None else fmt.class_label(self.class_names, top, short=False)

    def render(self) -> RenderResult:
        if not self.probabilities:
            return Text(self.empty_text, style=self.get_component_rich_style("probability-bars--empty", partial=True))
        label = self.get_component_rich_style("probability-bars--label", partial=True)
        bar_style = self.get_component_rich_style("probability-bars--bar", partial=True)
        top_style = self.get_component_rich_style("probability-bars--top", partial=True)
        top = self.top
        out = Text(no_wrap=True, overflow="crop")
        for c, p in enumerate(self.probabilities):
            if c:
                out.append("\n")
            style = top_style if c == top else bar_style
            out.append(f"{fmt.class_label(self.class_names, c)[:2]:>2} ", top_style if c == top else label)
            out.append(bar(p, WIDTH), style)
            out.append(f" {p:6.1%}", top_style if c == top else label)
        return out
