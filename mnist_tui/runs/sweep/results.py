"""What a sweep adds up to: each run's row (status, final test accuracy, time to a target), the statistics per
setting of the grid, and sweep.csv. Reading the runs' files survives any content: a damaged one is a status."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...engine import events as ev
from ...engine.errors import RunDirError
from ...engine.files import NOFOLLOW, atomic_write
from ..rundir import RunDirectory
from .directory import RESULTS, SweepDirectory, check_private
from .plan import PlannedRun, SweepError, SweepPlan
from .runs import Status, run_status

DEFAULT_TARGET = 0.99


def _parts(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl as the parts a resumed run is made of: each from a run_started to the line before the next."""
    parts: list[dict[str, Any]] = []
    try:  # a regular file, not through a link (a FIFO would never end)
        fd = os.open(path / RunDirectory.METRICS, os.O_RDONLY | NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return parts
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return parts
        for raw in f:
            try:
                line = json.loads(raw)
            except (ValueError, RecursionError):  # a torn line, or one nested deeper than the parser goes
                continue
            if not isinstance(line, dict) or not isinstance(line.get("t"), (int, float)):
                continue
            if line.get("event") == "run_started":
                parts.append({"started": line, "lines": []})
            elif parts:
                parts[-1]["lines"].append(line)
    return parts


def _counted(part: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The test evaluations of one part that an uninterrupted run makes too: not those of restored best
    weights, and not those a stop by a signal makes at a step where none was scheduled (the resumed run goes
    on from that step without them)."""
    started, lines = part["started"], part["lines"]
    config = started.get("config") if isinstance(started.get("config"), dict) else {}
    every = _whole(config.get("eval_every")) or 0
    per_epoch = _whole(started.get("steps_per_epoch")) or 0
    tests_at_every_eval = not started.get("val_size")  # without a validation set, every evaluation is a test
    end = lines[-1] if lines else {}
    interrupted = end.get("event") == "run_finished" and end.get("reason") == ev.Reason.INTERRUPTED
    for line in lines:
        if line.get("event") != "evaluation" or line.get("split") != ev.TEST or line.get("weights_from") is not None:
            continue
        at = line.get("iteration")
        if interrupted and at == end.get("iteration") and isinstance(at, int):
            scheduled = (per_epoch and at % per_epoch == 0) or (tests_at_every_eval and every and at % every == 0)
            if not scheduled:
                continue
        yield line


def time_to_target(path: str | os.PathLike, target: float) -> float | None:
    """Seconds of training (evaluations included, loading excluded, summed over the parts of a resumed run)
    until the run's first test evaluation at or above ``target`` (see ``_counted``); None if none reached it."""
    done = 0.0
    for part in _parts(Path(path)):
        start = float(part["started"]["t"])
        for line in _counted(part):
            accuracy = _number(line.get("accuracy"))
            if accuracy is not None and accuracy >= target:
                return round(done + float(line["t"]) - start, 4)  # as exact as the times in the file
        if part["lines"]:
            done += float(part["lines"][-1]["t"]) - start
    return None


@dataclass(frozen=True)
class RunResult:
    """One run of a sweep as its directory has it now (a row of sweep.csv)."""

    run: PlannedRun
    status: str
    reason: str | None = None
    final_test_accuracy: float | None = None
    validation_accuracy: float | None = None
    best_validation_accuracy: float | None = None
    time_to_target: float | None = None
    iteration: int | None = None
    epoch: int | None = None
    train_seconds: float | None = None
    device: str | None = None


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def result_of(sweep: SweepDirectory, run: PlannedRun, target: float) -> RunResult:
    path = sweep.run_dir(run)
    status, info = run_status(path, sweep.log_path(run))
    if status != Status.FINISHED:
        return RunResult(run, status, iteration=info.iteration if info else None)
    try:
        return _finished(run, path, target)
    except (RunDirError, RecursionError, OSError, ValueError, TypeError, AttributeError):
        return RunResult(run, Status.DAMAGED)


def _finished(run: PlannedRun, path: Path, target: float) -> RunResult:
    """The row of a finished run, from its summary and its metrics (each value that is not what mnist-tui
    writes there left empty)."""
    summary = RunDirectory(path).read_summary() or {}
    return RunResult(
        run,
        Status.FINISHED,
        reason=str(summary.get("reason")),
        final_test_accuracy=_number(summary.get("final_test_accuracy")),
        validation_accuracy=_number(summary.get("validation_accuracy")),
        best_validation_accuracy=_number(summary.get("best_validation_accuracy")),
        time_to_target=time_to_target(path, target),
        iteration=_whole(summary.get("iteration")),
        epoch=_whole(summary.get("epoch")),
        train_seconds=_number(summary.get("train_seconds")),
        device=str(summary.get("device") or "") or None,
    )


def results(sweep: SweepDirectory, plan: SweepPlan, target: float) -> list[RunResult]:
    return [result_of(sweep, run, target) for run in plan.runs]


@dataclass(frozen=True)
class Stats:
    """Mean, sample standard deviation (None for one value), min and max of some values."""

    n: int
    mean: float
    std: float | None
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats | None:
        if not values:
            return None
        std = statistics.stdev(values) if len(values) > 1 else None
        return cls(len(values), statistics.fmean(values), std, min(values), max(values))


@dataclass(frozen=True)
class SettingSummary:
    """What the runs of one setting of the grid add up to."""

    setting: tuple[tuple[str, str], ...]
    planned: int
    finished: int
    accuracy: Stats | None  # final test accuracy (0..1) of the finished runs
    time: Stats | None  # seconds to the target, of the finished runs that reached it

    @property
    def label(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.setting) or "all runs"

    @property
    def reached(self) -> int:
        return self.time.n if self.time else 0


def summarise(rows: Sequence[RunResult]) -> list[SettingSummary]:
    """One summary per setting, in the plan's order."""
    settings: dict[tuple[tuple[str, str], ...], list[RunResult]] = {}
    for row in rows:
        settings.setdefault(row.run.setting, []).append(row)
    out = []
    for setting, group in settings.items():
        done = [r for r in group if r.status == Status.FINISHED]
        accuracy = Stats.of([r.final_test_accuracy for r in done if r.final_test_accuracy is not None])
        time_ = Stats.of([r.time_to_target for r in done if r.time_to_target is not None])
        out.append(SettingSummary(setting, len(group), len(done), accuracy, time_))
    return out


CSV_COLUMNS = (
    "index", "name", "seed", "status", "reason", "final_test_accuracy", "validation_accuracy",
    "best_validation_accuracy", "time_to_target", "target", "iteration", "epoch", "train_seconds", "device", "run_dir",
)  # fmt: skip


def write_results(sweep: SweepDirectory, plan: SweepPlan, rows: Sequence[RunResult], target: float) -> Path:
    """sweep.csv: one row per run, the grid's options as columns after its name; ready for pandas."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    keys = list(plan.grid_keys)
    writer.writerow([*CSV_COLUMNS[:2], *keys, *CSV_COLUMNS[2:]])
    for r in rows:
        setting = dict(r.run.setting)
        values = {
            "index": r.run.index, "name": r.run.name, "seed": r.run.seed, "status": r.status, "reason": r.reason,
            "final_test_accuracy": r.final_test_accuracy, "validation_accuracy": r.validation_accuracy,
            "best_validation_accuracy": r.best_validation_accuracy, "time_to_target": r.time_to_target,
            "target": target, "iteration": r.iteration, "epoch": r.epoch, "train_seconds": r.train_seconds,
            "device": r.device, "run_dir": str(sweep.run_dir(r.run)),
        }  # fmt: skip
        cells = [values[c] for c in CSV_COLUMNS]
        writer.writerow(["" if v is None else v for v in [*cells[:2], *(setting[k] for k in keys), *cells[2:]]])
    path = sweep.path / RESULTS
    data = out.getvalue().encode("utf-8")
    check_private(sweep.path)  # another user's sweep, or one others may write to: read, not written into
    try:
        atomic_write(path, lambda f: f.write(data))
    except OSError as exc:
        raise SweepError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


