"""How the live app and its run end: quitting (stop, or detach to a background process), signals, and the
trainer worker finishing. A mixin of ``MnistApp`` (app.py), which holds the state it reads and writes.

Quitting while this process trains asks first (screens/quit.py), then stops the run, which evaluates and saves,
and exits once the trainer worker has returned, so no run is left half-written. A viewer just leaves; the run
goes on in its own process.

A signal (SIGTERM, or SIGHUP when the terminal goes away) is an interrupt: ``interrupt`` tells the run to stop right
away, from the signal handler, so the run finishes its step, evaluates, saves and writes its summary even when the
UI thread is stuck (writing a frame to a terminal that stopped reading, or that hung up); it leaves a terminal
that hung up alone (runs/signals.py) and ends the process once the run has saved, whatever the UI does by then.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

from textual.app import App
from textual.worker import Worker, WorkerState

from ...engine import events as ev
from ...engine.control import RunControl
from ...runs.signals import leave_dead_terminal
from .mode import AppMode
from ..screens.quit import DETACH as QUIT_DETACH
from ..screens.quit import STOP as QUIT_STOP
from ..screens.quit import QuitScreen
from .workers import EventSource, run_source


class RunLifecycle(App[None]):
    """Starting the trainer worker, and every way the app and its run end. The app (app.py) provides the run's
    state that these read: its event source and control, ``finished``, ``mode``, ``viewer``, ``run_active``,
    ``exit_code``, and the ``_route`` and ``_set_state`` that show a state."""

    event_source: EventSource
    control: RunControl
    mode: AppMode
    finished: ev.RunFinished | None
    trainer_finished: threading.Event
    _stats_stop: threading.Event

    quitting = False  # the user asked to quit: exit once the trainer worker is done
    detaching = False  # the user chose to detach: exit once the trainer has handed over
    trainer_done = False
    handed_over: ev.RunDetached | None = None  # the trainer saved the run for a background process
    _trainer_worker: Worker | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _exit_armed = False  # a signal came: the process ends once the run has saved (``interrupt``)
    owns_process = False  # the app is the process's (launch.run_in_terminal): it may end it after a signal
    EXIT_GRACE = 3.0  # seconds the app has to exit by itself once the run has saved, after a signal

    def _start_trainer(self) -> None:
        self._trainer_worker = self.run_worker(
            self._train, thread=True, name="trainer", group="trainer", exit_on_error=False
        )

    @property
    def trainer_started(self) -> bool:
        return self._trainer_worker is not None

    def _train(self) -> None:
        try:
            run_source(self.event_source, self.control, self.post_message)
        finally:
            self.trainer_finished.set()

    def on_mount(self) -> None:
        self._loop = asyncio.get_running_loop()

    def on_unmount(self) -> None:
        # However the app ends, let the trainer finish cleanly (it saves and writes its summary) and stop
        # reading device statistics, so no worker thread outlives the app.
        self._stats_stop.set()
        if self.viewer:
            self.control.close()  # hang up; the run goes on
        elif not self.trainer_done:
            self.control.stop(ev.Reason.INTERRUPTED)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        done = (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)
        if event.worker is not self._trainer_worker or event.state not in done:
            return
        self.trainer_done = True
        if not self.is_running:
            return
        if event.state == WorkerState.ERROR and self.finished is None:
            self._route(ev.RunFinished.failure(f"trainer worker failed: {event.worker.error}"))
        self.refresh_bindings()
        if self.quitting:
            self.exit(return_code=self.exit_code)

    async def action_quit(self) -> None:
        """q, ctrl+q and the palette: quit at once when no run is active, else ask and stop cleanly first."""
        if not self.run_active or self.viewer:  # a viewer leaves; the run goes on in its own process
            self.exit(return_code=0 if self.viewer else self.exit_code)
        elif self.quitting:
            self.notify("Waiting for the run to save before quitting…", title="Quitting")
        else:
            self.push_screen(QuitScreen(can_detach=self.mode is AppMode.TRAIN_DETACHABLE), self._quit_answered)

    def _quit_answered(self, answer: str | None) -> None:
        if answer == QUIT_STOP:
            self.shutdown_gracefully()
        elif answer == QUIT_DETACH:
            self.detach()

    def detach(self) -> None:
        """Hand the run over to a background process: it saves here and goes on there (see launch.run_app)."""
        if self.mode is not AppMode.TRAIN_DETACHABLE or not self.run_active or self.quitting:
            return
        self.detaching = self.quitting = True
        self._stop_run("detaching: saving the run for a background process…", ev.Reason.DETACHED)

    def shutdown_gracefully(self, reason: str = ev.Reason.STOPPED) -> None:
        """Stop the run (it evaluates and saves), then exit once the trainer worker is done (a viewer just exits)."""
        if self.viewer:
            self.exit(return_code=0)
            return
        self.quitting = True
        if not self.run_active:
            self.exit(return_code=self.exit_code)
            return
        self._stop_run("stopping: saving the run before quitting…", reason)

    def request_shutdown_threadsafe(self) -> None:
        """From a signal handler or another thread: the same as confirming quit. The run is told to stop here and
        now, not when the UI thread gets to it: that thread may be stuck on a terminal that stopped reading."""
        if not self.viewer:
            self.control.stop(ev.Reason.INTERRUPTED)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.shutdown_gracefully, ev.Reason.INTERRUPTED)

    def interrupt(self, signum: int) -> None:
        """SIGTERM or SIGHUP (the terminal has gone), in the signal handler: stop the run as confirming quit does.

        After a hang-up the terminal is left alone (nothing more is written to it, nothing read). The process ends
        once the run has saved and written its summary, ``EXIT_GRACE`` seconds after that if the app has not exited
        by itself (a UI stuck on a dead or stalled terminal cannot); more signals change nothing. A viewer leaves.
        """
        hung_up = signum == getattr(signal, "SIGHUP", None)
        if hung_up:
            leave_dead_terminal()
        self.request_shutdown_threadsafe()
        if self._exit_armed or (self.viewer and not hung_up):
            return
        self._exit_armed = True
        if not self.viewer:
            threading.Thread(target=self._exit_when_saved, name="exit-when-saved", daemon=True).start()
        else:
            threading.Thread(target=self._exit_after, args=(0,), name="exit-after-hang-up", daemon=True).start()

    def _exit_when_saved(self) -> None:
        # Until the run has saved and written its summary (or failed): a terminal that hangs up after the signal
        # came (a window's SIGHUP comes before its terminal closes) is left then, so nothing spins or raises on it.
        while not self.trainer_finished.wait(0.5):
            leave_dead_terminal()
        self._exit_after(130)

    def _exit_after(self, code: int) -> None:
        time.sleep(self.EXIT_GRACE)
        if self.owns_process:  # the process has not left by itself (a UI stuck on a dead terminal): nothing to save
            os._exit(code)

    def _stop_run(self, message: str, reason: str = ev.Reason.STOPPED) -> None:
        self.control.stop(reason)
        if self.finished is None:
            self._set_state(ev.RunState.STOPPING, message)
        self.refresh_bindings()
