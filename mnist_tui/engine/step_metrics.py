"""The steps between two ``StepMetrics`` events: their losses, kept on the device, and the clocks.

The loop writes each step's loss into ``losses`` (a device tensor: no host sync) and counts its images;
``take`` brings the losses to the host in one transfer when an event is due, a few times a second. Training
time leaves pauses out; images per second leaves out evaluations and pauses too.
"""

from __future__ import annotations

import time

import torch

from .events import StepMetrics
from .state import LoopState

LOSS_BUFFER = 4096  # steps of loss kept on the device between two StepMetrics events


class StepWindow:
    def __init__(self, device: torch.device, train_seconds: float) -> None:
        self.losses = torch.empty(LOSS_BUFFER, device=device)
        self.n = 0  # losses written since the last event
        self.images = 0  # images trained on since the last event
        self.started = time.monotonic()  # where images/s counts from
        self.clock = time.monotonic() - train_seconds  # when training began, had it never paused

    def take(self, state: LoopState, lr: float) -> StepMetrics:
        """The event for the steps since the last one (the one host sync), ending at ``state``; starts anew."""
        values = tuple(self.losses[: self.n].tolist())
        now = time.monotonic()
        event = StepMetrics(
            iteration=state.iteration,
            epoch=state.epoch,
            epoch_step=state.epoch_step,
            losses=values,
            lr=lr,
            images_per_second=self.images / max(now - self.started, 1e-9),
            elapsed=now - self.clock,
        )
        self.n, self.started, self.images = 0, now, 0
        return event

    def restart(self) -> None:
        """Count images/s from now (after an evaluation: it measures training only)."""
        self.started = time.monotonic()

    def leave_out(self, seconds: float) -> None:
        """A pause of ``seconds``: not training time, and not in images/s."""
        self.clock += seconds
        self.started += seconds
