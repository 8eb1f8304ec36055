"""Detached runs: training in a background process that outlives the terminal and serves viewers.

    mnist-tui --detach [options]        start a run in the background (or: --resume RUN_DIR --detach)
    mnist-tui attach [RUN_DIR]          watch and steer it (runs/server.py, runs/client.py), as many viewers as you like

``launch`` (in the user's terminal) starts ``python -m mnist_tui.runs.background`` in a new session, with no
terminal, and waits until the run has started: a bad option, bad data or a missing device is reported
there as one line with exit code 2, as in the foreground. Once the run is going the background process
writes its output to ``RUN_DIR/background.log`` and the terminal is free. The process trains with the same
Trainer and event stream as the app, wrapped in a RunServer; SIGTERM and SIGINT stop it like ``s`` does
(reason ``interrupted``); a hang-up does not reach it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..engine.files import NOFOLLOW

READY = "ready"
LOG_NAME = "background.log"


def launch(
    config: TrainConfig | None,
    resume: str | None = None,
    *,
    changes: dict[str, Any] | None = None,
    quiet: bool = False,
    paused: bool = False,
) -> int:
    """Start the run in a background process; return once it trains (0) or failed to start (its exit code).

    ``changes``: settings that change on a resumed run (see runs.start.make_trainer). ``paused``: it starts
    paused (a run handed over while paused stays paused until someone resumes it). A run that another
    process trains is refused there, by the run directory's lock, as one line.
    """
    from .start import resolve_run_dir

    if resume:
        args = ["--resume", str(Path(resume).expanduser().resolve())]
    else:
        assert config is not None
        args = ["--config", json.dumps(resolve_run_dir(config).to_dict())]
    if changes:
        args += ["--changes", json.dumps(changes)]
    if paused:
        args.append("--paused")
    started = start_detached(["-m", "mnist_tui.runs.background", *args], "run")
    if isinstance(started, int):
        return started
    proc, first = started
    run_dir = first.split(" ", 1)[1]
    if not quiet:
        say(
            f"training in the background (pid {proc.pid}): {run_dir}\n"
            f"  watch and steer it:  mnist-tui attach {run_dir}\n"
            "  list runs:           mnist-tui runs\n"
            f"  its output:          {Path(run_dir) / LOG_NAME}\n"
        )
    return 0


def say(text: str) -> None:
    """Write ``text`` on stdout. A reader that went away (``mnist-tui --detach | head -1``) is no error: the run
    is started all the same; what is left is sent nowhere, so that exiting does not fail on it either."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def start_detached(argv: list[str], what: str) -> tuple[subprocess.Popen, str] | int:
    """Start ``python ARGV`` in a session of its own and wait until it says it is ready (its first line,
    "ready ..."): the process and that line; or, when it ended before that, its exit code (at least 1), its
    message shown on stderr. ``what`` names it in the message when it left none ("run", "sweep")."""
    proc = subprocess.Popen(
        [sys.executable, *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own session: a hang-up of this terminal does not reach it
        close_fds=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = ""
    for raw in proc.stdout:  # "ready ..." once it runs; EOF when it failed before that
        first = raw.decode(errors="replace").strip()
        if first.startswith(READY):
            break
    if not first.startswith(READY):
        code = proc.wait()
        message = proc.stderr.read().decode(errors="replace").strip()
        print(message or f"mnist-tui: error: the background {what} ended at start (exit code {code})", file=sys.stderr)
        return code or 1
    proc.stdout.close()
    proc.stderr.close()
    return proc, first


def serve(
    config: TrainConfig | None, resume: str | None, paused: bool = False, changes: dict[str, Any] | None = None
) -> int:
    """The background process: train, serve viewers, record everything in the run directory."""
    from ..engine.control import Control
    from ..engine.errors import InputError
    from ..engine.events import EXIT_BAD_INPUT, EXIT_FAILED, RunFinished, RunStarted
    from .server import RunServer
    from .signals import stop_on_signals
    from .start import make_trainer

    control = Control()
    if paused:
        control.pause()
    finished: RunFinished | None = None
    ready = False
    # SIGTERM and SIGINT stop the run like `s` does; a hang-up does not reach it.
    with stop_on_signals(control, catch=("SIGTERM", "SIGINT"), ignore=("SIGHUP",), second_aborts=False):
        try:
            trainer = make_trainer(config, control, resume=resume, changes=changes)
        except (InputError, ValueError) as exc:  # no run there, a bad change: the launcher shows this line
            print(f"mnist-tui: error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        for event in RunServer(control, mode="detached").wrap(trainer.run()):
            if isinstance(event, RunStarted) and not ready:
                ready = True
                _announce_and_leave_terminal(event.run_dir)
            elif isinstance(event, RunFinished):
                finished = event
    if finished is not None and not ready:  # failed before the run started: the launcher shows this line
        print(f"mnist-tui: error: {finished.message}", file=sys.stderr)
    elif finished is not None:
        print(f"run ended ({finished.reason}): {finished.message}")
    return EXIT_FAILED if finished is None else finished.exit_code


def _announce_and_leave_terminal(run_dir: str) -> None:
    """Tell the launcher the run has started, then send all further output to the run's log file."""
    try:
        print(f"{READY} {run_dir}", flush=True)
        sys.stderr.flush()
    except OSError:  # the launcher is gone (Ctrl+C while it waited): the run goes on all the same
        pass
    log = os.open(Path(run_dir) / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND | NOFOLLOW, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mnist_tui.runs.background")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--config", help="the run's TrainConfig as JSON")
    g.add_argument("--resume", help="a run directory to continue")
    p.add_argument("--paused", action="store_true", help="start paused")
    p.add_argument("--changes", help="with --resume: the settings that change, as JSON")
    args = p.parse_args(argv)
    config = TrainConfig.from_dict(json.loads(args.config)) if args.config else None
    changes = json.loads(args.changes) if args.changes else None
    return serve(config, args.resume, args.paused, changes)


if __name__ == "__main__":
    sys.exit(main())
