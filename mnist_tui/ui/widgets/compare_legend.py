"""The compare charts' legend: each run's colour and name, wrapping onto more lines when there are many."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static


class CompareLegend(Static):
    def show(self, entries: Sequence[tuple[str, str, bool, bool]], set_name: str) -> None:
        """(label, colour as a rich style, live, has points of the set shown) per run, in the charts' order: a
        live run is marked ▶, one without points of ``set_name`` says so (a preset without a validation set)."""
        text = Text(no_wrap=False)
        for n, (label, colour, live, shown) in enumerate(entries):
            if n:
                text.append("   ")
            text.append("━━ ", style=f"bold {colour}")
            text.append(label + (" ▶" if live else ""), style="" if shown else "dim")
            if not shown:
                text.append(f" (no {set_name})", style="dim")
        self.update(text)
