"""``mnist-tui runs``: one row per run, the same cells in the headless table and in the app's runs screen."""

from __future__ import annotations

from rich.table import Table

from .engine.runs import RunInfo

COLUMNS = ("state", "progress", "best", "device", "started", "directory")


def run_cells(info: RunInfo) -> tuple[str, ...]:
    if info.progress is not None:
        progress = f"{info.progress:4.0%} ({info.iteration:,}/{info.total_steps:,})"
    elif info.iteration is not None:
        progress = f"iter {info.iteration:,}"
    else:
        progress = "-"
    best = "-" if info.best_accuracy is None else f"{info.best_accuracy:.2%}"
    state = info.state + (f" ({info.mode})" if info.active and info.mode == "detached" else "")
    started = info.started.strftime("%Y-%m-%d %H:%M") if info.started else "-"
    return (state, progress, best, info.device or "-", started, str(info.path))


def runs_table(runs: list[RunInfo]) -> Table:
    table = Table(title=f"{len(runs)} run{'s' if len(runs) != 1 else ''}", title_justify="left")
    for column in COLUMNS:
        table.add_column(
            column, justify="right" if column in ("progress", "best") else "left", no_wrap=column != "directory"
        )
    for info in runs:
        style = "bold green" if info.active else ("red" if info.state == "failed" else None)
        table.add_row(*run_cells(info), style=style)
    return table
