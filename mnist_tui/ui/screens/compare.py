"""Runs side by side: overlaid loss and accuracy charts, a legend, and a table of what differs.

The screen watches paths: run directories, and directories of runs (a sweep's), rescanned for runs that
appear later. A thread worker does the file work (new lines of each run's metrics.jsonl, new run
directories) and posts what it read; the screen takes it into the runs on its own thread and hands the
charts, the legend and the table what to show. Finished runs read once; live ones gain points as they train.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label

from ...engine import events as ev
from ...runs.series import (
    TRAIN,
    RunSeries,
    compare_cells,
    compare_columns,
    dataset_warning,
    differing_settings,
    relabel,
    run_dirs_in,
)
from ..widgets.compare_chart import AXES, AXIS_LABELS, SET_NAMES, CompareChart
from ..widgets.compare_legend import CompareLegend

SETS_CYCLE = (ev.VALIDATION, ev.TEST, TRAIN)


class CompareScreen(Screen[None]):
    """Compare the runs in ``paths``; escape or q closes it (and quits ``CompareApp``)."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("x", "axis", "x axis", tooltip="Put iteration, epoch or wall time on x"),
        Binding("s", "set", "Set", tooltip="Show the validation, test or training set's curves"),
        Binding("escape,q", "close", "Close", tooltip="Leave the comparison"),
    ]

    @dataclass
    class Read(Message):
        """What a worker read: new runs (already read once) and, per known run, (alive, new lines)."""

        new: list[RunSeries]
        lines: list[tuple[RunSeries, tuple[bool, list]]]

    def __init__(
        self, paths: Sequence[str], *, poll_seconds: float = 1.0, rescan_seconds: float = 2.0, banner: str = ""
    ) -> None:
        super().__init__()
        self.banner = banner
        self.paths = [str(p) for p in paths]
        self.poll_seconds = poll_seconds
        self.rescan_seconds = rescan_seconds
        self.runs: list[RunSeries] = []
        self.left_out: list[str] = []  # runs that cannot be read, and why
        self.axis = AXES[0]
        self.split: str | None = None  # None: the set every run has (validation if they all do, else test)
        self.reads = 0  # reads taken in (tests wait on it)
        self._reading = False
        self._last_scan = -1e9
        self._known: set[Path] = set()
        self._columns: tuple[tuple[str, int], ...] = ()  # the table's (name, width)

    def compose(self) -> ComposeResult:
        yield Label("", id="compare-title")
        yield Label("", id="compare-banner")
        yield Label("", id="compare-warning")
        with Horizontal(id="compare-charts"):
            yield CompareChart("loss", id="compare-loss")
            yield CompareChart("accuracy", id="compare-accuracy")
        yield CompareLegend(id="compare-legend")
        yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    @property
    def loss_chart(self) -> CompareChart:
        return self.query_one("#compare-loss", CompareChart)

    @property
    def accuracy_chart(self) -> CompareChart:
        return self.query_one("#compare-accuracy", CompareChart)

    @property
    def table(self) -> DataTable:
        return self.query_one("#compare-table", DataTable)

    def on_mount(self) -> None:
        self.set_banner(self.banner)
        self.query_one("#compare-warning", Label).display = False
        self._show()
        self.poll()
        self.set_interval(self.poll_seconds, self.poll)

    def set_banner(self, text: str) -> None:
        """A line under the title (a sweep says how far it got); empty hides it."""
        self.banner = text
        banner = self.query_one("#compare-banner", Label)
        banner.update(Text(text))
        banner.display = bool(text)

    # Reading (a thread worker) ---------------------------------------------------------------------------
    def poll(self) -> None:
        """Read what is new, unless a read is still under way; rescan the paths every ``rescan_seconds``."""
        if self._reading:
            return
        self._reading = True
        rescan = time.monotonic() - self._last_scan >= self.rescan_seconds
        if rescan:
            self._last_scan = time.monotonic()
        watched = list(self.runs)  # finished ones too: an interrupted run may be resumed (a sweep does)
        self.run_worker(lambda: self._read(rescan, watched, set(self._known)), thread=True, group="compare-read")

    def _read(self, rescan: bool, watched: list[RunSeries], known: set[Path]) -> None:
        new: list[RunSeries] = []
        if rescan:
            for path in self.paths:
                for run_dir in run_dirs_in(path):
                    if run_dir not in known:
                        known.add(run_dir)
                        new.append(RunSeries(run_dir))
        lines = [(run, run.read()) for run in watched + new]
        self.post_message(self.Read(new, lines))

    def on_compare_screen_read(self, message: Read) -> None:
        self._reading = False
        for run in message.new:
            if run.path in self._known:
                continue
            self._known.add(run.path)
            if run.problem:
                self.left_out.append(run.problem)
            else:
                self.runs.append(run)
        changed = bool(message.new)
        for run, (alive, events) in message.lines:
            changed = run.take(alive, events) or changed
        if message.new:
            relabel(self.runs)
        self.reads += 1
        if changed:
            self._show()

    # Showing -----------------------------------------------------------------------------------------------
    @property
    def shown_split(self) -> str:
        """The set on show: the one chosen with s, else validation when every run has it, else test."""
        return self.split if self.split is not None else self._default_set()

    def _show(self) -> None:
        split = self.shown_split
        accuracy_split = split if split != TRAIN else self._default_set()  # training has no accuracy
        highlight = self.table.cursor_row if self.runs else None
        self.loss_chart.show(self.runs, split=split, axis=self.axis, highlight=highlight)
        self.accuracy_chart.show(self.runs, split=accuracy_split, axis=self.axis, highlight=highlight)
        colours = [self.loss_chart.run_style(i) for i in range(len(self.runs))]
        self.query_one(CompareLegend).show(
            [(r.label, c, r.alive, r.has(split) or not r.evaluations) for r, c in zip(self.runs, colours)],
            SET_NAMES[split].split()[0],
        )
        self._fill_table(colours)
        live = sum(r.alive for r in self.runs)
        where = ", ".join(self.paths)
        self.query_one("#compare-title", Label).update(
            Text(
                f"{len(self.runs)} run{'s' if len(self.runs) != 1 else ''} in {where}"
                + (f", {live} training" if live else "")
                + f" · set: {SET_NAMES[split]} · x: {AXIS_LABELS[self.axis]}"
            )
            if self.runs
            else Text(f"No runs in {where} yet: waiting for them")
        )
        warnings = [w for w in (dataset_warning(self.runs),) if w] + [f"left out: {p}" for p in self.left_out]
        warning = self.query_one("#compare-warning", Label)
        warning.update(Text("\n".join(warnings)))
        warning.display = bool(warnings)

    def _default_set(self) -> str:
        """Validation when at least half the runs with evaluations have validation ones, else test (presets
        without a validation set evaluate the test set; s shows it)."""
        with_evaluations = [r for r in self.runs if r.evaluations]
        validated = sum(r.has(ev.VALIDATION) for r in with_evaluations)
        return ev.VALIDATION if 2 * validated >= len(with_evaluations) else ev.TEST

    def _fill_table(self, colours: list[str]) -> None:
        table = self.table
        settings = differing_settings([r.config for r in self.runs])
        names = compare_columns(settings)
        rows = [compare_cells(run, settings) for run in self.runs]
        # Widths given, not measured by the table: its header is drawn before a later measure of the rows.
        columns = tuple(
            (name, max([len(name)] + [len(row[i]) + (3 if i == 0 else 0) for row in rows]))
            for i, name in enumerate(names)
        )
        row = table.cursor_row
        if columns != self._columns:
            table.clear(columns=True)
            for name, width in columns:
                table.add_column(name, key=name, width=width)
            self._columns = columns
        else:
            table.clear()
        for cells, colour in zip(rows, colours):
            label = Text.assemble(("━━ ", f"bold {colour}"), cells[0])
            table.add_row(label, *(Text(c, justify="right" if c.endswith("%") else "left") for c in cells[1:]))
        if self.runs:
            table.move_cursor(row=min(row, len(self.runs) - 1))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        for chart in (self.loss_chart, self.accuracy_chart):
            if chart.highlight != event.cursor_row:
                chart.highlight = event.cursor_row
                chart.mark_dirty()

    # Keys ----------------------------------------------------------------------------------------------------
    def action_axis(self) -> None:
        self.axis = AXES[(AXES.index(self.axis) + 1) % len(AXES)]
        self._show()
        self._redraw_now()

    def action_set(self) -> None:
        current = self.shown_split
        self.split = SETS_CYCLE[(SETS_CYCLE.index(current) + 1) % len(SETS_CYCLE)]
        self._show()
        self._redraw_now()

    def _redraw_now(self) -> None:
        """A key's answer shows at once, not at the charts' next timer tick."""
        self.loss_chart.redraw()
        self.accuracy_chart.redraw()

    def action_close(self) -> None:
        self.dismiss(None)
