"""``mnist-tui inspect RUN_DIR``: evaluate the weights a run ended with once and browse what they get wrong."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import DEVICE_HINT
from ..engine.events import TEST, VALIDATION
from .common import ArgumentParser, count_arg, fail, interactive

if TYPE_CHECKING:
    from ..engine.events import EvaluationSnapshot


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="mnist-tui inspect",
        description="Evaluate the weights a run ended with once and browse what they get wrong: the "
        "misclassified test digits (or, with --split validation, the validation digits the run held out), the "
        "confusion matrix, per-class accuracy. Headless (or when stdout is not a terminal) it prints per-class "
        "accuracy and the most confused pairs, and writes misclassified.csv and confusion.csv into the run "
        "directory (of the test set only).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (as written by a training run)")
    p.add_argument("--device", default="auto", help=f"{DEVICE_HINT} (default: %(default)s)")
    p.add_argument("--headless", action="store_true", help="no app: print the tables and write the CSVs")
    p.add_argument("--top", type=count_arg, default=10, help="confused pairs to print (default: %(default)s)")
    p.add_argument(
        "--split", choices=(TEST, VALIDATION), default=TEST, help="the set to evaluate on (default: %(default)s)"
    )
    return p


def evaluate_run(run_dir: str | os.PathLike, *, device: str = "auto", split: str = TEST) -> EvaluationSnapshot:
    """Evaluate the weights the run in ``run_dir`` ended with on ``split``; an InputError (one line) when it cannot."""
    from ..engine.analysis import evaluate_weights  # torch loads from here on
    from ..runs.rundir import RunDirectory

    run = RunDirectory(run_dir)
    path = run.final_weights()
    return evaluate_weights(run.read_config(), path, device=device, split=split)


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir).expanduser()
    if not run_dir.is_dir():
        fail(f"{args.run_dir}: no such run directory")
    headless = args.headless or not interactive()
    from ..engine.errors import InputError
    from ..runs.rundir import RunDirectory

    try:
        if sys.stderr.isatty():  # torch, the data and one evaluation take a few seconds
            print(f"mnist-tui: evaluating {RunDirectory(run_dir).final_weights()}…", file=sys.stderr)
        snapshot = evaluate_run(run_dir, device=args.device, split=args.split)
    except InputError as exc:
        fail(str(exc))
    if not headless:
        from ..ui.apps.inspect_app import run_inspect_app

        return run_inspect_app(snapshot, str(run_dir.resolve()))
    from rich.console import Console

    from ..console.tables import error_tables
    from ..engine.analysis import write_error_csvs

    console = Console()
    for table in error_tables(snapshot, top=args.top):
        console.print(table)
    if snapshot.split != TEST:
        return 0  # the run's CSVs are of the test set; these tables are all there is of the validation set
    try:
        paths = write_error_csvs(run_dir, snapshot)
    except OSError as exc:
        fail(f"{run_dir}: cannot write the CSVs ({exc.strerror or exc})")
    console.print(f"wrote {paths[0]} and {paths[1]}", highlight=False, soft_wrap=True)
    return 0
