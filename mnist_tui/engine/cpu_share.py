"""Runs that share a CPU: each training process on the CPU takes its share of the cores, not all of them, and keeps
that share for its whole life.

torch gives every process one OpenMP thread per core, and those threads spin while they wait for each other. Two
runs on the same cores, each with a thread per core, wait on threads the other run has descheduled: on 2 cores
each ran 4 to 56 times slower than alone. Waiting passively instead (``OMP_WAIT_POLICY=PASSIVE``) avoids the
collapse but costs a lone run about 40%.

The thread count is part of a run's arithmetic: convolutions, matrix products and reductions split their work by
the number of threads, so the same seed on 1 and on 2 threads gives other losses from the first steps (the fast
preset's --max-steps 40 ended at 97.42% on 1 thread and 96.77% on 2), with or without oneDNN, whatever
``MKL_CBWR`` says. So a run decides its threads once, when it starts (``CpuShare.start``), and never changes
them: its numbers then depend on its seed and its threads, not on what else trains beside it. The trainer records
the count in the run's config.json (``threads``), and a resumed run takes it from there.

Every run on the CPU leaves a claim, a file named by its process id that records its start time and its threads,
in a directory its user's runs share. A run whose threads nobody fixed (no ``--threads``, no ``OMP_NUM_THREADS``)
claims when it starts, counts the live claims once it has loaded its data (so runs started together count each
other) and takes what is free: ``threads - held`` where ``held`` is what the other claims record, at most
``threads // claims`` and at least 1, where ``threads`` is what torch would use alone (a claim that records no
count yet, a run still loading, counts as holding ``threads // claims``). A lone run takes every thread; runs
started together split them; a run started beside one that holds every thread takes 1, so
that the cores are oversubscribed by as little as can be (the earlier run cannot give any back without changing
its numbers; see ``threads_for``). A run with fixed threads keeps them, and is counted by the others. A paused run
withdraws its claim and leaves it again, with the same threads, when it goes on. A claim whose process has ended
(killed, crashed) is removed by the next run that counts it.

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import torch

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


def _read_claim(directory: int, name: str) -> tuple[float, int | None] | None:
    """The start time and the threads a claim records (None: no count yet); None when ``name`` is gone or holds
    no claim. Read only if it is a small regular file, opened without following a link or waiting on a FIFO or
    device."""
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
        fields = data.decode("ascii").split()
        started = float(fields[0])
        threads = int(fields[1]) if len(fields) == 2 else None
    except (UnicodeDecodeError, ValueError, IndexError):
        return None
    if len(fields) > 2 or not (math.isfinite(started) and started > 0) or (threads is not None and threads < 1):
        return None
    return started, threads


def _remove(directory: int, name: str) -> None:
    """Remove what ``name`` is (a link itself, not what it points to) if this user owns it; else leave it."""
    try:
        st = os.stat(name, dir_fd=directory, follow_symlinks=False)
        if st.st_uid == os.getuid() and not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=directory)
    except OSError:
        pass


class CpuShare:
    """This process's claim on the CPU, and the threads its run trains on, decided once when it starts.

    ``threads``: what the process would use alone (torch's count when the run starts), or the count fixed for it.
    ``directory``: the claims. ``adaptive``: whether it takes its share (False: its threads were fixed; it only
    claims, to be counted).
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
        self.before = torch.get_num_threads()  # the process's threads before the run: given back at its end
        self.current = self.alone  # the run's threads, once ``start`` decided them; kept for the run's life
        self.decided = False
        self.sharers = 1  # live claims when the run started, this one included
        self.problem: str | None = None  # why claims could not be written, when they could not

    # --- the claim -------------------------------------------------------------------------------------------
    def join(self) -> None:
        """Leave this process's claim (its start time inside tells a later process with the same id from it; its
        threads, once decided, tell runs that start later what is taken), whole or not at all: written under a
        temporary name created anew, then renamed over the claim's name."""
        temporary = self.name + _TEMPORARY
        try:
            started = _started(self.pid)
            if started is None:
                raise OSError(f"cannot tell when process {self.pid} started")
            record = f"{started:.3f} {self.current}\n" if self.decided else f"{started:.3f}\n"
            with opened_directory(self.directory, create=True) as directory:
                _remove(directory, temporary)  # left by a process with this id that ended while writing
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW, 0o600, dir_fd=directory)
                try:
                    os.write(fd, record.encode())
                finally:
                    os.close(fd)
                os.rename(temporary, self.name, src_dir_fd=directory, dst_dir_fd=directory)
        except OSError as exc:
            self.problem = (
                f"runs sharing this CPU cannot be counted, so this one keeps its threads "
                f"({self.directory}: {exc.strerror or exc})"
            )

    def leave(self) -> None:
        """Withdraw the claim (a pause: the run keeps its threads for when it goes on, see ``start``)."""
        try:
            with opened_directory(self.directory) as directory:
                os.unlink(self.name, dir_fd=directory)
        except OSError:
            pass

    def end(self) -> None:
        """The run's end: withdraw the claim and give the process back the threads it had before the run."""
        self.leave()
        if torch.get_num_threads() != self.before:
            torch.set_num_threads(self.before)

    # --- the run's threads -----------------------------------------------------------------------------------
    def start(self) -> str | None:
        """Claim a share and decide the run's threads, once: its own share of what the other claims leave
        (adaptive), else the threads it was given. Set them, and record them in the claim for the runs that
        start later. Called again (a paused run going on), it only claims again, with the same threads.
        A line for the log when the run takes less than every thread, else None."""
        if self.decided:
            self.join()
            return None
        self.join()  # if not yet (the trainer claims when it starts loading): a run starting now counts this one
        line = None
        if self.adaptive and self.problem is None:
            others = self.others()
            self.sharers = 1 + len(others)
            self.current = self.threads_for(others)
            if self.current < self.alone:
                line = (
                    f"{self.sharers} runs are training on this CPU: this one uses {self.current} of {self.alone} "
                    f"threads for its whole life (a run's numbers depend on its threads; threads that wait for "
                    f"each other across runs would spin)"
                )
        self.decided = True
        if torch.get_num_threads() != self.current:
            torch.set_num_threads(self.current)
        if self.problem is None:
            self.join()  # now with its threads
        return line

    def threads_for(self, others: list[int | None]) -> int:
        """The threads of a run that starts beside ``others`` (the threads each other live claim records; None:
        not decided yet): what they leave free, at most an equal share, at least 1.

        The least oversubscription that keeps every run's numbers fixed: a run started beside one that holds
        every thread takes 1 (it cannot take threads back from the earlier run, whose numbers would change), so
        on 2 cores the two runs spin 3 threads, not 4 as two runs that each took every thread did."""
        claims = 1 + len(others)
        share = max(1, self.alone // claims)
        held = sum(share if threads is None else threads for threads in others)
        return max(1, min(share, self.alone - held))

    # --- counting --------------------------------------------------------------------------------------------
    def others(self) -> list[int | None]:
        """The threads recorded in the other live claims in the directory (None: a claim without a count, a run
        still deciding). The claims of ended processes are removed, and so is anything else under a claim's name
        (not a small regular file, or no start time in it); nothing in the directory is waited on. Empty when
        the directory cannot be used."""
        try:
            with opened_directory(self.directory) as directory:
                return [claim[1] for name in os.listdir(directory) if (claim := self._live(directory, name))]
        except OSError:
            return []

    def count(self) -> int:
        """Live claims in the directory, this process's included (1 when the directory cannot be used)."""
        return 1 + len(self.others())

    def _live(self, directory: int, name: str) -> tuple[float, int | None] | None:
        """Another live process's claim under ``name``, or None; the claim of an ended process, or junk, is
        removed. This process's own claim is not among the others."""
        writing = name.endswith(_TEMPORARY)
        digits = name[: -len(_TEMPORARY)] if writing else name
        if not (digits.isascii() and digits.isdigit() and str(int(digits)) == digits):
            return None  # not a name this module writes: left alone
        pid = int(digits)
        if writing:  # a claim being written: removed only once its process has ended
            if pid != self.pid and _started(pid) is None:
                _remove(directory, name)
            return None
        if pid == self.pid:
            return None
        try:
            recorded = _read_claim(directory, name)
        except FileNotFoundError:
            return None  # withdrawn since the listing
        except OSError:
            recorded = None
        if recorded is None:  # not a claim: something else under a claim's name
            _remove(directory, name)
            return None
        started = _started(pid)
        if started is None or abs(started - recorded[0]) > 1.0:  # ended, or a reused id
            _remove(directory, name)
            return None
        return recorded


def sharing_enabled(fixed_threads: int) -> bool:
    """Whether a CPU run chooses its own threads: not when ``--threads`` or ``OMP_NUM_THREADS`` fixed them."""
    return not fixed_threads and not os.environ.get("OMP_NUM_THREADS")
