"""Evaluate the final weights of saved runs, alone and together: ``mnist-tui ensemble RUN_DIR...``.

Each member is a run's config and the checkpoint holding the weights it ended with (the run directory
chooses it: ``RunDirectory.final_weights``; with EMA its ``model`` is the average). A run's accuracy is the
argmax of its softmax; the ensemble's is the argmax of the mean of the runs' softmax. With ``tta`` every
run's softmax is itself the mean over the test-time views in ``augment.TTA_VIEWS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import TrainConfig
from . import data as data_mod
from .analysis import load_weights, predict
from .augment import TTA_VIEWS, tta_probabilities
from .checkpoints import load_checkpoint
from .data import LogFn
from .device import eval_batch_size, resolve_device
from .device_data import memory_layout
from .errors import InputError
from .preprocess import normalise


@dataclass(frozen=True)
class Member:
    """One run of an ensemble: its name (the run directory), config and final weights."""

    run: str
    config: TrainConfig
    weights: Path


@dataclass(frozen=True)
class EnsembleResult:
    runs: tuple[str, ...]  # the run directories
    weights: tuple[str, ...]  # the checkpoint each run's weights came from
    accuracies: tuple[float, ...]  # each run's test accuracy (fraction)
    combined: float  # the accuracy of the mean of the runs' softmax
    correct: tuple[int, ...]
    combined_correct: int
    total: int  # test images
    dataset: str
    tta_views: int  # 1: no test-time augmentation


def _no_log(message: str) -> None:
    pass


def evaluate_runs(
    members: Sequence[Member], *, device: str = "auto", tta: bool = False, log: LogFn = _no_log
) -> EnsembleResult:
    """Evaluate each run's final weights on its test set, and the mean of their softmax.

    Raises an InputError (CheckpointError, DataError, DeviceError) with a one-line message, also when the
    runs were trained on different data sets.
    """
    if not members:
        raise InputError("name at least one run directory")
    target = resolve_device(device)
    layout = memory_layout(target)
    first = members[0].config
    for member in members[1:]:
        config = member.config
        if (config.dataset, config.data_dir) != (first.dataset, first.data_dir):
            raise InputError(
                f"{member.run}: trained on {config.dataset}, not {first.dataset} like {members[0].run}; "
                "an ensemble needs one test set"
            )
    resolved = data_mod.resolve(first.dataset, first.data_dir, log=log)
    arrays = data_mod.load_arrays(resolved)
    x = normalise(arrays.test_images.to(target)).contiguous(memory_format=layout)
    y = arrays.test_labels.to(target)
    batch = eval_batch_size(target)
    total_probs = None
    correct: list[int] = []
    for member in members:
        path = member.weights
        model = load_weights(member.config.model, load_checkpoint(path, map_location="cpu"), path)
        model = model.to(target, memory_format=layout).eval()
        if tta:
            probs = tta_probabilities(model, x, batch)
        else:
            probs = torch.softmax(predict(model, x, batch).float(), 1)
        correct.append(int((probs.argmax(1) == y).sum()))
        total_probs = probs if total_probs is None else total_probs + probs
        log(f"{member.run}: {correct[-1] / len(y):.2%} ({path.name})")
    assert total_probs is not None
    combined = int((total_probs.argmax(1) == y).sum())
    n = len(y)
    return EnsembleResult(
        runs=tuple(m.run for m in members),
        weights=tuple(str(m.weights) for m in members),
        accuracies=tuple(c / n for c in correct),
        combined=combined / n,
        correct=tuple(correct),
        combined_correct=combined,
        total=n,
        dataset=resolved.name,
        tta_views=len(TTA_VIEWS) if tta else 1,
    )
