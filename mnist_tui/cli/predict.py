"""``mnist-tui predict RUN_DIR IMAGE...``: what the weights a run ended with make of image files.

Each PNG or JPEG (any size up to digitize.MAX_PIXELS; dark ink on light or light on dark, told apart by the
border) is made into an MNIST digit as the data set's were (engine/digitize.py: crop, fit 20x20, centre of
mass at the centre) and predicted on the CPU. An IMAGE may be a directory (its PNG and JPEG files, sorted) or
``-`` (paths on stdin, one a line, each predicted as it arrives). One line per file: its label, the
confidence, the next ``--top`` classes, and ``unsure`` when the confidence is under ``--min-confidence``
(``--json``: one JSON object a line, nothing else on stdout); ``--show`` draws each digit as the model saw
it (on stderr with ``--json``). A file that cannot be read gets one line on stderr naming it, the others
are still predicted, and the exit code is then 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from .common import ArgumentParser, count_arg, fail, float_arg

SHADES = " .:-=+*#%@"  # --show without a terminal: dark to light
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # what a directory's files are read for, in any case
MIN_CONFIDENCE = 0.7  # under this, a label is marked unsure (see --min-confidence)
MAX_PATH_LINE = 4096  # bytes: a line of stdin longer than this is no path (Linux's PATH_MAX)


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="mnist-tui predict",
        description="Predict image files (PNG or JPEG, any size, dark-on-light or light-on-dark) with the weights "
        "a run ended with. Each image is cropped to its digit, scaled to fit 20x20 and centred by its centre of "
        "mass in 28x28, as MNIST's digits were. Prints the label, its confidence and the runner-up per file, "
        "and 'unsure' when the confidence is under --min-confidence; exit code 2 if any file could not be read "
        "(each is named on stderr; the others are still predicted).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (as written by a training run)")
    p.add_argument(
        "images",
        metavar="IMAGE",
        nargs="+",
        help="PNG or JPEG files; a directory: its .png, .jpg and .jpeg files (sorted, not its subdirectories); "
        "-: paths read from stdin, one a line (as 'ls *.png' or 'find' print them)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line and file, nothing else on stdout: file, label, confidence, unsure, "
        "min_confidence, top (the --top classes with their confidences), runner_up, runner_up_confidence, "
        "probabilities",
    )
    p.add_argument(
        "--show",
        action="store_true",
        help="draw each preprocessed digit after its line (on stderr with --json, so stdout stays JSON)",
    )
    p.add_argument(
        "--top",
        metavar="K",
        type=count_arg,
        default=2,
        help="show the K most likely classes of each image, at most all of them (default 2: the label and the "
        "runner-up)",
    )
    p.add_argument(
        "--min-confidence",
        metavar="P",
        type=confidence_arg,
        default=MIN_CONFIDENCE,
        help="mark a prediction unsure when the model gives its label a probability under P (0 to 1, default "
        f"{MIN_CONFIDENCE}): its line ends in 'unsure (under {MIN_CONFIDENCE * 100:g}%%)', its JSON has \"unsure\": "
        "true. With the fast preset's model, 0.7 marks about 9 in 10 of its mistakes on MNIST's test digits, 1 "
        "in 20 of its right answers, and most letters and smudges; a confident label is no proof of a digit",
    )
    return p


def confidence_arg(text: str) -> float:
    value = float_arg(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


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


class Unreadable(Exception):
    """An IMAGE argument that names no file to predict: an unreadable directory or line of stdin."""


def image_paths(arguments: list[str], stdin=None) -> Iterator[str | Unreadable]:
    """Each file to predict, in order: the arguments, a directory's image files, stdin's lines for ``-``.

    Yields an ``Unreadable`` (one line) in place of what names no file, so that the others still go on.
    """
    for argument in arguments:
        if argument == "-":
            stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
            if stream is None:
                yield Unreadable("-: no stdin to read paths from (it is closed)")
            else:
                yield from stdin_paths(stream)
        else:
            yield from expand(argument)


def expand(path: str) -> Iterator[str | Unreadable]:
    """A file as it is (read_image names what is wrong with it); a directory as its image files, sorted."""
    if not os.path.isdir(path):
        yield path
        return
    try:
        with os.scandir(path) as entries:
            names = sorted(e.name for e in entries if e.name.lower().endswith(IMAGE_SUFFIXES) and is_file(e))
    except OSError as exc:
        yield Unreadable(f"{path}: cannot list the directory ({exc.strerror or exc})")
        return
    if not names:
        yield Unreadable(f"{path}: the directory holds no PNG or JPEG files ({', '.join(IMAGE_SUFFIXES)})")
    for name in names:
        yield os.path.join(path, name)


def is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def stdin_paths(stream) -> Iterator[str | Unreadable]:
    """Paths from a binary stream, one a line (blank lines skipped), each yielded as soon as it is read."""
    number = 0
    while True:
        line = stream.readline(MAX_PATH_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_PATH_LINE and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # the rest of the line, a bounded piece at a time
                line = stream.readline(MAX_PATH_LINE + 1)
            yield Unreadable(f"stdin line {number}: longer than {MAX_PATH_LINE} bytes, not a path")
            continue
        path = os.fsdecode(line.rstrip(b"\r\n"))
        if path:
            yield from expand(path)


def shown(name: str) -> str:
    """A file name as text any terminal or pipe takes: undecodable bytes and control characters escaped."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def run(args: argparse.Namespace) -> int:
    if args.images.count("-") > 1:
        fail("'-' (paths from stdin) may be given once")
    predictor, names = load_run(args.run_dir)
    from ..engine.digitize import ImageError, digitize, read_image

    top_k = min(args.top, len(names))
    failed = 0
    try:
        for name in image_paths(args.images):
            try:
                if isinstance(name, Unreadable):
                    raise name
                image = digitize(read_image(name))
            except (ImageError, Unreadable) as exc:  # named in one line; the others are still predicted
                print(f"mnist-tui: {shown(str(exc))}", file=sys.stderr, flush=True)
                failed += 1
                continue
            probabilities = predictor.predict(image)
            ranked = sorted(range(len(probabilities)), key=lambda c: -probabilities[c])
            top, second = ranked[0], ranked[1]
            unsure = probabilities[top] < args.min_confidence
            if args.json:
                line = {
                    "file": name,
                    "label": names[top],
                    "confidence": round(probabilities[top], 6),
                    "unsure": unsure,
                    "min_confidence": args.min_confidence,
                    "top": [{"label": names[c], "confidence": round(probabilities[c], 6)} for c in ranked[:top_k]],
                    "runner_up": names[second],
                    "runner_up_confidence": round(probabilities[second], 6),
                    "probabilities": [round(p, 6) for p in probabilities],
                }
                print(json.dumps(line), flush=True)
            else:
                floor = args.min_confidence if unsure else None
                print(text_line(shown(name), names, probabilities, ranked[:top_k], floor), flush=True)
            if args.show:
                show(image.tobytes(), sys.stderr if args.json else sys.stdout)
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as other tools in a pipeline do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 2 if failed else 0


def text_line(name: str, names, probabilities, ranked: list[int], unsure_under: float | None) -> str:
    """``FILE: 7 (98.1%), runner-up 2 (1.0%), then 3 (0.4%)``, and ``, unsure (under 70%)`` when it is."""
    parts = [f"{names[c]} ({probabilities[c]:.1%})" for c in ranked]
    text = f"{name}: {parts[0]}"
    if len(parts) > 1:
        text += f", runner-up {parts[1]}"
    if len(parts) > 2:
        text += f", then {', '.join(parts[2:])}"
    return text + (f", unsure (under {unsure_under * 100:g}%)" if unsure_under is not None else "")


def show(image: bytes, stream) -> None:
    """Draw a 28x28 digit on ``stream``: in a terminal, half blocks and shades in its own ink (whatever its
    background, with or without colour); elsewhere, ASCII characters by shade."""
    if stream.isatty():
        from ..ui.common.pixels import shaded_lines

        grid = [list(image[r * 28 : (r + 1) * 28]) for r in range(28)]
        for line in shaded_lines(grid):
            print(line.plain.rstrip(), file=stream, flush=True)
        return
    for r in range(0, 28, 2):
        row = [(image[r * 28 + c] + image[(r + 1) * 28 + c]) // 2 for c in range(28)]
        print("".join(SHADES[v * len(SHADES) // 256] for v in row).rstrip(), file=stream, flush=True)
