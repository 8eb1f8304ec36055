"""The run directory: what every run leaves behind, and what reopening or resuming a run reads.

    config.json        the resolved TrainConfig
    metrics.jsonl      one event a line, each with ``t``: wall seconds since the run started
    summary.json       written when the run ends: status, reason, accuracies (each named by its set), where it got to
    process.json       the process training it: pid, start time, host, mode, socket (see catalogue.py, server.py)
    .lock              held (flock) by the one process that trains the run, for as long as it does
    checkpoints/       last.pt and best.pt (see checkpoints.py)
    misclassified.csv  written when the run ends: the misclassified test digits, worst loss first
    confusion.csv      written when the run ends: the confusion matrix (see analysis.py)
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from ..config import TrainConfig
from ..engine.errors import CheckpointError, InputError, RunDirError
from ..engine.files import atomic_write, open_nofollow
from ..engine.events import Event, RunFinished, event_from_dict

__all__ = [
    "RunDirError", "RunDirectory", "check_directory", "default_run_dir", "enclosing_run", "real_path", "runs_root",
]  # fmt: skip


def runs_root() -> Path:
    """Where runs go by default: $MNIST_TUI_DATA_DIR/runs, else the user data directory."""
    env = os.environ.get("MNIST_TUI_DATA_DIR")
    if env:
        return Path(env) / "runs"
    import platformdirs

    return Path(platformdirs.user_data_dir("mnist-tui")) / "runs"


def default_run_dir(config: TrainConfig) -> Path:
    """A new directory under ``runs_root()`` named by the time, the data set and the model."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = Path(config.dataset).name if os.sep in config.dataset else config.dataset
    return unused_path(runs_root() / f"{stamp}-{name}-{config.model}")


def unused_path(base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``, ... : the first that does not exist yet."""
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


# --- paths the user names -----------------------------------------------------------------------------------
MAX_LINKS = 40  # as the kernel's ELOOP


def real_path(path: str | os.PathLike, *, what: str | None = None) -> Path:
    """The absolute path, without symbolic links, that ``path`` (``~`` expanded, relative to the working
    directory) leads to; the part that does not exist yet is kept as named. InputError (one line beginning
    with ``what``, by default the path) when a link on the way is one that another user could have planted or
    could change: a link owned by someone other than the user or root, or one in a directory that someone
    other than the user or root owns or that group or others may write to (sticky or not: /tmp is one).
    The user's own links in their own directories, and root's in root's (``/lib -> usr/lib``), are followed.

    ``Path.resolve`` follows every link, and the kernel's protection of sticky directories
    (fs.protected_symlinks) does not apply to a path it returns: the check is made here, link by link."""
    named = Path(path).expanduser()
    what = what or str(named)
    todo = list(reversed((Path.cwd() / named).parts[1:]))  # a stack: the next component last
    current = Path("/")
    links = 0
    while todo:
        part = todo.pop()
        if part == "..":
            current = current.parent
            continue
        candidate = current / part
        try:
            info = candidate.lstat()
        except (FileNotFoundError, NotADirectoryError):
            # Nothing stands there yet (or a file stands in the way, which making it will say): the rest is made
            # as named (mkdir), not through any link.
            for p in reversed(todo):
                candidate = candidate.parent if p == ".." else candidate / p
            return candidate
        except OSError as exc:
            raise InputError(f"{what}: cannot reach {candidate} ({exc.strerror or exc})") from None
        if not stat.S_ISLNK(info.st_mode):
            current = candidate
            continue
        links += 1
        if links > MAX_LINKS:
            raise InputError(f"{what}: too many symbolic links on the way")
        problem = _untrusted_link(candidate, info)
        if problem:
            raise InputError(
                f"{what}: reached through the symbolic link {candidate}, which {problem}: another user could "
                "make it lead anywhere; name a path without that link"
            )
        target = Path(os.readlink(candidate))
        if target.is_absolute():
            current = Path(target.anchor)
        todo.extend(reversed(target.parts[1:] if target.is_absolute() else target.parts))
    return current


def _untrusted_link(link: Path, info: os.stat_result) -> str | None:
    """Why another user could have planted ``link`` or could change where it leads; None when no one could."""
    trusted = (os.getuid(), 0)
    if info.st_uid not in trusted:
        return f"belongs to another user (uid {info.st_uid})"
    directory = link.parent.stat()  # a real directory: the walk reached it without a link
    if directory.st_uid not in trusted:
        return f"sits in {link.parent}, a directory of another user (uid {directory.st_uid})"
    if directory.st_mode & 0o022:
        return f"sits in {link.parent}, a directory others may write to (mode {stat.S_IMODE(directory.st_mode):o})"
    return None


def is_run(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a run directory of ours: its config.json beside the lock or the metrics every run
    makes (a config.json alone is any tool's)."""
    path = Path(path)
    return os.path.isfile(path / RunDirectory.CONFIG) and (
        os.path.lexists(path / RunDirectory.LOCK) or os.path.lexists(path / RunDirectory.METRICS)
    )


def enclosing_run(path: str | os.PathLike) -> Path | None:
    """The run directory that the real path ``path`` is, or lies somewhere inside; None when there is none."""
    path = Path(path)
    for directory in (path, *path.parents):
        if is_run(directory):
            return directory
    return None


def check_directory(path: str | os.PathLike, *, option: str = "--run-dir") -> Path:
    """Where the run directory (or sweep directory) that the user named as ``path`` really is, once it is known
    to be a safe place to write one; RunDirError, one line naming ``option`` and ``path``, otherwise:

    - no symbolic link on the way that another user could have planted or could change (``real_path``);
    - not inside another run directory (its checkpoints/, or anywhere below it);
    - where it exists already: a real directory of this user that nobody else may write to.

    Nothing is created. The path returned has no links in it: write there, never through ``path`` again."""
    what = f"{option} {path}"
    try:
        real = real_path(path, what=what)
    except InputError as exc:
        raise RunDirError(str(exc)) from None
    run = enclosing_run(real.parent)
    if run is not None:
        raise RunDirError(f"{what}: lies inside {run}, the directory of another run; choose a directory outside it")
    if os.path.lexists(real):
        _check_private(real, option)
    return real


def _check_private(directory: Path, option: str = "--run-dir") -> None:
    """Refuse a directory that another user owns or that others may write to: its files would be theirs."""
    info = directory.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise RunDirError(f"{directory}: not a directory (a symlink or a file stands there)")
    if info.st_uid != os.getuid():
        raise RunDirError(f"{directory}: belongs to another user (uid {info.st_uid}); choose another {option}")
    if info.st_mode & 0o022:
        raise RunDirError(
            f"{directory}: writable by group or others (mode {stat.S_IMODE(info.st_mode):o}); "
            f"run 'chmod go-w {directory}' or choose another {option}"
        )


def lock_held(path: str | os.PathLike) -> bool:
    """Whether some process holds the flock on ``path`` now, without taking it, following a link or waiting."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


class RunDirectory:
    CONFIG = "config.json"
    METRICS = "metrics.jsonl"
    SUMMARY = "summary.json"
    PROCESS = "process.json"
    LOCK = ".lock"

    def __init__(self, path: str | os.PathLike, *, time_offset: float = 0.0) -> None:
        self.path = Path(path).expanduser().resolve()
        self.checkpoints = self.path / "checkpoints"
        self._t0 = time.monotonic() - time_offset
        self._metrics = None
        self._lock_fd: int | None = None

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / "best.pt"

    @classmethod
    def resume(cls, path: str | os.PathLike) -> "RunDirectory":
        """An existing run's directory, its clock going on from where the run's metrics end."""
        run = cls(check_directory(path, option="--resume"))
        if run.is_locked():
            run.lock()  # held: a RunDirError naming the process that trains it
            run.close()  # (let go at once if it was let go meanwhile)
        if run.holds_run() and not run.last_checkpoint.exists() and not (run.path / run.SUMMARY).exists():
            run.read_config()  # a damaged config is named first: what it says is the problem to fix
            raise RunDirError(
                f"{run.path}: the run ended before its first checkpoint, so there is nothing to resume; start it "
                f"over with the same options and --run-dir {run.path}"
            )
        return cls(run.path, time_offset=run.last_time())

    def holds_run(self) -> bool:
        return (self.path / self.CONFIG).exists()

    def create(self, config: TrainConfig, *, fresh: bool) -> None:
        """Make the directory (the trainer calls this once its input is known to be good), take its lock and
        register this process as the one training it; a fresh run also writes its config, never into another
        run, and a resumed one writes what changed. The lock is held until ``close``: a second trainer on the
        same run gets a RunDirError."""
        try:
            run = enclosing_run(self.path.parent)
            if run is not None:
                raise RunDirError(f"{self.path}: lies inside {run}, the directory of another run; choose another place")
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            _check_private(self.path)
            if fresh:
                self._refuse_foreign_files()
            self.lock()
            if fresh and self.holds_run() and not self._clear_unstarted():
                self.close()
                raise RunDirError(f"{self.path}: already holds a run; continue it with --resume {self.path}")
            self.checkpoints.mkdir(mode=0o700, exist_ok=True)
            _check_private(self.checkpoints)
        except OSError as exc:
            self.close()
            raise RunDirError(f"{self.path}: cannot write the run directory ({exc.strerror or exc})") from None
        self.write_process(mode="foreground")  # who trains it: `mnist-tui runs` tells a live run from a crash
        if fresh or self.read_config() != config:  # a resumed run keeps what changed (--max-steps, ...)
            self.write_config(config)

    def _clear_unstarted(self) -> bool:
        """A run that ended before its first checkpoint (killed, crashed: no summary, no checkpoint, and no one
        trains it, as this process holds its lock) has nothing to resume: clear what it left, so that the same
        command starts it over. Whether it was such a run."""
        checkpoints = list(self.checkpoints.glob("*.pt")) if self.checkpoints.is_dir() else []
        if (self.path / self.SUMMARY).exists() or checkpoints:
            return False
        from ..engine.checkpoints import remove_stale_temporaries  # torch: only when there is one to clear

        remove_stale_temporaries(self.checkpoints)
        for name in (self.METRICS, self.CONFIG, self.PROCESS):
            try:
                os.unlink(self.path / name)  # the name itself: a link is never followed
            except FileNotFoundError:
                pass
        return True

    # What a fresh run may find in its directory: what a run makes before its config (a run that started there a
    # moment ago, or stopped before it wrote its config), and mkstemp's names for the files written atomically.
    _BEFORE_CONFIG = (LOCK, PROCESS)
    _TEMPORARY = (f".{CONFIG}.", f".{PROCESS}.")

    def _refuse_foreign_files(self) -> None:
        """RunDirError when the directory holds files that are not a run's (a fresh run would overwrite its
        summary.json or confusion.csv, append to its metrics.jsonl): an empty directory, or one that holds a
        run (refused in ``create`` as such) is fine. Checked before the lock is made: nothing is written there."""
        if self.holds_run():
            return
        foreign = []
        for entry in sorted(os.scandir(self.path), key=lambda e: e.name):
            name = entry.name
            if name in self._BEFORE_CONFIG or (name.startswith(self._TEMPORARY) and name.endswith(".tmp")):
                continue
            if name == "checkpoints" and entry.is_dir(follow_symlinks=False) and not any(os.scandir(entry.path)):
                continue
            foreign.append(name)
        if foreign:
            more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
            raise RunDirError(
                f"{self.path}: holds files that are not a run's ({foreign[0]}{more}); a new run would overwrite "
                "them: choose an empty or new --run-dir"
            )

    def lock(self) -> None:
        """Take the run's lock for this process; RunDirError naming the process that holds it."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.path / self.LOCK, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = (self.read_process() or {}).get("pid", "another process")
            raise RunDirError(
                f"{self.path}: process {holder} is training this run; watch it with 'mnist-tui attach {self.path}'"
            ) from None
        self._lock_fd = fd

    def is_locked(self) -> bool:
        """Whether some process holds the run's lock now (a run being trained), without taking it."""
        return lock_held(self.path / self.LOCK)

    def write_config(self, config: TrainConfig) -> None:
        self._write_json(self.CONFIG, config.to_dict())

    def read_config(self) -> TrainConfig:
        data = self._read_json(self.CONFIG)
        try:
            return TrainConfig.from_dict(data)
        except (TypeError, ValueError, AttributeError) as exc:
            raise RunDirError(f"{self.path / self.CONFIG}: not a valid run config ({exc})") from None

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def record(self, event: Event) -> None:
        """Append one event to metrics.jsonl (with its wall time) and flush it; events with record=False are not."""
        if not event.record:
            return
        if self._metrics is None:
            try:
                self._cut_torn_line()
                self._metrics = open_nofollow(self.path / self.METRICS, "a")
            except OSError as exc:
                raise RunDirError(f"{self.path / self.METRICS}: cannot write ({exc.strerror or exc})") from None
        line = {"t": round(self.elapsed(), 4), **event.to_dict()}
        self._metrics.write(json.dumps(line, separators=(",", ":")) + "\n")
        self._metrics.flush()

    def _cut_torn_line(self) -> None:
        """A process killed mid-write leaves a last line without its newline: cut it before appending."""
        path = self.path / self.METRICS
        if not path.exists() or path.stat().st_size == 0:
            return
        with open_nofollow(path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            f.seek(max(0, f.tell() - (1 << 20)))  # longer than any line (a Previews line is about 60 KB)
            tail = f.read()
            cut = tail.rfind(b"\n")
            f.truncate(f.tell() - len(tail) + cut + 1 if cut >= 0 else max(0, f.tell() - len(tail)))

    def write_summary(self, finished: RunFinished, **extra: Any) -> None:
        summary = {
            "status": finished.state,
            "reason": finished.reason,
            "message": finished.message,
            "final_test_accuracy": finished.final_accuracy,  # of the weights the run ends with
            "validation_accuracy": finished.validation_accuracy,  # of those weights, which it chose them by
            "best_validation_accuracy": finished.best_accuracy,
            "best_iteration": finished.best_iteration,
            "iteration": finished.iteration,
            "epoch": finished.epoch,
            "wall_seconds": round(self.elapsed(), 3),
            "train_seconds": round(finished.elapsed, 3),
            "device": finished.device,
            "stopped_early": finished.stopped_early_at is not None,
            "stopped_early_at": finished.stopped_early_at,
            "weights": finished.weights,
            **extra,
        }
        self._write_json(self.SUMMARY, summary)

    def write_process(self, *, mode: str, socket: str | None = None) -> None:
        """Record the process training the run, so others can tell whether it still runs and reach it."""
        import socket as socket_mod

        import psutil

        self._write_json(
            self.PROCESS,
            {
                "pid": os.getpid(),
                "create_time": psutil.Process().create_time(),
                "host": socket_mod.gethostname(),
                "mode": mode,
                "socket": socket,
                "started": datetime.now().astimezone().isoformat(timespec="seconds"),
            },
        )

    def read_process(self) -> dict[str, Any] | None:
        try:
            return self._read_json(self.PROCESS)
        except RunDirError:
            return None

    def has_weights(self) -> bool:
        """Whether the run has saved any weights (best.pt or last.pt)."""
        return self.best_checkpoint.is_file() or self.last_checkpoint.is_file()

    def final_weights(self) -> Path:
        """The checkpoint holding the weights the run ended with: ``last.pt`` when its summary says it kept its
        final weights (as the fast and best presets do), else ``best.pt``; the other one when that is missing.
        CheckpointError when there is neither."""
        if not self.path.is_dir():
            raise RunDirError(f"{self.path}: no such run directory")
        try:
            ended_with = (self.read_summary() or {}).get("weights")
        except RunDirError:  # a torn summary: fall back to the usual order
            ended_with = None
        order = [self.best_checkpoint, self.last_checkpoint]
        if ended_with == "last":
            order.reverse()
        for path in order:
            if path.is_file():
                return path
        raise CheckpointError(f"{self.checkpoints}: no checkpoint (best.pt or last.pt); is {self.path} a finished run?")

    def read_summary(self) -> dict[str, Any] | None:
        if not (self.path / self.SUMMARY).exists():
            return None
        return self._read_json(self.SUMMARY)

    def read_events(self) -> Iterator[Event]:
        """The events of metrics.jsonl in order (a torn last line, from a crash, is skipped)."""
        path = self.path / self.METRICS
        if not path.exists():
            return
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    yield event_from_dict(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    continue

    def last_time(self) -> float:
        """The wall time the run had reached, so a resumed run continues its clock."""
        path = self.path / self.METRICS
        if not path.exists():
            return 0.0
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - 65536))
            tail = f.read().decode("utf-8", "replace").splitlines()
        for line in reversed(tail):
            try:
                return float(json.loads(line)["t"])
            except (ValueError, KeyError, TypeError):
                continue
        return 0.0

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    def _write_json(self, name: str, data: dict[str, Any]) -> None:
        path = self.path / name
        text = (json.dumps(data, indent=2) + "\n").encode("utf-8")
        try:
            atomic_write(path, lambda f: f.write(text))
        except OSError as exc:
            raise RunDirError(f"{path}: cannot write ({exc.strerror or exc})") from None

    def _read_json(self, name: str) -> dict[str, Any]:
        path = self.path / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunDirError(f"{path}: missing; is {self.path} a mnist-tui run directory?") from None
        except (OSError, ValueError) as exc:
            raise RunDirError(f"{path}: cannot read ({exc})") from None
        if not isinstance(data, dict):
            raise RunDirError(f"{path}: not what mnist-tui writes there (a JSON object); the file is damaged")
        return data
