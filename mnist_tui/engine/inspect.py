"""Evaluate a finished (or interrupted) run's saved weights once, without training: ``mnist-tui inspect``."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from . import data as data_mod
from .analysis import make_snapshot, predict, summarise
from .checkpoints import CheckpointError, load_checkpoint
from .data import LogFn
from .device import eval_batch_size, resolve_device
from .events import EvaluationSnapshot
from .models import build_model
from .rundir import RunDirectory, RunDirError
from .trainer import N_TEST_PREVIEW, normalise


def _no_log(message: str) -> None:
    pass


def checkpoint_for(run_dir: str | os.PathLike) -> Path:
    """The weights to inspect: those the run ended with, as its summary says (``checkpoints/last.pt`` when
    it kept its final weights, as the fast and best presets do); else ``best.pt``, then ``last.pt``.
    """
    run = RunDirectory(run_dir)
    if not run.path.is_dir():
        raise RunDirError(f"{run.path}: no such run directory")
    try:
        ended_with = (run.read_summary() or {}).get("weights")
    except RunDirError:  # a torn summary: fall back to the usual order
        ended_with = None
    order = [run.best_checkpoint, run.last_checkpoint]
    if ended_with == "last":
        order.reverse()
    for path in order:
        if path.is_file():
            return path
    raise CheckpointError(f"{run.checkpoints}: no checkpoint (best.pt or last.pt); is {run.path} a finished run?")


def evaluate_checkpoint(
    run_dir: str | os.PathLike, *, device: str = "auto", log: LogFn = _no_log
) -> EvaluationSnapshot:
    """Load the run's config, data and the weights it ended with (``checkpoint_for``) and evaluate them once.

    Raises an InputError (RunDirError, CheckpointError, DataError, DeviceError) with a one-line message.
    """
    run = RunDirectory(run_dir)
    path = checkpoint_for(run.path)
    config = run.read_config()
    resolved = data_mod.resolve(config.dataset, config.data_dir, log=log)
    arrays = data_mod.load_arrays(resolved)
    target = resolve_device(device)
    checkpoint = load_checkpoint(path, map_location="cpu")
    model = build_model(config.model)
    try:
        model.load_state_dict(checkpoint["model"])
    except (KeyError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: does not fit the {config.model} model ({reason[:160]})") from None
    layout = torch.channels_last if target.type in ("cpu", "cuda") else torch.contiguous_format
    model = model.to(target, memory_format=layout).eval()
    x = normalise(arrays.test_images.to(target)).contiguous(memory_format=layout)
    y = arrays.test_labels.to(target)
    batch = eval_batch_size(target, config.eval_batch_size)
    loop = checkpoint.get("loop") or {}
    iteration = int(loop.get("iteration", 0))
    epoch = int(loop.get("epoch", 1)) if loop.get("epoch_step", 1) else max(1, int(loop.get("epoch", 1)) - 1)
    outcome = summarise(predict(model, x, batch), y, n_preview=N_TEST_PREVIEW)
    log(f"evaluated {path} (iteration {iteration:,}) on {len(y):,} {resolved.name} test images")
    return make_snapshot(
        outcome,
        arrays.test_images,
        iteration=iteration,
        epoch=epoch,
        class_names=resolved.class_names,
        weights=f"{path.parent.name}/{path.name}",
    )
