"""``mnist-tui runs [DIR...]``: the runs, as a screen (attach or inspect from there) or a table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import ArgumentParser, fail, interactive


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="mnist-tui runs",
        description="List the runs (state, progress, best validation and final test accuracy, device, started, "
        "directory), newest first. "
        "In a terminal it is a screen: enter attaches to the selected run, i inspects it, space marks runs and c "
        "compares them (mnist-tui compare).",
    )
    p.add_argument("dirs", metavar="DIR", nargs="*", help="where to look (default: the runs directory)")
    p.add_argument("--headless", action="store_true", help="print the table instead of opening the screen")
    p.add_argument("--active", action="store_true", help="only runs whose process is training them")
    return p


def run(args: argparse.Namespace) -> int:
    from ..runs.catalogue import list_runs

    from ..runs.untrusted import printable

    for d in args.dirs:
        if not Path(d).expanduser().is_dir():
            fail(f"{printable(d)}: no such directory")
    roots = args.dirs or None
    if args.headless or not interactive():
        from ..console.tables import output_console, runs_table

        runs = [r for r in list_runs(roots) if r.active or not args.active]
        console = output_console()  # in a pipe or a file: every path whole
        console.print(runs_table(runs, console.width if sys.stdout.isatty() else None, roots))
        return 0
    from ..ui.apps.runs_app import RunsApp

    choice = RunsApp(roots).run()
    if not choice:
        return 0
    action, run_dir = choice
    from . import attach, inspect

    command = inspect if action == "inspect" else attach
    return command.run(command.parser().parse_args([run_dir]))
