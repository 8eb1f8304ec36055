"""Early stopping and reduce-on-plateau, as small state machines fed one evaluation at a time.

Both watch the same monitored metric (test accuracy in percent, or test loss). Their state is plain
values, so it goes into events for the screen and into checkpoints for resuming.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import EarlyStoppingConfig
from .events import EarlyStoppingState


def metric_value(monitor: str, accuracy: float, loss: float) -> float:
    """The monitored number: accuracy in percent (higher is better) or loss (lower is better)."""
    return accuracy * 100.0 if monitor == "accuracy" else loss


@dataclass
class Watch:
    """The best value of a metric, and how long since it last improved by more than min_delta.

    ``best`` is the true best (its weights are the ones worth keeping); ``reference`` is the value a new
    one must beat by more than ``min_delta`` to reset ``wait``, so small gains do not hold off a stop.
    """

    higher_is_better: bool = True
    min_delta: float = 0.0
    best: float | None = None
    best_iteration: int | None = None
    reference: float | None = None
    wait: int = 0
    evals: int = 0

    def better(self, value: float, than: float | None, by: float = 0.0) -> bool:
        if than is None:
            return True
        return value > than + by if self.higher_is_better else value < than - by

    def update(self, value: float, iteration: int) -> bool:
        """Feed one evaluation; True when it is a new best."""
        self.evals += 1
        if self.better(value, self.reference, self.min_delta):
            self.reference, self.wait = value, 0
        else:
            self.wait += 1
        if self.better(value, self.best):
            self.best, self.best_iteration = value, iteration
            return True
        return False


class EarlyStopper:
    def __init__(self, config: EarlyStoppingConfig) -> None:
        self.config = config
        self.watch = Watch(config.higher_is_better, config.min_delta)

    def reconfigure(self, config: EarlyStoppingConfig) -> None:
        """New settings from now on; a new monitor starts its best over, the rest keeps its count."""
        if config.monitor != self.config.monitor:
            self.watch = Watch(config.higher_is_better, config.min_delta, evals=self.watch.evals)
        else:
            self.watch.min_delta = config.min_delta
        self.config = config

    def update(self, accuracy: float, loss: float, iteration: int) -> bool:
        """Feed one evaluation; True when the monitored metric reached a new best."""
        return self.watch.update(metric_value(self.config.monitor, accuracy, loss), iteration)

    @property
    def should_stop(self) -> bool:
        c = self.config
        return c.enabled and self.watch.evals >= c.warmup_evals and self.watch.wait >= c.patience

    @property
    def remaining(self) -> int | None:
        """Evaluations left before a stop if nothing improves (None when disabled)."""
        c = self.config
        if not c.enabled:
            return None
        return max(c.patience - self.watch.wait, c.warmup_evals - self.watch.evals, 0)

    def state_event(self, iteration: int) -> EarlyStoppingState:
        """Where early stopping stands, as the event the screen shows."""
        c, w = self.config, self.watch
        return EarlyStoppingState(
            iteration=iteration,
            enabled=c.enabled,
            monitor=c.monitor,
            patience=c.patience,
            min_delta=c.min_delta,
            warmup_evals=c.warmup_evals,
            restore_best=c.restore_best,
            best=w.best,
            best_iteration=w.best_iteration,
            wait=w.wait,
            evals=w.evals,
            remaining=self.remaining,
        )

    def state_dict(self) -> dict:
        return {"config": self.config.__dict__.copy(), "watch": self.watch.__dict__.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.config = EarlyStoppingConfig(**state["config"])
        self.watch = Watch(**state["watch"])


class Plateau:
    """Multiply the learning rate by ``factor`` after ``patience`` evaluations without a new best."""

    def __init__(self, higher_is_better: bool, patience: int, factor: float, min_lr: float = 1e-7) -> None:
        self.patience, self.factor, self.min_lr = patience, factor, min_lr
        self.watch = Watch(higher_is_better)

    def update(self, value: float, iteration: int, lr: float) -> float | None:
        """Feed one evaluation; returns the new learning rate when it is time to cut it."""
        self.watch.update(value, iteration)
        if self.watch.wait >= self.patience and lr > self.min_lr:
            self.watch.wait = 0
            return max(lr * self.factor, self.min_lr)
        return None

    def state_dict(self) -> dict:
        return {"watch": self.watch.__dict__.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.watch = Watch(**state["watch"])
