"""The rich tables the console prints: what a run's weights get wrong (``inspect``), the list of runs
(``runs``, whose cells the app's runs screen shares) and an ensemble's accuracies (``ensemble``); and the console
they are printed on."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..engine.events import EvaluationSnapshot
from ..runs.catalogue import RIGHT, RunInfo, fit_table, where
from ..runs.untrusted import printable

if TYPE_CHECKING:  # engine.ensemble imports torch; the runs table must not wait for it
    from ..engine.ensemble import EnsembleResult


UNWRAPPED = 1 << 16  # the width of an output that is not a terminal: no line of ours is that long


def output_console(*, stderr: bool = False) -> Console:
    """A console for standard output (or error): a terminal's own width; anywhere else (a file, a pipe) lines
    as long as they are, so that a path is never split across lines: nothing wraps, and a table is as wide as
    its cells (a table does not stretch to the width, only to its cells)."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=UNWRAPPED, soft_wrap=True)


# inspect ------------------------------------------------------------------------------------------
def _name(snapshot: EvaluationSnapshot, label: int) -> str:
    names = snapshot.class_names
    return printable(names[label]) if 0 <= label < len(names) else str(label)  # names come from a file


def error_tables(snapshot: EvaluationSnapshot, top: int = 10) -> list[Table]:
    """Per-class accuracy, and the most confused pairs (true label, predicted label, count)."""
    accuracy = snapshot.accuracy
    overall = "N/A" if accuracy is None else f"{accuracy:.2%}"
    where = f" ({snapshot.weights})" if snapshot.weights else ""
    classes = Table(
        title=f"{snapshot.split.capitalize()} accuracy {overall} at iteration {snapshot.iteration:,}{where}: "
        f"{snapshot.n_misclassified:,} of {snapshot.total:,} misclassified"
    )
    classes.add_column("class")
    classes.add_column(f"{snapshot.split} images", justify="right")
    classes.add_column("right", justify="right")
    classes.add_column("wrong", justify="right")
    classes.add_column("accuracy", justify="right")
    for label, (count, right, acc) in enumerate(snapshot.class_accuracy()):
        shown = "N/A" if acc is None else f"{acc:.2%}"
        classes.add_row(_name(snapshot, label), f"{count:,}", f"{right:,}", f"{count - right:,}", shown)
    pairs = Table(title="Most confused pairs")
    pairs.add_column("true")
    pairs.add_column("predicted")
    pairs.add_column("count", justify="right")
    pairs.add_column("of the true class", justify="right")
    totals = [sum(row) for row in snapshot.confusion]
    for true, predicted, count in snapshot.confused_pairs(top):
        pairs.add_row(_name(snapshot, true), _name(snapshot, predicted), f"{count:,}", f"{count / totals[true]:.2%}")
    if not snapshot.n_misclassified:
        pairs.add_row("none", "", "0", "")
    return [classes, pairs]


# runs ---------------------------------------------------------------------------------------------
def runs_table(runs: list[RunInfo], width: int | None = None, roots: list[str] | None = None) -> Table:
    """The runs, in a table ``width`` cells wide (``catalogue.fit_table``: the directories shortened in the middle,
    from the name of the root they were found under); ``width`` None: every path whole (not a terminal)."""
    title = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    if width is not None:
        title += f" in {where(roots)}"
    table = Table(title=Text(title), title_justify="left")
    # Each column takes a cell of padding either side and a rule; the table one rule more.
    columns, rows = fit_table(runs, width, column_overhead=3, table_overhead=1, roots=roots)
    for column in columns:
        table.add_column(column, justify="right" if column in RIGHT else "left", no_wrap=True)
    for info, cells in zip(runs, rows):
        style = "bold green" if info.active else ("red" if info.state == "failed" else None)
        table.add_row(*(Text(cell) for cell in cells), style=style)  # text, not markup; escaped
    return table


# ensemble -----------------------------------------------------------------------------------------
def ensemble_lines(result: EnsembleResult) -> list[str]:
    """Each run's test accuracy, their mean, and the accuracy of their mean softmax, as aligned lines."""
    views = f"test-time augmentation, {result.tta_views} views" if result.tta_views > 1 else "no test-time augmentation"
    n = len(result.runs)
    rows = [  # paths with their control characters escaped
        (printable(run), f"{acc:7.2%}  ({right:,} right; {printable(Path(w).name)})")
        for run, w, acc, right in zip(result.runs, result.weights, result.accuracies, result.correct)
    ]
    rows.append(("mean of the runs", f"{sum(result.accuracies) / n:7.2%}"))
    rows.append((f"ensemble of {n} (mean softmax)", f"{result.combined:7.2%}  ({result.combined_correct:,} right)"))
    width = max(len(label) for label, _ in rows)
    return [f"{printable(result.dataset)} test set, {result.total:,} images; {views}"] + [
        f"  {label:<{width}}  {figures}" for label, figures in rows
    ]
