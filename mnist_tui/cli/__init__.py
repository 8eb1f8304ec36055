"""Command line: ``mnist-tui [COMMAND] [options]``. One module per command, each with ``parser()`` and ``run(args)``.

The commands, and the list ``mnist-tui --help`` and the README show, are ``common.USAGES``: a first argument
named there is that command (cli/<command>.py); anything else is training (train.py: the live app on a terminal,
headless otherwise or with ``--headless``, in a background process with ``--detach``).

Torch is imported only once work starts, so the app's first frame is not held up by it.
A bad value gets one line naming the problem and exit code 2 (common.fail).
"""

from __future__ import annotations

import importlib
import sys

from .common import COMMANDS


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    name = argv[0] if argv[:1] and argv[0] in COMMANDS else None
    command = importlib.import_module(f".{name or 'train'}", __name__)
    return command.run(command.parser().parse_args(argv[1:] if name else argv))


def entry() -> None:
    """The ``mnist-tui`` program: ``main``, then exit with its code whatever signal arrives while exiting."""
    code = main()
    from ..runs.signals import ignore_signals

    ignore_signals()  # the run has saved and summarised: a late Ctrl+C must not turn its exit into a crash
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
