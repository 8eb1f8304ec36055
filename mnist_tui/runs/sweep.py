"""Sweeps: many ordinary runs (seeds x a grid of settings) in one sweep directory, and what they add up to.

    SWEEP_DIR/
      sweep.json       the plan: every run's name, seed, setting, training options and the config it computes
      NAME/            one ordinary run directory per run of the plan (seed=0, lr=1e-3_seed=0, ...)
      logs/NAME.log    the output of the process that trains NAME
      sweep.csv        one row per run: its setting, status, final test accuracy, time to the target, ...
      .lock            held by the sweep process (so a second one on the same directory is refused)
      process.json     the sweep process (pid, start time, host); background.log when it is detached

Each run is its own process (``python -m mnist_tui ... --headless --run-dir SWEEP_DIR/NAME``), in a session
of its own: the sweep forwards one stop signal to it, and a killed sweep leaves it to finish. What to do with
a run is decided from its directory alone (``run_status``): a finished run is kept, an interrupted or crashed
one resumes exactly from its last checkpoint (``--resume``), a missing one starts. So the same sweep command
resumes a sweep, and a cluster's job array can run one run per task (``only`` in the command line).
Stdlib and psutil only (no torch): planning, reporting and the sweep process itself never load it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from ..config import TrainConfig
from ..engine import events as ev
from ..engine.errors import InputError, RunDirError
from ..engine.files import atomic_write, open_nofollow
from .catalogue import CRASHED, DAMAGED, SWEEP_PLAN, RunInfo, read_run
from .rundir import RunDirectory, runs_root, unused_path

PLAN_VERSION = 1
RESULTS = "sweep.csv"
LOGS = "logs"
DEFAULT_TARGET = 0.99
MAX_RUNS = 10_000
# What a run computes, for telling two plans apart: where it is written and what it runs on may differ.
NOT_PLANNED = ("run_dir", "device", "threads")


class SweepError(InputError):
    """A sweep cannot be planned, read or run as asked (one line, exit code 2)."""


# --- the plan ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: its directory's name, seed, grid setting and the training options that make it."""

    index: int
    name: str
    seed: int
    setting: tuple[tuple[str, str], ...]  # (option, value as given) per grid option, in grid order
    args: tuple[str, ...]  # the training options: the sweep's own, the setting's, --seed
    config: dict[str, Any] = field(compare=False, hash=False)  # what it computes (NOT_PLANNED left out)

    @property
    def setting_label(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.setting) or "all runs"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "seed": self.seed,
            "setting": dict(self.setting),
            "args": list(self.args),
            "config": self.config,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlannedRun:
        return cls(
            index=int(data["index"]),
            name=str(data["name"]),
            seed=int(data["seed"]),
            setting=tuple((str(k), str(v)) for k, v in dict(data["setting"]).items()),
            args=tuple(str(a) for a in data["args"]),
            config=dict(data["config"]),
        )


def planned_config(config: TrainConfig) -> dict[str, Any]:
    """The part of a run's config that a plan fixes (not where it is written or what it runs on)."""
    return {k: v for k, v in config.to_dict().items() if k not in NOT_PLANNED}


def run_name(setting: Sequence[tuple[str, str]], seed: int) -> str:
    """``lr=1e-3_batch-size=128_seed=0``: the grid's values as given, then the seed; safe as a file name."""
    parts = [f"{key}={value}" for key, value in setting] + [f"seed={seed}"]
    return "_".join("".join(c if c.isalnum() or c in ".+-=" else "-" for c in part) for part in parts)


@dataclass(frozen=True)
class SweepPlan:
    """Every run of a sweep, in the order they go: each setting of the grid (its first option slowest), and
    within it each seed."""

    options: tuple[str, ...]  # the training options every run shares, as given
    seeds: tuple[int, ...]
    grid: tuple[tuple[str, tuple[str, ...]], ...]  # (option, values as given)
    runs: tuple[PlannedRun, ...]
    command: str = ""  # the command line that made it, for messages

    def same_runs(self, other: SweepPlan) -> bool:
        """Whether ``other`` plans the same runs: the same names computing the same configs."""
        return [(r.name, r.config) for r in self.runs] == [(r.name, r.config) for r in other.runs]

    @property
    def grid_keys(self) -> tuple[str, ...]:
        return tuple(key for key, _ in self.grid)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": PLAN_VERSION,
            "command": self.command,
            "options": list(self.options),
            "seeds": list(self.seeds),
            "grid": [[key, list(values)] for key, values in self.grid],
            "runs": [r.to_dict() for r in self.runs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepPlan:
        return cls(
            options=tuple(str(o) for o in data["options"]),
            seeds=tuple(int(s) for s in data["seeds"]),
            grid=tuple((str(key), tuple(str(v) for v in values)) for key, values in data["grid"]),
            runs=tuple(PlannedRun.from_dict(r) for r in data["runs"]),
            command=str(data.get("command", "")),
        )


# --- the sweep directory --------------------------------------------------------------------------------
def default_sweep_dir() -> Path:
    """A new directory under ``runs_root()`` named by the time (``mnist-tui runs`` finds its runs there)."""
    return unused_path(runs_root() / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-sweep")


def is_sweep(path: str | os.PathLike) -> bool:
    return (Path(path) / SWEEP_PLAN).is_file()


class SweepDirectory:
    """The sweep directory: its plan, one run directory per run, the runs' logs, and the sweep's lock.

    The lock and process.json are a RunDirectory's (the same flock and the same record of who holds it), on
    the sweep directory itself: it holds no config.json, so nothing takes it for a run."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser().resolve()
        self._holder = RunDirectory(self.path)

    def run_dir(self, run: PlannedRun) -> Path:
        return self.path / run.name

    def log_path(self, run: PlannedRun) -> Path:
        return self.path / LOGS / f"{run.name}.log"

    def read_plan(self) -> SweepPlan | None:
        """The plan in sweep.json; None when there is none; SweepError when it is not what mnist-tui writes."""
        path = self.path / SWEEP_PLAN
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != PLAN_VERSION:
                raise ValueError(f"version {data.get('version')!r}, this mnist-tui reads {PLAN_VERSION}")
            return SweepPlan.from_dict(data)
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SweepError(f"{path}: not a sweep plan mnist-tui can read ({exc})") from None

    def write_plan(self, plan: SweepPlan) -> None:
        self.make()
        text = (json.dumps(plan.to_dict(), indent=1) + "\n").encode("utf-8")
        try:
            atomic_write(self.path / SWEEP_PLAN, lambda f: f.write(text))
        except OSError as exc:
            raise SweepError(f"{self.path / SWEEP_PLAN}: cannot write ({exc.strerror or exc})") from None

    def make(self) -> None:
        try:
            (self.path / LOGS).mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise SweepError(f"{self.path}: cannot write the sweep directory ({exc.strerror or exc})") from None

    def lock(self, mode: str) -> None:
        """Hold the sweep for this process (until ``close``); SweepError naming the process that holds it."""
        self.make()
        try:
            self._holder.lock()
        except RunDirError:
            raise self._busy() from None
        self._holder.write_process(mode=mode)

    def check_free(self) -> None:
        """SweepError naming the process that runs this sweep, if one does."""
        if self._holder.is_locked():
            raise self._busy()

    def _busy(self) -> SweepError:
        holder = (self._holder.read_process() or {}).get("pid", "another process")
        return SweepError(
            f"{self.path}: process {holder} is running this sweep; watch it with 'mnist-tui compare {self.path}' "
            f"or stop it with 'kill {holder}'"
        )

    def close(self) -> None:
        self._holder.close()


# --- what to do with each run ---------------------------------------------------------------------------
class Status:
    """A run's status in its sweep, from its directory: what the sweep does with it."""

    FINISHED = "finished"  # ended as planned (completed, early-stopped, stopped by hand, diverged): kept
    INTERRUPTED = "interrupted"  # stopped by a signal: resumed
    CRASHED = "crashed"  # its process went without ending the run (killed, out of memory): resumed
    FAILED = "failed"  # ended with an error (a full disk, out of device memory): resumed, to try again
    MISSING = "missing"  # not started: started
    RUNNING = "running"  # another process trains it now: waited for
    ELSEWHERE = "elsewhere"  # trained on another host and not ended: left alone (``--only`` resumes it)
    DAMAGED = "damaged"  # a file of the run is not what mnist-tui writes: left alone, named

    TO_RESUME: ClassVar[tuple[str, ...]] = (INTERRUPTED, CRASHED, FAILED)


def run_status(path: str | os.PathLike) -> tuple[str, RunInfo | None]:
    """The status of the run directory ``path`` (a Status value) and what the catalogue says of it."""
    info = read_run(path)
    if info is None:
        return Status.MISSING, None
    if info.state == DAMAGED:
        return Status.DAMAGED, info
    if RunDirectory(path).is_locked():  # a process trains it now
        return Status.RUNNING, info
    if info.state == "unknown":
        return Status.ELSEWHERE, info
    if info.detail == CRASHED:
        return Status.CRASHED, info
    try:
        summary = RunDirectory(path).read_summary()
    except RunDirError:
        return Status.DAMAGED, info
    if summary is None:  # its process lives and has not yet taken the lock, or went without a trace
        return (Status.RUNNING if info.active else Status.CRASHED), info
    reason = summary.get("reason")
    if reason == ev.Reason.INTERRUPTED:
        return Status.INTERRUPTED, info
    if reason == ev.Reason.FAILED:
        return Status.FAILED, info
    return Status.FINISHED, info


# --- results --------------------------------------------------------------------------------------------
def _parts(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl as the parts a resumed run is made of: each from a run_started to the line before the next."""
    parts: list[dict[str, Any]] = []
    metrics = path / RunDirectory.METRICS
    if not metrics.exists():
        return parts
    with open(metrics, "rb") as f:
        for raw in f:
            try:
                line = json.loads(raw)
            except ValueError:
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
    every = (started.get("config") or {}).get("eval_every") or 0
    per_epoch = started.get("steps_per_epoch") or 0
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


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def result_of(sweep: SweepDirectory, run: PlannedRun, target: float) -> RunResult:
    path = sweep.run_dir(run)
    status, info = run_status(path)
    if status != Status.FINISHED:
        return RunResult(run, status, iteration=info.iteration if info else None)
    summary = RunDirectory(path).read_summary() or {}
    whole = lambda v: v if isinstance(v, int) and not isinstance(v, bool) else None
    return RunResult(
        run,
        status,
        reason=str(summary.get("reason")),
        final_test_accuracy=_number(summary.get("final_test_accuracy")),
        validation_accuracy=_number(summary.get("validation_accuracy")),
        best_validation_accuracy=_number(summary.get("best_validation_accuracy")),
        time_to_target=time_to_target(path, target),
        iteration=whole(summary.get("iteration")),
        epoch=whole(summary.get("epoch")),
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
    try:
        atomic_write(path, lambda f: f.write(data))
    except OSError as exc:
        raise SweepError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


# --- running it -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepEvent:
    """What the sweep process reports: a run kept, started, waited for, left alone or ended; the live runs."""


@dataclass(frozen=True)
class RunKept(SweepEvent):
    run: PlannedRun


@dataclass(frozen=True)
class RunLaunched(SweepEvent):
    run: PlannedRun
    action: str  # start | resume | restart (crashed before its first checkpoint: nothing to resume from)
    device: str | None
    pid: int
    was: str  # its status before: a Status value


@dataclass(frozen=True)
class RunWaiting(SweepEvent):
    run: PlannedRun
    pid: int | None  # the process that trains it


@dataclass(frozen=True)
class RunLeft(SweepEvent):
    run: PlannedRun
    status: str
    detail: str


@dataclass(frozen=True)
class RunEnded(SweepEvent):
    run: PlannedRun
    exit_code: int
    status: str  # its status now
    message: str  # why it did not finish: its error line, or its summary's message


@dataclass(frozen=True)
class Progress(SweepEvent):
    """The runs being trained by this sweep now (sent every ``poll`` seconds)."""

    running: tuple[tuple[PlannedRun, RunInfo | None], ...]


@dataclass
class Tally:
    """What a sweep's events add up to so far: for a progress line (the console's, the app's banner)."""

    total: int
    finished: int = 0
    training: list[str] = field(default_factory=list)
    unfinished: dict[str, str] = field(default_factory=dict)  # run name -> its status, as it ended or was left

    def update(self, event: SweepEvent) -> None:
        if isinstance(event, RunKept):
            self.finished += 1
        elif isinstance(event, RunLaunched):
            self.training.append(event.run.name)
            self.unfinished.pop(event.run.name, None)
        elif isinstance(event, RunEnded):
            self.training.remove(event.run.name)
            if event.status == Status.FINISHED:
                self.finished += 1
            else:
                self.unfinished[event.run.name] = event.status
        elif isinstance(event, RunLeft):
            self.unfinished[event.run.name] = event.status

    def exit_code(self, *, stopped: bool) -> int:
        """0 when every run given to the sweep is finished, 130 when it was stopped, 1 otherwise."""
        if stopped:
            return ev.EXIT_INTERRUPTED
        return ev.EXIT_OK if self.finished == self.total else ev.EXIT_FAILED

    def line(self) -> str:
        parts = [f"{self.finished} of {self.total} runs finished"]
        if self.training:
            parts.append(f"training {', '.join(self.training)}")
        if self.unfinished:
            parts.append(f"{len(self.unfinished)} not finished ({', '.join(sorted(set(self.unfinished.values())))})")
        return "; ".join(parts)


@dataclass
class _Child:
    run: PlannedRun
    action: str
    proc: subprocess.Popen
    log: Any
    signals: int = 0  # stop signals forwarded to it


def prepare(sweep: SweepDirectory, run: PlannedRun, status: str) -> str:
    """What to do with a run that is not finished, from its status: start, resume, or restart (it ended before
    its first checkpoint, so there is nothing to resume from, and a fresh start of the same seed computes
    exactly what it would have: what it left is removed first so that it can start)."""
    if status == Status.MISSING:
        return "start"
    if status in Status.TO_RESUME and not RunDirectory(sweep.run_dir(run)).last_checkpoint.is_file():
        shutil.rmtree(sweep.run_dir(run))
        return "restart"
    return "resume"


def train_command(sweep: SweepDirectory, run: PlannedRun, action: str, device: str | None) -> list[str]:
    """The ordinary command line that trains (or resumes) ``run`` in its directory, headless."""
    path = str(sweep.run_dir(run))
    on = ["--device", device] if device else []
    if action == "resume":
        return [sys.executable, "-m", "mnist_tui", "--resume", path, "--headless", *on]
    return [sys.executable, "-m", "mnist_tui", *run.args, "--headless", "--run-dir", path, *on]


class SweepRunner:
    """Trains the runs of a sweep that are not finished, one process per device slot at a time.

    ``events()`` drives it (in the thread that consumes it) and reports what happens. ``stop()`` (from a
    signal handler or another thread) starts nothing more and forwards one SIGTERM to each run's process,
    which stops it as a signal stops any run (evaluate, save, summary ``interrupted``); a second ``stop()``
    forwards a second one, which aborts them.
    """

    def __init__(
        self,
        sweep: SweepDirectory,
        runs: Sequence[PlannedRun],
        devices: Sequence[str | None] = (None,),
        *,
        poll: float = 0.5,
    ) -> None:
        self.sweep, self.runs, self.devices = sweep, list(runs), list(devices) or [None]
        self.poll = poll
        self.stops = 0
        # A run that could not start at all (bad data, a broken install): why, and its exit code. The next
        # runs would end the same way, so the sweep stops there.
        self.not_started: tuple[str, int] | None = None
        self._wake = threading.Event()

    @property
    def stopping(self) -> bool:
        return self.stops > 0

    def stop(self) -> None:
        self.stops += 1
        self._wake.set()

    def events(self) -> Iterator[SweepEvent]:
        queue: deque[PlannedRun] = deque(self.runs)
        waiting: list[PlannedRun] = []
        running: dict[int, _Child] = {}
        free = list(range(len(self.devices)))
        try:
            while True:
                for run in list(waiting):  # another process trained it: decide again once it has let go
                    if run_status(self.sweep.run_dir(run))[0] != Status.RUNNING:
                        waiting.remove(run)
                        queue.appendleft(run)
                while free and queue and not self.stopping:
                    run = queue.popleft()
                    status, info = run_status(self.sweep.run_dir(run))
                    if status == Status.FINISHED:
                        yield RunKept(run)
                    elif status == Status.RUNNING:
                        waiting.append(run)
                        yield RunWaiting(run, info.pid if info else None)
                    elif status in (Status.DAMAGED, Status.ELSEWHERE):
                        yield RunLeft(run, status, info.detail if info else "")
                    else:
                        slot = free.pop(0)
                        child = running[slot] = self._launch(run, status, slot)
                        yield RunLaunched(run, child.action, self.devices[slot], child.proc.pid, status)
                for child in running.values():  # forward each stop once to each process
                    while child.signals < self.stops and child.proc.poll() is None:
                        child.signals += 1
                        child.proc.send_signal(signal.SIGTERM)
                for slot, child in list(running.items()):
                    code = child.proc.poll()
                    if code is None:
                        continue
                    del running[slot]
                    free.append(slot)
                    free.sort()
                    child.log.close()
                    status = run_status(self.sweep.run_dir(child.run))[0]
                    message = "" if status == Status.FINISHED else self._why(child.run)
                    if code not in (ev.EXIT_OK, ev.EXIT_INTERRUPTED) and status == Status.MISSING and not self.stopping:
                        self.not_started = (f"{child.run.name}: {message}", code)
                        self.stop()
                    yield RunEnded(child.run, code, status, message)
                if not running and (self.stopping or (not queue and not waiting)):
                    return
                if running:
                    yield Progress(tuple((c.run, read_run(self.sweep.run_dir(c.run))) for c in running.values()))
                self._wake.wait(self.poll)
                self._wake.clear()
        finally:  # the consumer went away (an exception, a closed generator): the runs stop and can resume
            for child in running.values():
                if child.proc.poll() is None and child.signals == 0:
                    child.proc.send_signal(signal.SIGTERM)
                child.proc.wait()
                child.log.close()

    def _launch(self, run: PlannedRun, status: str, slot: int) -> _Child:
        action = prepare(self.sweep, run, status)
        self.sweep.make()
        log = open_nofollow(self.sweep.log_path(run), "ab")
        log.write(f"--- {datetime.now().astimezone().isoformat(timespec='seconds')} {action}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            train_command(self.sweep, run, action, self.devices[slot]),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's signals reach the sweep, which forwards one stop to each run
            close_fds=True,
        )
        return _Child(run, action, proc, log)

    def _why(self, run: PlannedRun) -> str:
        """Why ``run`` ended unfinished: the error line of its output, else its summary's message."""
        try:
            with open(self.sweep.log_path(run), "rb") as f:
                f.seek(max(0, os.path.getsize(self.sweep.log_path(run)) - 8192))
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            lines = []
        error = next((line.strip() for line in reversed(lines) if line.startswith("mnist-tui: error:")), None)
        if error:
            return error.removeprefix("mnist-tui: error:").strip()
        try:
            return str((RunDirectory(self.sweep.run_dir(run)).read_summary() or {}).get("message") or "")
        except RunDirError:
            return ""


def check_devices(devices: Sequence[str]) -> None:
    """Every device of ``--devices`` exists here (torch is imported only for CUDA or MPS); SweepError if not."""
    for name in devices:
        if name == "cpu":
            continue
        TrainConfig(device=name)  # the form: auto | cpu | cuda | cuda:N | mps (a ConfigError otherwise)
        from ..engine.device import resolve_device

        resolve_device(name)  # a DeviceError (an InputError) names what is missing


# --- a sweep in the background ----------------------------------------------------------------------------
def launch_detached(argv: Sequence[str], sweep: SweepDirectory) -> int:
    """Start ``python -m mnist_tui ARGV`` (a sweep command with ``--background``) in a session of its own and
    return once it runs its sweep (0) or has failed to (its exit code, its message shown): as background.launch
    does for a run."""
    from .background import start_detached

    started = start_detached(["-m", "mnist_tui", *argv], "sweep")
    if isinstance(started, int):
        return started
    proc, _ = started
    print(f"sweeping in the background (pid {proc.pid}): {sweep.path}")
    print(f"  watch it:        mnist-tui compare {sweep.path}")
    print(f"  its table:       mnist-tui sweep --report {sweep.path}")
    print(f"  stop it:         kill {proc.pid}   (the runs save; the same sweep command resumes them)")
    print(f"  its output:      {sweep.path / 'background.log'}")
    return 0


def leave_terminal(sweep: SweepDirectory) -> None:
    """In the background sweep: tell the launcher the sweep runs, then write all output to background.log."""
    from .background import _announce_and_leave_terminal

    _announce_and_leave_terminal(str(sweep.path))
