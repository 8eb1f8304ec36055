"""A run's curves and facts, read from its directory: for ``mnist-tui compare`` and ``mnist-tui export``.

Each evaluation recorded in ``metrics.jsonl`` (validation or test: loss and accuracy) and each training
loss becomes a point with three positions (iteration, epochs trained, wall seconds since the run started, the
line's ``t``), so a view can put any of them on x. A run is read through ``catalogue.MetricsFollower``, whose
``read`` returns what is new at once, for a screen that polls several live runs.

What differs between runs (``differing_settings``) and each run's row of the comparison table
(``compare_columns``, ``compare_cells``) are computed here once for the headless table and the app.
Stdlib only: no torch.
"""

from __future__ import annotations

import math
import os
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..engine import events as ev
from .catalogue import CRASHED, DAMAGED, MetricsFollower, read_run, trained_now
from .rundir import RunDirectory, RunDirError
from .untrusted import finite, printable

TRAIN = "train"  # the training loss, per step: a set with a loss and no accuracy
SETS = (ev.VALIDATION, ev.TEST, TRAIN)

# The kinds of line a comparison reads; the others (previews, snapshots) are skipped before parsing.
KINDS = ("run_started", "step", "evaluation", "state", "run_finished", "settings")
# How much of a metrics file one ``read`` takes in (a screen's poll): a long file is read over several polls.
READ_BYTES = 8 << 20


@dataclass(frozen=True)
class EvalPoint:
    """One evaluation of a run: of its validation or its test set."""

    split: str  # ev.VALIDATION or ev.TEST
    iteration: int
    epoch: float  # epochs trained: iteration / steps per epoch (the trainer's whole epoch when that is unknown)
    loss: float
    accuracy: float  # 0..1
    lr: float | None  # the learning rate of the steps before it
    wall: float  # seconds since the run started (its ``t``; a resumed run's clock goes on)


# What a run's curves keep, however long its metrics file: more points than a chart or a screen can show.
MAX_TRAIN_POINTS = 20_000
MAX_EVALUATIONS = 20_000  # a real run evaluating every 50 steps reaches this at a million steps
MAX_LR_POINTS = 20_000


class TrainLoss:
    """Per-step training losses as columns: iteration, epochs trained, wall time, loss.

    Bounded: once it holds ``max_points`` points, neighbours are averaged in pairs and each point from then on
    is the mean of twice as many steps (``stride``), so a run of any length keeps at most ``max_points``
    (a run's last steps, fewer than ``stride``, wait in a bin for the rest of their point).
    """

    def __init__(self, max_points: int = MAX_TRAIN_POINTS) -> None:
        self.iterations = array("d")
        self.epochs = array("d")
        self.walls = array("d")
        self.losses = array("d")
        self.max_points = max(2, max_points)
        self.stride = 1  # steps a point is the mean of
        self._bin = [0.0, 0.0, 0.0, 0.0]
        self._in_bin = 0

    def __len__(self) -> int:
        return len(self.losses)

    @property
    def columns(self) -> tuple[array, array, array, array]:
        return self.iterations, self.epochs, self.walls, self.losses

    def append(self, iteration: float, epoch: float, wall: float, loss: float) -> None:
        self.extend([iteration], [epoch], [wall], [loss])

    def extend(
        self, iterations: Sequence[float], epochs: Sequence[float], walls: Sequence[float], losses: Sequence[float]
    ) -> None:
        """Add steps (columns of equal length), a slice at a time: one line's steps cost a few calls, not one each."""
        values = (iterations, epochs, walls, losses)
        n, i = len(losses), 0
        while i < n:
            if self.stride == 1:
                take = min(n - i, self.max_points - len(self.losses))
                for column, given in zip(self.columns, values):
                    column.extend(given[i : i + take])
            else:
                take = min(n - i, self.stride - self._in_bin)
                for k, given in enumerate(values):
                    self._bin[k] += sum(given[i : i + take])
                self._in_bin += take
                if self._in_bin == self.stride:
                    for column, total in zip(self.columns, self._bin):
                        column.append(total / self.stride)
                    self._bin, self._in_bin = [0.0, 0.0, 0.0, 0.0], 0
            i += take
            if len(self.losses) >= self.max_points:
                self._halve()

    def _halve(self) -> None:
        for column in self.columns:
            pairs = array("d", ((column[i] + column[i + 1]) / 2 for i in range(0, len(column) - 1, 2)))
            if len(column) % 2:
                pairs.append(column[-1])
            column[:] = pairs
        self.stride *= 2


class LrPoints:
    """The learning rate at each step line, as columns: iteration, wall time, lr; iterating gives
    (iteration, wall time, lr). Bounded: once it holds ``max_points``, every other one is kept, and from then
    on every other line (then every fourth ...)."""

    def __init__(self, max_points: int = MAX_LR_POINTS) -> None:
        self.iterations = array("d")
        self.walls = array("d")
        self.lrs = array("d")
        self.max_points = max(2, max_points)
        self.every = 1  # lines a point stands for
        self._lines = 0

    def __len__(self) -> int:
        return len(self.lrs)

    def __iter__(self) -> Iterator[tuple[int, float, float]]:
        return ((int(i), w, lr) for i, w, lr in zip(self.iterations, self.walls, self.lrs))

    def append(self, iteration: int, wall: float, lr: float) -> None:
        self._lines += 1
        if self._lines % self.every:
            return
        for column, value in zip((self.iterations, self.walls, self.lrs), (iteration, wall, lr)):
            column.append(value)
        if len(self.lrs) >= self.max_points:
            for column in (self.iterations, self.walls, self.lrs):
                column[:] = column[1::2]
            self.every *= 2


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class RunSeries:
    """One run's curves and facts, finished or live. ``update()`` reads what its metrics file gained.

    Mutable: it grows while the run trains. Readers (a chart, a table) read it on the thread that updates it.
    """

    def __init__(self, path: str | os.PathLike, *, label: str | None = None) -> None:
        self.rundir = RunDirectory(path)
        self.path = self.rundir.path
        self.label = label or self.path.name
        self.config: TrainConfig | None = None
        self.problem = ""  # why the run cannot be read (a damaged config), else ""
        self.started: ev.RunStarted | None = None
        self.finished: ev.RunFinished | None = None
        self.state = ev.RunState.STARTING.value  # the last StateChanged
        self.alive = False  # a process trains it now (checked at each update of an unfinished run)
        self.evaluations: list[EvalPoint] = []
        self.train = TrainLoss()
        self.iteration = 0
        self.lr: float | None = None
        self.train_seconds: float | None = None  # training time so far (pauses excluded)
        self.lrs = LrPoints()  # (iteration, wall time, lr) of each step line (bounded)
        self.started_at = 0.0  # when the run started, in seconds since the epoch (its wall times count from it)
        self._last_wall = 0.0
        self._step_wall: float | None = None  # the wall time of the last step line
        self._follower = MetricsFollower(self.path, kinds=KINDS)
        info = read_run(self.path)
        if info is None:
            self.problem = f"{self.path}: holds no run (no {RunDirectory.CONFIG})"
        elif info.state == DAMAGED:
            self.problem = info.detail
        else:
            self.started_at = info.started.timestamp() if info.started else 0.0
            try:
                self.config = self.rundir.read_config()
            except RunDirError as exc:
                self.problem = str(exc)

    # Reading -------------------------------------------------------------------------------------------
    def update(self) -> bool:
        """Read the lines the run added since the last call and take them in; True when something changed.

        The file is streamed, one line at a time into the curves (which are bounded): a metrics file of any
        size is read in bounded memory."""
        if self.problem:
            return self.take(False, [])
        alive = trained_now(self.rundir, self.rundir.read_process())  # asked before reading: no last lines missed
        changed = False
        for line in self._follower.follow():
            changed = self.take(alive, [line]) or changed
        return self.take(alive, []) or changed

    def read(self) -> tuple[bool, list[tuple[float, ev.Event]]]:
        """Whether a process trains the run, and the lines it added since the last read (file work only: a
        screen calls this from a thread and ``take`` on its own)."""
        if self.problem:
            return False, []
        alive = trained_now(self.rundir, self.rundir.read_process())  # asked before reading: no last lines missed
        return alive, self._follower.read(READ_BYTES)

    def take(self, alive: bool, events: Sequence[tuple[float, ev.Event]]) -> bool:
        for wall, event in events:
            try:
                self.apply(wall, event)
            except (TypeError, ValueError, AttributeError):
                continue  # a line of the right kind with values of the wrong types: damaged, skipped
        alive = alive and self.finished is None
        changed = bool(events) or alive != self.alive
        self.alive = alive
        return changed

    def apply(self, wall: float, event: ev.Event) -> None:
        """Take one recorded event (with its wall time) into the curves and facts."""
        if _finite(wall):
            self._last_wall = wall
        wall = self._last_wall
        if isinstance(event, ev.RunStarted):
            self.started = event
            self.finished = None  # a resumed run goes on
        elif isinstance(event, ev.StateChanged):
            self.state = str(event.state)
        elif isinstance(event, ev.StepMetrics):
            self._add_steps(event, wall)
        elif isinstance(event, ev.SettingsChanged):
            lr = event.changes.get("lr") if isinstance(event.changes, dict) else None
            if _finite(lr):
                self.lr = float(lr)
        elif isinstance(event, ev.Evaluation):
            if _finite(event.loss) and _finite(event.accuracy) and event.iteration >= 0:
                split = ev.TEST if event.split == ev.TEST else ev.VALIDATION
                point = EvalPoint(
                    split, event.iteration, self._epochs(event.iteration, event.epoch), float(event.loss),
                    float(event.accuracy), self.lr, wall,
                )  # fmt: skip
                self.evaluations.append(point)
                if len(self.evaluations) > MAX_EVALUATIONS:  # every other one from before, the last kept
                    self.evaluations = self.evaluations[-2::-2][::-1] + self.evaluations[-1:]
                self.iteration = max(self.iteration, event.iteration)
        elif isinstance(event, ev.RunFinished):
            state = str(event.state)  # ValueError for a reason that is not one: the line is damaged
            self.finished = event
            self.state = state
            if isinstance(event.iteration, int) and event.iteration >= 0:
                self.iteration = max(self.iteration, event.iteration)
            elapsed = finite(event.elapsed)
            if elapsed is not None and elapsed >= 0:
                self.train_seconds = elapsed

    def _add_steps(self, event: ev.StepMetrics, wall: float) -> None:
        losses = event.losses
        n = len(losses)
        first = event.iteration - n + 1
        previous = self._step_wall if self._step_wall is not None else wall
        # The steps of one line ran between the previous line and this one: spread them over that time.
        kept = [k for k, loss in enumerate(losses) if type(loss) in (float, int) and math.isfinite(loss)]
        iterations = [first + k for k in kept]
        spe = self.started.steps_per_epoch if self.started else 0
        epochs = [at / spe for at in iterations] if spe > 0 else [float(event.epoch)] * len(kept)
        walls = [previous + (wall - previous) * (k + 1) / n for k in kept]
        self.train.extend(iterations, epochs, walls, [losses[k] for k in kept])
        self._step_wall = wall
        self.iteration = max(self.iteration, event.iteration)
        if _finite(event.lr):
            self.lr = float(event.lr)
            self.lrs.append(event.iteration, wall, self.lr)
        if _finite(event.elapsed):
            self.train_seconds = float(event.elapsed)

    def _epochs(self, iteration: int, epoch: int) -> float:
        spe = self.started.steps_per_epoch if self.started else 0
        return iteration / spe if spe > 0 else float(epoch)

    # What it shows -------------------------------------------------------------------------------------
    def points(self, split: str) -> list[EvalPoint]:
        return [p for p in self.evaluations if p.split == split]

    def has(self, split: str) -> bool:
        if split == TRAIN:
            return len(self.train) > 0
        return any(p.split == split for p in self.evaluations)

    @property
    def dataset(self) -> str | None:
        return self.config.dataset if self.config else None

    @property
    def device(self) -> str | None:
        if self.finished is not None and isinstance(self.finished.device, str) and self.finished.device:
            return self.finished.device
        device = self.started.device if self.started else None
        return device if isinstance(device, str) else None

    @property
    def progress(self) -> float | None:
        total = self.started.total_steps if self.started else 0
        return min(1.0, self.iteration / total) if total else None

    def latest(self, split: str) -> float | None:
        points = self.points(split)
        return points[-1].accuracy if points else None

    @property
    def validation_accuracy(self) -> float | None:
        """Of the weights the run ended with (a finished run), else the latest evaluation's."""
        if self.finished is not None and finite(self.finished.validation_accuracy) is not None:
            return finite(self.finished.validation_accuracy)
        return self.latest(ev.VALIDATION)

    @property
    def test_accuracy(self) -> float | None:
        """The final test accuracy (a finished run), else the latest test evaluation's (each epoch end)."""
        if self.finished is not None and finite(self.finished.final_accuracy) is not None:
            return finite(self.finished.final_accuracy)
        return self.latest(ev.TEST)

    @property
    def ending(self) -> str:
        """How the run ended (its reason), or what it is doing now; ``failed`` for a run whose process is gone."""
        if self.problem:
            return DAMAGED
        if self.finished is not None:
            return str(self.finished.reason)
        if self.alive:
            progress = self.progress
            return self.state + (f" {progress:.0%}" if progress is not None else "")
        return ev.RunState.FAILED.value

    @property
    def detail(self) -> str:
        if self.problem:
            return self.problem
        if self.finished is not None:
            return str(self.finished.message)
        return "" if self.alive else CRASHED


def load(paths: Iterable[str | os.PathLike]) -> list[RunSeries]:
    """The runs in ``paths`` (each a run directory, or a directory of runs such as a sweep's), read once and
    labelled by their paths relative to what they share."""
    dirs: list[Path] = []
    for path in paths:
        dirs.extend(d for d in run_dirs_in(path) if d not in dirs)
    runs = [RunSeries(d) for d in dirs]
    relabel(runs)
    for run in runs:
        run.update()
    return runs


def run_dirs_in(path: str | os.PathLike) -> list[Path]:
    """``path`` itself when it holds a run, else the runs directly inside it (sorted by name); [] for neither."""
    root = Path(path).expanduser().resolve()
    if (root / RunDirectory.CONFIG).is_file():
        return [root]
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []
    return [child for child in children if (child / RunDirectory.CONFIG).is_file()]


def relabel(runs: Sequence[RunSeries]) -> None:
    """Name each run by its path relative to the runs' common parent: short, and unique."""
    if not runs:
        return
    parents = [str(r.path.parent) for r in runs]
    try:
        base = Path(os.path.commonpath(parents))
    except ValueError:
        base = None
    for run in runs:
        run.label = str(run.path.relative_to(base)) if base is not None else str(run.path)


# What differs between runs ----------------------------------------------------------------------------------
# Config fields that say where or how a run is shown, not what it computes (the device column shows the device).
_NOT_SETTINGS = {"run_dir", "data_dir", "metrics_interval", "device"}


def flat_settings(config: TrainConfig) -> dict[str, Any]:
    """A config as option-like names: ``batch-size``, ``patience``, ``early-stopping`` (on or off)."""
    out: dict[str, Any] = {}
    for name, value in config.to_dict().items():
        if name in _NOT_SETTINGS:
            continue
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                key = name if sub == "enabled" else sub
                out[key.replace("_", "-")] = subvalue
        else:
            out[name.replace("_", "-")] = value
    return out


def differing_settings(configs: Sequence[TrainConfig | None]) -> list[str]:
    """The settings (as ``flat_settings`` names, in config order) whose values are not the same in every run."""
    flats = [flat_settings(c) for c in configs if c is not None]
    if len(flats) < 2:
        return []
    names = list(flats[0])
    return [n for n in names if any(f.get(n) != flats[0].get(n) for f in flats[1:])]


def setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def dataset_warning(runs: Sequence[RunSeries]) -> str | None:
    """A line when the runs are of different data sets (allowed, but their figures do not compare)."""
    counts: dict[str, int] = {}
    for run in runs:
        if run.dataset is not None:
            counts[run.dataset] = counts.get(run.dataset, 0) + 1
    if len(counts) < 2:
        return None
    listed = ", ".join(f"{name} ({n} run{'s' if n != 1 else ''})" for name, n in counts.items())
    return f"these runs are of different data sets: {listed}; their accuracies do not compare"


# The comparison table: the same cells in the headless table (console/compare.py) and the app ----------------
FACT_COLUMNS = ("val", "test", "end", "time", "device")


def compare_columns(settings: Sequence[str]) -> tuple[str, ...]:
    """The run, its figures, then the settings that differ (many, when presets differ: they go last, where a
    narrow screen scrolls)."""
    return ("run", *FACT_COLUMNS, *settings)


def _accuracy(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def duration_text(seconds: float | None) -> str:
    """12.3 s, 4:05, 1:02:03; - when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def compare_cells(run: RunSeries, settings: Sequence[str]) -> tuple[str, ...]:
    """The run's row; what comes from a path or a file is printed with its control characters escaped."""
    flat = flat_settings(run.config) if run.config else {}
    return tuple(printable(cell) for cell in (
        run.label,
        _accuracy(run.validation_accuracy),
        _accuracy(run.test_accuracy),
        run.ending,
        duration_text(run.train_seconds),
        run.device or "-",
        *(setting_text(flat.get(name)) for name in settings),
    ))
