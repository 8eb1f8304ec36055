"""The trainer's evaluations: a model over a whole set, and the ``Evaluation`` event that reports it.

The scheduled evaluations (of the validation set, or of the test set without one), the test evaluations
at each epoch end and the last one of the weights a run ends with all report the same way, so the event is
built in one place. Which weights are evaluated, and what the result decides (best, early
stopping, the plateau), is the trainer's business.
"""

from __future__ import annotations

import torch

from .analysis import EvalOutcome, predict, summarise
from .events import Evaluation
from .state import LoopState


def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, n_preview: int) -> EvalOutcome:
    """Mean loss, correct count, the first ``n_preview`` predictions and the errors (see analysis.py).

    In batches of ``batch`` under inference mode; the caller puts the model in eval() mode.
    """
    return summarise(predict(model, x, batch), y, n_preview=n_preview)


def accuracy_of(outcome: EvalOutcome) -> float:
    return outcome.correct / outcome.total


def evaluation_event(
    outcome: EvalOutcome,
    state: LoopState,
    *,
    split: str,
    epoch: int,
    seconds: float,
    weights_from: int | None = None,
) -> Evaluation:
    """The event for ``outcome`` of the ``split`` set at ``state`` (whose best validation accuracy is already
    updated by it, where it counts)."""
    best = state.best_accuracy >= 0
    return Evaluation(
        iteration=state.iteration,
        epoch=epoch,
        split=split,
        loss=outcome.loss,
        accuracy=accuracy_of(outcome),
        correct=outcome.correct,
        total=outcome.total,
        best_accuracy=state.best_accuracy if best else None,
        best_iteration=state.best_iteration if best else None,
        seconds=seconds,
        preview_predictions=outcome.preview,
        weights_from=weights_from,
    )
