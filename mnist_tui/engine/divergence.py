"""When a run has diverged: the rule, in one place (Lightning's ``check_finite`` and ``divergence_threshold``
are the reference).

- A non-finite training loss, always: nothing comes back from NaN weights.
- With the check on (``--divergence-check``, the default): a mean training loss over a few steps above
  ``EXPLODED`` times a chance-level guess's (ln C: 2.30 for ten classes, where every sound run starts and
  from which it only goes down); or validation accuracy within ``AT_CHANCE`` times chance for
  ``AT_CHANCE_EVALS`` evaluations once early stopping's warm-up is over and a whole epoch has been trained.

``Diverged`` carries the one line the run ends with, and it says what to try.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

EXPLODED = 10  # a mean training loss over this many times a chance-level guess's (ln C) has diverged
AT_CHANCE, AT_CHANCE_EVALS = 1.5, 3  # accuracy within 1.5x chance for 3 evaluations after the warm-up


class Diverged(Exception):
    """The run has diverged; the message is the line it ends with."""


class DivergenceCheck:
    def __init__(self, n_classes: int, *, enabled: bool) -> None:
        self.n_classes = n_classes
        self.enabled = enabled
        self.recent: deque[float] = deque(maxlen=AT_CHANCE_EVALS)  # the latest validation accuracies

    @staticmethod
    def advice(lr: float) -> str:
        return f"try a lower --lr (it is {lr:g})"

    def training_loss(self, losses: Sequence[float], iteration: int, lr: float) -> None:
        """Raise Diverged for a non-finite loss, or (enabled) a mean loss far above a chance-level guess's."""
        if not all(math.isfinite(v) for v in losses):
            raise Diverged(f"training loss became {losses[-1]} at iteration {iteration}; {self.advice(lr)}")
        chance = math.log(self.n_classes)
        mean = sum(losses) / len(losses)
        if self.enabled and mean > EXPLODED * chance:
            raise Diverged(
                f"training loss exploded: {mean:.3g} on average over the last {len(losses)} steps, over "
                f"{EXPLODED}x a chance-level guess's {chance:.2f}, at iteration {iteration}; {self.advice(lr)}"
            )

    def validation_accuracy(self, accuracy: float, *, warmed_up: bool, iteration: int, lr: float) -> None:
        """Raise Diverged (enabled) when the last evaluations after the warm-up were all at chance level."""
        self.recent.append(accuracy)
        at_chance = all(a <= AT_CHANCE / self.n_classes for a in self.recent)
        if self.enabled and warmed_up and len(self.recent) == AT_CHANCE_EVALS and at_chance:
            raise Diverged(
                f"validation accuracy has stayed at chance level ({accuracy:.1%} with {self.n_classes} classes) "
                f"for {AT_CHANCE_EVALS} evaluations, at iteration {iteration}; {self.advice(lr)}"
            )
