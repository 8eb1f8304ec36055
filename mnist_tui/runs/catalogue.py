"""Which runs there are and what each is doing: for ``mnist-tui runs`` and ``mnist-tui attach``.

A run's state comes from its directory alone: ``process.json`` names the process training it (pid, its
start time, host), ``metrics.jsonl`` says how far it got and whether it ended, ``summary.json`` how it
ended. A run whose process is gone without a RunFinished is reported as failed (it crashed or was killed),
never as running forever. A live run with a socket is asked for its state (running, paused, ...).
Stdlib and psutil only: no torch, so listing is instant.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..engine import events as ev
from .protocol import RemoteError, request_status
from .rundir import RunDirectory, RunDirError, runs_root

ACTIVE_STATES = (ev.RunState.STARTING, ev.RunState.LOADING, ev.RunState.RUNNING, ev.RunState.PAUSED, ev.RunState.STOPPING)
DAMAGED = "damaged"  # a file of the run is not what mnist-tui writes (see RunInfo.detail)
CRASHED = "its process ended without finishing the run (crashed or killed); resume it with --resume"
SWEEP_PLAN = "sweep.json"  # a sweep directory's plan (runs/sweep.py); its runs are the directories beside it


@dataclass(frozen=True)
class RunInfo:
    path: Path
    state: str  # an events state (running, paused, finished, early-stopped, failed, ...) or a summary reason
    active: bool  # a live process is training it
    detail: str = ""  # how it ended, or why it is reported as failed
    iteration: int | None = None
    total_steps: int | None = None
    epoch: int | None = None
    best_accuracy: float | None = None  # 0..1, the best validation accuracy (test, for runs from before)
    device: str | None = None
    started: datetime | None = None
    mode: str | None = None  # detached | app | foreground
    pid: int | None = None
    socket: str | None = None

    @property
    def progress(self) -> float | None:
        if self.iteration is None or not self.total_steps:
            return None
        return min(1.0, self.iteration / self.total_steps)


def process_alive(process: dict[str, Any] | None) -> bool:
    """Whether the process recorded in process.json still runs (same host, same pid, same start time)."""
    if not process or process.get("host") != socket.gethostname():
        return False
    import psutil

    try:
        proc = psutil.Process(int(process["pid"]))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(proc.create_time() - float(process["create_time"])) < 1.0
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


def _tail_lines(path: Path, size: int = 256 * 1024) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        f.seek(max(0, end - size))
        chunk = f.read()
    lines = chunk.split(b"\n")
    if end > size:
        lines = lines[1:]  # the first is cut
    out = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            out.append(event)
    return out


def _first_run_started(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    with open(path, "rb") as f:
        for n, line in enumerate(f):
            if n > 50:
                return None
            if b'"event":"run_started"' in line:
                try:
                    event = json.loads(line)
                except ValueError:
                    return None
                return event if isinstance(event, dict) else None
    return None


def _whole(value: Any) -> int | None:
    """A count from a file: an int, or None for anything else (a damaged or foreign line)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _fraction(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def read_run(path: str | os.PathLike) -> RunInfo | None:
    """What the run in ``path`` is doing; None when ``path`` holds no run. A run whose files are damaged is
    ``damaged``, its detail naming the file: one bad run never hides the others."""
    rd = RunDirectory(path)
    if not (rd.path / RunDirectory.CONFIG).exists():
        return None
    try:
        rd.read_config()
        return _read_run(rd)
    except (RunDirError, OSError) as exc:
        return RunInfo(path=rd.path, state=DAMAGED, active=False, detail=str(exc))


def _read_run(rd: RunDirectory) -> RunInfo:
    process = rd.read_process()
    if process is not None and not isinstance(process.get("pid"), int):
        raise RunDirError(f"{rd.path / RunDirectory.PROCESS}: not what mnist-tui writes there; the file is damaged")
    alive = process_alive(process)
    metrics = rd.path / RunDirectory.METRICS
    started_event = _first_run_started(metrics) or {}
    tail = _tail_lines(metrics)

    iteration = epoch = best = None
    last_state: str | None = None
    ended = bool(tail) and tail[-1].get("event") == "run_finished"
    for line in tail:
        kind = line.get("event")
        at = _whole(line.get("iteration"))
        if kind in ("step", "evaluation", "run_finished", "checkpoint") and at is not None and at >= 0:
            iteration = at
            epoch = _whole(line.get("epoch")) or epoch
        if kind == "evaluation":
            best = _fraction(line.get("best_accuracy")) or best
        if kind == "state":
            last_state = _text(line.get("state"))
        if kind == "run_started":
            started_event = line

    detail = ""
    summary = rd.read_summary() if ended else None
    if alive:
        state = last_state or ev.RunState.STARTING
        sock = (process or {}).get("socket")
        if sock:
            try:
                state = request_status(sock).get("state", state)
            except RemoteError:
                pass
    elif summary is not None:
        reason = _text(summary.get("reason")) or ""
        status = _text(summary.get("status")) or ev.RunState.FINISHED
        state = reason if reason in (ev.Reason.INTERRUPTED, ev.Reason.STOPPED) else status
        detail = _text(summary.get("message")) or ""
        best = _fraction(summary.get("best_validation_accuracy", summary.get("best_accuracy"))) or best
        iteration = _whole(summary.get("iteration")) or iteration
    elif process and process.get("host") != socket.gethostname():
        state, detail = "unknown", f"trained on host {process.get('host')}: its process cannot be checked from here"
    else:
        state, detail = ev.RunState.FAILED, CRASHED

    started = None
    if process and _text(process.get("started")):
        try:
            started = datetime.fromisoformat(process["started"])
        except ValueError:
            started = None
    if started is None:
        started = datetime.fromtimestamp((rd.path / RunDirectory.CONFIG).stat().st_mtime).astimezone()

    return RunInfo(
        path=rd.path,
        state=state,
        active=alive and state in ACTIVE_STATES,
        detail=detail,
        iteration=iteration,
        total_steps=_whole(started_event.get("total_steps")),
        epoch=epoch,
        best_accuracy=best,
        device=_text(started_event.get("device")),
        started=started,
        mode=_text((process or {}).get("mode")),
        pid=(process or {}).get("pid") if alive else None,
        socket=_text((process or {}).get("socket")) if alive else None,
    )


def list_runs(roots: Iterable[str | os.PathLike] | None = None) -> list[RunInfo]:
    """The runs in ``roots`` (default: the runs directory) and the run directories named there, newest first;
    the runs of a sweep directory found there too."""
    found: list[RunInfo] = []
    for root in roots or [runs_root()]:
        root = Path(root).expanduser()
        candidates = [root] if (root / RunDirectory.CONFIG).exists() else sorted(root.glob("*/"))
        for sweep in [path for path in candidates if (path / SWEEP_PLAN).is_file()]:
            candidates += sorted(sweep.glob("*/"))
        for path in candidates:
            info = read_run(path)
            if info is not None:
                found.append(info)
    found.sort(key=lambda r: r.started.timestamp() if r.started else 0.0, reverse=True)
    return found


def latest_active(roots: Iterable[str | os.PathLike] | None = None) -> RunInfo | None:
    return next((r for r in list_runs(roots) if r.active), None)


class MetricsFollower:
    """The lines of a run's metrics.jsonl added since the last ``read``, as (wall time, event): whole lines
    only (a line being written is read next time), damaged lines skipped. ``kinds``: only events of these
    kinds (``RunStarted.kind`` ...), the others skipped before they are parsed."""

    def __init__(self, run_dir: str | os.PathLike, *, kinds: Iterable[str] | None = None) -> None:
        self.path = Path(run_dir) / RunDirectory.METRICS
        self.position = 0
        self.kinds = None if kinds is None else tuple(f'"{kind}"'.encode() for kind in kinds)

    def read(self) -> list[tuple[float, ev.Event]]:
        out: list[tuple[float, ev.Event]] = []
        try:
            with open(self.path, "rb") as f:
                f.seek(self.position)
                lines = f.readlines()
        except OSError:
            return out
        for line in lines:
            if not line.endswith(b"\n"):
                break  # being written: read it next time
            self.position += len(line)
            if self.kinds is not None and not any(kind in line[:64] for kind in self.kinds):
                continue
            try:
                data = json.loads(line)
                t = data.get("t")
                out.append((float(t) if isinstance(t, (int, float)) else math.nan, ev.event_from_dict(data)))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
        return out


def recorded_events(path: str | os.PathLike, *, follow: bool = False, poll: float = 0.5) -> Iterator[ev.Event]:
    """A run's events from metrics.jsonl, for a viewer of a run that has no socket to attach to.

    With ``follow`` (a live run trained by a process without a server, such as a headless one), keep
    reading new lines while its process lives. Ends with a RunFinished; a run whose process went away
    without one gets a RunFinished(failed) saying so.
    """
    rd = RunDirectory(path)
    follower = MetricsFollower(rd.path)
    finished = False
    while True:
        alive = follow and process_alive(rd.read_process())  # asked before reading: no last lines missed
        for _, event in follower.read():
            finished = isinstance(event, ev.RunFinished)
            yield event
        if finished or not alive:
            break
        time.sleep(poll)
    if not finished:
        yield ev.RunFinished.failure(CRASHED)


# The cells of one run's row, the same in the headless table (console/tables.py) and the runs screen (ui).
COLUMNS = ("state", "progress", "best val", "device", "started", "directory")


def run_cells(info: RunInfo) -> tuple[str, ...]:
    if info.progress is not None:
        progress = f"{info.progress:4.0%} ({info.iteration:,}/{info.total_steps:,})"
    elif info.iteration is not None:
        progress = f"iter {info.iteration:,}"
    else:
        progress = "-"
    best = "-" if info.best_accuracy is None else f"{info.best_accuracy:.2%}"
    state = info.state + (f" ({info.mode})" if info.active and info.mode == "detached" else "")
    started = info.started.strftime("%Y-%m-%d %H:%M") if info.started else "-"
    return (state, progress, best, info.device or "-", started, str(info.path))
