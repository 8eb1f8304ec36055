"""What the run said: data source lines, warnings, checkpoints, the error that ended it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.widgets import RichLog


class RunLog(RichLog, can_focus=False):

    DEFAULT_CSS = """
    RunLog > .run-log--info { color: $text; }
    RunLog > .run-log--warning { color: $text-warning; }
    RunLog > .run-log--error { color: $text-error; text-style: bold; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"run-log--info", "run-log--warning", "run-log--error"}

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(max_lines=500, wrap=True, markup=False, highlight=False, name=name, id=id, classes=classes)
        self.lines_added: list[str] = []  # plain text of what was written, for tests and the help screen

    def on_mount(self) -> None:
        self.border_title = "Log"
        # Anchored, it keeps its last line in view when its size changes too: the log that appears under the
        # charts after a failure shows the error, however the lines written while it was hidden were laid out.
        self.anchor()

    def add(self, message: str, level: str = "info") -> None:
        component = {"warning": "run-log--warning", "error": "run-log--error"}.get(level, "run-log--info")
        self.lines_added.append(message)
        del self.lines_added[:-500]
        self.write(Text(message, self.get_component_rich_style(component)))
