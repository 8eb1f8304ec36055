"""What every subcommand shares: the argument parser that fails in one line, number parsing, ``fail``."""

from __future__ import annotations

import argparse
import math
import sys

from ..config import TrainConfig

DEFAULT_DATASET = TrainConfig().dataset
from ..engine.events import EXIT_BAD_INPUT


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but an error is one line and exit code 2, without the usage block."""

    def error(self, message: str):  # type: ignore[override]
        fail(message)


def fail(message: str, code: int = EXIT_BAD_INPUT):
    """Print ``mnist-tui: error: MESSAGE`` on stderr and exit (code 2: bad input)."""
    print(f"mnist-tui: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def int_arg(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def count_arg(text: str) -> int:
    """A whole number of 1 or more (a count of things to show)."""
    value = int_arg(text)
    if not 1 <= value <= 10**9:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 1000000000, got {text!r}")
    return value


def float_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def data_options(parser: argparse.ArgumentParser) -> None:
    """--dataset and --data-dir; the parser's own default applies (SUPPRESS for training: only what is given)."""
    parser.add_argument(
        "--dataset",
        help=f"mnist, fashion-mnist, kmnist, or a directory holding the four IDX files (default: {DEFAULT_DATASET})",
    )
    parser.add_argument(
        "--data-dir", help="look here first for the data files (DIR/MNIST/raw/ or a flat directory; raw or .gz)"
    )


def interactive() -> bool:
    """Whether stdout is a terminal: the app there, tables and progress bars elsewhere."""
    return sys.stdout.isatty()
