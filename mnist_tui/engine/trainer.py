"""The training loop: the tutorial recipe, with the data resident on the device.

``Trainer(config, control, output=...).run()`` is a generator of events (see events.py). It runs in
whatever thread iterates it, records every event in ``output`` (the run directory, see output.py) before
yielding it, obeys ``control`` between steps, and never raises for a training failure: it ends with
``RunFinished(reason="failed")`` instead. Front ends make one with ``runs.start.make_trainer``.

``run`` sets the run up (``_setup``: device and data, run directory, learner, speed options) and ``_loop``
trains, read top to bottom. What the loop changes and a checkpoint keeps is in state.py, the data on the
device in device_data.py, the loss buffer behind StepMetrics in step_metrics.py, the digit previews in
previews.py and the evaluation and its event in evaluation.py.

The hot path keeps the GPU busy: batches are index slices of tensors already on the device, per-step
losses go into a device buffer that is read back only when a StepMetrics event is due (a few times a
second), and evaluation runs in large batches under ``inference_mode`` in ``eval()`` mode.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from ..config import TrainConfig
from . import data as data_mod
from .analysis import EvalOutcome, make_snapshot, predict, write_error_csvs
from .augment import random_affine
from .checkpoints import load_checkpoint, save_checkpoint
from .control import Control, combined_lr
from .cpu_share import CpuShare, sharing_enabled
from .device import autocast_dtype, choose_device, compile_model, device_name, eval_batch_size, use_cuda_graphs
from .device_data import DeviceData, EvalSet
from .early_stopping import metric_value
from .errors import CheckpointError, InputError, RunDirError
from .evaluation import accuracy_of, evaluation_event
from .evaluation import evaluate as _evaluate  # looked up here: tests replace it to run out of memory on a CPU
from .divergence import Diverged, DivergenceCheck
from .events import (
    TEST,
    VALIDATION,
    CheckpointSaved,
    EvaluationSnapshot,
    Event,
    Log,
    Reason,
    RunDetached,
    RunFinished,
    RunStarted,
    RunState,
    SettingsChanged,
    StateChanged,
)
from .graphs import GraphedStep, UndoWarmUp
from .models import count_parameters
from .output import RunOutput
from .previews import N_TEST_PREVIEW, AugmentedPreviews, first_digits
from .split import split_training_set
from .state import Learner, LoopState, build_learner, count_steps, from_checkpoint, to_checkpoint
from .step_metrics import LOSS_BUFFER, StepWindow


class Trainer:
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

    def _out_of_memory_message(self) -> str:
        where = f"at iteration {self.state.iteration}" if self.run_dir is not None else "while loading"
        kept = ""
        if self.run_dir is not None and self.run_dir.last_checkpoint.exists():
            kept = f"; the last good checkpoint is {self.run_dir.last_checkpoint}"
        return (
            f"{self.device_str} ran out of memory {where}: try a smaller --batch-size or --eval-batch-size, "
            f"or another --device{kept}"
        )

    def _emit(self, event: Event) -> Iterator[Event]:
        if self.run_dir is None:
            self._pending.append(event)  # recorded once the run directory exists
        else:
            self.run_dir.record(event)
        yield event

    # --- set-up -------------------------------------------------------------------------------------------
    def _setup(self) -> Iterator[Event]:
        """Device and data, the run directory, the learner (fresh or resumed), speed options; the first events."""
        cfg = self.config
        device, why = choose_device(cfg.device)  # why: which of several GPUs auto took, and why
        self.device, self.device_str = device, str(device)
        if why:
            yield from self._emit(Log(why))
        if device.type == "cpu":  # the run's threads: its share of the CPU unless fixed, decided once (cpu_share.py)
            self.cpu_share = CpuShare(cfg.threads or torch.get_num_threads(), adaptive=sharing_enabled(cfg.threads))
            self.cpu_share.join()  # counted while it loads by the runs that start with it; it decides after that
        elif cfg.threads:
            torch.set_num_threads(cfg.threads)
        resolved, arrays = yield from self._load_data()
        split = split_training_set(arrays.train_labels, cfg.val_split, cfg.seed)
        # The run directory is made only once the input is known to be good.
        checkpoint = load_checkpoint(self.output.last_checkpoint, map_location="cpu") if self.resume else None
        if self.cpu_share is not None:  # before anything is computed, and recorded in config.json: the threads
            yield from self._share_cpu()  # are part of the run's arithmetic, and a resumed run keeps them
            self.config = cfg = cfg.replace(threads=self.cpu_share.current)
        self._open_run_dir()

        self.steps_per_epoch, self.total_steps = count_steps(cfg, len(split.train))
        self.learner: Learner = build_learner(cfg, device, self.total_steps)
        self.best_weights: dict[str, torch.Tensor] | None = None  # the best seen, for restore_best
        if checkpoint is not None:
            yield from self._resume(checkpoint)
            if self.state.val_digest and self.state.val_digest != split.digest:
                raise CheckpointError(
                    f"{self.output.last_checkpoint}: the run held out another validation set "
                    f"({self.state.val_digest}, now {split.digest or 'none'}); its --val-split or data changed"
                )
        self.state.val_digest = split.digest
        for note in self.notes:
            yield from self._emit(Log(note))
        self.data = DeviceData.load(arrays, resolved.class_names, device, split)
        self.divergence = DivergenceCheck(len(resolved.class_names), enabled=cfg.divergence_check)
        self.eval_batch = eval_batch_size(device, cfg.eval_batch_size)
        augment = {"degrees": cfg.aug_rotate, "scale": cfg.aug_scale, "shift": cfg.aug_shift}
        self.augment = augment if any(augment.values()) else None  # random_affine's ranges, with it on
        self.previews = AugmentedPreviews(arrays, cfg.seed, augment) if self.augment else None
        yield from self._speed_options()

        yield from self._emit(self._run_started(resolved))
        yield from self._emit(first_digits(arrays))
        yield from self._augmented_previews()
        yield from self._emit(self.learner.stopper.state_event(self.state.iteration))

    def _load_data(self) -> Generator[Event, None, tuple[data_mod.ResolvedData, data_mod.Arrays]]:
        cfg = self.config
        yield from self._emit(StateChanged(RunState.LOADING, f"loading {cfg.dataset}"))
        logs: list[str] = []
        resolved = data_mod.resolve(cfg.dataset, cfg.data_dir, log=logs.append)
        for line in logs:
            yield from self._emit(Log(line))
        return resolved, data_mod.load_arrays(resolved)

    def _open_run_dir(self) -> None:
        """Create the run directory (a fresh run's; a resumed run's exists) and record what was held back."""
        self.output.create(self.config, fresh=not self.resume)
        self.run_dir = self.output
        for event in self._pending:
            self.run_dir.record(event)
        self._pending.clear()

    def _resume(self, checkpoint: dict[str, Any]) -> Iterator[Event]:
        """Continue from ``checkpoint``: the learner and the loop as it left them, the best weights saved."""
        last, best = self.run_dir.last_checkpoint, self.run_dir.best_checkpoint
        with _checkpoint_of_this_run(last):
            self.state = from_checkpoint(checkpoint, self.learner)
        if best.exists():
            with _checkpoint_of_this_run(best):
                self.best_weights = {k: v.to(self.device) for k, v in load_checkpoint(best)["model"].items()}
        yield from self._emit(Log(f"resumed from {self.run_dir.last_checkpoint} at iteration {self.state.iteration}"))
        planned = getattr(self.learner.scheduler, "total_steps", self.total_steps)
        if planned < self.total_steps:  # the run was lengthened (config.json edited) after the schedule began
            yield from self._emit(
                Log(
                    f"the {self.config.schedule} schedule was planned for {planned} steps; the steps after it run "
                    f"at its final lr ({self.total_steps} in all now)",
                    "warning",
                )
            )

    def _speed_options(self) -> Iterator[Event]:
        """bf16 autocast, torch.compile and CUDA graphs, as asked for and as the device allows."""
        cfg, device = self.config, self.device
        self.amp_dtype, note = autocast_dtype(device, cfg.amp)
        if note:
            yield from self._emit(Log(note, "warning"))
        self.train_model = yield from self._compile()  # what the loop calls: the model, or its compiled form
        self.graphs, note = use_cuda_graphs(device, cfg.cuda_graphs, cfg.compile)
        if note:
            yield from self._emit(Log(note, "warning"))
        self.graph: GraphedStep | None = None  # recorded at the first full batch

    def _compile(self) -> Generator[Event, None, torch.nn.Module]:
        mode, model = self.config.compile, self.learner.model
        if mode == "off":
            return model
        yield from self._emit(StateChanged(RunState.LOADING, f"compiling the model (--compile {mode})"))
        compiled, note = compile_model(model, mode, self._compile_warm_up)
        yield from self._emit(Log(note, "info" if compiled is not model else "warning"))
        return compiled

    def _compile_warm_up(self, compiled: torch.nn.Module) -> None:
        """Compile now (one forward and backward) and leave no trace: weights, buffers and RNG as they were."""
        undo = UndoWarmUp(self.learner.model, self.learner.optimizer, self.device)
        n = self.config.batch_size
        with self._autocast():
            loss = F.cross_entropy(compiled(self.data.train_x[:n]), self.data.train_y[:n])
        loss.backward()
        undo()

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

    # --- the step -----------------------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Forward, loss and backward on one batch (gradients start from None); the loss."""
        with self._autocast():
            loss = F.cross_entropy(self.train_model(x), y, label_smoothing=self.config.label_smoothing)
        loss.backward()
        return loss.detach()

    def _record_step(self, step: Any, inputs: tuple[torch.Tensor, ...]) -> Iterator[Event]:
        started = time.monotonic()
        try:
            self.graph = GraphedStep(step, inputs, self.learner.model, self.learner.optimizer)
        except Exception as exc:  # noqa: BLE001 - an op that can't be recorded, a driver without graphs: go eager
            self.graphs = False
            if isinstance(exc, torch.OutOfMemoryError):
                raise  # the run's own out-of-memory message, not a fallback
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            yield from self._emit(
                Log(f"CUDA graph recording failed ({type(exc).__name__}: {first}); training without it", "warning")
            )
            return
        seconds = time.monotonic() - started
        yield from self._emit(Log(f"recorded the training step as a CUDA graph in {seconds:.2f} s (--cuda-graphs)"))

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

    def _flush(self) -> Iterator[Event]:
        """Publish the losses of the steps since the last StepMetrics (one host sync)."""
        if self.window.n == 0:
            return
        metrics = self.window.take(self.state, self.learner.lr)
        self.state.train_seconds = metrics.elapsed
        yield from self._emit(metrics)
        self.divergence.training_loss(metrics.losses, self.state.iteration, self.learner.lr)

    def _share_cpu(self) -> Iterator[Event]:
        """On the CPU: claim this run's share of the threads, decided the first time for its life (cpu_share.py)."""
        share = self.cpu_share
        line = share.start()
        if share.problem:
            yield from self._emit(Log(share.problem, "warning"))
            share.problem = None
        if line:
            yield from self._emit(Log(line))

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


@contextlib.contextmanager
def _checkpoint_of_this_run(path: Path) -> Iterator[None]:
    """A checkpoint whose contents do not fit this run (keys missing, wrong shapes or types) is named in one
    line, as bad input, instead of failing with whatever torch or a dict raised."""
    try:
        yield
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise CheckpointError(f"{path}: not a checkpoint this run can resume from ({type(exc).__name__}: {reason})") from None
