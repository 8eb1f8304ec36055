"""The resumable checkpoint (engine/state.py): what it holds, that it puts a learner back exactly, and that
checkpoints written before a key existed still resume."""

from __future__ import annotations

import dataclasses

import torch

from mnist_tui.config import TrainConfig
from mnist_tui.engine.state import LoopState, build_learner, from_checkpoint, to_checkpoint

CPU = torch.device("cpu")
KEYS = {"config", "model", "ema", "optimizer", "rng", "loop", "early_stopping", "plateau", "scheduler"}


def trained(config: TrainConfig, steps: int = 3):
    """A learner after a few steps on random digits, and its loop state."""
    learner = build_learner(config, CPU, total_steps=10)
    for _ in range(steps):
        x = torch.randn(8, 1, 28, 28, generator=learner.augment_rng)
        y = torch.randint(0, 10, (8,), generator=learner.shuffle)
        learner.optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(learner.model(x), y).backward()
        learner.optimizer.step()
        if learner.ema is not None:
            learner.ema.update()
        if learner.scheduler is not None:
            learner.scheduler.step()
    learner.stopper.update(0.5, 1.2, steps)
    if learner.plateau is not None:
        learner.plateau.update(50.0, steps, learner.lr)
    loop = LoopState(epoch=1, epoch_step=steps, iteration=steps, best_accuracy=0.5, best_iteration=steps)
    loop.perm = torch.randperm(40, generator=learner.shuffle)
    return learner, loop


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def test_a_checkpoint_holds_the_learner_the_loop_and_the_config():
    config = TrainConfig(model="fast", ema=0.9, lr_plateau=True, aug_shift=2.0)
    learner, loop = trained(config)
    checkpoint = to_checkpoint(config, learner, loop)
    assert set(checkpoint) == KEYS
    assert set(checkpoint["rng"]) == {"torch", "shuffle", "augment"}  # and "cuda" on a GPU
    assert set(checkpoint["loop"]) == {f.name for f in dataclasses.fields(LoopState)}
    assert set(checkpoint["ema"]) == {"training_model", "updates", "decay"}
    assert checkpoint["config"] == config.to_dict()
    # "model" is what the run is judged by: the weight average with EMA on.
    assert same(checkpoint["model"], learner.ema.module.state_dict())
    assert same(checkpoint["ema"]["training_model"], learner.model.state_dict())


def test_from_checkpoint_puts_a_fresh_learner_back_where_the_saved_one_was():
    config = TrainConfig(model="fast", ema=0.9, schedule="onecycle", aug_shift=2.0)
    learner, loop = trained(config)
    saved = to_checkpoint(config, learner, loop)
    torch.manual_seed(123)  # the global generator elsewhere: the checkpoint's state must win
    fresh = build_learner(config, CPU, total_steps=10)
    restored = from_checkpoint(saved, fresh)
    assert same(restored.to_dict(), loop.to_dict())
    assert torch.equal(torch.get_rng_state(), saved["rng"]["torch"])  # dropout draws on as it would have
    assert same(to_checkpoint(config, fresh, restored), saved)  # weights, Adam, EMA, schedule, generators, ...
    assert fresh.lr == learner.lr


def test_a_checkpoint_from_before_the_ema_schedule_and_augmentation_keys_resumes():
    config = TrainConfig(model="fast", schedule="onecycle")
    learner, loop = trained(config)
    old = to_checkpoint(config, learner, loop)
    del old["ema"], old["plateau"], old["scheduler"], old["rng"]["augment"]
    fresh = build_learner(config, CPU, total_steps=10)
    restored = from_checkpoint(old, fresh)
    assert restored.iteration == loop.iteration
    assert same(fresh.model.state_dict(), learner.model.state_dict())
    assert fresh.scheduler is None  # no schedule saved: the lr was set by hand, and stays where it is
    assert fresh.lr == learner.lr
