"""Which runs there are and what each is doing: for ``mnist-tui runs`` and ``mnist-tui attach``.

A run's state comes from its directory alone: ``process.json`` names the process training it (pid, its
start time, host), ``metrics.jsonl`` says how far it got and whether it ended, ``summary.json`` how it
ended. A run whose process is gone without a RunFinished is reported as failed (it crashed or was killed),
never as running forever. A live run with a socket is asked for its state (running, paused, ...).
Stdlib and psutil only: no torch, so listing is instant.
"""

from __future__ import annotations

import math
import os
import socket
import time
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..engine import events as ev
from .protocol import RemoteError, request_status
from .rundir import RunDirectory, RunDirError, runs_root
from .untrusted import MAX_LINE_BYTES, finite, json_object, printable

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
    test_accuracy: float | None = None  # 0..1, the test accuracy of the weights an ended run ended with
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


def trained_now(rd: RunDirectory, process: dict[str, Any] | None) -> bool:
    """Whether a process trains the run now: the one process.json names, on this host; on another host (a
    cluster's node), whatever process holds the run's lock (flock, seen across the nodes of a shared file
    system that has locks)."""
    if process_alive(process):
        return True
    return bool(process) and process.get("host") != socket.gethostname() and rd.is_locked()


def _tail_lines(path: Path, size: int = 256 * 1024) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        f.seek(max(0, end - size))
        chunk = f.read(size)
    lines = chunk.split(b"\n")
    if end > size:
        lines = lines[1:]  # the first is cut
    return [event for event in map(json_object, lines) if event is not None]


def _first_run_started(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    with open(path, "rb") as f:
        for _ in range(51):
            line = f.readline(MAX_LINE_BYTES + 1)  # a line is read with a bound: a longer one is damaged
            if not line:
                return None
            if b'"event":"run_started"' in line:
                return json_object(line)
    return None


def _whole(value: Any) -> int | None:
    """A count from a file: an int, or None for anything else (a damaged or foreign line)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_fraction = finite


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
    except RecursionError:  # a JSON file of the run nested too deeply for json.loads
        detail = f"{rd.path}: a file of the run is nested too deeply to be what mnist-tui writes; it is damaged"
        return RunInfo(path=rd.path, state=DAMAGED, active=False, detail=detail)


def _read_run(rd: RunDirectory) -> RunInfo:
    process = rd.read_process()
    if process is not None and not isinstance(process.get("pid"), int):
        raise RunDirError(f"{rd.path / RunDirectory.PROCESS}: not what mnist-tui writes there; the file is damaged")
    alive = trained_now(rd, process)
    here = process_alive(process)  # its pid and socket mean something only on this host
    metrics = rd.path / RunDirectory.METRICS
    started_event = _first_run_started(metrics) or {}
    tail = _tail_lines(metrics)

    iteration = epoch = best = test = None
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
        if kind == "run_finished":
            test = _fraction(line.get("final_accuracy"))

    if not ended:
        test = None  # a finish before a resume says nothing of the run now
    detail = ""
    summary = rd.read_summary() if ended else None
    if alive:
        state = last_state or ev.RunState.STARTING
        sock = (process or {}).get("socket")
        if sock and here:
            try:
                hello = request_status(sock)
            except (RemoteError, TypeError, RecursionError):  # no answer, or one that is not what we send
                hello = {}
            state = _text(hello.get("state") if isinstance(hello, dict) else None) or state
        if not here:
            detail = f"on host {_text((process or {}).get('host'))}"
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

    if summary is not None:  # the run's own account of how it ended, whatever still runs
        summary_test = _fraction(summary.get("final_test_accuracy"))
        test = summary_test if summary_test is not None else test

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
        test_accuracy=test,
        device=_text(started_event.get("device")),
        started=started,
        mode=_text((process or {}).get("mode")),
        pid=(process or {}).get("pid") if here else None,
        socket=_text((process or {}).get("socket")) if here else None,
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
    """The lines of a run's metrics.jsonl added since the last read, as (wall time, event): whole lines
    only (a line being written is read next time), damaged lines skipped (not JSON, nested too deeply, longer
    than ``MAX_LINE_BYTES``, of the wrong shape). ``kinds``: only events of these kinds (``RunStarted.kind``
    ...), the others skipped before they are parsed. The file is streamed: ``follow`` holds one line at a time."""

    def __init__(self, run_dir: str | os.PathLike, *, kinds: Iterable[str] | None = None) -> None:
        self.path = Path(run_dir) / RunDirectory.METRICS
        self.position = 0
        self.kinds = None if kinds is None else tuple(f'"{kind}"'.encode() for kind in kinds)

    def read(self, max_bytes: int | None = None) -> list[tuple[float, ev.Event]]:
        """What ``follow`` yields, as a list."""
        return list(self.follow(max_bytes))

    def follow(self, max_bytes: int | None = None) -> Iterator[tuple[float, ev.Event]]:
        """The events of the lines added since the last read, one at a time; after ``max_bytes`` of lines (when
        given) it stops, and the next call goes on from there."""
        try:
            f = open(self.path, "rb")
        except OSError:
            return
        with f:
            f.seek(self.position)
            taken = 0
            while max_bytes is None or taken < max_bytes:
                try:
                    line = f.readline(MAX_LINE_BYTES + 1)
                except OSError:
                    return
                if not line.endswith(b"\n"):
                    if len(line) <= MAX_LINE_BYTES:
                        return  # the end, or a line being written: read it next time
                    rest = _skip_line(f)  # too long to be ours: damaged, skipped without holding it
                    if rest is None:
                        return
                    self.position += len(line) + rest
                    taken += len(line) + rest
                    continue
                self.position += len(line)
                taken += len(line)
                if self.kinds is not None and not any(kind in line[:64] for kind in self.kinds):
                    continue
                data = json_object(line)
                if data is None:
                    continue
                try:
                    event = ev.event_from_dict(data)
                except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                    continue
                t = finite(data.get("t"))
                yield (math.nan if t is None else t), event


def _skip_line(f: Any) -> int | None:
    """Read past the rest of the current line, a bounded chunk at a time: the bytes skipped (its newline
    included), or None when the file ends first (the line is still being written)."""
    skipped = 0
    while True:
        chunk = f.readline(1 << 20)
        if not chunk:
            return None
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            return skipped


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
        alive = follow and trained_now(rd, rd.read_process())  # asked before reading: no last lines missed
        for _, event in follower.read():
            finished = isinstance(event, ev.RunFinished)
            yield event
        if finished or not alive:
            break
        time.sleep(poll)
    if not finished:
        yield ev.RunFinished.failure(CRASHED)


# The cells of one run's row, the same in the headless table (console/tables.py) and the runs screen (ui).
COLUMNS = ("state", "progress", "best val", "test", "device", "started", "directory")
RIGHT = ("progress", "best val", "test")  # the columns of figures, aligned right
LEFT_OUT_FIRST = ("started", "device", "best val")  # left out, in this order, where the directory would not fit
MIN_DIRECTORY = 24  # the fewest characters of a directory that tell runs apart (a sweep's end: "...-sw/seed=1")
ELLIPSIS = "…"


def run_cells(info: RunInfo, directory: str | None = None) -> tuple[str, ...]:
    """One run's cells under ``COLUMNS``; ``directory``: what the directory cell shows (its whole path if None)."""
    if info.progress is not None:
        progress = f"{info.progress:4.0%} ({info.iteration:,}/{info.total_steps:,})"
    elif info.iteration is not None:
        progress = f"iter {info.iteration:,}"
    else:
        progress = "-"
    best = "-" if info.best_accuracy is None else f"{info.best_accuracy:.2%}"
    test = "-" if info.test_accuracy is None else f"{info.test_accuracy:.2%}"
    state = info.state + (f" ({info.mode})" if info.active and info.mode == "detached" else "")
    started = info.started.strftime("%Y-%m-%d %H:%M") if info.started else "-"
    path = printable(str(info.path)) if directory is None else directory
    # Paths and file contents are printed with their control characters escaped: they may come from anyone.
    return (*(printable(cell) for cell in (state, progress, best, test, info.device or "-", started)), path)


def cell_width(text: str) -> int:
    """The terminal cells ``text`` takes: wide (East Asian) characters two, combining marks none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text
    )


def shorten_middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells: its start and, above all, its end (what tells the runs of a sweep
    apart) kept, an ellipsis between: ``runs/2026…-sweep-xyz/seed=1``."""
    if cell_width(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    head_room = (width - 1) // 3
    tail_room = width - 1 - head_room
    tail: list[str] = []
    for c in reversed(text):
        if cell_width(c) > tail_room:
            break
        tail_room -= cell_width(c)
        tail.append(c)
    head_room += tail_room  # what the end did not use
    head: list[str] = []
    for c in text:
        if cell_width(c) > head_room:
            break
        head_room -= cell_width(c)
        head.append(c)
    return "".join(head) + ELLIPSIS + "".join(reversed(tail))


def shown_path(path: Path, roots: Iterable[str | os.PathLike] | None = None) -> str:
    """How a run's directory reads in a table of limited width: from the name of the root it was found under
    (``runs/20261206-143934-sweep-xyz/seed=1``; the title says where that root is), else with ``~`` for the
    home directory. Control characters escaped."""
    for root in roots or [runs_root()]:
        root = Path(root).expanduser().absolute()
        try:
            inside = path.absolute().relative_to(root.parent)
        except ValueError:
            continue
        if inside.parts and inside.parts[0] == root.name:
            return printable(str(inside))
    text, home = str(path), str(Path.home())
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        text = "~" + text[len(home) :]
    return printable(text)


def where(roots: Iterable[str | os.PathLike] | None = None) -> str:
    """The directories a listing looked in, for its title (the directory cells read from their names)."""
    if roots is None:
        return f"the runs directory ({printable(str(runs_root()))})"
    return ", ".join(printable(str(root)) for root in roots)


def fit_table(
    runs: list[RunInfo],
    width: int | None,
    *,
    column_overhead: int,
    table_overhead: int = 0,
    roots: Iterable[str | os.PathLike] | None = None,
) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The columns and each run's cells for a table ``width`` cells wide, whose every column takes
    ``column_overhead`` cells beside its text (padding, rules) and the whole ``table_overhead`` more.

    The directory takes what the other columns leave, shortened in the middle (``shown_path``, then
    ``shorten_middle``); while that is under ``MIN_DIRECTORY`` the columns of ``LEFT_OUT_FIRST`` are left out,
    one at a time. ``width`` None: every column, every path whole (a pipe, a file: nothing is cut).
    """
    whole = [run_cells(info) for info in runs]
    if width is None:
        return COLUMNS, whole
    roots = list(roots) if roots is not None else None
    shown = [run_cells(info, shown_path(info.path, roots)) for info in runs]
    longest = max((cell_width(row[-1]) for row in shown), default=0)

    def room(columns: list[int]) -> int:  # what the columns other than the directory leave it
        used = table_overhead + column_overhead * len(columns)
        for i in columns[:-1]:
            used += max([cell_width(COLUMNS[i])] + [cell_width(row[i]) for row in shown])
        return width - used

    kept = list(range(len(COLUMNS)))
    for name in LEFT_OUT_FIRST:
        if room(kept) >= min(MIN_DIRECTORY, longest):
            break
        kept.remove(COLUMNS.index(name))
    directory = max(room(kept), min(MIN_DIRECTORY, longest), cell_width(COLUMNS[-1]))
    rows = [tuple(row[i] for i in kept[:-1]) + (shorten_middle(row[-1], directory),) for row in shown]
    return tuple(COLUMNS[i] for i in kept), rows
