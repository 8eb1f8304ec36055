"""The compare charts' legend: each run's colour and name, wrapping onto more lines when there are many."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static


class CompareLegend(Static):
    def show(self, entries: Sequence[tuple[str, str, bool]]) -> None:
        """(label, colour as a rich style, live) per run, in the charts' order; a live run is marked ▶."""
        text = Text(no_wrap=False)
        for n, (label, colour, live) in enumerate(entries):
            if n:
                text.append("   ")
            text.append("━━ ", style=f"bold {colour}")
            text.append(label + (" ▶" if live else ""))
        self.update(text)
