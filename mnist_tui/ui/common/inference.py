"""The model the canvas and the error browser ask, run in a thread worker of their screen.

A ``WeightsSource`` says where the weights come from: a finished run's directory (``RunWeights``: the
weights it ended with) or a live run in this process (``LiveWeights``: the trainer's copy of its latest
evaluated weights, engine/latest_weights.py, and until one comes the run's newest checkpoint). An
``Inference`` runs in a thread worker: it builds its own CPU ``Predictor`` from the source, answers the
latest request only (a drag makes many; the ones overtaken are dropped) and posts plain values back. torch is
imported in that thread only; no tensor reaches the UI thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from textual.message import Message

from ...engine.latest_weights import LatestWeights

POLL = 0.25  # seconds between looks for newer live weights


class WeightsSource(Protocol):
    retry: bool  # whether weights that could not be read may be there later

    def open(self) -> None:
        """The screen opens: start wanting weights."""

    def close(self) -> None:
        """The screen closes."""

    def load(self, current: Any | None) -> Any | None:
        """In the worker: a Predictor newer than ``current`` (None: any), or None when there is none newer.
        Raises an InputError with one line when the weights cannot be read."""


@dataclass
class RunWeights:
    """The weights a finished run ended with (``RunDirectory.final_weights``), loaded once."""

    run_dir: str
    retry = False

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def load(self, current: Any | None) -> Any | None:
        if current is not None:
            return None
        from ...engine.predictor import Predictor
        from ...runs.rundir import RunDirectory

        run = RunDirectory(self.run_dir)
        return Predictor.from_checkpoint(run.final_weights(), run.read_config().model)


@dataclass
class LiveWeights:
    """A live run's latest evaluated weights; its newest checkpoint until the trainer has copied some."""

    holder: LatestWeights
    run_dir: str | None = None
    retry = True
    _opened: bool = field(default=False, init=False)

    def open(self) -> None:
        if not self._opened:
            self._opened = True
            self.holder.want()

    def close(self) -> None:
        if self._opened:
            self._opened = False
            self.holder.release()
            self.holder.wake()

    def load(self, current: Any | None) -> Any | None:
        from ...engine.predictor import Predictor

        copy = self.holder.latest()
        if copy is not None:
            if current is not None and current.source == "latest evaluation" and current.iteration == copy.iteration:
                return None
            return Predictor(copy.model, copy.state, source="latest evaluation", iteration=copy.iteration)
        if current is None and self.run_dir:
            return self._newest_checkpoint()
        return None

    def _newest_checkpoint(self) -> Any | None:
        from ...engine.predictor import Predictor
        from ...runs.rundir import RunDirectory

        run = RunDirectory(self.run_dir or "")
        found = [p for p in (run.best_checkpoint, run.last_checkpoint) if p.is_file()]
        if not found:
            return None
        newest = max(found, key=lambda p: p.stat().st_mtime)
        return Predictor.from_checkpoint(newest, run.read_config().model)


# Requests and answers ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DrawRequest:
    """A drawing: the canvas's 28x28 intensities (0..255, row-major); digitized before the model sees it.
    ``maps``: also map what the model looks at (the screen asks once the drawing rests: mid-stroke the bars
    are what moves, and the maps cost more than the prediction to compute and to draw)."""

    pixels: bytes
    maps: bool = True
    made: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class DigitRequest:
    """A digit as the model saw it (784 bytes) and the classes to map."""

    key: int
    image: bytes
    classes: tuple[int, ...]
    made: float = field(default_factory=time.monotonic)


class Inference:
    """The worker's loop and its inbox. ``submit`` from the UI thread; ``run`` in a thread worker."""

    @dataclass
    class WeightsLoaded(Message):
        source: str  # e.g. "run/best.pt" or "latest evaluation"
        iteration: int

    @dataclass
    class WeightsFailed(Message):
        message: str

    @dataclass
    class Answer(Message):
        request: DrawRequest | DigitRequest
        model_input: bytes  # the 28x28 image the model saw (b"" for a blank drawing)
        probabilities: tuple[float, ...]  # () for a blank drawing
        maps: tuple[tuple[int, tuple[float, ...]], ...]  # (class, 784 attribution values)
        iteration: int  # of the weights that answered
        seconds: float  # from the request to this answer

    def __init__(self, source: WeightsSource, post: Callable[[Message], object]) -> None:
        self.source = source
        self.post = post
        self._cond = threading.Condition()
        self._request: DrawRequest | DigitRequest | None = None
        self._closed = False
        self.predictor: Any | None = None  # the worker thread's own; never handed out

    def submit(self, request: DrawRequest | DigitRequest) -> None:
        """Ask; a request not yet taken is replaced (only the latest drawing matters)."""
        with self._cond:
            self._request = request
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.source.close()

    def run(self) -> None:
        """The worker: load weights, then answer requests, looking for newer weights every POLL seconds. Ends
        when closed, or when its Textual worker is cancelled (the app is shutting down)."""
        from textual.worker import NoActiveWorker, get_current_worker

        from ...engine.errors import InputError

        try:
            worker = get_current_worker()
        except NoActiveWorker:  # called outside a worker (a test, a benchmark)
            worker = None

        self.source.open()
        last: DrawRequest | DigitRequest | None = None
        failed = False
        while True:
            with self._cond:
                if self._closed or (worker is not None and worker.is_cancelled):
                    self.source.close()
                    return
            newer = None
            if not failed or self.source.retry:
                try:
                    newer = self.source.load(self.predictor)
                except InputError as exc:
                    if not failed:
                        self.post(self.WeightsFailed(str(exc)))
                    failed = True
            if newer is not None:
                self.predictor = newer
                self.post(self.WeightsLoaded(newer.source, newer.iteration))
                if self._request is None and last is not None:
                    self.submit(last)  # the drawing on screen, answered again by the newer weights
            with self._cond:
                if self._request is None and not self._closed:
                    self._cond.wait(POLL)
                if self._closed:
                    return
                request = self._request if self.predictor is not None else None
                if request is not None:
                    self._request = None
            if request is not None:
                self.post(self.answer(request))
                last = request

    def answer(self, request: DrawRequest | DigitRequest) -> Answer:
        """Run the model on one request (in the worker thread)."""
        import numpy as np

        from ...engine.attribution import gradient_x_input
        from ...engine.digitize import ImageError, digitize

        predictor = self.predictor
        if isinstance(request, DrawRequest):
            canvas = np.frombuffer(request.pixels, dtype=np.uint8).reshape(28, 28)
            try:
                image = digitize(canvas)
            except ImageError:  # a blank canvas
                return self.Answer(request, b"", (), (), predictor.iteration, time.monotonic() - request.made)
            probabilities = predictor.predict(image)
            ranked = sorted(range(len(probabilities)), key=lambda c: -probabilities[c])
            classes = tuple(ranked[:2]) if request.maps else ()
        else:
            image = np.frombuffer(request.image, dtype=np.uint8).reshape(28, 28)
            probabilities = predictor.predict(image)
            classes = request.classes
        maps = gradient_x_input(predictor, image, classes) if classes else ()
        return self.Answer(
            request,
            image.tobytes(),
            tuple(round(p, 6) for p in probabilities),
            tuple((c, tuple(m.ravel().round(6).tolist())) for c, m in zip(classes, maps)),
            predictor.iteration,
            time.monotonic() - request.made,
        )
