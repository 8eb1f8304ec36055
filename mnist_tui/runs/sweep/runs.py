"""The state of each run of a sweep, and what to do with it: decided under its locks.

Two locks keep a run: its own (``.lock`` in its directory, held by the process that trains it) and its
claim, the flock on its log (``logs/NAME.log``). A sweep process or a cluster's task takes the claim, then the
run's own lock, decides from the directory what to do (keep it, start, resume or restart it), lets go of the
run's lock and starts the run's process with the log as its output: the process inherits the claim and holds it
for as long as it lives, so no other sweep or task can decide anything about the run from the decision to the
process's end. Whoever holds both locks knows that no process trains the run, on this host or on any other
node of a shared file system: a run without a summary then crashed, whatever host its process.json names, and
one that crashed before its first checkpoint starts again (what it left is removed, under its lock).
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, IO

from ...engine import events as ev
from ...engine.errors import RunDirError
from ..catalogue import DAMAGED, RunInfo, read_run
from ..rundir import RunDirectory, lock_held
from .directory import SweepDirectory, check_private, no_locks
from .plan import PlannedRun, SweepError


class Status:
    """A run's status in its sweep, from its directory: what the sweep does with it."""

    FINISHED = "finished"  # ended as planned (completed, early-stopped, stopped by hand, diverged): kept
    INTERRUPTED = "interrupted"  # stopped by a signal: resumed
    CRASHED = "crashed"  # its process went without ending the run (killed, out of memory, a node lost): resumed
    FAILED = "failed"  # ended with an error (a full disk, out of device memory): resumed, to try again
    MISSING = "missing"  # not started: started
    RUNNING = "running"  # another process trains it, or a sweep or task is starting it: waited for
    DAMAGED = "damaged"  # a file of the run is not what mnist-tui writes: left alone, named

    TO_RESUME: ClassVar[tuple[str, ...]] = (INTERRUPTED, CRASHED, FAILED)


def _damaged(path: Path, detail: str) -> RunInfo:
    return RunInfo(path=Path(path), state=DAMAGED, active=False, detail=detail)


def read_info(path: str | os.PathLike) -> RunInfo | None:
    """What the catalogue says of the run in ``path``; damaged for any content it cannot take."""
    try:
        return read_run(path)
    except (RecursionError, ValueError, OSError) as exc:  # JSON nested too deep, a FIFO, ...
        return _damaged(Path(path), f"{path}: a file of the run cannot be read ({type(exc).__name__})")


def _ended(path: Path, info: RunInfo | None) -> tuple[str, RunInfo | None]:
    """The status of a run that no process trains, from its files."""
    if info is None:
        return Status.MISSING, None
    if info.state == DAMAGED:
        return Status.DAMAGED, info
    try:
        summary = RunDirectory(path).read_summary()
    except RunDirError as exc:
        return Status.DAMAGED, _damaged(path, str(exc))
    except (RecursionError, OSError) as exc:
        return Status.DAMAGED, _damaged(path, f"{path / RunDirectory.SUMMARY}: cannot be read ({type(exc).__name__})")
    if summary is None:
        return Status.CRASHED, info
    reason = summary.get("reason")
    if reason == ev.Reason.INTERRUPTED:
        return Status.INTERRUPTED, info
    if reason == ev.Reason.FAILED:
        return Status.FAILED, info
    return Status.FINISHED, info


def run_status(path: str | os.PathLike, log: str | os.PathLike | None = None) -> tuple[str, RunInfo | None]:
    """The status of the run directory ``path`` as it looks now, taking no lock (for --list, --report and the
    table): running while its lock or its claim (``log``) is held; what to do with it is decided by ``claim``."""
    path = Path(path)
    info = read_info(path)
    if info is not None and info.state == DAMAGED:
        return Status.DAMAGED, info
    if RunDirectory(path).is_locked() or (log is not None and lock_held(log)):
        return Status.RUNNING, info
    status, info = _ended(path, info)
    if status == Status.CRASHED and info is not None and info.active:  # its process lives, its lock not yet taken
        return Status.RUNNING, info
    return status, info


@dataclass
class Claim:
    """What was decided about a run under its locks: its status then, and, for a run to train, the action
    (start, resume, restart) and its log, whose flock the process that trains it must inherit (its output)."""

    run: PlannedRun
    status: str
    info: RunInfo | None
    action: str | None = None
    log: IO[bytes] | None = None

    def release(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None


def claim(sweep: SweepDirectory, run: PlannedRun) -> Claim:
    """Take ``run``'s claim and lock and decide what to do with it; the claim is kept (in ``log``) only when
    the run is to be trained. SweepError (one line) where the sweep directory has no locks."""
    log = sweep.open_log(run)
    try:
        fcntl.flock(log.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.close()
        return Claim(run, Status.RUNNING, read_info(sweep.run_dir(run)))
    except OSError as exc:
        log.close()
        raise no_locks(sweep.log_path(run), exc) from None
    try:
        status, info, action = _decide(sweep.run_dir(run))
    except BaseException:
        log.close()
        raise
    if action is None:
        log.close()
        return Claim(run, status, info)
    return Claim(run, status, info, action, log)


def _decide(path: Path) -> tuple[str, RunInfo | None, str | None]:
    """Under the run's claim: its status and the action, taking the run's own lock to read it."""
    if not os.path.lexists(path):
        return Status.MISSING, None, "start"
    try:
        check_private(path, inside=True)  # a run directory someone else made or can write to, or a link: left alone
    except SweepError as exc:
        return Status.DAMAGED, _damaged(path, str(exc)), None
    rd = RunDirectory(path)
    try:
        rd.lock()
    except RunDirError:  # trained by a process of its own (``mnist-tui --resume`` by hand)
        return Status.RUNNING, read_info(path), None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            return Status.DAMAGED, _damaged(path, f"{path / RunDirectory.LOCK}: not a regular file"), None
        raise no_locks(path / RunDirectory.LOCK, exc) from None
    try:
        status, info = _ended(path, read_info(path))
        if status == Status.MISSING:
            return status, info, "start"
        if status not in Status.TO_RESUME:
            return status, info, None
        if rd.last_checkpoint.is_file():
            return status, info, "resume"
        # Ended before its first checkpoint: nothing to resume from, and a fresh start of the same seed
        # computes exactly what it would have. What it left goes first, so that it can start.
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise SweepError(f"{path}: cannot remove what the crashed run left ({exc.strerror or exc})") from None
        return status, info, "restart"
    finally:
        rd.close()
