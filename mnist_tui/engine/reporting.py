"""What the trainer reports: the RunStarted event and the augmented previews, the step windows (StepMetrics),
the evaluation reports (the Evaluation event, what it got wrong, the test set's report of the weights the
run is judged by), the error CSVs, and the RunFinished event with the run's summary.

``Reporting`` is a part of ``Trainer`` (trainer.py), kept here so that trainer.py is the loop: it reads what
the set-up and the loop keep on the trainer (``state``, ``data``, ``learner``, ``window``, ``run_dir``,
``weights``) and sends its events through the trainer's ``_emit``. What the evaluations decide (the best
weights, early stopping, the plateau) is the loop's.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import torch

from ..config import TrainConfig
from . import data as data_mod
from .analysis import EvalOutcome, make_snapshot, predict, write_error_csvs
from .device import device_name
from .device_data import DeviceData, EvalSet
from .divergence import Diverged, DivergenceCheck
from .errors import RunDirError
from .evaluation import accuracy_of, evaluation_event
from .evaluation import evaluate as _evaluate  # looked up here: tests replace it to run out of memory on a CPU
from .events import TEST, EvaluationSnapshot, Event, Log, RunFinished, RunStarted
from .models import count_parameters
from .output import RunOutput
from .previews import N_TEST_PREVIEW, AugmentedPreviews
from .state import Learner, LoopState
from .step_metrics import StepWindow


class Reporting:
    # What the trainer holds (Trainer.run, trainer_setup.py, the loop).
    config: TrainConfig
    device: torch.device
    device_str: str
    state: LoopState
    learner: Learner
    data: DeviceData | None
    run_dir: RunOutput | None
    previews: AugmentedPreviews | None
    window: StepWindow
    divergence: DivergenceCheck
    eval_batch: int
    steps_per_epoch: int
    total_steps: int
    weights: str
    snapshots: dict[str, EvaluationSnapshot]
    _emit: Callable[[Event], Iterator[Event]]
    _autocast: Callable[[], AbstractContextManager]

    def _run_started(self, resolved: data_mod.ResolvedData) -> RunStarted:
        cfg, device = self.config, self.device
        return RunStarted(
            run_dir=str(self.run_dir.path),
            config=cfg.to_dict(),
            device=str(device),
            device_name=device_name(device),
            torch_version=torch.__version__,
            cuda_version=torch.version.cuda if device.type == "cuda" else None,
            model_parameters=count_parameters(self.learner.model),
            dataset=resolved.name,
            class_names=tuple(resolved.class_names),
            data_source=resolved.source,
            train_size=len(self.data.train_y),
            test_size=len(self.data.test.y),
            steps_per_epoch=self.steps_per_epoch,
            total_steps=self.total_steps,
            start_iteration=self.state.iteration,
            threads=torch.get_num_threads(),
            val_size=0 if self.data.validation is None else len(self.data.validation.y),
            val_digest=self.state.val_digest,
        )

    def _augmented_previews(self) -> Iterator[Event]:
        """With augmentation on: the preview's training digits as the model is fed them in the coming epoch."""
        if self.previews is not None:
            yield from self._emit(self.previews.of_epoch(self.state.epoch_reached + 1))

    def _flush(self) -> Iterator[Event]:
        """Publish the losses of the steps since the last StepMetrics (one host sync)."""
        if self.window.n == 0:
            return
        metrics = self.window.take(self.state, self.learner.lr)
        self.state.train_seconds = metrics.elapsed
        yield from self._emit(metrics)
        self.divergence.training_loss(metrics.losses, self.state.iteration, self.learner.lr)

    def _evaluate_test(self, weights_from: int | None = None) -> Iterator[Event]:
        """Report the test accuracy of the weights the run is judged by now (at each epoch end, and of the
        weights it ends with); never a decision. Without a validation set the scheduled evaluations are of the
        test set already, and this one is left out where one of them has just been made."""
        state = self.state
        if weights_from is None and state.last_test_iteration == state.iteration:
            return
        started = time.monotonic()
        outcome = self._evaluate_on(self.data.test)
        state.last_test_accuracy, state.last_test_iteration = accuracy_of(outcome), state.iteration
        seconds = time.monotonic() - started
        yield from self._report(outcome, self.data.test, epoch=state.epoch_reached, seconds=seconds,
                                weights_from=weights_from)  # fmt: skip

    def _evaluate_on(self, evaluated: EvalSet) -> EvalOutcome:
        """The weights the run is judged by, in eval() mode, on the whole of ``evaluated``."""
        model = self.learner.eval_model
        model.eval()
        with self._autocast():
            outcome = _evaluate(model, evaluated.x, evaluated.y, self.eval_batch, N_TEST_PREVIEW)
            if evaluated is not self.data.test:  # the preview strip shows test digits, whatever set decides
                preview = predict(model, self.data.test.x[:N_TEST_PREVIEW], N_TEST_PREVIEW).argmax(1)
                outcome = dataclasses.replace(outcome, preview=tuple(preview.tolist()))
        self.learner.model.train()
        self.window.restart()  # images/s counts training time only
        if not math.isfinite(outcome.loss):
            raise Diverged(
                f"{evaluated.name} loss became {outcome.loss} at iteration {self.state.iteration}; "
                f"{DivergenceCheck.advice(self.learner.lr)}"
            )
        return outcome

    def _report(
        self, outcome: EvalOutcome, evaluated: EvalSet, *, epoch: int, seconds: float, weights_from: int | None = None
    ) -> Iterator[Event]:
        """The Evaluation event, then what the evaluation got wrong (the latest of each set; not recorded)."""
        event = evaluation_event(
            outcome, self.state, split=evaluated.name, epoch=epoch, seconds=seconds, weights_from=weights_from
        )
        yield from self._emit(event)
        snapshot = make_snapshot(
            outcome,
            evaluated.images,
            iteration=self.state.iteration,
            epoch=self.state.epoch_reached,
            class_names=self.data.class_names,
            weights="" if weights_from is None else self.weights,
            split=evaluated.name,
            positions=evaluated.index,
        )
        self.snapshots[evaluated.name] = snapshot
        yield from self._emit(snapshot)

    def _write_error_csvs(self) -> Iterator[Event]:
        """misclassified.csv and confusion.csv: the test set, as the weights the run ends with see it."""
        snapshot = self.snapshots.get(TEST)
        if snapshot is None:
            return
        try:
            paths = write_error_csvs(self.run_dir.path, snapshot)
        except OSError as exc:
            yield from self._emit(Log(f"could not write the error CSVs: {exc.strerror or exc}", "warning"))
            return
        yield from self._emit(Log(f"wrote {paths[0].name} and {paths[1].name} into {self.run_dir.path}"))

    def _out_of_memory_message(self) -> str:
        where = f"at iteration {self.state.iteration}" if self.run_dir is not None else "while loading"
        kept = ""
        if self.run_dir is not None and self.run_dir.last_checkpoint.exists():
            kept = f"; the last good checkpoint is {self.run_dir.last_checkpoint}"
        return (
            f"{self.device_str} ran out of memory {where}: try a smaller --batch-size or --eval-batch-size, "
            f"or another --device{kept}"
        )

    def _validation_accuracy_of_kept_weights(self) -> float | None:
        """The validation accuracy of the weights the run ends with: the best kept, or the last evaluated."""
        if self.data is None or self.data.validation is None:
            return None
        return self.state.kept_accuracy if self.weights.startswith("best") else self.state.last_accuracy

    def _finish(self, reason: str, message: str, *, bad_input: bool = False, **extra: Any) -> Iterator[Event]:
        state = self.state
        finished = RunFinished(
            reason=reason,
            message=message,
            iteration=state.iteration,
            epoch=state.epoch_reached,
            final_accuracy=state.last_test_accuracy,
            best_accuracy=state.best_accuracy if state.best_accuracy >= 0 else None,
            best_iteration=state.best_iteration if state.best_accuracy >= 0 else None,
            validation_accuracy=self._validation_accuracy_of_kept_weights(),
            elapsed=state.train_seconds,
            device=self.device_str,
            bad_input=bad_input,
            weights=self.weights,
            **extra,
        )
        try:
            if self.run_dir is not None:
                self.run_dir.record(finished)
                self.run_dir.write_summary(finished)
        except RunDirError:  # the disk that failed the run may refuse these too; the event still goes out
            pass
        yield finished
