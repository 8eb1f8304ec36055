"""Where a run's record goes. The trainer writes through this protocol; ``runs.rundir.RunDirectory`` (the
run directory on disk) is what every front end passes in, through ``runs.start.make_trainer``."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..config import TrainConfig
from .events import Event, RunFinished


class RunOutput(Protocol):
    path: Path  # the run directory: the error CSVs go here too

    @property
    def last_checkpoint(self) -> Path: ...

    @property
    def best_checkpoint(self) -> Path: ...

    def create(self, config: TrainConfig, *, fresh: bool) -> None:
        """Called once the input is known to be good; a fresh run writes its config, a resumed one what changed.
        Raises RunDirError (an InputError) when it cannot."""

    def record(self, event: Event) -> None:
        """Append one event to the run's record (events with ``record = False`` are skipped)."""

    def write_summary(self, finished: RunFinished) -> None: ...

    def close(self) -> None: ...
