"""Runs that share a CPU: each training process on the CPU takes its share of the cores, not all of them.

torch gives every process one OpenMP thread per core, and those threads spin while they wait for each other. Two
runs on the same cores, each with a thread per core, wait on threads the other run has descheduled: on 2 cores
each ran 4 to 56 times slower than alone. Waiting passively instead (``OMP_WAIT_POLICY=PASSIVE``) avoids the
collapse but costs a lone run about 40%.

So every run on the CPU leaves a claim, a file named by its process id, in a directory its user's runs share. A
run whose threads nobody fixed (no ``--threads``, no ``OMP_NUM_THREADS``) counts the live claims about once a
second (at the loop's metrics events) and trains on ``threads // claims`` threads (at least 1), where ``threads``
is what torch would use alone; a run with fixed threads keeps them, and is counted by the others. A lone run keeps
every thread and spins as before; two runs on 2 cores take one each and never wait on a thread that is not
running. A paused run withdraws its claim. A claim whose process has ended (killed, crashed) is removed by the next
run that counts it.

The claims are private to one user. A directory every user could write to let anyone plant what a run then read
or wrote (a FIFO that hung it, a huge file it read whole, links it wrote through, a link in place of the directory
that it chmod-ed), so each user's runs share only among themselves: runs of two users on the same cores are not
counted by each other (give them ``--threads``). The directory is ``$XDG_RUNTIME_DIR/mnist-tui-cpu-share`` where
that is this user's private directory, else ``mnist-tui-cpu-share-<uid>`` in the temporary directory, or
``MNIST_TUI_CPU_SHARE_DIR``. It is made 0700 if missing, and used only while it is a real directory (not a link)
owned by this user that nobody else may write to; it is never chmod-ed. Otherwise the run keeps its threads and
logs why. Every name in it is opened relative to the directory, without following links or blocking: a claim is
written under a temporary name (created exclusively) and renamed over its own name, and one is read only if it is
a regular file of at most ``CLAIM_BYTES``; anything else in a claim's name counts as nothing and is removed.

Other programs that keep the cores busy are not counted: for those, ``--threads`` sets the number by hand.
"""

from __future__ import annotations

import math
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import torch

CHECK_SECONDS = 1.0  # how often a run recounts the claims (a listdir and a stat per claim)
SHARE_DIR_ENV = "MNIST_TUI_CPU_SHARE_DIR"
CLAIM_BYTES = 64  # a claim is one number and a newline; a bigger file is not a claim and is not read
_NO_FOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
_TEMPORARY = ".tmp"  # a claim being written: "<pid>.tmp", renamed to "<pid>" once whole


class UnsafeDirectory(OSError):
    """The claims directory is not this user's private directory: the run does not share through it."""


def default_directory() -> Path:
    """Where this user's claims live: ``MNIST_TUI_CPU_SHARE_DIR``, else in this user's runtime directory, else
    a directory named for the user in the temporary directory."""
    configured = os.environ.get(SHARE_DIR_ENV)
    if configured:
        return Path(configured)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and _private_problem(runtime, strict=True) is None:
        return Path(runtime) / "mnist-tui-cpu-share"
    return Path(tempfile.gettempdir()) / f"mnist-tui-cpu-share-{os.getuid()}"


def _private_problem(path: str | Path, strict: bool = False) -> str | None:
    """Why ``path`` is not a directory private to this user (None when it is): not a link, a directory, owned
    by this user, writable by nobody else (``strict``: nor readable nor searchable, as a runtime directory is)."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return exc.strerror or str(exc)
    return _stat_problem(st, strict)


def _stat_problem(st: os.stat_result, strict: bool = False) -> str | None:
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    if st.st_uid != os.getuid():
        return f"it belongs to user id {st.st_uid}, not to this user ({os.getuid()})"
    if st.st_mode & (0o077 if strict else 0o022):
        return f"other users may {'use' if strict else 'write to'} it (mode {stat.S_IMODE(st.st_mode):o})"
    return None


@contextmanager
def opened_directory(path: Path, create: bool = False) -> Iterator[int]:
    """A descriptor of the claims directory, checked private to this user; every name in it is opened through
    it, so the directory cannot be swapped for a link between the check and the use. ``create``: make it (0700,
    its parent must exist) if it is missing. Raises UnsafeDirectory with the reason, or OSError."""
    if create:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass  # checked below like any other: never chmod-ed
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _NO_FOLLOW)
    except OSError as exc:
        problem = _private_problem(path)  # a link (ELOOP), or not a directory (ENOTDIR): say which
        raise UnsafeDirectory(exc.errno, problem or exc.strerror or str(exc)) from None
    try:
        problem = _stat_problem(os.fstat(fd))
        if problem:
            raise UnsafeDirectory(problem)
        yield fd
    finally:
        os.close(fd)


def _started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch, to psutil's rounding), or None if it is gone."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, OSError, ValueError, OverflowError):
        return None


def _read_claim(directory: int, name: str) -> float | None:
    """The start time a claim records; None when ``name`` is gone or holds no claim. Read only if it is a small
    regular file, opened without following a link or waiting on a FIFO or device."""
    st = os.stat(name, dir_fd=directory, follow_symlinks=False)
    if not stat.S_ISREG(st.st_mode) or st.st_size > CLAIM_BYTES:
        return None
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NO_FOLLOW, dir_fd=directory)
    try:
        st = os.fstat(fd)  # what was opened, should the name have changed since the stat
        if not stat.S_ISREG(st.st_mode) or st.st_size > CLAIM_BYTES:
            return None
        data = os.read(fd, CLAIM_BYTES + 1)
    finally:
        os.close(fd)
    try:
        started = float(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None
    return started if math.isfinite(started) and started > 0 else None


def _remove(directory: int, name: str) -> None:
    """Remove what ``name`` is (a link itself, not what it points to) if this user owns it; else leave it."""
    try:
        st = os.stat(name, dir_fd=directory, follow_symlinks=False)
        if st.st_uid == os.getuid() and not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=directory)
    except OSError:
        pass


class CpuShare:
    """This process's claim on the CPU, and the threads it may use.

    ``threads``: what the process would use alone (torch's count when the run starts). ``directory``: the claims.
    ``adaptive``: whether it takes its share (False: its threads were fixed; it only claims, to be counted).
    """

    def __init__(
        self, threads: int, directory: Path | None = None, pid: int | None = None, *, adaptive: bool = True
    ) -> None:
        self.alone = max(1, threads)
        self.adaptive = adaptive
        self.directory = directory or default_directory()
        self.pid = pid or os.getpid()
        self.name = str(self.pid)
        self.claim = self.directory / self.name
        self.current = self.alone  # the threads set now
        self.sharers = 1  # live claims at the last count, this one included
        self.next_check = 0.0
        self.problem: str | None = None  # why claims could not be written, when they could not

    # --- the claim -------------------------------------------------------------------------------------------
    def join(self) -> None:
        """Leave this process's claim (its start time inside tells a later process with the same id from it),
        whole or not at all: written under a temporary name created anew, then renamed over the claim's name."""
        temporary = self.name + _TEMPORARY
        try:
            started = _started(self.pid)
            if started is None:
                raise OSError(f"cannot tell when process {self.pid} started")
            with opened_directory(self.directory, create=True) as directory:
                _remove(directory, temporary)  # left by a process with this id that ended while writing
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW, 0o600, dir_fd=directory)
                try:
                    os.write(fd, f"{started:.3f}\n".encode())
                finally:
                    os.close(fd)
                os.rename(temporary, self.name, src_dir_fd=directory, dst_dir_fd=directory)
        except OSError as exc:
            self.problem = (
                f"runs sharing this CPU cannot be counted, so this one keeps its threads "
                f"({self.directory}: {exc.strerror or exc})"
            )
        self.next_check = 0.0

    def leave(self) -> None:
        """Withdraw the claim (a pause or the end) and go back to the threads of a lone process."""
        try:
            with opened_directory(self.directory) as directory:
                os.unlink(self.name, dir_fd=directory)
        except OSError:
            pass
        if self.adaptive:
            self._set(self.alone)

    # --- counting --------------------------------------------------------------------------------------------
    def count(self) -> int:
        """Live claims in the directory, this process's included. The claims of ended processes are removed, and
        so is anything else under a claim's name (not a small regular file, or no start time in it); nothing in
        the directory is waited on. 1 when the directory cannot be used."""
        try:
            with opened_directory(self.directory) as directory:
                return max(1, sum(self._live(directory, name) for name in os.listdir(directory)))
        except OSError:
            return 1

    def _live(self, directory: int, name: str) -> bool:
        """Whether ``name`` is a live process's claim; the claim of an ended process, or junk, is removed."""
        writing = name.endswith(_TEMPORARY)
        digits = name[: -len(_TEMPORARY)] if writing else name
        if not (digits.isascii() and digits.isdigit() and str(int(digits)) == digits):
            return False  # not a name this module writes: left alone
        pid = int(digits)
        if writing:  # a claim being written: removed only once its process has ended
            if pid != self.pid and _started(pid) is None:
                _remove(directory, name)
            return False
        if pid == self.pid:
            return True
        try:
            recorded = _read_claim(directory, name)
        except FileNotFoundError:
            return False  # withdrawn since the listing
        except OSError:
            recorded = None
        if recorded is None:  # not a claim: something else under a claim's name
            _remove(directory, name)
            return False
        started = _started(pid)
        if started is None or abs(started - recorded) > 1.0:  # ended, or a reused id
            _remove(directory, name)
            return False
        return True

    def threads_for(self, sharers: int) -> int:
        return max(1, self.alone // max(1, sharers))

    def adjust(self, now: float | None = None) -> str | None:
        """Recount when due and set the threads; a line for the log when the share changed, else None."""
        now = time.monotonic() if now is None else now
        if not self.adaptive or now < self.next_check:
            return None
        self.next_check = now + CHECK_SECONDS
        sharers = self.sharers = self.count()
        threads = self.threads_for(sharers)
        if threads == self.current:
            return None
        self._set(threads)
        if sharers > 1:
            return (
                f"{sharers} runs are training on this CPU: this one now uses {threads} of {self.alone} threads "
                f"(threads that wait for each other across runs would spin)"
            )
        return f"alone on this CPU again: back to {threads} threads"

    def _set(self, threads: int) -> None:
        if threads != self.current:
            torch.set_num_threads(threads)
            self.current = threads


def sharing_enabled(fixed_threads: int) -> bool:
    """Whether a CPU run chooses its own threads: not when ``--threads`` or ``OMP_NUM_THREADS`` fixed them."""
    return not fixed_threads and not os.environ.get("OMP_NUM_THREADS")
