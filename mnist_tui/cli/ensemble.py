"""``mnist-tui ensemble RUN_DIR...``: each run's test accuracy and the accuracy of their combined softmax.

The engine (engine/ensemble.py) does the work; the run directories name the weights (runs/rundir.py).
A bad run directory, checkpoint or data set gets one line and exit code 2.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import DEVICE_HINT
from .common import ArgumentParser, fail

if TYPE_CHECKING:
    from ..engine.ensemble import Member


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="mnist-tui ensemble",
        description="Evaluate the final weights of saved runs on the test set, each alone and all together "
        "(the mean of their softmax). With --tta every model's softmax is the mean over 9 views of each test "
        "digit (itself, rotated ±6°, scaled 0.94 and 1.06, shifted one pixel four ways). Both use the test set "
        "more than once: report them apart from single-model, single-view figures.",
    )
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", help="run directories (as written by training runs)")
    p.add_argument("--tta", action="store_true", help="test-time augmentation: average 9 views of each digit")
    p.add_argument("--device", default="auto", help=f"{DEVICE_HINT} (default: %(default)s)")
    return p


def members(run_dirs: Sequence[str | os.PathLike]) -> list[Member]:
    """Each run's config and the weights it ended with; an InputError when a directory holds no such run."""
    from ..engine.ensemble import Member
    from ..runs.rundir import RunDirectory

    runs = [RunDirectory(run_dir) for run_dir in run_dirs]
    return [Member(str(run.path), run.read_config(), run.final_weights()) for run in runs]


def run(args: argparse.Namespace) -> int:
    for run_dir in args.run_dirs:
        if not Path(run_dir).expanduser().is_dir():
            fail(f"{run_dir}: no such run directory")
    from ..console.tables import ensemble_lines
    from ..engine.ensemble import evaluate_runs  # torch loads from here on
    from ..engine.errors import InputError

    try:
        result = evaluate_runs(members(args.run_dirs), device=args.device, tta=args.tta)
    except InputError as exc:
        fail(str(exc))
    for line in ensemble_lines(result):
        print(line)
    return 0
