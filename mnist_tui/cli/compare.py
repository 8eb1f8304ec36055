"""``mnist-tui compare PATH...``: runs side by side, as a screen (overlaid curves, a table) or a table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .common import ArgumentParser, fail, interactive

if TYPE_CHECKING:
    from ..runs.series import RunSeries


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="mnist-tui compare",
        description="Compare runs: their loss and accuracy curves overlaid, one colour a run, against iteration, "
        "epoch or wall time (x switches), and a table of the settings that differ between them, validation and "
        "test accuracy, how each ended, its training time and device. Runs still training update live, and a "
        "directory of runs (a sweep's) is watched for new ones. Headless or in a pipe it prints the table.",
    )
    p.add_argument(
        "paths", metavar="PATH", nargs="+", help="a run directory, or a directory holding runs (a sweep's)"
    )
    p.add_argument("--headless", action="store_true", help="print the table instead of opening the screen")
    return p


def warn(message: str) -> None:
    from ..runs.untrusted import printable  # paths and file contents: control characters escaped

    print(f"mnist-tui: warning: {printable(message)}", file=sys.stderr)


def load_runs(paths: list[str]) -> list[RunSeries]:
    """The runs in ``paths`` (run directories or directories of runs), read; one line and exit 2 for a path that
    holds no run, a warning line for a run that cannot be read (left out)."""
    from ..runs.series import load, run_dirs_in
    from ..runs.untrusted import printable

    for path in paths:
        if not Path(path).expanduser().is_dir():
            fail(f"{printable(path)}: no such directory")
        if not run_dirs_in(path):
            fail(f"{printable(path)}: holds no run (no config.json in it or in the directories directly inside it)")
    runs = load(paths)
    for run in runs:
        if run.problem:
            warn(f"left out: {run.problem}")
    runs = [r for r in runs if not r.problem]
    if not runs:
        fail("none of the runs can be read")
    return runs


def run(args: argparse.Namespace) -> int:
    from ..runs.series import dataset_warning

    runs = load_runs(args.paths)
    warning = dataset_warning(runs)
    if warning:
        warn(warning)
    if args.headless or not interactive():
        from rich.console import Console

        from ..console.compare import compare_table

        Console(width=None if sys.stdout.isatty() else 200).print(compare_table(runs))
        return 0
    from ..ui.apps.compare_app import CompareApp

    CompareApp(args.paths).run()
    return 0
