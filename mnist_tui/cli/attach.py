"""``mnist-tui attach [RUN_DIR]``: the live app on a run another process trains."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import ArgumentParser, fail, interactive
from .train import app_options, app_settings


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="mnist-tui attach",
        description="Open the live app on a run another process trains (started with --detach, or in another "
        "terminal): its whole history, then live updates. Every key works as in a normal run; q leaves the "
        "viewer and the run goes on. Several viewers may watch one run. On a run that has ended it shows the "
        "run's history.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?", help="a run directory (default: the latest active run)")
    app_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    settings = app_settings(args)
    from ..runs.catalogue import latest_active, read_run
    from ..runs.rundir import runs_root

    if args.run_dir is None:
        info = latest_active()
        if info is None:
            fail(
                f"no active run in {runs_root()}; 'mnist-tui runs' lists them all, 'mnist-tui attach RUN_DIR' opens one"
            )
    else:
        if not Path(args.run_dir).expanduser().is_dir():
            fail(f"{args.run_dir}: no such run directory")
        info = read_run(args.run_dir)
        if info is None:
            fail(f"{args.run_dir}: not a mnist-tui run directory (no config.json)")
    if not interactive():
        fail("attach needs a terminal; 'mnist-tui runs --headless' prints the state of the runs")
    from ..ui.live.viewer import run_viewer

    return run_viewer(info, **settings)
