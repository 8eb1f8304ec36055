"""What the sweep process reports as it goes (a run kept, started, waited for, left alone or ended; the live
runs), and what those events add up to (``Tally``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...engine import events as ev
from ..catalogue import RunInfo
from .plan import PlannedRun
from .runs import Status


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


