"""What every subcommand shares: the argument parser that fails in one line, number parsing, ``fail``."""

from __future__ import annotations

import argparse
import sys

from ..config import TrainConfig
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


def float_arg(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        default=TrainConfig().dataset,
        help="mnist, fashion-mnist, kmnist, or a directory holding the four IDX files (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir", help="look here first for the data files (DIR/MNIST/raw/ or a flat directory; raw or .gz)"
    )




def interactive() -> bool:
    """Whether stdout is a terminal: the app there, tables and progress bars elsewhere."""
    return sys.stdout.isatty()
