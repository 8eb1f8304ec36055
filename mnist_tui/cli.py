"""Command line: arguments -> TrainConfig -> the app, or the headless runner.

    mnist-tui [options]            train; the live app on a terminal, headless otherwise (or with --headless)
    mnist-tui data [options]       where the data set comes from; fetch it ahead of time

Torch is imported only once work starts, so the app's first frame is not held up by it.
A bad value gets one line naming the problem and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .config import DEVICE_HINT, MODEL_NAMES, ConfigError, EarlyStoppingConfig, TrainConfig

DEFAULTS = TrainConfig()


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but an error is one line and exit code 2, without the usage block."""

    def error(self, message: str):  # type: ignore[override]
        fail(message)


def fail(message: str, code: int = 2):
    print(f"mnist-tui: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        default=DEFAULTS.dataset,
        help="mnist, fashion-mnist, kmnist, or a directory holding the four IDX files (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir", help="look here first for the data files (DIR/MNIST/raw/ or a flat directory; raw or .gz)"
    )


def train_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="mnist-tui",
        description="Train a convolutional network on handwritten digits and watch it live in the terminal.",
        epilog="Other commands: 'mnist-tui data --help'. Defaults are the tutorial recipe.",
    )
    p.add_argument("--version", action="version", version=f"mnist-tui {__version__}")
    _data_options(p)
    g = p.add_argument_group("training")
    g.add_argument("--model", default=DEFAULTS.model, help=f"{' | '.join(MODEL_NAMES)} (default: %(default)s)")
    g.add_argument("--epochs", type=_int, default=DEFAULTS.epochs, help="passes over the data (default: %(default)s)")
    g.add_argument("--batch-size", type=_int, default=DEFAULTS.batch_size, help="default: %(default)s")
    g.add_argument("--lr", type=_float, default=DEFAULTS.lr, help="Adam learning rate (default: %(default)s)")
    g.add_argument("--weight-decay", type=_float, default=DEFAULTS.weight_decay, help="default: %(default)s")
    g.add_argument(
        "--eval-every",
        type=_int,
        default=DEFAULTS.eval_every,
        help="test-set evaluation every N iterations (default: %(default)s)",
    )
    g.add_argument("--eval-batch-size", type=_int, default=DEFAULTS.eval_batch_size, help="0: pick for the device")
    g.add_argument("--max-steps", type=_int, help="stop after this many iterations")
    g.add_argument("--seed", type=_int, default=DEFAULTS.seed, help="default: %(default)s")
    g.add_argument("--device", default=DEFAULTS.device, help=f"{DEVICE_HINT} (default: %(default)s)")
    g.add_argument("--threads", type=_int, default=DEFAULTS.threads, help="CPU threads for torch (0: torch's default)")
    e = p.add_argument_group("early stopping and learning rate (defaults: see README)")
    es = DEFAULTS.early_stopping
    e.add_argument(
        "--early-stopping",
        action=argparse.BooleanOptionalAction,
        default=es.enabled,
        help="stop when the monitored metric stops improving (default: on)",
    )
    e.add_argument("--monitor", default=es.monitor, help="accuracy (percent) or loss (default: %(default)s)")
    e.add_argument(
        "--patience",
        type=_int,
        default=es.patience,
        help="evaluations without improvement before stopping (default: %(default)s)",
    )
    e.add_argument(
        "--min-delta",
        type=_float,
        default=es.min_delta,
        help="smallest improvement that counts, in percentage points or loss (default: %(default)s)",
    )
    e.add_argument(
        "--warmup-evals",
        type=_int,
        default=es.warmup_evals,
        help="no stop before this many evaluations (default: %(default)s)",
    )
    e.add_argument(
        "--restore-best",
        action=argparse.BooleanOptionalAction,
        default=es.restore_best,
        help="end the run with the best weights seen (default: on)",
    )
    e.add_argument(
        "--lr-plateau",
        action="store_true",
        help=f"cut the lr by {DEFAULTS.plateau_factor} after --plateau-patience evaluations without improvement",
    )
    e.add_argument("--plateau-patience", type=_int, default=DEFAULTS.plateau_patience, help="default: %(default)s")
    r = p.add_argument_group("runs")
    r.add_argument("--run-dir", help="where to write this run (default: a new folder under the user data directory)")
    r.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    r.add_argument("--headless", action="store_true", help="no app: progress bars and a summary table")
    return p


def data_parser() -> ArgumentParser:
    p = ArgumentParser(prog="mnist-tui data", description="Show where the data set comes from, and fetch it.")
    _data_options(p)
    p.add_argument("--no-fetch", action="store_true", help="only show the sources; fetch nothing")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    if args.data_dir is not None and not Path(args.data_dir).expanduser().is_dir():
        fail(f"--data-dir {args.data_dir}: no such directory")
    try:
        return TrainConfig(
            dataset=args.dataset,
            data_dir=str(Path(args.data_dir).expanduser()) if args.data_dir else None,
            model=args.model,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            eval_every=args.eval_every,
            eval_batch_size=args.eval_batch_size,
            max_steps=args.max_steps,
            seed=args.seed,
            device=args.device,
            threads=args.threads,
            run_dir=args.run_dir,
            early_stopping=EarlyStoppingConfig(
                enabled=args.early_stopping,
                monitor=args.monitor,
                patience=args.patience,
                min_delta=args.min_delta,
                warmup_evals=args.warmup_evals,
                restore_best=args.restore_best,
            ),
            lr_plateau=args.lr_plateau,
            plateau_patience=args.plateau_patience,
        )
    except ConfigError as exc:
        fail(str(exc))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["data"]:
        return data_command(data_parser().parse_args(argv[1:]))
    args = train_parser().parse_args(argv)
    config = config_from_args(args)
    if args.resume and not Path(args.resume).expanduser().is_dir():
        fail(f"--resume {args.resume}: no such run directory")
    if args.headless or not sys.stdout.isatty():
        from .headless import run_headless

        return run_headless(config, resume=args.resume)
    from .ui.app import run_app

    return run_app(config, resume=args.resume)


def data_command(args: argparse.Namespace) -> int:
    from .engine import data

    for line in data.describe(args.dataset, args.data_dir):
        print(line)
    if args.no_fetch:
        return 0
    try:
        resolved = data.resolve(args.dataset, args.data_dir, log=lambda m: print(f"  {m}"), allow_download=True)
        arrays = data.load_arrays(resolved)
    except data.DataError as exc:
        fail(str(exc))
    print(
        f"ready: {resolved.name} from {resolved.source}: {len(arrays.train_labels):,} training and "
        f"{len(arrays.test_labels):,} test images, checked"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
