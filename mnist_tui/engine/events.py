"""Typed events the trainer publishes.

Every event is a frozen dataclass of plain Python values (no tensors), so it can cross a thread boundary,
be posted to the UI as-is and be written to ``metrics.jsonl`` as one JSON object a line. An event class with
``record = False`` (the per-evaluation error snapshot, too big for every line) is published but not written.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

class RunState(str, Enum):
    """Where a run is, in the order a run usually passes through them (``StateChanged.state``)."""

    __str__ = str.__str__  # prints as its value, as the JSON holds it

    STARTING = "starting"
    LOADING = "loading"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    FINISHED = "finished"
    EARLY_STOPPED = "early-stopped"
    FAILED = "failed"


class Reason(str, Enum):
    """Why a run ended (``RunFinished.reason``); ``state`` is the state it ends in."""

    __str__ = str.__str__

    COMPLETED = "completed"
    STOPPED = "stopped"
    EARLY_STOP = "early_stop"
    DIVERGED = "diverged"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    DETACHED = "detached"  # not an end: Control.stop(DETACHED) hands the run over to a background process

    @property
    def state(self) -> RunState:
        if self is Reason.EARLY_STOP:
            return RunState.EARLY_STOPPED
        if self in (Reason.FAILED, Reason.DIVERGED):
            return RunState.FAILED
        return RunState.FINISHED


# The process's exit code for a run that ended (see RunFinished.exit_code).
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"
    record: ClassVar[bool] = True  # written to metrics.jsonl (False: published to the screen only)
    _bytes_fields: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"event": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in self._bytes_fields:
                value = [base64.b64encode(b).decode("ascii") for b in value]
            data[f.name] = value
        return data


@dataclass(frozen=True)
class StateChanged(Event):
    """The run moved to another state (a RunState); ``message`` says what it is doing."""

    kind: ClassVar[str] = "state"
    state: str
    message: str = ""


@dataclass(frozen=True)
class Log(Event):
    """A line worth showing the user: where the data came from, a fallback taken, a warning."""

    kind: ClassVar[str] = "log"
    message: str
    level: str = "info"


@dataclass(frozen=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    run_dir: str
    config: dict
    device: str  # torch device string, e.g. "cpu" or "cuda:0"
    device_name: str  # human name: the GPU's name or the CPU's
    torch_version: str
    cuda_version: str | None
    model_parameters: int
    dataset: str
    class_names: tuple[str, ...]
    data_source: str
    train_size: int
    test_size: int
    steps_per_epoch: int
    total_steps: int
    start_iteration: int = 0  # > 0 when the run resumes
    threads: int = 0
    val_size: int = 0  # images held out of the training set for validation (train_size does not count them)
    val_digest: str = ""  # the held-out images' fingerprint (engine/split.py): a resumed run holds out the same


@dataclass(frozen=True)
class Previews(Event):
    """Digits for the preview panels: 28x28 uint8 images as bytes (row-major), with their labels."""

    kind: ClassVar[str] = "previews"
    _bytes_fields: ClassVar[tuple[str, ...]] = ("train_images", "test_images")
    train_images: tuple[bytes, ...]
    train_labels: tuple[int, ...]
    test_images: tuple[bytes, ...]  # empty in a preview of augmented training digits: the test ones stay
    test_labels: tuple[int, ...]
    train_note: str = ""  # what the training digits show when not the plain first ones ("augmented, ...")


@dataclass(frozen=True)
class StepMetrics(Event):
    """Training losses of the steps since the last StepMetrics, ending at ``iteration``."""

    kind: ClassVar[str] = "step"
    iteration: int  # global iteration of the last loss in ``losses`` (1-based)
    epoch: int  # 1-based epoch the iteration belongs to
    epoch_step: int  # 1-based step within that epoch
    losses: tuple[float, ...]
    lr: float
    images_per_second: float
    elapsed: float  # training seconds so far (pauses excluded)


# The sets an evaluation can be of (Evaluation.split, EvaluationSnapshot.split).
VALIDATION, TEST = "validation", "test"


@dataclass(frozen=True)
class Evaluation(Event):
    """A full evaluation of one set: the validation set (what decides) or the test set (what reports).

    ``best_accuracy`` is the best validation accuracy so far (None without a validation set).
    """

    kind: ClassVar[str] = "evaluation"
    iteration: int
    epoch: int
    split: str  # VALIDATION or TEST
    loss: float
    accuracy: float  # 0..1
    correct: int
    total: int
    best_accuracy: float | None
    best_iteration: int | None
    seconds: float
    preview_predictions: tuple[int, ...] = ()  # the model's labels for Previews.test_images
    weights_from: int | None = None  # set when this evaluates restored best weights from that iteration


@dataclass(frozen=True)
class Misclassified:
    """One digit the model got wrong (not an event: an entry of EvaluationSnapshot)."""

    index: int  # position in its set: the test set, or the training set for a validation digit
    true: int
    predicted: int
    loss: float  # its cross-entropy loss
    probabilities: tuple[float, ...]  # softmax over the classes, rounded to 4 decimals
    image: bytes  # 28x28 uint8, row-major

    @property
    def confidence(self) -> float:
        """The probability the model gave its (wrong) answer."""
        return self.probabilities[self.predicted]


@dataclass(frozen=True)
class EvaluationSnapshot(Event):
    """What an evaluation got wrong: the confusion matrix and the misclassified digits, worst loss first.

    Published after each Evaluation and kept by the screen; not written to metrics.jsonl (the run writes
    ``misclassified.csv`` and ``confusion.csv`` at its end instead). See engine/analysis.py.
    """

    kind: ClassVar[str] = "evaluation_snapshot"
    record: ClassVar[bool] = False
    iteration: int
    epoch: int
    class_names: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]  # [true][predicted] counts over the whole set
    misclassified: tuple[Misclassified, ...]  # sorted by loss, worst first; at most the worst MAX_MISCLASSIFIED
    n_misclassified: int  # all the wrong ones, also those beyond the list's cap
    loss: float
    weights: str = ""  # whose weights: "" (the run's, now), "best from iteration N", "checkpoints/best.pt"
    split: str = TEST  # the set it is of: TEST, or VALIDATION (then an index is a training-set position)

    def __post_init__(self) -> None:  # rebuilt from a dict: entries come back as dicts, rows as lists
        entries = tuple(m if isinstance(m, Misclassified) else _misclassified(m) for m in self.misclassified)
        object.__setattr__(self, "misclassified", entries)
        object.__setattr__(self, "confusion", tuple(tuple(int(c) for c in row) for row in self.confusion))
        object.__setattr__(self, "class_names", tuple(self.class_names))

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["confusion"] = [list(row) for row in self.confusion]
        data["misclassified"] = [
            {**dataclasses.asdict(m), "image": base64.b64encode(m.image).decode("ascii")} for m in self.misclassified
        ]
        return data

    @property
    def total(self) -> int:
        return sum(sum(row) for row in self.confusion)

    @property
    def correct(self) -> int:
        return sum(row[i] for i, row in enumerate(self.confusion))

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.total if self.total else None

    def class_accuracy(self) -> tuple[tuple[int, int, float | None], ...]:
        """Per true class: (test images, right, accuracy or None for a class absent from the test set)."""
        return tuple(
            (sum(row), row[i], row[i] / sum(row) if sum(row) else None) for i, row in enumerate(self.confusion)
        )

    def confused_pairs(self, limit: int = 5) -> tuple[tuple[int, int, int], ...]:
        """The most frequent mistakes: (true, predicted, count), largest count first."""
        pairs = [
            (count, t, p) for t, row in enumerate(self.confusion) for p, count in enumerate(row) if t != p and count
        ]
        pairs.sort(key=lambda x: (-x[0], x[1], x[2]))
        return tuple((t, p, count) for count, t, p in pairs[:limit])


def _misclassified(data: Any) -> Misclassified:
    values = dict(data)
    image = values["image"]
    values["image"] = base64.b64decode(image) if isinstance(image, str) else bytes(image)
    values["probabilities"] = tuple(values["probabilities"])
    return Misclassified(**values)


@dataclass(frozen=True)
class EarlyStoppingState(Event):
    """Early stopping as it stands after an evaluation (or a change of its settings)."""

    kind: ClassVar[str] = "early_stopping"
    iteration: int
    enabled: bool
    monitor: str  # "accuracy" (percent, higher is better) or "loss" (lower is better)
    patience: int
    min_delta: float
    warmup_evals: int
    restore_best: bool
    best: float | None  # best monitored value so far
    best_iteration: int | None
    wait: int  # evaluations since the best
    evals: int  # evaluations seen
    remaining: int | None  # evaluations before a stop if nothing improves (None: disabled)


@dataclass(frozen=True)
class SettingsChanged(Event):
    """A setting changed during the run: by the user (``source="user"``) or by the plateau schedule."""

    kind: ClassVar[str] = "settings"
    iteration: int
    changes: dict  # e.g. {"lr": 3e-05} or {"early_stopping": {...}}
    source: str = "user"


@dataclass(frozen=True)
class CheckpointSaved(Event):
    kind: ClassVar[str] = "checkpoint"
    path: str
    tag: str  # "last" or "best"
    iteration: int


@dataclass(frozen=True)
class RunDetached(Event):
    """This process stopped training so a background process can continue the run from ``checkpoint``.

    Not an end of the run: no summary is written, and the next events of the run directory come from the
    background process (``mnist-tui --resume RUN_DIR --detach``), which starts with its own RunStarted.
    """

    kind: ClassVar[str] = "run_detached"
    iteration: int
    checkpoint: str
    paused: bool = False  # paused when handed over: the background process starts paused too


@dataclass(frozen=True)
class RunFinished(Event):
    kind: ClassVar[str] = "run_finished"
    reason: str  # completed | stopped | early_stop | diverged | failed | interrupted
    message: str
    iteration: int
    epoch: int
    final_accuracy: float | None  # test accuracy of the weights the run ends with
    best_accuracy: float | None  # the best validation accuracy (None without a validation set)
    best_iteration: int | None
    elapsed: float  # training seconds (pauses and loading excluded)
    device: str
    bad_input: bool = False  # the run failed on input the user can fix (data, device, checkpoint, run dir)
    stopped_early_at: int | None = None  # the iteration early stopping ended the run at
    weights: str = "last"  # the weights the run ended with: "last", or "best from iteration N"
    validation_accuracy: float | None = None  # validation accuracy of the weights the run ends with

    @property
    def state(self) -> RunState:
        return Reason(self.reason).state

    @property
    def exit_code(self) -> int:
        """0 for a run that ended as asked, 2 for bad input, 130 when interrupted, 1 for any other failure."""
        if self.reason in (Reason.COMPLETED, Reason.STOPPED, Reason.EARLY_STOP):
            return EXIT_OK
        if self.reason == Reason.INTERRUPTED:
            return EXIT_INTERRUPTED
        return EXIT_BAD_INPUT if self.bad_input else EXIT_FAILED

    @classmethod
    def failure(cls, message: str) -> RunFinished:
        """A failed end reported by whoever noticed it (not the trainer): position and figures unknown (-1/None)."""
        return cls(
            reason=Reason.FAILED,
            message=message,
            iteration=-1,
            epoch=-1,
            final_accuracy=None,
            best_accuracy=None,
            best_iteration=None,
            elapsed=-1.0,
            device="",
        )


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        StateChanged, Log, RunStarted, Previews, StepMetrics, Evaluation, EarlyStoppingState, SettingsChanged,
        CheckpointSaved, RunDetached, RunFinished, EvaluationSnapshot,
    )
}


# Field names of earlier versions, read as today's: before validation sets every evaluation was of the test set.
_RENAMED = {"test_loss": "loss", "test_accuracy": "accuracy"}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event written by ``Event.to_dict`` (extra keys such as the wall time are ignored)."""
    cls = EVENT_TYPES[data["event"]]
    if cls in (Evaluation, EvaluationSnapshot) and "test_loss" in data:
        data = {**{_RENAMED.get(k, k): v for k, v in data.items()}, "split": TEST}
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name in cls._bytes_fields:
            value = tuple(base64.b64decode(s) for s in value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)
