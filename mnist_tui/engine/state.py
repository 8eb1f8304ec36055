"""What a run changes as it trains, and the one place that says how a resumable checkpoint holds it.

``LoopState`` is where the loop is; ``Learner`` is the model with everything that changes as it learns
(optimizer, weight average, schedule, early stopping, the random generators). ``to_checkpoint`` and
``from_checkpoint`` write and read both: a resumed run draws the same batches and the same random numbers
as one that never stopped. Checkpoints written before a key existed (no EMA, no schedule, no augmentation
generator) still resume, so a key is only ever added, and read with a default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from ..config import TrainConfig
from .augment import Ema
from .device_data import memory_layout
from .early_stopping import EarlyStopper, Plateau
from .models import build_model

AUGMENT_SEED_OFFSET = 7_919  # the augmentation generator's seed is the run's seed plus this


@dataclass
class LoopState:
    """Where the loop is; saved in every checkpoint so a run can continue exactly."""

    epoch: int = 1  # 1-based epoch in progress
    epoch_step: int = 0  # steps done in this epoch
    iteration: int = 0  # steps done in all
    best_accuracy: float = -1.0  # the best validation accuracy (-1: none yet, or no validation set)
    best_iteration: int = 0
    last_accuracy: float | None = None  # of the latest scheduled evaluation (validation; test without one)
    last_eval_iteration: int = -1
    last_test_accuracy: float | None = None
    last_test_iteration: int = -1
    kept_accuracy: float | None = None  # the validation accuracy of the best weights kept (restore_best)
    val_digest: str = ""  # the validation split's fingerprint (split.py): a resume must hold out the same
    train_seconds: float = 0.0
    perm: torch.Tensor | None = field(default=None, repr=False)  # this epoch's shuffle

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def epoch_reached(self) -> int:
        """The last epoch with any steps done (``epoch`` already points at the next one at an epoch end)."""
        return self.epoch if self.epoch_step else self.epoch - 1


def count_steps(config: TrainConfig, train_size: int) -> tuple[int, int]:
    """Steps per epoch (the last batch may be short), and steps in all (``max_steps`` may cut the run)."""
    steps_per_epoch = math.ceil(train_size / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    return steps_per_epoch, total_steps


@dataclass
class Learner:
    """The model and everything that changes as it learns: with a LoopState, what a checkpoint saves."""

    device: torch.device
    model: torch.nn.Module  # the weights being trained
    optimizer: torch.optim.Optimizer
    stopper: EarlyStopper
    shuffle: torch.Generator  # each epoch's permutation
    augment_rng: torch.Generator  # augmentation's draws
    ema: Ema | None = None  # the weight average, evaluated and kept instead of the model
    plateau: Plateau | None = None  # cuts the lr when the monitored metric stops improving
    scheduler: torch.optim.lr_scheduler.OneCycleLR | None = None  # None once the user has set the lr by hand

    @property
    def eval_model(self) -> torch.nn.Module:
        """The weights the run is judged by and ends with: the weight average with EMA on, else the model."""
        return self.ema.module if self.ema is not None else self.model

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr


def build_learner(config: TrainConfig, device: torch.device, total_steps: int) -> Learner:
    """A fresh learner for ``config``: seeded, so the same config starts from the same weights."""
    torch.manual_seed(config.seed)
    model = build_model(config.model).to(device, memory_format=memory_layout(device))
    # On CUDA one fused kernel: the step the recorded graph leaves out costs one launch, not a dozen.
    fused = {"fused": True} if device.type == "cuda" else {}
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, **fused)
    es = config.early_stopping
    plateau = None
    if config.lr_plateau:
        plateau = Plateau(es.higher_is_better, config.plateau_patience, config.plateau_factor)
    return Learner(
        device=device,
        model=model,
        optimizer=optimizer,
        stopper=EarlyStopper(es),
        shuffle=torch.Generator().manual_seed(config.seed),
        # Augmentation draws from a generator of its own (on the CPU, saved in checkpoints), so the shuffle,
        # dropout and the tutorial and fast presets' results are what they are without it.
        augment_rng=torch.Generator().manual_seed(config.seed + AUGMENT_SEED_OFFSET),
        ema=Ema(model, config.ema) if config.ema else None,
        plateau=plateau,
        scheduler=(
            torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps)
            if config.schedule == "onecycle"
            else None
        ),
    )


def to_checkpoint(config: TrainConfig, learner: Learner, loop: LoopState) -> dict[str, Any]:
    """Everything a run needs to continue exactly where it is (``checkpoints.save_checkpoint`` writes it)."""
    rng: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "shuffle": learner.shuffle.get_state(),
        "augment": learner.augment_rng.get_state(),
    }
    if learner.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(learner.device)
    loop_dict = loop.to_dict()
    loop_dict["perm"] = None if loop.perm is None else loop.perm.cpu()
    ema = None
    if learner.ema is not None:  # "model" holds the average; the weights being trained go here
        ema = {"training_model": learner.model.state_dict(), "updates": learner.ema.updates, "decay": learner.ema.decay}
    return {
        "config": config.to_dict(),
        "model": learner.eval_model.state_dict(),  # the weights the run is judged by (the EMA with one)
        "ema": ema,
        "optimizer": learner.optimizer.state_dict(),
        "rng": rng,
        "loop": loop_dict,
        "early_stopping": learner.stopper.state_dict(),
        "plateau": None if learner.plateau is None else learner.plateau.state_dict(),
        "scheduler": None if learner.scheduler is None else learner.scheduler.state_dict(),
    }


def from_checkpoint(checkpoint: dict[str, Any], learner: Learner) -> LoopState:
    """Put ``learner`` back as ``checkpoint`` (from ``to_checkpoint``) left it; where the loop was."""
    ema = checkpoint.get("ema")
    if learner.ema is not None and ema:
        learner.model.load_state_dict(ema["training_model"])
        learner.ema.module.load_state_dict(checkpoint["model"])
        learner.ema.updates = int(ema["updates"])
    else:
        learner.model.load_state_dict(checkpoint["model"] if not ema else ema["training_model"])
    learner.optimizer.load_state_dict(checkpoint["optimizer"])
    rng = checkpoint["rng"]
    torch.set_rng_state(rng["torch"])
    learner.shuffle.set_state(rng["shuffle"])
    if "augment" in rng:
        learner.augment_rng.set_state(rng["augment"])
    if learner.device.type == "cuda" and "cuda" in rng:
        torch.cuda.set_rng_state(rng["cuda"], learner.device)
    loop = dict(checkpoint["loop"])
    perm = loop.pop("perm", None)
    state = LoopState(**loop)
    state.perm = None if perm is None else perm.to(learner.device)
    learner.stopper.load_state_dict(checkpoint["early_stopping"])
    if learner.scheduler is not None:
        if checkpoint.get("scheduler"):
            learner.scheduler.load_state_dict(checkpoint["scheduler"])
        else:  # the user had set the lr by hand: the schedule stayed off
            learner.scheduler = None
    if learner.plateau is not None and checkpoint.get("plateau"):
        learner.plateau.load_state_dict(checkpoint["plateau"])
    return state
