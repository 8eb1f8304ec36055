"""``mnist-tui sweep`` in a terminal: the compare view of the sweep directory while the sweep trains.

The sweep's runner (runs/sweep.py) is driven by a thread of its own, started once the app is up; each of
its events goes to the app as a message (``post_message`` is the thread-safe way in) that updates the
banner: how many runs have finished, which are training, which did not finish. The compare view rescans
the sweep directory, so each run joins the charts as it starts, and follows it live. Quitting (q) stops the
sweep: nothing more starts and each run being trained saves and stops as a run does on a signal; the same
sweep command resumes them. Ctrl+C, SIGTERM and a hang-up do the same, and the app closes once the runs have saved.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import ClassVar

from textual.binding import Binding
from textual.message import Message

from ...runs.signals import on_signals
from ...runs.sweep import SweepRunner, Tally
from .compare_app import CompareApp

QUIT_NOTE = "q stops the sweep: its runs save, and the same command resumes them"


class SweepApp(CompareApp):
    """The compare app on a sweep directory while ``runner`` trains its runs; ``tally`` adds up its events."""

    # Ctrl+C stops the sweep as q does (Textual's own binding would only say how to quit).
    BINDINGS: ClassVar[list[Binding]] = [Binding("ctrl+c", "stop_sweep", "Stop the sweep", show=False, priority=True)]

    @dataclass
    class Banner(Message):
        text: str

    class Stopped(Message):
        """The sweep was stopped and its runs have saved: close."""

    def __init__(self, runner: SweepRunner) -> None:
        super().__init__(
            [str(runner.sweep.path)],
            title=f"mnist-tui sweep {runner.sweep.path.name}",
            banner=f"sweep of {len(runner.runs)} runs starting. {QUIT_NOTE}",
        )
        self.runner = runner
        self.tally = Tally(len(runner.runs))
        self.hung_up = threading.Event()
        self.thread = threading.Thread(target=self._drive, name="sweep", daemon=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.thread.start()  # the app takes messages now

    def _drive(self) -> None:
        runner, tally = self.runner, self.tally
        try:
            for event in runner.events():
                tally.update(event)
                self.post_message(self.Banner(f"{tally.line()}. {QUIT_NOTE}"))
        finally:
            ended = "stopped" if runner.stopping else "done"
            self.post_message(self.Banner(f"sweep {ended}: {tally.line()}. q shows the table"))
            if runner.stopping:
                self.post_message(self.Stopped())
            if self.hung_up.is_set():  # no terminal to restore: leave once the runs have saved
                threading.Thread(target=lambda: (time.sleep(3.0), os._exit(130)), daemon=True).start()

    def on_sweep_app_banner(self, message: Banner) -> None:
        self.set_banner(message.text)

    def on_sweep_app_stopped(self, _: Stopped) -> None:
        self.exit()

    def action_stop_sweep(self) -> None:
        """Close the app as q does; ``run_sweep_app`` then stops the sweep and waits for its runs to save."""
        self.exit()

    def stop_and_wait(self) -> None:
        """After the app: stop the sweep if it still trains (its runs save) and wait for its thread."""
        if self.thread.is_alive():
            self.runner.stop()
            self.thread.join()


def run_sweep_app(runner: SweepRunner) -> Tally:
    """Show the sweep in the compare view until it is quit; when this returns the sweep has ended or been
    stopped, its runs saved. What its events added up to."""
    app = SweepApp(runner)

    def on_signal(signum: int) -> None:
        if signum == getattr(signal, "SIGHUP", None):
            app.hung_up.set()
        runner.stop()

    with on_signals(on_signal, catch=("SIGTERM", "SIGHUP")):
        try:
            app.run()
        finally:
            app.stop_and_wait()
    return app.tally
