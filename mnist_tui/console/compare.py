"""``mnist-tui compare --headless``: the comparison of runs as a rich table (the app's table, cell for cell)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from ..runs.series import FACT_COLUMNS, RunSeries, compare_cells, compare_columns, differing_settings

_RIGHT = {"val", "test", "time"}


def compare_table(runs: Sequence[RunSeries]) -> Table:
    """Per run: the settings that differ between the runs, validation and test accuracy, how it ended, its
    training time and device. Accuracies are of the weights a finished run ended with, else the latest."""
    settings = differing_settings([r.config for r in runs])
    same = "" if settings or len(runs) < 2 else " (same settings)"
    table = Table(title=f"{len(runs)} run{'s' if len(runs) != 1 else ''}{same}", title_justify="left")
    for column in compare_columns(settings):
        table.add_column(column, justify="right" if column in _RIGHT else "left", no_wrap=column in FACT_COLUMNS)
    table.columns[0].min_width = max(len(r.label) for r in runs) if runs else None  # names whole: settings wrap
    for run in runs:
        style = "bold green" if run.alive else ("red" if run.ending in ("failed", "diverged", "damaged") else None)
        table.add_row(*(Text(cell) for cell in compare_cells(run, settings)), style=style)  # paths are not markup
    return table
