"""Runs handed to other tools (``mnist-tui export``): a CSV of every evaluation, and TensorBoard event files.

Both read the runs' curves as ``series.py`` does. TensorBoard's files are written by
``torch.utils.tensorboard`` (the optional ``tensorboard`` package), imported only here and only when asked.
Where they go is checked first (``csv_target``, ``tensorboard_target``): never into a run directory, never
through a link another user could have planted, never in place of something that is not a regular file.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from ..engine.errors import InputError
from ..engine.files import atomic_write
from .rundir import enclosing_run, real_path
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


_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def _outside_runs(path: Path, what: str) -> None:
    run = enclosing_run(path)
    if run is not None:
        raise InputError(
            f"{what}: would write into the run directory {run} (its files are the run's own); choose a place outside it"
        )


def csv_target(path: str | os.PathLike) -> Path:
    """Where ``--csv FILE`` writes, checked before anything is: InputError (one line) unless FILE's directory
    exists and is reached through no link another user could have planted (``rundir.real_path``), lies in no
    run directory, and FILE is new or a regular file (a link, a device, a FIFO is never replaced). The path
    returned has no links: write there."""
    named = Path(path).expanduser()
    what = f"--csv {path}"
    directory = real_path(named.parent, what=what)
    if not directory.is_dir():
        raise InputError(f"{what}: its directory does not exist")
    _outside_runs(directory, what)
    target = directory / named.name
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise InputError(f"{what}: cannot reach it ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise InputError(
            f"{what}: {kind} stands there; export writes a new file or replaces a regular one "
            "(name the file itself, or '-' for standard output)"
        )
    return target


def tensorboard_target(directory: str | os.PathLike, runs: Sequence[RunSeries]) -> Path:
    """Where ``--tensorboard DIR`` writes, checked before anything is: InputError (one line) unless DIR is
    reached through no link another user could have planted, is a directory where it exists, and neither it
    nor any run's directory under it (named by the run's label) lies in a run directory. The path returned
    has no links: write there."""
    what = f"--tensorboard {directory}"
    real = real_path(directory, what=what)
    if os.path.lexists(real) and not real.is_dir():
        raise InputError(f"{what}: not a directory")
    _outside_runs(real, what)
    for run in runs:
        _outside_runs(real_path(real / run.label, what=what), what)
    return real


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
