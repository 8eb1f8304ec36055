"""Command line: ``mnist-tui [COMMAND] [options]``. One module per command, each with ``parser()`` and ``run(args)``.

    mnist-tui [options]            train (train.py); the live app on a terminal, headless otherwise (--headless)
    mnist-tui data [options]       where the data set comes from; fetch it ahead of time (data.py)
    mnist-tui inspect RUN_DIR      browse what the weights a run ended with get wrong (inspect.py)
    mnist-tui --detach [options]   train in a background process that outlives the terminal (train.py)
    mnist-tui attach [RUN_DIR]     the live app on a run in another process (attach.py)
    mnist-tui runs [DIR...]        the runs: state, progress, best accuracy; attach or inspect (runs.py)
    mnist-tui ensemble RUN_DIR...  each run's test accuracy and that of their mean softmax (ensemble.py)
    mnist-tui draw [RUN_DIR]       draw a digit and see what a run's model makes of it (draw.py)
    mnist-tui predict RUN_DIR IMAGE...  predict PNG or JPEG files with a run's weights (predict.py)
    mnist-tui compare PATH...      runs side by side: overlaid curves, what differs, live (compare.py)
    mnist-tui export PATH... --csv FILE --tensorboard DIR  runs' evaluations for other tools (export.py)
    mnist-tui sweep [options] --seeds 0-4 [--grid OPTION=V1,V2]  many runs in one sweep directory, a table (sweep.py)

Torch is imported only once work starts, so the app's first frame is not held up by it.
A bad value gets one line naming the problem and exit code 2 (common.fail).
"""

from __future__ import annotations

import importlib
import sys

# Anything else is train.
COMMANDS = ("data", "inspect", "ensemble", "attach", "runs", "draw", "predict", "compare", "export", "sweep")


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
