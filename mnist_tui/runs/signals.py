"""Process signals, in one place for every front end: the app, the headless runner and the background process.

``on_signals(handler, catch=..., ignore=...)`` routes the named signals to ``handler(signum)`` while the block
runs and puts the previous handlers back after it. Outside the main thread (where Python cannot set
handlers) it changes nothing. ``stop_on_signals(control)`` is the usual use: stop the run gracefully with
reason ``interrupted``. ``interrupt_quietly()`` is for start-up, before a run's own handlers are in place (importing
PyTorch takes seconds): a stop signal then ends the process at once, without a traceback, with the interrupted
exit code. ``ignore_signals()`` is for a process whose run has ended and saved: a signal that
arrives while it exits changes nothing, and the process ends with the run's own exit code.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import os
import sys

from ..engine.control import Control
from ..engine.events import EXIT_INTERRUPTED, Reason

ALL = ("SIGINT", "SIGTERM", "SIGHUP")
STOPS = ("SIGINT", "SIGTERM")  # what a user sends to stop a process (a hang-up is the app's and the runner's own)


class Interrupted(SystemExit):
    """Raised by a signal that ends the process at once: it exits quietly with the interrupted code (130).
    Made from a handler, it ignores the stop signals from then on: one more while the process winds down
    (unloading PyTorch takes a moment) would otherwise kill it by default."""

    def __init__(self) -> None:
        super().__init__(EXIT_INTERRUPTED)
        ignore_signals()


def _say(line: str) -> None:
    """One line on stderr from a signal handler (a plain write: no buffer it could meet half-written)."""
    try:
        os.write(sys.stderr.fileno(), f"mnist-tui: {line}\n".encode())
    except (OSError, ValueError, AttributeError):
        pass


def interrupt_quietly(catch: tuple[str, ...] = STOPS) -> None:
    """From now until a run's own handlers take over (and again after they give back), a stop signal ends the
    process at once with the interrupted exit code and no traceback: nothing has started that it should wind
    down. Outside the main thread it changes nothing."""

    def handler(signum: int, frame: object) -> None:
        raise Interrupted()

    try:
        for sig in _signals(catch):
            signal.signal(sig, handler)
    except ValueError:  # not the main thread
        pass


def _signals(names: tuple[str, ...]) -> list[signal.Signals]:
    return [getattr(signal, name) for name in names if hasattr(signal, name)]  # SIGHUP: not on Windows


@contextmanager
def on_signals(
    handler: Callable[[int], None], *, catch: tuple[str, ...] = ALL, ignore: tuple[str, ...] = ()
) -> Iterator[None]:
    previous: dict[signal.Signals, object] = {}
    try:
        for sig in _signals(catch):
            previous[sig] = signal.signal(sig, lambda signum, frame: handler(signum))
        for sig in _signals(ignore):
            previous[sig] = signal.signal(sig, signal.SIG_IGN)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)  # type: ignore[arg-type]


class RunGuard:
    """What ``stop_on_signals`` yields: set ``ended`` once the run has written its summary."""

    ended = False


@contextmanager
def stop_on_signals(
    control: Control, *, catch: tuple[str, ...] = ALL, ignore: tuple[str, ...] = (), second_aborts: bool = True
) -> Iterator[RunGuard]:
    """The first signal stops the run gracefully (evaluate, save, summary; reason ``interrupted``).

    ``second_aborts``: a second one, while the run winds down (or still starts), ends the process at once:
    one line, exit code 130 (``Interrupted``), no traceback. Once the caller
    sets ``guard.ended`` (the run has ended and saved), signals change nothing.
    """
    guard = RunGuard()

    def handler(signum: int) -> None:
        if guard.ended:
            return
        if second_aborts and control.stop_requested:
            _say("interrupted again: stopping at once (the last checkpoint saved is kept)")
            raise Interrupted()
        control.stop(Reason.INTERRUPTED)

    with on_signals(handler, catch=catch, ignore=ignore):
        yield guard


def ignore_signals() -> None:
    """From now on this process ignores the usual stop signals (it is exiting, its run saved)."""
    for sig in _signals(ALL):
        signal.signal(sig, signal.SIG_IGN)
