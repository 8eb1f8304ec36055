"""One way to make a trainer for every front end (the app, the headless runner, the background process):
a fresh run of a config in its run directory, or a run resumed from its directory."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..config import TrainConfig
from ..engine.control import Control
from .rundir import RunDirectory, check_directory, default_run_dir

if TYPE_CHECKING:  # the trainer imports torch: only once a front end makes one
    from ..engine.trainer import Trainer


# A run on the CPU records its threads in its config.json and a resumed run keeps them (engine/cpu_share.py): they
# are part of its arithmetic. --threads on --resume changes them, and says what that costs.
THREADS_CHANGED = "; its numbers from here on differ from those the run would have computed on its own threads"


def resolve_run_dir(config: TrainConfig) -> TrainConfig:
    """``config`` with its run directory made absolute and free of links (a new one under the runs root when none
    is given); RunDirError when it is no safe place for a run (``rundir.check_directory``)."""
    return config.replace(run_dir=str(check_directory(config.run_dir or default_run_dir(config))))


def make_trainer(
    config: TrainConfig | None,
    control: Control | None = None,
    *,
    resume: str | os.PathLike | None = None,
    changes: dict[str, Any] | None = None,
) -> Trainer:
    """A trainer for ``config`` in its run directory, or (``resume``) for the run in that directory.

    Resuming reads the run's config now: RunDirError (an InputError) when the directory holds no run, a
    ConfigError when ``changes`` (settings that may change on a resumed run, such as ``max_steps``) do not fit.
    The run logs each change and keeps it in its config.json.
    """
    from ..engine.trainer import Trainer

    if resume is not None:
        run_dir = RunDirectory.resume(resume)
        saved = run_dir.read_config()
        config = saved.replace(run_dir=str(run_dir.path), **(changes or {}))
        notes = tuple(
            f"--{name.replace('_', '-')} {getattr(config, name)} for this resumed run (it was {getattr(saved, name)})"
            + (THREADS_CHANGED if name == "threads" and saved.threads else "")
            for name in sorted(changes or {})
            if getattr(config, name) != getattr(saved, name)
        )
        return Trainer(config, control, output=run_dir, resume=True, notes=notes)
    if config is None:
        raise ValueError("make_trainer needs a config or a run directory to resume")
    config = resolve_run_dir(config)
    return Trainer(config, control, output=RunDirectory(config.run_dir))
