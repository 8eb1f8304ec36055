"""``mnist-tui ensemble RUN_DIR...``: each run's test accuracy and the accuracy of their combined softmax.

The engine (engine/ensemble.py) does the work; this module parses the arguments and prints the table.
A bad run directory, checkpoint or data set gets one line and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli import DEVICE_HINT, ArgumentParser, fail


def ensemble_parser() -> ArgumentParser:
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


def ensemble_command(args: argparse.Namespace) -> int:
    for run_dir in args.run_dirs:
        if not Path(run_dir).expanduser().is_dir():
            fail(f"{run_dir}: no such run directory")
    from .engine.ensemble import evaluate_runs  # torch loads from here on
    from .engine.errors import InputError

    try:
        result = evaluate_runs([Path(r).expanduser() for r in args.run_dirs], device=args.device, tta=args.tta)
    except InputError as exc:
        fail(str(exc))
    views = f"test-time augmentation, {result.tta_views} views" if result.tta_views > 1 else "no test-time augmentation"
    print(f"{result.dataset} test set, {result.total:,} images; {views}")
    n = len(result.runs)
    rows = [
        (run, f"{acc:7.2%}  ({right:,} right; {Path(w).name})")
        for run, w, acc, right in zip(result.runs, result.weights, result.accuracies, result.correct)
    ]
    rows.append(("mean of the runs", f"{sum(result.accuracies) / n:7.2%}"))
    rows.append((f"ensemble of {n} (mean softmax)", f"{result.combined:7.2%}  ({result.combined_correct:,} right)"))
    width = max(len(label) for label, _ in rows)
    for label, figures in rows:
        print(f"  {label:<{width}}  {figures}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(ensemble_command(ensemble_parser().parse_args()))
