"""Runs that share a CPU: each training process on the CPU takes its share of the cores, not all of them.

torch gives every process one OpenMP thread per core, and those threads spin while they wait for each other. Two
runs on the same cores, each with a thread per core, wait on threads the other run has descheduled: on 2 cores
each ran 4 to 56 times slower than alone. Waiting passively instead (``OMP_WAIT_POLICY=PASSIVE``) avoids the
collapse but costs a lone run about 40%.

So every run on the CPU leaves a claim, a file named by its process id, in a directory every run on this machine
shares. A run whose threads nobody fixed (no ``--threads``, no ``OMP_NUM_THREADS``) counts the live claims about
once a second (at the loop's metrics events) and trains on ``threads // claims`` threads (at least 1), where
``threads`` is what torch would use alone; a run with fixed threads keeps them, and is counted by the others. A lone run keeps every thread and spins as before; two runs on 2 cores
take one each and never wait on a thread that is not running. A paused run withdraws its claim. A claim whose
process has ended (killed, crashed) is removed by the next run that counts it.

Other programs that keep the cores busy are not counted: for those, ``--threads`` sets the number by hand.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import psutil
import torch

CHECK_SECONDS = 1.0  # how often a run recounts the claims (a listdir and a stat per claim)
SHARE_DIR_ENV = "MNIST_TUI_CPU_SHARE_DIR"


def default_directory() -> Path:
    """Where the claims live: one directory for every user of this machine (its runs share the same cores)."""
    configured = os.environ.get(SHARE_DIR_ENV)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "mnist-tui-cpu-share"


def _started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch, to psutil's rounding), or None if it is gone."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, OSError):
        return None


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
        self.claim = self.directory / str(self.pid)
        self.current = self.alone  # the threads set now
        self.sharers = 1  # live claims at the last count, this one included
        self.next_check = 0.0
        self.problem: str | None = None  # why claims could not be written, when they could not

    # --- the claim -------------------------------------------------------------------------------------------
    def join(self) -> None:
        """Leave this process's claim (its start time inside tells a later process with the same id from it)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if self.directory.stat().st_uid == os.getuid():
                self.directory.chmod(0o1777)  # every user's runs share these cores; each may remove only its own
            self.claim.write_text(f"{_started(self.pid) or 0:.3f}\n")
        except OSError as exc:
            self.problem = f"runs sharing this CPU cannot be counted ({self.directory}: {exc.strerror or exc})"
        self.next_check = 0.0

    def leave(self) -> None:
        """Withdraw the claim (a pause or the end) and go back to the threads of a lone process."""
        try:
            self.claim.unlink(missing_ok=True)
        except OSError:
            pass
        if self.adaptive:
            self._set(self.alone)

    # --- counting --------------------------------------------------------------------------------------------
    def count(self) -> int:
        """Live claims in the directory, this process's included; the claims of ended processes are removed."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return 1
        live = 0
        for name in names:
            if not name.isdigit():
                continue
            pid = int(name)
            if pid == self.pid:
                live += 1
                continue
            path = self.directory / name
            try:
                recorded = float(path.read_text().strip() or 0)
            except (OSError, ValueError):
                continue  # being written, or unreadable: not counted this time
            started = _started(pid)
            if started is None or (recorded and abs(started - recorded) > 1.0):  # ended, or a reused id
                try:
                    path.unlink(missing_ok=True)
                except OSError:
                    pass  # another user's stale claim in a sticky directory: ignored, not removed
                continue
            live += 1
        return max(live, 1)

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
