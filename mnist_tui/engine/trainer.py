"""The training loop: the tutorial recipe, with the data resident on the device.

``Trainer(config, control, output=...).run()`` is a generator of events (see events.py). It runs in
whatever thread iterates it, records every event in ``output`` (the run directory, see output.py) before
yielding it, obeys ``control`` between steps, and never raises for a training failure: it ends with
``RunFinished(reason="failed")`` instead. Front ends make one with ``runs.start.make_trainer``.

``run`` sets the run up and ``_loop`` trains, read top to bottom; this module is the loop and what it decides
(the best weights, early stopping, the plateau, the user's commands, the checkpoints). The rest of the
trainer is beside it: the set-up (device and CPU threads, data, run directory, learner) in trainer_setup.py,
the speed options (autocast, compile, the CUDA graph) in speed.py, and what it reports (step windows,
evaluations, previews, the error CSVs, the finish and summary) in reporting.py. What the loop changes and a
checkpoint keeps is in state.py, the data on the device in device_data.py.

The hot path keeps the GPU busy: batches are index slices of tensors already on the device, per-step
losses go into a device buffer that is read back only when a StepMetrics event is due (a few times a
second), and evaluation runs in large batches under ``inference_mode`` in ``eval()`` mode.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Sequence

import torch
import torch.nn.functional as F

from ..config import TrainConfig
from .augment import random_affine
from .checkpoints import save_checkpoint
from .control import Control, combined_lr
from .cpu_share import CpuShare
from .device_data import DeviceData
from .divergence import Diverged
from .early_stopping import metric_value
from .errors import InputError, RunDirError
from .evaluation import accuracy_of
from .events import (
    TEST,
    VALIDATION,
    CheckpointSaved,
    EvaluationSnapshot,
    Event,
    Log,
    Reason,
    RunDetached,
    RunState,
    SettingsChanged,
    StateChanged,
)
from .output import RunOutput
from .reporting import Reporting
from .speed import SpeedOptions
from .state import LoopState, to_checkpoint
from .step_metrics import LOSS_BUFFER, StepWindow
from .trainer_setup import TrainerSetup


class Trainer(TrainerSetup, SpeedOptions, Reporting):
    """One run: ``run`` calls ``_setup`` (trainer_setup.py), then ``_loop`` (here). What the loop calls from
    beside it: ``_autocast`` and ``_record_step`` (speed.py); ``_share_cpu`` (trainer_setup.py); ``_flush``,
    ``_evaluate_on``, ``_evaluate_test``, ``_report``, ``_augmented_previews``, ``_write_error_csvs`` and
    ``_finish`` (reporting.py)."""

    def __init__(
        self,
        config: TrainConfig,
        control: Control | None = None,
        *,
        output: RunOutput,
        resume: bool = False,
        notes: Sequence[str] = (),
    ) -> None:
        """``config.run_dir`` is ``output``'s path; ``resume``: continue from ``output.last_checkpoint``.

        ``notes``: lines for the run's log once it has loaded, such as the settings a resumed run changes.
        """
        self.config = config
        self.control = control or Control()
        self.output = output
        self.resume = resume
        self.notes = tuple(notes)

    # --- events -------------------------------------------------------------------------------------------
    def run(self) -> Iterator[Event]:
        self.run_dir: RunOutput | None = None  # the output, once created
        self._pending: list[Event] = []
        self.device_str = "?"
        self.state = LoopState()
        self.weights = "last"  # what the run ends with: "last", or "best from iteration N"
        self.data: DeviceData | None = None  # the data set on the device, once loaded
        self.snapshots: dict[str, EvaluationSnapshot] = {}  # what the latest evaluation of each set got wrong
        self.cpu_share: CpuShare | None = None  # this run's share of the CPU's threads, on a CPU (cpu_share.py)
        try:
            yield from self._emit(StateChanged(RunState.LOADING, "starting torch"))
            yield from self._setup()
            yield from self._loop()
        except Diverged as exc:
            yield from self._finish(Reason.DIVERGED, str(exc))
        except torch.OutOfMemoryError:
            yield from self._finish(Reason.FAILED, self._out_of_memory_message(), bad_input=True)
        except Exception as exc:  # a failure ends the run with a reason instead of killing the caller
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if not isinstance(exc, InputError):
                message = f"{type(exc).__name__}: {message}"
            yield from self._finish(Reason.FAILED, message, bad_input=isinstance(exc, InputError))
        finally:
            if self.cpu_share is not None:
                self.cpu_share.end()
            if self.run_dir is not None:
                self.run_dir.close()

    def _emit(self, event: Event) -> Iterator[Event]:
        if self.run_dir is None:
            self._pending.append(event)  # recorded once the run directory exists
        else:
            self.run_dir.record(event)
        yield event

    # --- the step -----------------------------------------------------------------------------------------
    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Forward, loss and backward on one batch (gradients start from None); the loss."""
        with self._autocast():
            loss = F.cross_entropy(self.train_model(x), y, label_smoothing=self.config.label_smoothing)
        loss.backward()
        return loss.detach()

    # --- the loop -----------------------------------------------------------------------------------------
    def _loop(self) -> Iterator[Event]:
        cfg, state, control, learner = self.config, self.state, self.control, self.learner
        optimizer, ema, augment, augment_rng = learner.optimizer, learner.ema, self.augment, learner.augment_rng
        train_x, train_y = self.data.train_x, self.data.train_y
        batch = cfg.batch_size
        window = self.window = StepWindow(self.device, state.train_seconds)
        stopped_while_paused = False

        def step_on(idx: torch.Tensor) -> torch.Tensor:  # the gather is part of what a CUDA graph records
            return self._step(train_x[idx], train_y[idx])

        yield from self._emit(StateChanged(RunState.RUNNING, "training"))
        self.train_model.train()
        ended: Reason | None = None  # why the loop ends early: a stop asked for, or early stopping
        while ended is None and state.iteration < self.total_steps and state.epoch <= cfg.epochs:
            if state.perm is None:
                state.perm = torch.randperm(len(train_y), generator=learner.shuffle).to(self.device)
            while state.epoch_step < self.steps_per_epoch and state.iteration < self.total_steps:
                if control.paused and not control.stop_requested:
                    stopped_while_paused = yield from self._pause()
                if control.stop_requested:
                    ended = Reason(control.stop_reason)
                    break
                if control.has_changes:
                    yield from self._apply_lr_changes()

                idx = state.perm[state.epoch_step * batch : (state.epoch_step + 1) * batch]
                if augment:  # drawn on the host: outside what a CUDA graph can record
                    step, inputs = self._step, (random_affine(train_x[idx], augment_rng, **augment), train_y[idx])
                else:
                    step, inputs = step_on, (idx,)
                if self.graphs and self.graph is None and len(idx) == batch:
                    yield from self._record_step(step, inputs)
                if self.graph is not None and self.graph.fits(*inputs):
                    loss = self.graph(*inputs)
                else:  # eager: no graph, or the short last batch of an epoch
                    optimizer.zero_grad(set_to_none=True)
                    loss = step(*inputs)
                optimizer.step()
                if ema is not None:
                    ema.update()
                if learner.scheduler is not None and learner.scheduler.last_epoch < learner.scheduler.total_steps:
                    learner.scheduler.step()
                window.losses[window.n] = loss  # no host sync here
                window.n += 1
                window.images += len(idx)
                state.epoch_step += 1
                state.iteration += 1

                if window.n == LOSS_BUFFER or time.monotonic() - window.started >= cfg.metrics_interval:
                    yield from self._flush()
                if state.iteration % cfg.eval_every == 0:
                    if (yield from self._evaluate_and_check()):
                        ended = Reason.EARLY_STOP
                        break
                if control.take_save_request():
                    yield from self._save("last")
            if state.epoch_step >= self.steps_per_epoch:  # epoch done: evaluate if not just done, test, save
                if state.last_eval_iteration != state.iteration and (yield from self._evaluate_and_check()):
                    ended = Reason.EARLY_STOP
                if ended is None:  # the end has its own test evaluation, of the weights the run ends with
                    yield from self._evaluate_test()
                state.epoch, state.epoch_step, state.perm = state.epoch + 1, 0, None
                yield from self._save("last")
                if state.epoch <= cfg.epochs and state.iteration < self.total_steps:
                    yield from self._augmented_previews()

        reason = ended or Reason.COMPLETED
        if reason == Reason.DETACHED:  # handed over: save the resumable state and end here, without a summary
            yield from self._flush()
            yield from self._apply_lr_changes()  # asked for (say while paused) but not yet applied: carried over
            yield from self._apply_es_changes()
            yield from self._save("last")
            checkpoint = str(self.run_dir.last_checkpoint)
            yield from self._emit(RunDetached(state.iteration, checkpoint, stopped_while_paused))
            return
        # Early-stopped, stopped, out of steps, or done: finish the metrics, evaluate, save.
        if reason not in (Reason.COMPLETED, Reason.EARLY_STOP):
            yield from self._emit(StateChanged(RunState.STOPPING, "stopping: evaluating and saving"))
        yield from self._flush()
        if state.last_eval_iteration != state.iteration:
            yield from self._evaluate_and_check(scheduled=False)
        yield from self._save("last")  # the resumable state, before any weights are swapped
        restored_from = yield from self._restore_best_weights()
        yield from self._evaluate_test(weights_from=restored_from)  # what the run ends with, on the test set
        yield from self._write_error_csvs()
        if reason == Reason.EARLY_STOP:
            monitor, wait = learner.stopper.config.monitor, learner.stopper.watch.wait
            message = f"early stop: no improvement of validation {monitor} for {wait} evaluations"
        elif reason == Reason.COMPLETED:
            message = f"completed {state.iteration} iterations"
        else:
            message = f"run {reason} at iteration {state.iteration}"
        stopped_early_at = state.iteration if reason == Reason.EARLY_STOP else None
        yield from self._finish(reason, message, stopped_early_at=stopped_early_at)

    def _pause(self) -> Generator[Event, None, bool]:
        """Wait for resume or stop, saving on request; whether it was a stop (a detached run stays paused)."""
        yield from self._flush()
        paused_at = time.monotonic()
        if self.cpu_share is not None:
            self.cpu_share.leave()  # a paused run trains on nothing: the other runs may have its threads
        yield from self._emit(StateChanged(RunState.PAUSED, "paused"))
        while self.control.paused and not self.control.stop_requested:
            self.control.wait_for_command()
            if self.control.take_save_request():  # "save now" works while paused too
                yield from self._save("last")
        stopped = self.control.stop_requested
        self.window.leave_out(time.monotonic() - paused_at)
        if self.cpu_share is not None and not stopped:
            yield from self._share_cpu()  # claimed again, with the same threads
        if not stopped:
            yield from self._emit(StateChanged(RunState.RUNNING, "training"))
        return stopped

    # --- evaluation, early stopping, learning rate --------------------------------------------------------
    def _evaluate_and_check(self, scheduled: bool = True) -> Generator[Event, None, bool]:
        """The evaluation every ``eval_every`` steps and at each epoch end: of the validation set, which
        decides (the best weights, early stopping, the plateau schedule); without one, of the test set, which
        only reports.

        A generator whose return value says whether early stopping ends the run here. An unscheduled
        evaluation (the one a stop makes at the step it reached) is reported but decides nothing, so a run
        stopped and resumed ends exactly as one that was not.
        """
        yield from self._flush()
        state, learner, evaluated = self.state, self.learner, self.data.deciding
        if scheduled:
            yield from self._apply_es_changes()
        started = time.monotonic()
        outcome = self._evaluate_on(evaluated)
        self.control.latest_weights.offer(learner.eval_model, state.iteration, self.config.model)  # if one wants
        accuracy = accuracy_of(outcome)
        state.last_accuracy, state.last_eval_iteration = accuracy, state.iteration
        if evaluated.name == TEST:
            state.last_test_accuracy, state.last_test_iteration = accuracy, state.iteration
        deciding = scheduled and evaluated.name == VALIDATION
        if deciding and accuracy > state.best_accuracy:
            state.best_accuracy, state.best_iteration = accuracy, state.iteration
        yield from self._report(outcome, evaluated, epoch=state.epoch, seconds=time.monotonic() - started)
        if not deciding:
            return False
        # Warmed up: early stopping's warm-up is over, and a whole epoch has been trained.
        warm = learner.stopper.watch.evals >= learner.stopper.config.warmup_evals and state.epoch > 1
        self.divergence.validation_accuracy(accuracy, warmed_up=warm, iteration=state.iteration, lr=learner.lr)
        if learner.stopper.update(accuracy, outcome.loss, state.iteration):
            state.kept_accuracy = accuracy
            self.best_weights = {k: v.detach().clone() for k, v in learner.eval_model.state_dict().items()}
            yield from self._save("best")
        yield from self._emit(learner.stopper.state_event(state.iteration))
        if learner.plateau is not None:
            value = metric_value(learner.stopper.config.monitor, accuracy, outcome.loss)
            new_lr = learner.plateau.update(value, state.iteration, learner.lr)
            if new_lr is not None:
                learner.set_lr(new_lr)
                yield from self._emit(SettingsChanged(state.iteration, {"lr": new_lr}, source="plateau"))
        return learner.stopper.should_stop

    def _restore_best_weights(self) -> Iterator[Event]:
        """With restore_best, end on the best weights seen on the validation set; the iteration they are from
        (None when the run ends with its final weights)."""
        best_iteration = self.learner.stopper.watch.best_iteration
        if not self.learner.stopper.config.restore_best or self.best_weights is None or best_iteration is None:
            return None
        self.weights = f"best from iteration {best_iteration}"
        if best_iteration == self.state.iteration:
            return None
        self.learner.eval_model.load_state_dict(self.best_weights)
        yield from self._emit(Log(f"restored the best weights (by validation), from iteration {best_iteration}"))
        return best_iteration

    def _apply_es_changes(self) -> Iterator[Event]:
        """New early-stopping settings: at the next scheduled evaluation, or when the run is handed over."""
        for _, es_config in self.control.take_changes("early_stopping"):
            self.learner.stopper.reconfigure(es_config)
            yield from self._emit(SettingsChanged(self.state.iteration, {"early_stopping": es_config.__dict__.copy()}))

    def _apply_lr_changes(self) -> Iterator[Event]:
        changes = self.control.take_changes("lr")
        if not changes:
            return
        lr, refused = combined_lr(self.learner.lr, changes)
        for message in refused:
            yield from self._emit(Log(message, "warning"))
        if len(refused) == len(changes):
            return
        self.learner.set_lr(lr)
        yield from self._emit(SettingsChanged(self.state.iteration, {"lr": lr}))
        if self.learner.scheduler is not None:
            self.learner.scheduler = None  # the user's lr holds from now on
            yield from self._emit(Log(f"the {self.config.schedule} schedule is off: the lr stays at {lr:g}"))

    # --- checkpoints and the end --------------------------------------------------------------------------
    def _save(self, tag: str) -> Iterator[Event]:
        run_dir = self.run_dir
        path = run_dir.best_checkpoint if tag == "best" else run_dir.last_checkpoint
        try:
            save_checkpoint(path, to_checkpoint(self.config, self.learner, self.state))
        except OSError as exc:  # a full disk, a vanished directory: the previous checkpoint is still whole
            kept = f"{path} from before is kept" if path.exists() else "no earlier checkpoint exists"
            raise RunDirError(f"{path}: cannot save the checkpoint ({exc.strerror or exc}); {kept}") from None
        yield from self._emit(CheckpointSaved(str(path), tag, self.state.iteration))
