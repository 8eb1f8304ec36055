"""Running an app in this process's terminal: ``run_app`` trains a config (or resumes a run) in the live app,
``run_in_terminal`` runs any MnistApp with the process's signals routed to it (runs/signals.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...config import TrainConfig
from ...engine import events as ev
from ...engine.control import Control, RunControl
from ...runs.signals import on_signals
from .app import MnistApp
from .keymap import load_keymap
from .mode import AppMode
from ..common.refresh import DEFAULT_REFRESH
from ..common.theme import terminal_theme


def screen_options(theme: str | None = None, bell: bool = True, refresh: float = DEFAULT_REFRESH) -> dict[str, Any]:
    """The user's choices for the app: its theme (by default the terminal's own colours), the bell, and the keys
    of the keymap file (an entry it cannot apply is one line on the screen; its default key stays)."""
    return {"theme": theme or terminal_theme(), "bell": bell, "keymap": load_keymap(), "refresh": refresh}


def run_app(
    config: TrainConfig | None,
    resume: str | None = None,
    changes: dict[str, Any] | None = None,
    *,
    theme: str | None = None,
    bell: bool = True,
    refresh: float = DEFAULT_REFRESH,
) -> int:
    """Train ``config`` (or resume the run in ``resume``, with ``changes``: see runs.start.make_trainer) in the
    live app, with ``theme`` and ``bell`` (screen_options). 0 on success, 1 if the run failed.

    The run also listens for viewers (``mnist-tui attach``), and ``q`` offers to detach: the trainer saves,
    this process starts ``mnist-tui --resume RUN_DIR --detach`` and leaves, and the run goes on there.
    """

    control = Control()  # the trainer's, and the app's to steer it with

    def trainer_events(_: RunControl) -> Iterable[ev.Event]:
        from ...runs.server import RunServer
        from ...runs.start import make_trainer  # imports torch: in the worker, after the first frame

        return RunServer(control, mode="app").wrap(make_trainer(config, control, resume=resume, changes=changes).run())

    run_dir = resume or (config.run_dir if config is not None else None)
    app = MnistApp(
        trainer_events,
        control=control,
        run_dir=run_dir,
        mode=AppMode.TRAIN_DETACHABLE,
        **screen_options(theme, bell, refresh),
    )
    code = run_in_terminal(app)
    if app.handed_over is not None and app.run_dir:
        from ...runs.background import launch

        return launch(None, resume=app.run_dir, paused=app.handed_over.paused)
    return code


def run_in_terminal(app: MnistApp) -> int:
    """Run the app; SIGTERM and SIGHUP quit it as confirming quit does (a viewer just leaves). The app lives as
    long as the process: its start-up heap is frozen once the run starts (heap.py)."""
    app.settle_heap = True
    app.owns_process = True  # after a signal, the process ends even if the app cannot (lifecycle.py)

    with on_signals(app.interrupt, catch=("SIGTERM", "SIGHUP")):  # lifecycle.py: the run saves, the process ends
        try:
            app.run()
        finally:
            if not app.viewer:
                app.control.stop(ev.Reason.INTERRUPTED)  # if the app died early, the trainer still winds down and saves
                if app.trainer_started:
                    app.trainer_finished.wait()  # with signals still caught: a hang-up now must not kill the save
            app.owns_process = False  # it left by itself: what the caller does next (a handover) is not cut short
    if app.return_code is not None and app.return_code != 0:
        return app.return_code
    return 1 if app.run_state == ev.RunState.FAILED and not app.viewer else 0
