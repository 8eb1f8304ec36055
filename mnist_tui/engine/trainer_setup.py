"""The trainer's set-up: the device and the CPU's threads, the data, the run directory, the learner (fresh or
resumed from a checkpoint); then the speed options (speed.py) and the first events.

``TrainerSetup`` is a part of ``Trainer`` (trainer.py), kept here so that trainer.py is the loop: its methods
set the attributes the loop reads (``device``, ``data``, ``learner``, ``steps_per_epoch``, ``total_steps``,
``augment``, ``previews``, ...) and send their events through the trainer's ``_emit``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from ..config import TrainConfig
from . import data as data_mod
from .checkpoints import load_checkpoint
from .control import Control
from .cpu_share import CpuShare, sharing_enabled
from .device import choose_device, eval_batch_size
from .device_data import DeviceData
from .divergence import DivergenceCheck
from .errors import CheckpointError
from .events import Event, Log, RunState, StateChanged
from .output import RunOutput
from .previews import AugmentedPreviews, first_digits
from .split import split_training_set
from .state import Learner, LoopState, build_learner, count_steps, from_checkpoint


class TrainerSetup:
    # What the trainer holds when the set-up starts (see Trainer.__init__ and Trainer.run).
    config: TrainConfig
    control: Control
    output: RunOutput
    resume: bool
    notes: Sequence[str]
    state: LoopState
    run_dir: RunOutput | None
    cpu_share: CpuShare | None
    _pending: list[Event]
    _emit: Callable[[Event], Iterator[Event]]
    _speed_options: Callable[[], Iterator[Event]]  # speed.py
    _run_started: Callable[[data_mod.ResolvedData], Event]  # reporting.py
    _augmented_previews: Callable[[], Iterator[Event]]  # reporting.py

    def _setup(self) -> Iterator[Event]:
        """Device and data, the run directory, the learner (fresh or resumed), speed options; the first events."""
        cfg = self.config
        device, why = choose_device(cfg.device)  # why: which of several GPUs auto took, and why
        self.device, self.device_str = device, str(device)
        if why:
            yield from self._emit(Log(why))
        if device.type == "cpu":  # the run's threads: its share of the CPU unless fixed, decided once (cpu_share.py)
            self.cpu_share = CpuShare(cfg.threads or torch.get_num_threads(), adaptive=sharing_enabled(cfg.threads))
            self.cpu_share.join()  # counted while it loads by the runs that start with it; it decides after that
        elif cfg.threads:
            torch.set_num_threads(cfg.threads)
        resolved, arrays = yield from self._load_data()
        split = split_training_set(arrays.train_labels, cfg.val_split, cfg.seed)
        # The run directory is made only once the input is known to be good.
        checkpoint = load_checkpoint(self.output.last_checkpoint, map_location="cpu") if self.resume else None
        if self.cpu_share is not None:  # before anything is computed, and recorded in config.json: the threads
            yield from self._share_cpu()  # are part of the run's arithmetic, and a resumed run keeps them
            self.config = cfg = cfg.replace(threads=self.cpu_share.current)
        self._open_run_dir()

        self.steps_per_epoch, self.total_steps = count_steps(cfg, len(split.train))
        self.learner: Learner = build_learner(cfg, device, self.total_steps)
        self.best_weights: dict[str, torch.Tensor] | None = None  # the best seen, for restore_best
        if checkpoint is not None:
            yield from self._resume(checkpoint)
            if self.state.val_digest and self.state.val_digest != split.digest:
                raise CheckpointError(
                    f"{self.output.last_checkpoint}: the run held out another validation set "
                    f"({self.state.val_digest}, now {split.digest or 'none'}); its --val-split or data changed"
                )
        self.state.val_digest = split.digest
        for note in self.notes:
            yield from self._emit(Log(note))
        self.data = DeviceData.load(arrays, resolved.class_names, device, split)
        self.divergence = DivergenceCheck(len(resolved.class_names), enabled=cfg.divergence_check)
        self.eval_batch = eval_batch_size(device, cfg.eval_batch_size)
        augment = {"degrees": cfg.aug_rotate, "scale": cfg.aug_scale, "shift": cfg.aug_shift}
        self.augment = augment if any(augment.values()) else None  # random_affine's ranges, with it on
        self.previews = AugmentedPreviews(arrays, cfg.seed, augment) if self.augment else None
        yield from self._speed_options()

        yield from self._emit(self._run_started(resolved))
        yield from self._emit(first_digits(arrays))
        yield from self._augmented_previews()
        yield from self._emit(self.learner.stopper.state_event(self.state.iteration))

    def _load_data(self) -> Generator[Event, None, tuple[data_mod.ResolvedData, data_mod.Arrays]]:
        cfg = self.config
        yield from self._emit(StateChanged(RunState.LOADING, f"loading {cfg.dataset}"))
        logs: list[str] = []
        resolved = data_mod.resolve(cfg.dataset, cfg.data_dir, log=logs.append)
        for line in logs:
            yield from self._emit(Log(line))
        return resolved, data_mod.load_arrays(resolved)

    def _open_run_dir(self) -> None:
        """Create the run directory (a fresh run's; a resumed run's exists) and record what was held back."""
        self.output.create(self.config, fresh=not self.resume)
        self.run_dir = self.output
        for event in self._pending:
            self.run_dir.record(event)
        self._pending.clear()

    def _resume(self, checkpoint: dict[str, Any]) -> Iterator[Event]:
        """Continue from ``checkpoint``: the learner and the loop as it left them, the best weights saved."""
        last, best = self.run_dir.last_checkpoint, self.run_dir.best_checkpoint
        with _checkpoint_of_this_run(last):
            self.state = from_checkpoint(checkpoint, self.learner)
        if best.exists():
            with _checkpoint_of_this_run(best):
                self.best_weights = {k: v.to(self.device) for k, v in load_checkpoint(best)["model"].items()}
        yield from self._emit(Log(f"resumed from {self.run_dir.last_checkpoint} at iteration {self.state.iteration}"))
        planned = getattr(self.learner.scheduler, "total_steps", self.total_steps)
        if planned < self.total_steps:  # the run was lengthened (config.json edited) after the schedule began
            yield from self._emit(
                Log(
                    f"the {self.config.schedule} schedule was planned for {planned} steps; the steps after it run "
                    f"at its final lr ({self.total_steps} in all now)",
                    "warning",
                )
            )

    def _share_cpu(self) -> Iterator[Event]:
        """On the CPU: claim this run's share of the threads, decided the first time for its life (cpu_share.py)."""
        share = self.cpu_share
        line = share.start()
        if share.problem:
            yield from self._emit(Log(share.problem, "warning"))
            share.problem = None
        if line:
            yield from self._emit(Log(line))


@contextlib.contextmanager
def _checkpoint_of_this_run(path: Path) -> Iterator[None]:
    """A checkpoint whose contents do not fit this run (keys missing, wrong shapes or types) is named in one
    line, as bad input, instead of failing with whatever torch or a dict raised."""
    try:
        yield
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise CheckpointError(
            f"{path}: not a checkpoint this run can resume from ({type(exc).__name__}: {reason})"
        ) from None
