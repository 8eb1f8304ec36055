"""``mnist-tui runs`` in the terminal: the list of runs as a screen, from which one attaches, inspects, or marks
runs and compares them (the comparison opens over the list; leaving it comes back here)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Label

from ...runs.catalogue import RIGHT, RunInfo, fit_table, list_runs, where
from ..screens.compare import CompareScreen
from .base import StandaloneApp

MARK = "●"
SCROLLBAR = 2  # the cells the table's vertical scroll bar takes, kept free for it


class RunsApp(StandaloneApp[tuple[str, str] | None]):
    """Exits with ("attach" | "inspect", run directory), or None."""

    TITLE = "mnist-tui runs"
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("enter", "attach", "Attach", tooltip="Open the live screen on this run (its history if it ended)"),
        Binding("i", "inspect", "Inspect", tooltip="Browse what this run's best weights get wrong"),
        Binding("space", "mark", "Mark", tooltip="Mark this run to compare (or unmark it)"),
        Binding("c", "compare", "Compare", tooltip="Compare the marked runs (or this one)"),
        Binding("r", "refresh", "Refresh"),
        Binding("q,escape", "quit", "Quit"),
    ]

    def __init__(self, roots: list[str] | None = None, refresh_seconds: float = 2.0) -> None:
        super().__init__()
        self.roots = roots
        self.refresh_seconds = refresh_seconds
        self.runs: list[RunInfo] = []
        self.marked: set[str] = set()  # run directories marked to compare

    def compose(self) -> ComposeResult:
        yield Label("", id="runs-title")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.table = self.query_one("#runs-table", DataTable)  # held: a comparison screen has a table of its own
        self.action_refresh()
        self.set_interval(self.refresh_seconds, self.action_refresh)

    def action_refresh(self) -> None:
        if self.screen is not self.screen_stack[0]:
            return  # a comparison is open over the list
        selected = self.selected
        self.runs = list_runs(self.roots)
        self.marked &= {str(r.path) for r in self.runs}
        self._fill(str(selected.path) if selected is not None else None)
        active = sum(r.active for r in self.runs)
        looked_in = where(self.roots)
        title = (
            f"{len(self.runs)} run{'s' if len(self.runs) != 1 else ''} in {looked_in}, {active} active"
            " · enter attaches · i inspects · space marks, c compares"
            if self.runs
            else f"No runs in {looked_in} yet: start one with 'mnist-tui' or 'mnist-tui --detach'"
        )
        self.query_one("#runs-title", Label).update(Text(title))  # not markup: a directory may hold brackets

    def on_resize(self, event: events.Resize) -> None:
        """The directories are shortened to the width: a new width lays the rows out again."""
        if hasattr(self, "table"):
            selected = self.selected
            self._fill(str(selected.path) if selected is not None else None)

    def _fill(self, cursor_on: str | None) -> None:
        """The rows of ``self.runs`` fitted to the screen's width (catalogue.fit_table: each directory shortened in
        the middle, columns left out where it would not fit), a marked run's label showing the mark; the cursor
        back on ``cursor_on``."""
        table = self.table
        table.clear(columns=True)
        table.show_row_labels = bool(self.marked)
        labels = 1 + 2 * table.cell_padding if self.marked else 0  # the mark's column
        columns, rows = fit_table(
            self.runs,
            (table.size.width or self.size.width),
            column_overhead=2 * table.cell_padding,
            table_overhead=labels + SCROLLBAR,
            roots=self.roots,
        )
        for column in columns:
            table.add_column(column, key=column)
        for info, cells in zip(self.runs, rows):
            path = str(info.path)
            # Text, never markup: a path may hold brackets ("lr=[0.1]"), which a str cell would read as markup.
            texts = [Text(cell, justify="right" if column in RIGHT else "left") for column, cell in zip(columns, cells)]
            table.add_row(*texts, key=path, label=MARK if path in self.marked else " ")
        if cursor_on is not None and any(str(r.path) == cursor_on for r in self.runs):
            table.move_cursor(row=table.get_row_index(cursor_on))

    @property
    def selected(self) -> RunInfo | None:
        table = self.table
        if not self.runs or table.cursor_row is None or not 0 <= table.cursor_row < len(self.runs):
            return None
        return self.runs[table.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_attach()

    def action_attach(self) -> None:
        if self.selected is not None:
            self.exit(("attach", str(self.selected.path)))

    def action_inspect(self) -> None:
        info = self.selected
        if info is None:
            return
        if not any((Path(info.path) / "checkpoints").glob("*.pt")):
            self.notify("This run has no checkpoint yet", severity="warning")
            return
        self.exit(("inspect", str(info.path)))

    def action_mark(self) -> None:
        info = self.selected
        if info is None:
            return
        self.marked ^= {str(info.path)}
        following = self.runs[min(self.table.cursor_row + 1, len(self.runs) - 1)]
        self._fill(str(following.path))  # the cursor moves on: space, space marks the next ones

    def action_compare(self) -> None:
        paths = [str(r.path) for r in self.runs if str(r.path) in self.marked]  # in the list's order
        if not paths and self.selected is not None:
            paths = [str(self.selected.path)]
        if paths:
            self.push_screen(CompareScreen(paths), lambda _: self.action_refresh())
