"""What an evaluation gets wrong: the confusion matrix and the misclassified test digits (no UI imports).

``predict`` runs the model over the test set in large batches. ``summarise`` turns the logits into the
evaluation's figures (mean loss, correct count, preview predictions) and its errors: per-image losses,
predictions and the confusion matrix on the device, the probabilities of the worst ``MAX_MISCLASSIFIED``
misclassified digits only, all packed into one tensor and brought to the host in ONE transfer (a no-op on
the CPU). ``make_snapshot`` adds those digits' images from the CPU copy of the test set and builds the
``EvaluationSnapshot`` event. ``write_error_csvs`` writes ``misclassified.csv`` and ``confusion.csv``.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..config import TrainConfig
from . import data
from .checkpoints import CheckpointError, load_checkpoint
from .device import eval_batch_size, resolve_device
from .device_data import memory_layout
from .errors import InputError
from .events import TEST, VALIDATION, EvaluationSnapshot, Misclassified
from .files import atomic_write
from .models import build_model, fold_batch_norm
from .preprocess import normalise
from .previews import N_TEST_PREVIEW
from .split import split_training_set

MAX_MISCLASSIFIED = 2000  # worst-loss digits kept per evaluation (an early model gets thousands wrong)
DECIMALS = 4  # probabilities and losses are rounded to this many decimals
MISCLASSIFIED_CSV = "misclassified.csv"
CONFUSION_CSV = "confusion.csv"


@dataclass(frozen=True)
class EvalOutcome:
    """One evaluation, on the host, in plain values."""

    loss: float  # mean cross-entropy over the set
    correct: int
    total: int
    preview: tuple[int, ...]  # predictions for the first n_preview images
    confusion: tuple[tuple[int, ...], ...]  # [true][predicted]
    n_misclassified: int
    errors: tuple[tuple[int, int, int, float, tuple[float, ...]], ...]  # (index, true, predicted, loss, probs)


def predict(model: torch.nn.Module, x: torch.Tensor, batch: int) -> torch.Tensor:
    """The model's logits for ``x``, in batches of ``batch``, under inference mode (the caller sets eval()).

    Conv + batch-norm pairs are folded first (models.fold_batch_norm): the same logits up to rounding.
    """
    model = fold_batch_norm(model)
    with torch.inference_mode():
        return torch.cat([model(x[start : start + batch]) for start in range(0, len(x), batch)])


def summarise(
    logits: torch.Tensor, targets: torch.Tensor, *, n_preview: int = 0, limit: int = MAX_MISCLASSIFIED
) -> EvalOutcome:
    """The figures and errors of an evaluation from its logits, with a single device-to-host transfer."""
    n, classes = logits.shape
    k = min(limit, n)
    with torch.inference_mode():
        logits = logits.float()
        losses = F.cross_entropy(logits, targets, reduction="none")
        pred = logits.argmax(1)
        confusion = torch.bincount(targets * classes + pred, minlength=classes * classes)
        # The worst k by loss among the wrong ones; right ones sort last. A fixed shape: no sync to count them.
        key = torch.where(pred != targets, losses, torch.full_like(losses, -float("inf")))
        top = key.topk(k).indices if k else key.new_empty(0, dtype=torch.long)
        rows = torch.cat(
            [
                top[:, None].float(),
                targets[top, None].float(),
                pred[top, None].float(),
                losses[top, None],
                torch.softmax(logits[top], 1),
            ],
            1,
        )
        packed = torch.cat([losses.sum()[None], confusion.float(), pred[:n_preview].float(), rows.flatten()])
        host = packed.cpu().numpy().astype(np.float64)  # the one transfer
    cells = classes * classes
    matrix = host[1 : 1 + cells].round().astype(np.int64).reshape(classes, classes)
    n_preview = min(n_preview, n)
    preview = host[1 + cells : 1 + cells + n_preview].round().astype(np.int64)
    correct = int(np.trace(matrix))
    wrong = n - correct
    table = host[1 + cells + n_preview :].reshape(k, 4 + classes)[: min(wrong, k)]
    ids = table[:, :3].round().astype(np.int64).tolist()
    rounded = table[:, 3:].round(DECIMALS).tolist()
    errors = tuple((i, t, p, row[0], tuple(row[1:])) for (i, t, p), row in zip(ids, rounded))
    return EvalOutcome(
        loss=float(host[0]) / n,
        correct=correct,
        total=n,
        preview=tuple(preview.tolist()),
        confusion=tuple(tuple(row) for row in matrix.tolist()),
        n_misclassified=wrong,
        errors=errors,
    )


def make_snapshot(
    outcome: EvalOutcome,
    images: torch.Tensor,
    *,
    iteration: int,
    epoch: int,
    class_names: Sequence[str],
    weights: str = "",
    split: str = TEST,
    positions: torch.Tensor | None = None,
) -> EvaluationSnapshot:
    """The event for ``outcome``; ``images`` is the evaluated set as CPU uint8 [N, 28, 28].

    ``positions``: each image's index in the data set's file (a validation image's in the training set);
    the misclassified entries carry it, so a digit can be found again.
    """
    if outcome.errors:
        index = torch.tensor([e[0] for e in outcome.errors], dtype=torch.long, device=images.device)
        picked = images[index].reshape(len(index), -1).cpu().numpy()
        blobs = [row.tobytes() for row in picked]
    else:
        blobs = []
    entries = tuple(
        Misclassified(
            index=i if positions is None else int(positions[i]), true=t, predicted=p, loss=loss,
            probabilities=probs, image=blob,
        )
        for (i, t, p, loss, probs), blob in zip(outcome.errors, blobs)
    )  # fmt: skip
    return EvaluationSnapshot(
        iteration=iteration,
        epoch=epoch,
        class_names=tuple(class_names),
        confusion=outcome.confusion,
        misclassified=entries,
        n_misclassified=outcome.n_misclassified,
        loss=outcome.loss,
        weights=weights,
        split=split,
    )


def write_error_csvs(run_dir: str | os.PathLike, snapshot: EvaluationSnapshot) -> tuple[Path, Path]:
    """Write ``misclassified.csv`` and ``confusion.csv`` into ``run_dir`` (atomically); their paths.

    misclassified.csv: ``index,true,predicted,confidence,loss,p0..p9``, worst loss first (the snapshot's
    list: every misclassified digit unless there were more than MAX_MISCLASSIFIED). confusion.csv: one row a
    true label, one column a predicted label, counts. Raises OSError when the directory cannot be written.
    """
    directory = Path(run_dir)
    classes = len(snapshot.confusion)
    rows: list[list[object]] = [
        ["index", "true", "predicted", "confidence", "loss", *(f"p{c}" for c in range(classes))]
    ]
    worst_first = sorted(snapshot.misclassified, key=lambda m: -m.loss)  # as the engine makes them; kept if not
    rows += [[m.index, m.true, m.predicted, m.confidence, m.loss, *m.probabilities] for m in worst_first]
    misclassified = _write_csv(directory / MISCLASSIFIED_CSV, rows)
    matrix: list[list[object]] = [["true\\predicted", *range(classes)]]
    matrix += [[t, *row] for t, row in enumerate(snapshot.confusion)]
    confusion = _write_csv(directory / CONFUSION_CSV, matrix)
    return misclassified, confusion


def _write_csv(path: Path, rows: list[list[object]]) -> Path:
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    return atomic_write(path, lambda f: f.write(text.getvalue().encode("utf-8")))


def _no_log(message: str) -> None:
    pass


def load_weights(model_name: str, checkpoint: dict, path: Path) -> torch.nn.Module:
    """The ``model_name`` network with the checkpoint's weights; CheckpointError when they do not fit it."""
    model = build_model(model_name)
    try:
        model.load_state_dict(checkpoint["model"])
    except (KeyError, RuntimeError, TypeError, AttributeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: does not fit the {model_name} model ({reason[:160]})") from None
    return model


def evaluate_weights(
    config: TrainConfig,
    path: Path,
    *,
    device: str = "auto",
    split: str = TEST,
    log: Callable[[str], None] = _no_log,
) -> EvaluationSnapshot:
    """Evaluate the weights in checkpoint ``path`` of a run of ``config`` once (``inspect``): on its test set,
    or (``split=VALIDATION``) on the validation images the run held out, drawn again from its config.

    Raises an InputError (CheckpointError, DataError, DeviceError) with a one-line message.
    """
    resolved = data.resolve(config.dataset, config.data_dir, log=log)
    arrays = data.load_arrays(resolved)
    images, labels, positions = arrays.test_images, arrays.test_labels, None
    if split == VALIDATION:
        held_out = split_training_set(arrays.train_labels, config.val_split, config.seed).validation
        if not len(held_out):
            raise InputError(f"{path}: its run held out no validation set (--val-split 0); inspect its test set")
        images, labels, positions = arrays.train_images[held_out], arrays.train_labels[held_out], held_out
    target = resolve_device(device)
    checkpoint = load_checkpoint(path, map_location="cpu")
    model = load_weights(config.model, checkpoint, path)
    layout = memory_layout(target)
    model = model.to(target, memory_format=layout).eval()
    x = normalise(images.to(target)).contiguous(memory_format=layout)
    y = labels.to(target)
    batch = eval_batch_size(target, config.eval_batch_size)
    loop = checkpoint.get("loop") or {}
    iteration = int(loop.get("iteration", 0))
    epoch = int(loop.get("epoch", 1)) if loop.get("epoch_step", 1) else max(1, int(loop.get("epoch", 1)) - 1)
    outcome = summarise(predict(model, x, batch), y, n_preview=N_TEST_PREVIEW)
    log(f"evaluated {path} (iteration {iteration:,}) on {len(y):,} {resolved.name} {split} images")
    return make_snapshot(
        outcome,
        images,
        iteration=iteration,
        epoch=epoch,
        class_names=resolved.class_names,
        weights=f"{path.parent.name}/{path.name}",
        split=split,
        positions=positions,
    )
