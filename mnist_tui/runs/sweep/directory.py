"""The sweep directory: its plan (sweep.json), one run directory per run, the runs' logs, and its locks.

It follows the run directory's rules (rundir.py): it is ours and nobody else may write to it, nothing in it
that someone planted is followed (``logs`` is opened without following a link, each log likewise), and every
file is read with a bound (a FIFO named sweep.json is refused, not waited on).

Two locks (flock), each in a file of its own:
  .lock       held by the one sweep process that trains the sweep (a second one is refused)
  .plan.lock  held for the moment sweep.json is read, grown and written (by a sweep or a cluster's task)
The runs' own locks are in runs.py (``claim``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from ...engine.errors import InputError, RunDirError
from ...engine.files import NOFOLLOW, atomic_write
from ..catalogue import SWEEP_PLAN
from ..rundir import RunDirectory, check_directory, real_path, runs_root, unused_path
from .plan import PLAN_VERSION, SweepError, SweepPlan

LOGS = "logs"
RESULTS = "sweep.csv"
PLAN_LOCK = ".plan.lock"
MAX_PLAN_BYTES = 64 << 20  # 10,000 runs of long options are a few MB
SLURM = "slurm"  # the scripts submitted to Slurm (slurm.py)
OWN = {LOGS, SWEEP_PLAN, RESULTS, RunDirectory.LOCK, PLAN_LOCK, RunDirectory.PROCESS, "background.log", SLURM}


def default_sweep_dir(plan: SweepPlan | None = None) -> Path:
    """Under ``runs_root()`` (``mnist-tui runs`` finds its runs there): a directory named after the plan's
    sweep (``sweep-KEY``), so that the same command, or one with more seeds, finds the same sweep; a plan
    without a base (from before) gets a new directory named by the time."""
    if plan is not None and plan.base is not None:
        return runs_root() / f"sweep-{plan.key()}"
    return unused_path(runs_root() / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-sweep")


def is_sweep(path: str | os.PathLike) -> bool:
    return (Path(path) / SWEEP_PLAN).is_file()


def check_private(directory: Path, *, inside: bool = False) -> None:
    """The run directory's rules (``rundir.check_directory``) for a directory we write into: no link on the
    way that another user could have planted, ours, written by nobody else; ``inside`` the sweep directory
    (its logs, its runs) no link at all. SweepError in one line otherwise."""
    if inside and os.path.islink(directory):
        raise SweepError(f"{directory}: a symbolic link stands there; a sweep never writes through one (remove it)")
    try:
        check_directory(directory)
    except RunDirError as exc:
        raise SweepError(str(exc)) from None
    except OSError as exc:
        raise SweepError(f"{directory}: cannot read ({exc.strerror or exc})") from None


def no_locks(path: Path, exc: OSError) -> SweepError:
    """A lock that the file system refuses (ENOLCK, EOPNOTSUPP: some network file systems): one line."""
    return SweepError(
        f"{path}: cannot lock ({exc.strerror or exc}); the sweep directory must be on a file system with "
        f"locks (flock), which tell a run being trained from a crashed one"
    )


def read_bounded(path: Path, limit: int) -> bytes:
    """A regular file's bytes, at most ``limit`` (a link, a FIFO, a device or more bytes: OSError)."""
    fd = os.open(path, os.O_RDONLY | NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        data = os.read(fd, limit + 1) if info.st_size <= limit else b""
        if info.st_size > limit or len(data) > limit:
            raise OSError(errno.EFBIG, f"larger than {limit:,} bytes")
        return data
    finally:
        os.close(fd)


def read_json(data: bytes) -> Any:
    """JSON from a file; ValueError for anything else (bad text, nesting too deep for the parser)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deep") from None


class SweepDirectory:
    """The sweep directory: its plan, one run directory per run, the runs' logs, and the sweep's lock.

    The sweep's lock and process.json are a RunDirectory's (the same flock and the same record of who holds
    it), on the sweep directory itself: it holds no config.json, so nothing takes it for a run."""

    def __init__(self, path: str | os.PathLike) -> None:
        try:  # the real path, through no link another user could have planted (rundir.real_path)
            self.path = real_path(path, what=f"--run-dir {path}")
        except InputError as exc:
            raise SweepError(str(exc)) from None
        self._holder = RunDirectory(self.path)

    def run_dir(self, run) -> Path:
        return self.path / run.name

    def log_path(self, run) -> Path:
        return self.path / LOGS / f"{run.name}.log"

    # --- the plan ---
    def read_plan(self) -> SweepPlan | None:
        """The plan in sweep.json; None when there is none; SweepError when it is not what mnist-tui writes."""
        path = self.path / SWEEP_PLAN
        if not os.path.lexists(path):
            return None
        try:
            data = read_json(read_bounded(path, MAX_PLAN_BYTES))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            if data.get("version") != PLAN_VERSION:
                raise ValueError(f"version {data.get('version')!r}, this mnist-tui reads {PLAN_VERSION}")
            return SweepPlan.from_dict(data)
        except OSError as exc:
            raise SweepError(f"{path}: cannot read ({exc.strerror or exc})") from None
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise SweepError(f"{path}: not a sweep plan mnist-tui can read ({exc})") from None

    def write_plan(self, plan: SweepPlan) -> None:
        self.make()
        text = (json.dumps(plan.to_dict(), indent=1) + "\n").encode("utf-8")
        try:
            atomic_write(self.path / SWEEP_PLAN, lambda f: f.write(text))
        except OSError as exc:
            raise SweepError(f"{self.path / SWEEP_PLAN}: cannot write ({exc.strerror or exc})") from None

    def check_plan(self, plan: SweepPlan) -> SweepPlan:
        """What sweep.json would hold with ``plan`` in it, without writing anything: ``plan`` itself for a new
        sweep, the plan there grown by ``plan``'s new runs, or ``plan`` in place of one none of whose runs has
        started. SweepError (one line) for a plan of another sweep, or a directory that holds other things."""
        existing = self.read_plan()
        if existing is None:
            self.check_contents(plan)
            return plan
        why = existing.difference(plan)
        if why is None:
            return existing.merged(plan)
        if not any(os.path.lexists(self.run_dir(r) / RunDirectory.CONFIG) for r in existing.runs):
            self.check_contents(plan, existing)
            return plan  # none of its runs has started (its data set was wrong, ...): this plan replaces it
        raise SweepError(
            f"{self.path}: a sweep with {why} (made by: {existing.command or 'an earlier command'}); "
            f"more seeds or grid values extend a sweep, other training options need another --run-dir"
        )

    def update_plan(self, plan: SweepPlan) -> SweepPlan:
        """Write ``check_plan(plan)`` into sweep.json, under the plan's lock (a cluster's tasks may all do it
        at once, some with more seeds than others: none undoes another's runs); the plan written."""
        with self._plan_lock():
            there = self.read_plan()
            merged = self.check_plan(plan)
            if there is None or merged.to_dict() != there.to_dict():
                self.write_plan(merged)
        return merged

    def check_contents(self, plan: SweepPlan, existing: SweepPlan | None = None) -> None:
        """Refuse a directory that holds a run, or other things than this sweep's (a sweep never mixes its runs
        into the runs root or another folder)."""
        if not os.path.lexists(self.path):
            return
        if not self.path.is_dir():
            raise SweepError(f"--run-dir {self.path}: not a directory")
        if (self.path / RunDirectory.CONFIG).exists():
            raise SweepError(f"--run-dir {self.path}: holds a run, not a sweep; choose a new directory for the sweep")
        own = OWN | {r.name for r in plan.runs} | {r.name for r in (existing.runs if existing else ())}
        try:
            names = sorted(p.name for p in self.path.iterdir())
        except OSError as exc:
            raise SweepError(f"{self.path}: cannot read ({exc.strerror or exc})") from None
        foreign = [n for n in names if n not in own and not n.startswith((f".{SWEEP_PLAN}.", f".{RESULTS}."))]
        if foreign:
            raise SweepError(
                f"--run-dir {self.path}: holds other things than this sweep ({foreign[0]}, ...); choose a new directory"
            )

    @contextlib.contextmanager
    def _plan_lock(self) -> Iterator[None]:
        self.make()
        path = self.path / PLAN_LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | NOFOLLOW, 0o600)
        except OSError as exc:
            raise SweepError(f"{path}: cannot open ({exc.strerror or exc}); is it a link someone put there?") from None
        try:
            deadline = time.monotonic() + 60.0  # held for a read and a write: a minute is a hung holder
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SweepError(f"{path}: another process has held it for a minute; try again") from None
                    time.sleep(0.05)
                except OSError as exc:
                    raise no_locks(path, exc) from None
            yield
        finally:
            os.close(fd)

    # --- the directory ---
    def make(self) -> None:
        """Make the sweep directory and its logs (private), or check those there: ours, written by nobody
        else, not links. SweepError in one line."""
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise SweepError(f"{self.path}: cannot write the sweep directory ({exc.strerror or exc})") from None
        check_private(self.path)
        logs = self.path / LOGS
        try:
            logs.mkdir(mode=0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise SweepError(f"{logs}: cannot write ({exc.strerror or exc})") from None
        check_private(logs, inside=True)

    def open_log(self, run) -> IO[bytes]:
        """The run's log, to append to: opened below the sweep directory without following any link (a
        ``logs`` or a log that someone replaced with a link is refused)."""
        self.make()
        return os.fdopen(self._open_log(run, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab")

    def log_tail(self, run, size: int = 8192) -> list[str]:
        """The last lines of the run's log (at most ``size`` bytes of it); none where it cannot be read."""
        try:
            fd = self._open_log(run, os.O_RDONLY | os.O_NONBLOCK)
        except SweepError:
            return []
        with os.fdopen(fd, "rb") as f:
            f.seek(max(0, os.fstat(fd).st_size - size))
            return f.read(size).decode("utf-8", "replace").splitlines()

    def _open_log(self, run, flags: int) -> int:
        path = self.log_path(run)
        try:
            dir_fd = os.open(self.path / LOGS, os.O_RDONLY | os.O_DIRECTORY | NOFOLLOW)
            try:
                # O_NONBLOCK: a FIFO in its place is refused below, not waited on (no effect on a regular file)
                fd = os.open(path.name, flags | NOFOLLOW | os.O_NONBLOCK, 0o600, dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise SweepError(f"{path}: cannot open ({exc.strerror or exc})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise SweepError(f"{path}: not a regular file")
        return fd

    def share_with_group(self) -> int:
        """``--group-read``: the sweep readable by the owner's group (directories g+rx, files g+r), so that its
        members can read its table, curves and runs; never writable by them (the sweep's checks refuse a
        directory that others can write to). Only what is ours and not a link; the count of entries changed."""
        changed = 0
        uid = os.getuid()
        for root, dirs, files in os.walk(self.path, followlinks=False):
            for name in [".", *dirs, *files]:
                path = os.path.join(root, name)
                try:
                    info = os.lstat(path)
                    if info.st_uid != uid or stat.S_ISLNK(info.st_mode):
                        continue
                    add = stat.S_IRGRP | (stat.S_IXGRP if stat.S_ISDIR(info.st_mode) else 0)
                    mode = stat.S_IMODE(info.st_mode)
                    if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode):
                        if mode & add != add:
                            os.chmod(path, (mode | add) & ~0o022)
                            changed += 1
                except OSError:
                    continue
        return changed

    # --- the sweep's own lock ---
    def lock(self, mode: str) -> None:
        """Hold the sweep for this process (until ``close``); SweepError naming the process that holds it."""
        self.make()
        try:
            self._holder.lock()
        except RunDirError:
            raise self._busy() from None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                raise SweepError(
                    f"{self.path / RunDirectory.LOCK}: not a regular file (a link or a directory stands there); "
                    f"remove it if it is not yours"
                ) from None
            raise no_locks(self.path / RunDirectory.LOCK, exc) from None
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
