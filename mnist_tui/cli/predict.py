"""``mnist-tui predict RUN_DIR IMAGE...``: what the weights a run ended with make of image files.

Each PNG or JPEG (any size; dark ink on light or light on dark, told apart by the border) is made into an
MNIST digit as the data set's were (engine/digitize.py: crop, fit 20x20, centre of mass at the centre) and
predicted on the CPU. One line per file: its label, the confidence and the runner-up (``--json``: one JSON
object a line); ``--show`` draws each digit as the model saw it. A file that cannot be read gets one line on
stderr naming it, the others are still predicted, and the exit code is then 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import ArgumentParser, fail

SHADES = " .:-=+*#%@"  # --show without a terminal: dark to light


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="mnist-tui predict",
        description="Predict image files (PNG or JPEG, any size, dark-on-light or light-on-dark) with the weights "
        "a run ended with. Each image is cropped to its digit, scaled to fit 20x20 and centred by its centre of "
        "mass in 28x28, as MNIST's digits were. Prints the label, its confidence and the runner-up per file; "
        "exit code 2 if any file could not be read.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (as written by a training run)")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="PNG or JPEG files")
    p.add_argument("--json", action="store_true", help="one JSON object per line and file")
    p.add_argument("--show", action="store_true", help="draw each preprocessed digit in the terminal")
    return p


def class_names_of(dataset: str) -> tuple[str, ...]:
    """The class names of a run's data set (by its name; the digits for a directory of IDX files)."""
    from ..engine.data.catalogue import DATASETS, DIGITS

    spec = DATASETS.get(dataset)
    return spec.class_names if spec is not None else DIGITS


def load_run(run_dir: str):
    """(Predictor of the weights the run ended with, its class names); fails in one line when it cannot."""
    from ..engine.errors import InputError
    from ..engine.predictor import Predictor  # torch loads from here on
    from ..runs.rundir import RunDirectory

    path = Path(run_dir).expanduser()
    if not path.is_dir():
        fail(f"{run_dir}: no such run directory")
    run = RunDirectory(path)
    try:
        config = run.read_config()
        return Predictor.from_checkpoint(run.final_weights(), config.model), class_names_of(config.dataset)
    except InputError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{run_dir}: cannot read the run ({exc.strerror or exc})")


def run(args: argparse.Namespace) -> int:
    predictor, names = load_run(args.run_dir)
    from ..engine.digitize import ImageError, digitize, read_image

    failed = 0
    for name in args.images:
        try:
            image = digitize(read_image(name))
        except ImageError as exc:
            print(f"mnist-tui: {exc}", file=sys.stderr, flush=True)
            failed += 1
            continue
        probabilities = predictor.predict(image)
        ranked = sorted(range(len(probabilities)), key=lambda c: -probabilities[c])
        top, second = ranked[0], ranked[1]
        if args.json:
            line = {
                "file": name,
                "label": names[top],
                "confidence": round(probabilities[top], 6),
                "runner_up": names[second],
                "runner_up_confidence": round(probabilities[second], 6),
                "probabilities": [round(p, 6) for p in probabilities],
            }
            print(json.dumps(line), flush=True)
        else:
            print(
                f"{name}: {names[top]} ({probabilities[top]:.1%}), runner-up {names[second]} "
                f"({probabilities[second]:.1%})",
                flush=True,
            )
        if args.show:
            show(image.tobytes())
    return 2 if failed else 0


def show(image: bytes) -> None:
    """Draw a 28x28 digit: half blocks in a terminal, characters by shade elsewhere."""
    if sys.stdout.isatty():
        from rich.console import Console

        from ..ui.pixels import halfblock_lines

        console = Console(highlight=False)
        for line in halfblock_lines([list(image[r * 28 : (r + 1) * 28]) for r in range(28)], (0, 0, 0), (255, 255, 255)):
            console.print(line)
        return
    for r in range(0, 28, 2):
        row = [(image[r * 28 + c] + image[(r + 1) * 28 + c]) // 2 for c in range(28)]
        print("".join(SHADES[v * len(SHADES) // 256] for v in row).rstrip(), flush=True)
