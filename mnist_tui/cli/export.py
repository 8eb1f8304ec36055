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
    p.add_argument("--csv", metavar="FILE", help="write the evaluations to FILE as CSV ('-': standard output)")
    p.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard event files under DIR")
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..runs.export import TENSORBOARD_EXTRA
    from .compare import load_runs

    if not args.csv and not args.tensorboard:
        fail("say where to export: --csv FILE, --tensorboard DIR, or both")
    if args.csv and args.csv != "-" and not Path(args.csv).expanduser().parent.is_dir():
        fail(f"{args.csv}: its directory does not exist")
    if args.tensorboard and Path(args.tensorboard).expanduser().exists() and not Path(
        args.tensorboard
    ).expanduser().is_dir():
        fail(f"{args.tensorboard}: not a directory")
    runs = load_runs(args.paths)
    from ..runs.export import csv_text, tensorboard_available, tensorboard_clashes, write_csv, write_tensorboard

    if args.tensorboard:  # checked before anything is written
        if not tensorboard_available():
            fail(f"--tensorboard needs the optional tensorboard package: {TENSORBOARD_EXTRA}")
        clashes = tensorboard_clashes(runs, Path(args.tensorboard).expanduser())
        if clashes:
            fail(f"{clashes[0]}: already holds TensorBoard event files (TensorBoard would show both); "
                 "export into another --tensorboard DIR")  # fmt: skip
    report = sys.stderr if args.csv == "-" else sys.stdout
    evaluations = sum(len(r.evaluations) for r in runs)
    of_runs = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    try:
        if args.csv == "-":
            sys.stdout.write(csv_text(runs))
        elif args.csv:
            path = write_csv(runs, Path(args.csv).expanduser())
            print(f"wrote {evaluations:,} evaluations of {of_runs} to {path}", file=report)
        if args.tensorboard:
            directory = Path(args.tensorboard).expanduser()
            write_tensorboard(runs, directory)
            print(f"wrote TensorBoard event files of {of_runs} under {directory} "
                  f"(view them with: tensorboard --logdir {directory})", file=report)  # fmt: skip
    except OSError as exc:
        fail(f"cannot write the export ({exc.strerror or exc})")
    return 0
