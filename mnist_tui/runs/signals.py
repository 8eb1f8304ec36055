"""Process signals, in one place for every front end: the app, the headless runner and the background process.

``on_signals(handler, catch=..., ignore=...)`` routes the named signals to ``handler(signum)`` while the block
runs and puts the previous handlers back after it. Outside the main thread (where Python cannot set
handlers) it changes nothing. ``stop_on_signals(control)`` is the usual use: stop the run gracefully with
reason ``interrupted``. ``interrupt_quietly()`` is for start-up, before a run's own handlers are in place (importing
PyTorch takes seconds): a stop signal then ends the process at once, without a traceback, with the interrupted
exit code. ``ignore_signals()`` is for a process whose run has ended and saved: a signal that
arrives while it exits changes nothing, and the process ends with the run's own exit code.

A closed terminal is an interrupt, not a crash. Its hang-up (SIGHUP, with SIGCONT, from the kernel or the terminal
emulator) stops the run like any signal, and ``leave_dead_terminal()`` then points whichever of stdin, stdout
and stderr was that terminal away from it: a write to a hung-up terminal fails (EIO), and a read returns EOF at
once, so a progress line or the app's next frame would otherwise raise on the way out, and an input thread
would spin, while the run evaluates and saves. Only a second Ctrl+C aborts a run that is winding down: more
hang-ups and SIGTERMs change nothing.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import termios
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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

    ``second_aborts``: a second Ctrl+C (SIGINT), while the run winds down (or still starts), ends the process at
    once: one line, exit code 130 (``Interrupted``), no traceback; a second SIGHUP or SIGTERM changes nothing. Once the caller
    sets ``guard.ended`` (the run has ended and saved), signals change nothing.
    """
    guard = RunGuard()

    def handler(signum: int) -> None:
        if signum == getattr(signal, "SIGHUP", None):
            leave_dead_terminal()  # before anything is written: the terminal may be gone
        if guard.ended:
            return
        if second_aborts and control.stop_requested and signum == signal.SIGINT:
            # A person pressed Ctrl+C again: they would rather lose the save than wait. A second hang-up or
            # SIGTERM (a closed terminal often sends both) changes nothing: the run is already saving.
            _say("interrupted again: stopping at once (the last checkpoint saved is kept)")
            raise Interrupted()
        control.stop(Reason.INTERRUPTED)

    with on_signals(handler, catch=catch, ignore=ignore):
        yield guard


_never_readable: list[int] = []  # the write ends of the pipes that stand in for a dead terminal's input


def terminal_hung_up(fd: int) -> bool:
    """Whether ``fd`` is a terminal that has hung up (it answers EIO); False for a live one or a file or pipe."""
    try:
        termios.tcgetattr(fd)
    except termios.error as exc:
        return exc.args[0] == errno.EIO
    except (OSError, ValueError):
        return False
    return False


def leave_dead_terminal() -> bool:
    """Point stdin, stdout and stderr, those of them that are a terminal that has hung up, away from it: output
    to /dev/null, input from a pipe that never has anything to read (so a reader waits instead of spinning on
    EOF). A terminal that still answers, and a redirected stream, stay as they are. From the main thread it also
    puts SIGCONT back to its default: nothing is to be redrawn on a terminal that is gone (Textual's driver
    restarts its application mode on SIGCONT, which the kernel sends with the hang-up). Whether it was gone."""
    dead = [fd for fd in (0, 1, 2) if terminal_hung_up(fd)]
    if not dead:
        return False
    for fd in dead:
        if fd == 0:
            read_end, write_end = os.pipe()
            _never_readable.append(write_end)  # kept open: the read end never sees EOF
            os.dup2(read_end, 0)
            os.close(read_end)
        else:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
    if hasattr(signal, "SIGCONT"):
        try:
            signal.signal(signal.SIGCONT, signal.SIG_DFL)
        except ValueError:  # not the main thread
            pass
    return True


def ignore_signals() -> None:
    """From now on this process ignores the usual stop signals (it is exiting, its run saved)."""
    for sig in _signals(ALL):
        signal.signal(sig, signal.SIG_IGN)
