"""Accuracy per true class and the most confused pairs, beside the confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from ..common import format as fmt


class ClassAccuracy(Widget):

    DEFAULT_CSS = """
    ClassAccuracy > .class-accuracy--title { color: $text-muted; text-style: bold; }
    ClassAccuracy > .class-accuracy--label { color: $text-muted; }
    ClassAccuracy > .class-accuracy--worst { color: $text-error; text-style: bold; }
    ClassAccuracy > .class-accuracy--perfect { color: $text-success; }
    ClassAccuracy > .class-accuracy--empty { color: $text-muted; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "class-accuracy--title",
        "class-accuracy--label",
        "class-accuracy--worst",
        "class-accuracy--perfect",
        "class-accuracy--empty",
    }

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.rows: tuple[tuple[int, int, float | None], ...] = ()  # (test images, right, accuracy) per class
        self.pairs: tuple[tuple[int, int, int], ...] = ()  # (true, predicted, count)
        self.class_names: tuple[str, ...] = ()

    def on_mount(self) -> None:
        self.border_title = "Per class"

    def set_figures(
        self,
        rows: Sequence[tuple[int, int, float | None]],
        pairs: Sequence[tuple[int, int, int]],
        class_names: Sequence[str] = (),
    ) -> None:
        self.rows, self.pairs, self.class_names = tuple(rows), tuple(pairs), tuple(class_names)
        self.refresh()

    def label(self, index: int) -> str:
        return fmt.class_label(self.class_names, index, width=2)

    def render(self) -> RenderResult:
        title = self.get_component_rich_style("class-accuracy--title", partial=True)
        label = self.get_component_rich_style("class-accuracy--label", partial=True)
        worst_style = self.get_component_rich_style("class-accuracy--worst", partial=True)
        perfect = self.get_component_rich_style("class-accuracy--perfect", partial=True)
        empty = self.get_component_rich_style("class-accuracy--empty", partial=True)
        out = Text(no_wrap=True, overflow="crop")
        if not self.rows:
            return Text("no evaluation yet", style=empty)
        out.append("accuracy  wrong", title)
        known = [acc for _, _, acc in self.rows if acc is not None]
        worst = min(known) if known else None
        for c, (count, right, acc) in enumerate(self.rows):
            out.append("\n")
            out.append(f"{self.label(c):>2} ", label)
            if acc is None:
                out.append("     N/A", empty)
                continue
            style = perfect if right == count else worst_style if acc == worst else None
            out.append(f"{acc:8.2%} {count - right:6,}", style or "")
        out.append("\n\n")
        out.append("most confused", title)
        if not self.pairs:
            out.append("\n")
            out.append("none: no mistakes", empty)
        for t, p, count in self.pairs:
            out.append("\n")
            out.append(f"{self.label(t):>2} → {self.label(p):<2}", label)
            out.append(f"{count:7,}")
        return out
