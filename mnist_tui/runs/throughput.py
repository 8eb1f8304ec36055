"""How fast the run trains and when it will be done, steadied over the last half minute of training.

One ``StepMetrics`` window alone swings: a window that an evaluation or a checkpoint lands in reads slow, the one
after it fast (the tutorial recipe read 172 then 1,521 img/s within 24 s). ``Throughput`` keeps the readings of the
last ``WINDOW`` seconds of the run's own training clock (``StepMetrics.elapsed``, which pauses do not advance) and
answers from all of them:

- the speed is the images trained on in that span over the seconds it spent training (the seconds its
  evaluations took, ``Evaluation.seconds``, left out of ``elapsed``, which counts them: only pauses are not in
  it): what the device does;
- the time left is the images still to train on over the images trained per second of the run's clock, the
  evaluations included: they come back in the rest of the run too, so a time left without them would be short.

The clock is the run's, not the screen's: readings replayed from a file at once (attach) give the same figures.
Every viewer shows these figures: the app's device panel (ui/screens/training.py) and the headless runner's
progress bars (console/headless.py). Plain Python: no torch, no UI library.
"""

from __future__ import annotations

from collections import deque

WINDOW = 30.0  # seconds of the run's training clock the figures are taken over


class Throughput:
    """Feed it each ``StepMetrics`` (``step``) and each evaluation's seconds (``evaluated``); read ``speed`` and
    ``eta``. Until two steps span some time it answers with the engine's own figure for the latest window."""

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        # (run clock, iteration, seconds spent evaluating so far): the readings of the last ``window`` seconds
        self._readings: deque[tuple[float, int, float]] = deque()
        self._evaluating = 0.0  # seconds of evaluations reported so far
        self._latest_rate: float | None = None  # the engine's figure for the latest window alone

    def reset(self) -> None:
        """A new run (or the same one resumed): nothing of the old readings counts."""
        self._readings.clear()
        self._evaluating = 0.0
        self._latest_rate = None

    def step(self, iteration: int, elapsed: float, images_per_second: float | None = None) -> None:
        """A ``StepMetrics``: the run reached ``iteration`` at ``elapsed`` seconds of its training clock."""
        readings = self._readings
        if readings and (iteration < readings[-1][1] or elapsed < readings[-1][0]):
            self.reset()  # the run went back (resumed from an earlier checkpoint): start over
        self._latest_rate = images_per_second if images_per_second and images_per_second > 0 else None
        readings.append((elapsed, iteration, self._evaluating))
        while len(readings) > 2 and readings[1][0] <= elapsed - self.window:
            readings.popleft()  # the one left first still reaches back at least ``window`` seconds

    def evaluated(self, seconds: float) -> None:
        """An evaluation that took ``seconds`` (``Evaluation.seconds``): not training time."""
        if seconds > 0:
            self._evaluating += seconds

    def _span(self) -> tuple[int, float, float] | None:
        """(iterations, seconds of the run's clock, of them seconds evaluating) over the readings kept."""
        if len(self._readings) < 2:
            return None
        (t0, i0, e0), (t1, i1, e1) = self._readings[0], self._readings[-1]
        if i1 <= i0 or t1 <= t0:
            return None
        return i1 - i0, t1 - t0, min(e1 - e0, t1 - t0)

    def speed(self, batch_size: int | None) -> float | None:
        """Images trained on per second of training (evaluations left out); None when it cannot be known."""
        span = self._span()
        if span is None or not batch_size:
            return self._latest_rate
        steps, seconds, evaluating = span
        training = seconds - evaluating
        if training <= 0:
            return self._latest_rate
        return steps * batch_size / training

    def eta(self, remaining_steps: int | None, batch_size: int | None = None) -> float | None:
        """Seconds of training left for ``remaining_steps``, evaluations to come included; None when unknown."""
        if remaining_steps is None:
            return None
        if remaining_steps <= 0:
            return 0.0
        span = self._span()
        if span is not None:
            steps, seconds, _ = span
            return remaining_steps * seconds / steps
        if batch_size and self._latest_rate:
            return remaining_steps * batch_size / self._latest_rate
        return None
