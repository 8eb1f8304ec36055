"""``mnist-tui draw [RUN_DIR]``: draw digits and see what the weights a run ended with make of them."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import ArgumentParser, fail, interactive


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="mnist-tui draw",
        description="Draw a digit with the mouse (or the keyboard) and watch the model's ten probabilities, the "
        "28x28 image it sees (cropped, scaled to fit 20x20 and centred by its centre of mass, as MNIST's digits "
        "were) and what it looks at, with the weights a finished run ended with. Keys: arrows move the cursor, "
        "shift+arrows draw, space paints, x erases, c clears, q quits.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?", help="a run directory (default: the latest run)")
    return p


def run(args: argparse.Namespace) -> int:
    from ..runs.catalogue import DAMAGED, list_runs, read_run
    from ..runs.rundir import RunDirectory, runs_root
    from ..engine.errors import InputError
    from .predict import class_names_of

    if args.run_dir is None:
        with_weights = [r.path for r in list_runs() if r.state != DAMAGED and RunDirectory(r.path).has_weights()]
        if not with_weights:
            fail(f"no run with weights in {runs_root()}; train one first, or name one: 'mnist-tui draw RUN_DIR'")
        run_dir = with_weights[0]
    else:
        run_dir = Path(args.run_dir).expanduser()
        if not run_dir.is_dir():
            fail(f"{args.run_dir}: no such run directory")
        if read_run(run_dir) is None:
            fail(f"{args.run_dir}: not a mnist-tui run directory (no config.json)")
    run = RunDirectory(run_dir)
    try:
        run.final_weights()  # a run without weights yet is named here, in one line, not in the app
        names = class_names_of(run.read_config().dataset)
    except InputError as exc:
        fail(str(exc))
    if not interactive():
        fail("draw needs a terminal; 'mnist-tui predict RUN_DIR IMAGE...' predicts image files")
    from ..ui.apps.draw_app import run_draw_app

    return run_draw_app(str(run_dir.resolve()), names)
