"""Runs handed to other tools (``mnist-tui export``): a CSV of every evaluation, and TensorBoard event files.

Both read the runs' curves as ``series.py`` does. TensorBoard's files are written by
``torch.utils.tensorboard`` (the optional ``tensorboard`` package), imported only here and only when asked.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from ..engine.files import atomic_write
from .series import TRAIN, RunSeries

CSV_COLUMNS = ("run", "set", "iteration", "epoch", "loss", "accuracy", "lr", "wall_time")
TENSORBOARD_EXTRA = 'pip install "mnist-tui[tensorboard]"'


def csv_rows(runs: Sequence[RunSeries]) -> list[tuple[object, ...]]:
    """One row per evaluation, in the order each run recorded them: run (its directory), set (validation or
    test), iteration, epochs trained, loss, accuracy (0..1), learning rate, wall seconds since the run started."""
    rows: list[tuple[object, ...]] = []
    for run in runs:
        for p in run.evaluations:
            lr = "" if p.lr is None else p.lr
            rows.append((str(run.path), p.split, p.iteration, round(p.epoch, 6), p.loss, p.accuracy, lr, round(p.wall, 4)))
    return rows


def csv_text(runs: Sequence[RunSeries]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(runs))
    return out.getvalue()


def write_csv(runs: Sequence[RunSeries], path: str | os.PathLike) -> Path:
    """The CSV in ``path``, put in place in one step (a reader never sees half of it)."""
    data = csv_text(runs).encode("utf-8")
    return atomic_write(Path(path), lambda f: f.write(data))


def tensorboard_available() -> bool:
    """Whether ``torch.utils.tensorboard`` can write event files (the ``tensorboard`` package is installed)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        return False
    return True


def tensorboard_clashes(runs: Sequence[RunSeries], directory: str | os.PathLike) -> list[Path]:
    """The runs' directories under ``directory`` that already hold event files: TensorBoard would show both."""
    dirs = [Path(directory) / run.label for run in runs]
    return [d for d in dirs if d.is_dir() and any(d.glob("events.out.tfevents.*"))]


def write_tensorboard(runs: Sequence[RunSeries], directory: str | os.PathLike) -> list[Path]:
    """Scalar event files, one directory per run (named by its label) under ``directory``: ``loss/validation``,
    ``accuracy/validation``, ``loss/test``, ``accuracy/test`` at each evaluation, ``loss/train`` and ``lr``
    at each step, against the iteration, with the wall time each was recorded at."""
    from torch.utils.tensorboard import SummaryWriter

    written = []
    for run in runs:
        log_dir = Path(directory) / run.label
        start = run.started_at
        writer = SummaryWriter(log_dir=str(log_dir))
        try:
            for p in run.evaluations:
                writer.add_scalar(f"loss/{p.split}", p.loss, p.iteration, walltime=start + p.wall)
                writer.add_scalar(f"accuracy/{p.split}", p.accuracy, p.iteration, walltime=start + p.wall)
            train = run.train
            for i in range(len(train)):
                step, wall = int(train.iterations[i]), start + train.walls[i]
                writer.add_scalar(f"loss/{TRAIN}", train.losses[i], step, walltime=wall)
            for step, wall, lr in run.lrs:
                writer.add_scalar("lr", lr, step, walltime=start + wall)
        finally:
            writer.close()
        written.append(log_dir)
    return written
