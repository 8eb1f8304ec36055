"""``mnist-tui export PATH... --csv FILE --tensorboard DIR``: runs' curves for pandas, TensorBoard and the like."""

from __future__ import annotations

import argparse
import sys

from .common import ArgumentParser, fail


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="mnist-tui export",
        description="Write runs' evaluations where other tools read them. --csv: one row per evaluation (run, set, "
        "iteration, epoch, loss, accuracy, lr, wall_time), ready for pandas. --tensorboard: scalar event files, "
        "one directory per run (validation and test loss and accuracy, training loss and lr per step); it needs "
        'the optional tensorboard package: pip install "mnist-tui[tensorboard]".',
    )
    p.add_argument(
        "paths", metavar="PATH", nargs="+", help="a run directory, or a directory holding runs (a sweep's)"
    )
    p.add_argument(
        "--csv",
        metavar="FILE",
        help="write the evaluations to FILE as CSV ('-': standard output); FILE is new or a regular file, outside "
        "any run directory",
    )
    p.add_argument(
        "--tensorboard", metavar="DIR", help="write TensorBoard event files under DIR (outside any run directory)"
    )
    return p


def run(args: argparse.Namespace) -> int:
    from ..engine.errors import InputError
    from ..runs.export import TENSORBOARD_EXTRA, csv_target, tensorboard_target
    from ..runs.untrusted import printable
    from .compare import load_runs

    if not args.csv and not args.tensorboard:
        fail("say where to export: --csv FILE, --tensorboard DIR, or both")
    csv_path = tensorboard = None
    try:  # where it goes is checked before the runs are read, and again with their names
        if args.csv and args.csv != "-":
            csv_path = csv_target(args.csv)
        if args.tensorboard:
            tensorboard_target(args.tensorboard, [])
        runs = load_runs(args.paths)
        if args.tensorboard:
            tensorboard = tensorboard_target(args.tensorboard, runs)
    except InputError as exc:
        fail(printable(exc))
    from ..runs.export import csv_text, tensorboard_available, tensorboard_clashes, write_csv, write_tensorboard

    if tensorboard is not None:  # checked before anything is written
        if not tensorboard_available():
            fail(f"--tensorboard needs the optional tensorboard package: {TENSORBOARD_EXTRA}")
        clashes = tensorboard_clashes(runs, tensorboard)
        if clashes:
            fail(f"{clashes[0]}: already holds TensorBoard event files (TensorBoard would show both); "
                 "export into another --tensorboard DIR")  # fmt: skip
    report = sys.stderr if args.csv == "-" else sys.stdout
    evaluations = sum(len(r.evaluations) for r in runs)
    of_runs = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    try:
        if args.csv == "-":
            sys.stdout.write(csv_text(runs))
        elif csv_path is not None:
            path = write_csv(runs, csv_path)
            print(f"wrote {evaluations:,} evaluations of {of_runs} to {path}", file=report)
        if tensorboard is not None:
            write_tensorboard(runs, tensorboard)
            print(f"wrote TensorBoard event files of {of_runs} under {tensorboard} "
                  f"(view them with: tensorboard --logdir {tensorboard})", file=report)  # fmt: skip
    except OSError as exc:
        fail(f"cannot write the export ({exc.strerror or exc})")
    return 0
