"""Evaluate the final weights of saved runs, alone and together: ``mnist-tui ensemble RUN_DIR...``.

Each run's weights are the ones it ended with (``best.pt`` when its summary says the best weights were
restored, else ``last.pt``, whose ``model`` is the EMA average for a run with EMA). A run's accuracy is the
argmax of its softmax; the ensemble's is the argmax of the mean of the runs' softmax. With ``tta`` every
run's softmax is itself the mean over the test-time views in ``augment.TTA_VIEWS``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from . import data as data_mod
from .analysis import predict
from .augment import TTA_VIEWS, tta_probabilities
from .checkpoints import CheckpointError, load_checkpoint
from .data import LogFn
from .device import eval_batch_size, resolve_device
from .errors import InputError
from .models import build_model
from .rundir import RunDirectory, RunDirError
from .trainer import normalise


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


def final_checkpoint(run_dir: str | os.PathLike) -> Path:
    """The checkpoint holding the weights the run ended with."""
    run = RunDirectory(run_dir)
    if not run.path.is_dir():
        raise RunDirError(f"{run.path}: no such run directory")
    summary = run.read_summary() or {}
    restored = str(summary.get("weights", "last")).startswith("best")
    path = run.best_checkpoint if restored else run.last_checkpoint
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; is {run.path} a run that has saved a checkpoint?")
    return path


def _no_log(message: str) -> None:
    pass


def evaluate_runs(
    run_dirs: Sequence[str | os.PathLike], *, device: str = "auto", tta: bool = False, log: LogFn = _no_log
) -> EnsembleResult:
    """Evaluate each run's final weights on its test set, and the mean of their softmax.

    Raises an InputError (RunDirError, CheckpointError, DataError, DeviceError) with a one-line message,
    also when the runs were trained on different data sets.
    """
    if not run_dirs:
        raise InputError("name at least one run directory")
    target = resolve_device(device)
    layout = torch.channels_last if target.type in ("cpu", "cuda") else torch.contiguous_format
    runs = [RunDirectory(r) for r in run_dirs]
    paths = [final_checkpoint(r.path) for r in runs]
    configs = [r.read_config() for r in runs]
    first = configs[0]
    for run, config in zip(runs[1:], configs[1:]):
        if (config.dataset, config.data_dir) != (first.dataset, first.data_dir):
            raise RunDirError(
                f"{run.path}: trained on {config.dataset}, not {first.dataset} like {runs[0].path}; "
                "an ensemble needs one test set"
            )
    resolved = data_mod.resolve(first.dataset, first.data_dir, log=log)
    arrays = data_mod.load_arrays(resolved)
    x = normalise(arrays.test_images.to(target)).contiguous(memory_format=layout)
    y = arrays.test_labels.to(target)
    batch = eval_batch_size(target)
    total_probs = None
    correct: list[int] = []
    for run, path, config in zip(runs, paths, configs):
        model = build_model(config.model)
        try:
            model.load_state_dict(load_checkpoint(path, map_location="cpu")["model"])
        except (KeyError, RuntimeError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"{path}: does not fit the {config.model} model ({reason[:160]})") from None
        model = model.to(target, memory_format=layout).eval()
        if tta:
            probs = tta_probabilities(model, x, batch)
        else:
            probs = torch.softmax(predict(model, x, batch).float(), 1)
        correct.append(int((probs.argmax(1) == y).sum()))
        total_probs = probs if total_probs is None else total_probs + probs
        log(f"{run.path}: {correct[-1] / len(y):.2%} ({path.name})")
    assert total_probs is not None
    combined = int((total_probs.argmax(1) == y).sum())
    n = len(y)
    return EnsembleResult(
        runs=tuple(str(r.path) for r in runs),
        weights=tuple(str(p) for p in paths),
        accuracies=tuple(c / n for c in correct),
        combined=combined / n,
        correct=tuple(correct),
        combined_correct=combined,
        total=n,
        dataset=resolved.name,
        tta_views=len(TTA_VIEWS) if tta else 1,
    )
