"""The sweep process: each run not finished trained by a process of its own (``python -m mnist_tui ...
--headless --run-dir SWEEP_DIR/NAME``, or ``--resume``), one per device slot at a time, in a session of its
own (the sweep forwards one stop signal to it, and a killed sweep leaves it to finish); a sweep in the
background. Each run is claimed and decided under its locks (runs.py) before its process starts."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ...config import TrainConfig
from ...engine import events as ev
from ...engine.errors import RunDirError

from ..rundir import RunDirectory
from .directory import SweepDirectory
from .events import Progress, RunEnded, RunKept, RunLaunched, RunLeft, RunWaiting, SweepEvent
from .plan import PlannedRun, SweepError
from .runs import Claim, Status, claim, read_info, run_status


@dataclass
class _Child:
    run: PlannedRun
    action: str
    proc: subprocess.Popen
    log: Any
    signals: int = 0  # stop signals forwarded to it


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
        wait: bool = True,
    ) -> None:
        self.sweep, self.runs, self.devices = sweep, list(runs), list(devices) or [None]
        self.poll = poll
        self.wait = wait  # for a run another process trains: wait, then decide again (else leave it)
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
                for run in list(waiting):  # another process trains it: decide again once it has let go
                    if run_status(self.sweep.run_dir(run), self.sweep.log_path(run))[0] != Status.RUNNING:
                        waiting.remove(run)
                        queue.appendleft(run)
                while free and queue and not self.stopping:
                    run = queue.popleft()
                    try:
                        decided = claim(self.sweep, run)
                    except SweepError as exc:  # no locks here, a log that cannot be written: nor for the others
                        self.not_started = (str(exc), ev.EXIT_BAD_INPUT)
                        self.stop()
                        break
                    info = decided.info
                    if decided.status == Status.FINISHED:
                        yield RunKept(run)
                    elif decided.status == Status.RUNNING and self.wait:
                        waiting.append(run)
                        yield RunWaiting(run, info.pid if info else None)
                    elif decided.action is None:
                        yield RunLeft(run, decided.status, _detail(decided))
                    else:
                        slot = free.pop(0)
                        child = running[slot] = self._launch(decided, slot)
                        yield RunLaunched(run, child.action, self.devices[slot], child.proc.pid, decided.status)
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
                    status = run_status(self.sweep.run_dir(child.run))[0]  # its claim still held: not by others
                    message = "" if status == Status.FINISHED else self._why(child.run)
                    if code not in (ev.EXIT_OK, ev.EXIT_INTERRUPTED) and status == Status.MISSING and not self.stopping:
                        self.not_started = (f"{child.run.name}: {message}", code)
                        self.stop()
                    yield RunEnded(child.run, code, status, message)
                if not running and (self.stopping or (not queue and not waiting)):
                    return
                if running:
                    yield Progress(tuple((c.run, read_info(self.sweep.run_dir(c.run))) for c in running.values()))
                self._wake.wait(self.poll)
                self._wake.clear()
        finally:  # the consumer went away (an exception, a closed generator): the runs stop and can resume
            for child in running.values():
                if child.proc.poll() is None and child.signals == 0:
                    child.proc.send_signal(signal.SIGTERM)
                child.proc.wait()
                child.log.close()

    def _launch(self, decided: Claim, slot: int) -> _Child:
        """Start the process that trains the claimed run, its output the run's log: it inherits the claim."""
        run, action, log = decided.run, decided.action, decided.log
        log.write(f"--- {datetime.now().astimezone().isoformat(timespec='seconds')} {action}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                train_command(self.sweep, run, action, self.devices[slot]),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a terminal's signals reach the sweep, which forwards one stop to each run
                close_fds=True,
            )
        except BaseException:
            decided.release()
            raise
        return _Child(run, action, proc, log)

    def _why(self, run: PlannedRun) -> str:
        """Why ``run`` ended unfinished: the error line of its output, else its summary's message."""
        lines = self.sweep.log_tail(run)
        error = next((line.strip() for line in reversed(lines) if line.startswith("mnist-tui: error:")), None)
        if error:
            return error.removeprefix("mnist-tui: error:").strip()
        try:
            return str((RunDirectory(self.sweep.run_dir(run)).read_summary() or {}).get("message") or "")
        except (RunDirError, RecursionError, OSError):
            return ""


def _detail(decided: Claim) -> str:
    info = decided.info
    if decided.status == Status.RUNNING:
        who = f"process {info.pid}" if info and info.pid else "another process"
        return f"{who} trains it" + (f" ({info.mode})" if info and info.mode else "")
    return info.detail if info else ""


def check_devices(devices: Sequence[str]) -> None:
    """Every device of ``--devices`` exists here (torch is imported only for CUDA or MPS); SweepError if not."""
    for name in devices:
        if name == "cpu":
            continue
        TrainConfig(device=name)  # the form: auto | cpu | cuda | cuda:N | mps (a ConfigError otherwise)
        from ...engine.device import resolve_device

        resolve_device(name)  # a DeviceError (an InputError) names what is missing


# --- a sweep in the background ----------------------------------------------------------------------------
def launch_detached(argv: Sequence[str], sweep: SweepDirectory) -> int:
    """Start ``python -m mnist_tui ARGV`` (a sweep command with ``--background``) in a session of its own and
    return once it runs its sweep (0) or has failed to (its exit code, its message shown): as background.launch
    does for a run."""
    from ..background import start_detached

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
    from ..background import _announce_and_leave_terminal

    _announce_and_leave_terminal(str(sweep.path))
