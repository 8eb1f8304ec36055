"""What every subcommand shares: the list of commands, the argument parser that fails in one line, number
parsing, ``fail``."""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from dataclasses import dataclass

from ..config import TrainConfig
from ..engine.events import EXIT_BAD_INPUT

DEFAULT_DATASET = TrainConfig().dataset


@dataclass(frozen=True)
class Usage:
    """One way to call ``mnist-tui``, as the command list shows it (``--help`` and the README)."""

    synopsis: str  # after "mnist-tui"
    summary: str  # what it does, in one line
    command: str = ""  # the subcommand (cli/<command>.py, with parser() and run(args)); "" for training itself


# Every command: cli.main dispatches a first argument found here, and the command list is made from it.
USAGES: tuple[Usage, ...] = (
    Usage("[options]", "train: the live app on a terminal, else headless"),
    Usage("--detach [options]", "train in a process that outlives the terminal"),
    Usage("data [options]", "show where the data set comes from; fetch it", "data"),
    Usage("inspect [RUN_DIR]", "browse what a run's weights get wrong", "inspect"),
    Usage("attach [RUN_DIR]", "the live app on a run another process trains", "attach"),
    Usage("runs [DIR...]", "list the runs; attach, inspect or compare them", "runs"),
    Usage("ensemble RUN_DIR...", "test accuracy of runs alone and averaged", "ensemble"),
    Usage("draw [RUN_DIR]", "draw a digit and see what a run's model thinks", "draw"),
    Usage("predict RUN_DIR IMAGE...", "predict PNG or JPEG files with a run's weights", "predict"),
    Usage("compare PATH...", "runs side by side: curves, differences, live", "compare"),
    Usage("export PATH... --csv FILE", "runs' evaluations as CSV or for TensorBoard", "export"),
    Usage("sweep [options] --seeds 0-4", "many runs (--grid, --seeds) and their table", "sweep"),
)
COMMANDS: tuple[str, ...] = tuple(usage.command for usage in USAGES if usage.command)


def command_list(width: int = 80) -> str:
    """The subcommands as ``mnist-tui --help`` lists them: the synopsis, then the summary in a column, wrapped
    to ``width`` columns (argparse's layout)."""
    column = 2 + max(len(usage.synopsis) for usage in USAGES if usage.command) + 2
    lines: list[str] = []
    for usage in USAGES:
        if usage.command:
            summary = textwrap.wrap(usage.summary, max(20, width - column))
            lines.append(f"  {usage.synopsis:<{column - 2}}{summary[0]}")
            lines += [" " * column + line for line in summary[1:]]
    return "\n".join(lines)


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
