"""The live run's latest evaluated weights, for a canvas or an error browser to build a CPU model from.

No tensor travels in an event. Instead, while some reader has said it wants weights (``want``; ``release``
when it is done), the trainer, after each evaluation, copies the evaluated model's state dict to the CPU
(``offer``) and keeps the copy here; a reader's worker thread takes it (``latest`` or ``wait_newer``) and
builds its own model from it (predictor.Predictor). With no reader the trainer's cost is one check of a
counter per evaluation and nothing per step. Thread-safe; torch is imported only to make a copy.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WeightsCopy:
    """The weights of one evaluation: CPU tensors no training model shares."""

    iteration: int
    model: str  # the network's name (models.MODELS)
    state: dict[str, Any]  # name -> CPU torch.Tensor


class LatestWeights:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._copy: WeightsCopy | None = None

    # Readers (any thread) -----------------------------------------------------------------------------------
    def want(self) -> None:
        """A reader opens: from the next evaluation on, the trainer copies its weights here."""
        with self._cond:
            self._readers += 1

    def release(self) -> None:
        """A reader closes; with none left the trainer stops copying (the last copy stays)."""
        with self._cond:
            self._readers = max(0, self._readers - 1)

    @property
    def wanted(self) -> bool:
        return self._readers > 0

    def latest(self) -> WeightsCopy | None:
        with self._cond:
            return self._copy

    def wait_newer(self, iteration: int | None, timeout: float) -> WeightsCopy | None:
        """The copy once it is of another iteration than ``iteration`` (None: any copy); None after ``timeout``."""
        with self._cond:
            self._cond.wait_for(lambda: self._copy is not None and self._copy.iteration != iteration, timeout)
            copy = self._copy
        return copy if copy is not None and copy.iteration != iteration else None

    def wake(self) -> None:
        """Wake readers waiting in ``wait_newer`` (when one of them is closing)."""
        with self._cond:
            self._cond.notify_all()

    # The trainer --------------------------------------------------------------------------------------------
    def offer(self, module: Any, iteration: int, model: str) -> bool:
        """After an evaluation: copy the weights of ``module`` (the ``model`` network) to the CPU if a reader
        wants them; whether it did."""
        if not self._readers:
            return False
        import torch

        with torch.no_grad():
            state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
        with self._cond:
            self._copy = WeightsCopy(iteration, model, state)
            self._cond.notify_all()
        return True
