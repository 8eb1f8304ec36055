"""Process signals, in one place for every front end: the app, the headless runner and the background process.

``on_signals(handler, catch=..., ignore=...)`` routes the named signals to ``handler(signum)`` while the block
runs and puts the previous handlers back after it. Outside the main thread (where Python cannot set
handlers) it changes nothing. ``stop_on_signals(control)`` is the usual use: stop the run gracefully with
reason ``interrupted``. ``ignore_signals()`` is for a process whose run has ended and saved: a signal that
arrives while it exits changes nothing, and the process ends with the run's own exit code.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..engine.control import Control
from ..engine.events import Reason

ALL = ("SIGINT", "SIGTERM", "SIGHUP")


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

    ``second_aborts``: a second one, while the run winds down, raises KeyboardInterrupt. Once the caller
    sets ``guard.ended`` (the run has ended and saved), signals change nothing.
    """
    guard = RunGuard()

    def handler(signum: int) -> None:
        if guard.ended:
            return
        if second_aborts and control.stop_requested:
            raise KeyboardInterrupt
        control.stop(Reason.INTERRUPTED)

    with on_signals(handler, catch=catch, ignore=ignore):
        yield guard


def ignore_signals() -> None:
    """From now on this process ignores the usual stop signals (it is exiting, its run saved)."""
    for sig in _signals(ALL):
        signal.signal(sig, signal.SIG_IGN)
