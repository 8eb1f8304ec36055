"""``mnist-tui runs`` in the terminal: the list of runs as a screen, from which one attaches or inspects."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Label

from ..runs.catalogue import COLUMNS, RunInfo, list_runs, run_cells
from .app import MnistApp


class RunsApp(App[tuple[str, str] | None]):
    """Exits with ("attach" | "inspect", run directory), or None."""

    CSS_PATH = "app.tcss"
    TITLE = "mnist-tui runs"
    HORIZONTAL_BREAKPOINTS = MnistApp.HORIZONTAL_BREAKPOINTS
    VERTICAL_BREAKPOINTS = MnistApp.VERTICAL_BREAKPOINTS
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("enter", "attach", "Attach", tooltip="Open the live screen on this run (its history if it ended)"),
        Binding("i", "inspect", "Inspect", tooltip="Browse what this run's best weights get wrong"),
        Binding("r", "refresh", "Refresh"),
        Binding("q,escape", "quit", "Quit"),
    ]

    def __init__(self, roots: list[str] | None = None, refresh_seconds: float = 2.0) -> None:
        super().__init__()
        self.roots = roots
        self.refresh_seconds = refresh_seconds
        self.runs: list[RunInfo] = []

    def compose(self) -> ComposeResult:
        yield Label("", id="runs-title")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self.action_refresh()
        self.set_interval(self.refresh_seconds, self.action_refresh)

    def action_refresh(self) -> None:
        table = self.query_one(DataTable)
        selected = self.selected
        self.runs = list_runs(self.roots)
        table.clear()
        for info in self.runs:
            table.add_row(*run_cells(info), key=str(info.path))
        if selected is not None and any(r.path == selected.path for r in self.runs):
            table.move_cursor(row=table.get_row_index(str(selected.path)))
        active = sum(r.active for r in self.runs)
        where = ", ".join(self.roots) if self.roots else "the runs directory"
        self.query_one("#runs-title", Label).update(
            f"{len(self.runs)} run{'s' if len(self.runs) != 1 else ''} in {where}, {active} active"
            " · enter attaches · i inspects"
            if self.runs
            else f"No runs in {where} yet: start one with 'mnist-tui' or 'mnist-tui --detach'"
        )

    @property
    def selected(self) -> RunInfo | None:
        table = self.query_one(DataTable)
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
