"""The training loop: the tutorial recipe, with the data resident on the device.

``Trainer(config, control, output=...).run()`` is a generator of events (see events.py). It runs in
whatever thread iterates it, records every event in ``output`` (the run directory, see output.py) before
yielding it, obeys ``control`` between steps, and never raises for a training failure: it ends with
``RunFinished(reason="failed")`` instead. Front ends make one with ``runs.start.make_trainer``.

``run`` sets the run up (device, data, run directory, model) and ``_loop`` trains, read top to bottom.
The hot path keeps the GPU busy: batches are index slices of tensors already on the device, per-step
losses go into a device buffer that is read back only when a StepMetrics event is due (a few times a
second), and evaluation runs in large batches under ``inference_mode`` in ``eval()`` mode.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from ..config import TrainConfig
from . import data as data_mod
from .analysis import EvalOutcome, make_snapshot, predict, summarise, write_error_csvs
from .augment import Ema, random_affine
from .checkpoints import load_checkpoint, save_checkpoint
from .control import Control
from .device import (
    autocast_dtype,
    compile_model,
    device_name,
    eval_batch_size,
    resolve_device,
    use_cuda_graphs,
)
from .early_stopping import EarlyStopper, Plateau, metric_value
from .errors import InputError, RunDirError
from .events import (
    CheckpointSaved,
    Evaluation,
    EvaluationSnapshot,
    Event,
    Log,
    Previews,
    Reason,
    RunDetached,
    RunFinished,
    RunStarted,
    RunState,
    SettingsChanged,
    StateChanged,
    StepMetrics,
)
from .graphs import GraphedStep, UndoWarmUp
from .models import build_model, count_parameters
from .output import RunOutput
from .preprocess import normalise, to_uint8
from .previews import N_TEST_PREVIEW, N_TRAIN_PREVIEW

AUGMENT_SEED_OFFSET = 7_919  # the augmentation generator's seed is the run's seed plus this
LOSS_BUFFER = 4096  # steps of loss kept on the device between two StepMetrics events


@dataclass
class LoopState:
    """Where the loop is; saved in every checkpoint so a run can continue exactly."""

    epoch: int = 1  # 1-based epoch in progress
    epoch_step: int = 0  # steps done in this epoch
    iteration: int = 0  # steps done in all
    best_accuracy: float = -1.0
    best_iteration: int = 0
    last_accuracy: float | None = None
    last_eval_iteration: int = -1
    train_seconds: float = 0.0
    perm: torch.Tensor | None = field(default=None, repr=False)  # this epoch's shuffle

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def epoch_reached(self) -> int:
        """The last epoch with any steps done (``epoch`` already points at the next one at an epoch end)."""
        return self.epoch if self.epoch_step else self.epoch - 1


class _Diverged(Exception):
    pass


class Trainer:
    def __init__(
        self, config: TrainConfig, control: Control | None = None, *, output: RunOutput, resume: bool = False
    ) -> None:
        """``config.run_dir`` is ``output``'s path; ``resume``: continue from ``output.last_checkpoint``."""
        self.config = config
        self.control = control or Control()
        self.output = output
        self.resume = resume

    # --- events -------------------------------------------------------------------------------------------
    def run(self) -> Iterator[Event]:
        self.run_dir: RunOutput | None = None  # the output, once created
        self._pending: list[Event] = []
        self.device_str = "?"
        self.state = LoopState()
        self.stopper = EarlyStopper(self.config.early_stopping)
        self.weights = "last"
        try:
            yield from self._emit(StateChanged(RunState.LOADING, "starting torch"))
            yield from self._setup()
            yield from self._loop()
        except _Diverged as exc:
            yield from self._finish(Reason.DIVERGED, str(exc))
        except torch.OutOfMemoryError:
            yield from self._finish(Reason.FAILED, self._out_of_memory_message(), bad_input=True)
        except Exception as exc:  # a failure ends the run with a reason instead of killing the caller
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if not isinstance(exc, InputError):
                message = f"{type(exc).__name__}: {message}"
            yield from self._finish(Reason.FAILED, message, bad_input=isinstance(exc, InputError))
        finally:
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
        cfg = self.config
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        device = self.device = resolve_device(cfg.device)
        self.device_str = str(device)

        yield from self._emit(StateChanged(RunState.LOADING, f"loading {cfg.dataset}"))
        logs: list[str] = []
        resolved = data_mod.resolve(cfg.dataset, cfg.data_dir, log=logs.append)
        for line in logs:
            yield from self._emit(Log(line))
        arrays = data_mod.load_arrays(resolved)

        # The run directory is made only once the input is known to be good.
        run_dir = self.output
        checkpoint = load_checkpoint(run_dir.last_checkpoint, map_location="cpu") if self.resume else None
        run_dir.create(cfg, fresh=not self.resume)
        self.run_dir = run_dir
        for event in self._pending:
            run_dir.record(event)
        self._pending.clear()

        torch.manual_seed(cfg.seed)
        # channels_last: a third faster for these small convolutions on CPU (oneDNN) and on CUDA (cuDNN).
        layout = torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format
        self.model = build_model(cfg.model).to(device, memory_format=layout)
        # On CUDA one fused kernel: the step the recorded graph leaves out costs one launch, not a dozen.
        fused = {"fused": True} if device.type == "cuda" else {}
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)
        self.shuffle = torch.Generator().manual_seed(cfg.seed)
        # Augmentation draws from a generator of its own (on the CPU, saved in checkpoints), so the shuffle,
        # dropout and the tutorial and fast presets' results are what they are without it.
        self.augment_rng = torch.Generator().manual_seed(cfg.seed + AUGMENT_SEED_OFFSET)
        self.augmenting = bool(cfg.aug_rotate or cfg.aug_scale or cfg.aug_shift)
        self.ema = Ema(self.model, cfg.ema) if cfg.ema else None
        es = cfg.early_stopping
        self.plateau = Plateau(es.higher_is_better, cfg.plateau_patience, cfg.plateau_factor) if cfg.lr_plateau else None
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.steps_per_epoch = math.ceil(len(arrays.train_labels) / cfg.batch_size)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps is not None:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.scheduler = None
        if cfg.schedule == "onecycle":
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, max_lr=cfg.lr, total_steps=self.total_steps
            )
        if checkpoint is not None:
            self._restore(checkpoint)
            yield from self._emit(Log(f"resumed from {run_dir.last_checkpoint} at iteration {self.state.iteration}"))
            planned = getattr(self.scheduler, "total_steps", self.total_steps)
            if planned < self.total_steps:  # the run was lengthened (config.json edited) after the schedule began
                yield from self._emit(
                    Log(
                        f"the {cfg.schedule} schedule was planned for {planned} steps; the steps after it run at "
                        f"its final lr ({self.total_steps} in all now)",
                        "warning",
                    )
                )

        self.train_x = normalise(arrays.train_images.to(device)).contiguous(memory_format=layout)
        self.train_y = arrays.train_labels.to(device)
        self.test_x = normalise(arrays.test_images.to(device)).contiguous(memory_format=layout)
        self.test_y = arrays.test_labels.to(device)
        self.test_images = arrays.test_images  # CPU uint8: where the misclassified digits are drawn from
        self.class_names = tuple(resolved.class_names)
        self.snapshot: EvaluationSnapshot | None = None  # what the latest evaluation got wrong
        self.eval_batch = eval_batch_size(device, cfg.eval_batch_size)
        self.amp_dtype, note = autocast_dtype(device, cfg.amp)
        if note:
            yield from self._emit(Log(note, "warning"))
        self.train_model = self.model  # what the loop calls: the model, or its compiled form
        if cfg.compile != "off":
            yield from self._emit(StateChanged(RunState.LOADING, f"compiling the model (--compile {cfg.compile})"))
            self.train_model, note = compile_model(self.model, cfg.compile, self._compile_warm_up)
            yield from self._emit(Log(note, "info" if self.train_model is not self.model else "warning"))
        self.graphs, note = use_cuda_graphs(device, cfg.cuda_graphs, cfg.compile)
        if note:
            yield from self._emit(Log(note, "warning"))
        self.graph: GraphedStep | None = None  # recorded at the first full batch

        yield from self._emit(
            RunStarted(
                run_dir=str(run_dir.path),
                config=cfg.to_dict(),
                device=str(device),
                device_name=device_name(device),
                torch_version=torch.__version__,
                cuda_version=torch.version.cuda if device.type == "cuda" else None,
                model_parameters=count_parameters(self.model),
                dataset=resolved.name,
                class_names=tuple(resolved.class_names),
                data_source=resolved.source,
                train_size=len(self.train_y),
                test_size=len(self.test_y),
                steps_per_epoch=self.steps_per_epoch,
                total_steps=self.total_steps,
                start_iteration=self.state.iteration,
                threads=torch.get_num_threads(),
            )
        )
        yield from self._emit(
            Previews(
                train_images=tuple(img.numpy().tobytes() for img in arrays.train_images[:N_TRAIN_PREVIEW]),
                train_labels=tuple(arrays.train_labels[:N_TRAIN_PREVIEW].tolist()),
                test_images=tuple(img.numpy().tobytes() for img in arrays.test_images[:N_TEST_PREVIEW]),
                test_labels=tuple(arrays.test_labels[:N_TEST_PREVIEW].tolist()),
            )
        )
        self.preview_x = normalise(arrays.train_images[:N_TRAIN_PREVIEW])  # CPU: augmented for the preview
        self.preview_y = tuple(arrays.train_labels[:N_TRAIN_PREVIEW].tolist())
        yield from self._augmented_previews()
        yield from self._emit(self.stopper.state_event(self.state.iteration))

    def _augmented_previews(self) -> Iterator[Event]:
        """With augmentation on: the preview's training digits as the model is fed them this epoch.

        Drawn from a generator seeded by the seed and the epoch, not the training one, so showing them
        changes nothing about the run.
        """
        if not self.augmenting:
            return
        cfg, epoch = self.config, self.state.epoch_reached + 1
        rng = torch.Generator().manual_seed(cfg.seed * 10_007 + epoch)
        x = random_affine(self.preview_x, rng, degrees=cfg.aug_rotate, scale=cfg.aug_scale, shift=cfg.aug_shift)
        images = to_uint8(x)
        yield from self._emit(
            Previews(
                train_images=tuple(img.numpy().tobytes() for img in images),
                train_labels=self.preview_y,
                test_images=(),
                test_labels=(),
                train_note=f"augmented, as fed in epoch {epoch}",
            )
        )

    @property
    def eval_model(self) -> torch.nn.Module:
        """The weights the run is judged by and ends with: the weight average with EMA on, else the model."""
        return self.ema.module if self.ema is not None else self.model

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

    def _step_on(self, idx: torch.Tensor) -> torch.Tensor:
        """``_step`` on the training images at ``idx``: the gather is part of what a CUDA graph records."""
        return self._step(self.train_x[idx], self.train_y[idx])

    def _record_step(self, step: Any, inputs: tuple[torch.Tensor, ...]) -> Iterator[Event]:
        started = time.monotonic()
        try:
            self.graph = GraphedStep(step, inputs, self.model, self.optimizer)
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

    def _compile_warm_up(self, compiled: torch.nn.Module) -> None:
        """Compile now (one forward and backward) and leave no trace: weights, buffers and RNG as they were."""
        undo = UndoWarmUp(self.model, self.optimizer, self.device)
        n = self.config.batch_size
        with self._autocast():
            loss = F.cross_entropy(compiled(self.train_x[:n]), self.train_y[:n])
        loss.backward()
        undo()

    # --- the loop -----------------------------------------------------------------------------------------
    def _loop(self) -> Iterator[Event]:
        cfg, state, control = self.config, self.state, self.control
        optimizer = self.optimizer
        batch = cfg.batch_size
        augment = {"degrees": cfg.aug_rotate, "scale": cfg.aug_scale, "shift": cfg.aug_shift}
        augmenting, augment_rng, ema = self.augmenting, self.augment_rng, self.ema
        self.losses = torch.empty(LOSS_BUFFER, device=self.device)
        self.n_losses = 0
        self.window_start, self.window_images = time.monotonic(), 0
        self.train_clock = time.monotonic() - state.train_seconds
        self.stopped_while_paused = False

        yield from self._emit(StateChanged(RunState.RUNNING, "training"))
        self.train_model.train()
        reason = Reason.COMPLETED
        while reason == Reason.COMPLETED and state.iteration < self.total_steps and state.epoch <= cfg.epochs:
            if state.perm is None:
                state.perm = torch.randperm(len(self.train_y), generator=self.shuffle).to(self.device)
            while state.epoch_step < self.steps_per_epoch and state.iteration < self.total_steps:
                if control.paused and not control.stop_requested:
                    yield from self._pause()
                if control.stop_requested:
                    reason = control.stop_reason
                    break
                if control.has_changes:
                    yield from self._apply_lr_changes()

                idx = state.perm[state.epoch_step * batch : (state.epoch_step + 1) * batch]
                if augmenting:  # drawn on the host: outside what a CUDA graph can record
                    step, inputs = (
                        self._step,
                        (random_affine(self.train_x[idx], augment_rng, **augment), self.train_y[idx]),
                    )
                else:
                    step, inputs = self._step_on, (idx,)
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
                if self.scheduler is not None and self.scheduler.last_epoch < self.scheduler.total_steps:
                    self.scheduler.step()
                self.losses[self.n_losses] = loss  # no host sync here
                self.n_losses += 1
                self.window_images += len(idx)
                state.epoch_step += 1
                state.iteration += 1

                if self.n_losses == LOSS_BUFFER or time.monotonic() - self.window_start >= cfg.metrics_interval:
                    yield from self._flush()
                if state.iteration % cfg.eval_every == 0:
                    if (yield from self._evaluate_and_check()):
                        reason = Reason.EARLY_STOP
                        break
                if control.take_save_request():
                    yield from self._save("last")
            if state.epoch_step >= self.steps_per_epoch:  # epoch done: evaluate if not just done, save
                if state.last_eval_iteration != state.iteration and (yield from self._evaluate_and_check()):
                    reason = Reason.EARLY_STOP
                state.epoch, state.epoch_step, state.perm = state.epoch + 1, 0, None
                yield from self._save("last")
                if state.epoch <= cfg.epochs and state.iteration < self.total_steps:
                    yield from self._augmented_previews()

        if reason == Reason.DETACHED:  # handed over: save the resumable state and end here, without a summary
            yield from self._flush()
            yield from self._save("last")
            checkpoint = str(self.run_dir.last_checkpoint)
            yield from self._emit(RunDetached(state.iteration, checkpoint, self.stopped_while_paused))
            return
        # Early-stopped, stopped, out of steps, or done: finish the metrics, evaluate, save.
        if reason not in (Reason.COMPLETED, Reason.EARLY_STOP):
            yield from self._emit(StateChanged(RunState.STOPPING, "stopping: evaluating and saving"))
        yield from self._flush()
        if state.last_eval_iteration != state.iteration:
            yield from self._evaluate_and_check(scheduled=False)
        yield from self._save("last")  # the resumable state, before any weights are swapped
        yield from self._restore_best_weights()
        yield from self._write_error_csvs()
        if reason == Reason.EARLY_STOP:
            w = self.stopper.watch
            message = f"early stop: no improvement of test {self.stopper.config.monitor} for {w.wait} evaluations"
        elif reason == Reason.COMPLETED:
            message = f"completed {state.iteration} iterations"
        else:
            message = f"run {reason} at iteration {state.iteration}"
        yield from self._finish(reason, message, stopped_early_at=state.iteration if reason == Reason.EARLY_STOP else None)

    def _pause(self) -> Iterator[Event]:
        yield from self._flush()
        paused_at = time.monotonic()
        yield from self._emit(StateChanged(RunState.PAUSED, "paused"))
        while self.control.paused and not self.control.stop_requested:
            self.control.wait_for_command()
            if self.control.take_save_request():  # "save now" works while paused too
                yield from self._save("last")
        self.stopped_while_paused = self.control.stop_requested  # a detached run stays paused in the background
        pause = time.monotonic() - paused_at
        self.train_clock += pause
        self.window_start += pause
        if not self.control.stop_requested:
            yield from self._emit(StateChanged(RunState.RUNNING, "training"))

    def _flush(self) -> Iterator[Event]:
        """Publish the losses of the steps since the last StepMetrics (one host sync)."""
        if self.n_losses == 0:
            return
        state = self.state
        values = tuple(self.losses[: self.n_losses].tolist())
        now = time.monotonic()
        state.train_seconds = now - self.train_clock
        yield from self._emit(
            StepMetrics(
                iteration=state.iteration,
                epoch=state.epoch,
                epoch_step=state.epoch_step,
                losses=values,
                lr=self.lr,
                images_per_second=self.window_images / max(now - self.window_start, 1e-9),
                elapsed=state.train_seconds,
            )
        )
        self.n_losses, self.window_start, self.window_images = 0, now, 0
        if not all(math.isfinite(v) for v in values):
            raise _Diverged(f"training loss became {values[-1]} at iteration {state.iteration}")

    # --- evaluation, early stopping, learning rate --------------------------------------------------------
    def _evaluate_and_check(self, scheduled: bool = True) -> Iterator[Event]:
        """Evaluate on the full test set, update early stopping and the plateau schedule.

        A generator whose return value says whether early stopping ends the run here. An unscheduled
        evaluation (the one a stop makes at the step it reached) is reported but feeds no best, no early
        stopping and no plateau, so a run stopped and resumed ends exactly as one that was not.
        """
        yield from self._flush()
        state = self.state
        for _, es_config in self.control.take_changes("early_stopping") if scheduled else ():
            self.stopper.reconfigure(es_config)
            yield from self._emit(SettingsChanged(state.iteration, {"early_stopping": es_config.__dict__.copy()}))
        started = time.monotonic()
        self.eval_model.eval()
        with self._autocast():
            outcome = _evaluate(self.eval_model, self.test_x, self.test_y, self.eval_batch, N_TEST_PREVIEW)
        self.model.train()
        self.window_start = time.monotonic()  # images/s counts training time only
        loss, correct, preview = outcome.loss, outcome.correct, outcome.preview
        accuracy = correct / len(self.test_y)
        if not math.isfinite(loss):
            raise _Diverged(f"test loss became {loss} at iteration {state.iteration}")
        state.last_accuracy, state.last_eval_iteration = accuracy, state.iteration
        if scheduled and accuracy > state.best_accuracy:
            state.best_accuracy, state.best_iteration = accuracy, state.iteration
        yield from self._emit(
            Evaluation(
                iteration=state.iteration,
                epoch=state.epoch,
                test_loss=loss,
                test_accuracy=accuracy,
                correct=correct,
                total=len(self.test_y),
                best_accuracy=state.best_accuracy,
                best_iteration=state.best_iteration,
                seconds=time.monotonic() - started,
                preview_predictions=preview,
            )
        )
        yield from self._emit_snapshot(outcome)
        if not scheduled:
            return False
        if self.stopper.update(accuracy, loss, state.iteration):
            self.best_weights = {k: v.detach().clone() for k, v in self.eval_model.state_dict().items()}
            yield from self._save("best")
        yield from self._emit(self.stopper.state_event(self.state.iteration))
        if self.plateau is not None:
            value = metric_value(self.stopper.config.monitor, accuracy, loss)
            new_lr = self.plateau.update(value, state.iteration, self.lr)
            if new_lr is not None:
                self._set_lr(new_lr)
                yield from self._emit(SettingsChanged(state.iteration, {"lr": new_lr}, source="plateau"))
        return self.stopper.should_stop

    def _restore_best_weights(self) -> Iterator[Event]:
        """With restore_best, end on the best weights seen, and evaluate them so the final figures are theirs."""
        w = self.stopper.watch
        if not self.stopper.config.restore_best or self.best_weights is None or w.best_iteration is None:
            return
        self.weights = f"best from iteration {w.best_iteration}"
        if w.best_iteration == self.state.iteration:
            return
        self.eval_model.load_state_dict(self.best_weights)
        yield from self._emit(Log(f"restored the best weights, from iteration {w.best_iteration}"))
        self.eval_model.eval()
        with self._autocast():
            outcome = _evaluate(self.eval_model, self.test_x, self.test_y, self.eval_batch, N_TEST_PREVIEW)
        loss, correct, preview = outcome.loss, outcome.correct, outcome.preview
        self.state.last_accuracy = correct / len(self.test_y)
        yield from self._emit(
            Evaluation(
                iteration=self.state.iteration,
                epoch=self.state.epoch_reached,
                test_loss=loss,
                test_accuracy=self.state.last_accuracy,
                correct=correct,
                total=len(self.test_y),
                best_accuracy=self.state.best_accuracy,
                best_iteration=self.state.best_iteration,
                seconds=0.0,
                preview_predictions=preview,
                weights_from=w.best_iteration,
            )
        )
        yield from self._emit_snapshot(outcome, weights=self.weights)

    def _emit_snapshot(self, outcome: EvalOutcome, weights: str = "") -> Iterator[Event]:
        """Publish what this evaluation got wrong (kept as the latest; not written to metrics.jsonl)."""
        self.snapshot = make_snapshot(
            outcome,
            self.test_images,
            iteration=self.state.iteration,
            epoch=self.state.epoch_reached,
            class_names=self.class_names,
            weights=weights,
        )
        yield from self._emit(self.snapshot)

    def _write_error_csvs(self) -> Iterator[Event]:
        """misclassified.csv and confusion.csv from the weights the run ends with."""
        if self.snapshot is None:
            return
        try:
            paths = write_error_csvs(self.run_dir.path, self.snapshot)
        except OSError as exc:
            yield from self._emit(Log(f"could not write the error CSVs: {exc.strerror or exc}", "warning"))
            return
        yield from self._emit(Log(f"wrote {paths[0].name} and {paths[1].name} into {self.run_dir.path}"))

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _apply_lr_changes(self) -> Iterator[Event]:
        changes = self.control.take_changes("lr")
        if not changes:
            return
        lr = self.lr
        for kind, value in changes:
            lr = value if kind == "lr" else lr * value
        self._set_lr(lr)
        yield from self._emit(SettingsChanged(self.state.iteration, {"lr": lr}))
        if self.scheduler is not None:
            self.scheduler = None  # the user's lr holds from now on
            yield from self._emit(Log(f"the {self.config.schedule} schedule is off: the lr stays at {lr:g}"))

    # --- checkpoints and the end --------------------------------------------------------------------------
    def _save(self, tag: str) -> Iterator[Event]:
        run_dir = self.run_dir
        path = run_dir.best_checkpoint if tag == "best" else run_dir.last_checkpoint
        try:
            save_checkpoint(path, self._snapshot())
        except OSError as exc:  # a full disk, a vanished directory: the previous checkpoint is still whole
            kept = f"{path} from before is kept" if path.exists() else "no earlier checkpoint exists"
            raise RunDirError(f"{path}: cannot save the checkpoint ({exc.strerror or exc}); {kept}") from None
        yield from self._emit(CheckpointSaved(str(path), tag, self.state.iteration))

    def _snapshot(self) -> dict[str, Any]:
        rng: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "shuffle": self.shuffle.get_state(),
            "augment": self.augment_rng.get_state(),
        }
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        loop = self.state.to_dict()
        loop["perm"] = None if self.state.perm is None else self.state.perm.cpu()
        ema = None
        if self.ema is not None:  # "model" holds the average; the weights being trained go here
            ema = {"training_model": self.model.state_dict(), "updates": self.ema.updates, "decay": self.ema.decay}
        return {
            "config": self.config.to_dict(),
            "model": self.eval_model.state_dict(),  # the weights the run is judged by (the EMA with one)
            "ema": ema,
            "optimizer": self.optimizer.state_dict(),
            "rng": rng,
            "loop": loop,
            "early_stopping": self.stopper.state_dict(),
            "plateau": None if self.plateau is None else self.plateau.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
        }

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        ema = checkpoint.get("ema")
        if self.ema is not None and ema:
            self.model.load_state_dict(ema["training_model"])
            self.ema.module.load_state_dict(checkpoint["model"])
            self.ema.updates = int(ema["updates"])
        else:
            self.model.load_state_dict(checkpoint["model"] if not ema else ema["training_model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        rng = checkpoint["rng"]
        torch.set_rng_state(rng["torch"])
        self.shuffle.set_state(rng["shuffle"])
        if "augment" in rng:
            self.augment_rng.set_state(rng["augment"])
        if self.device.type == "cuda" and "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        loop = dict(checkpoint["loop"])
        perm = loop.pop("perm", None)
        self.state = LoopState(**loop)
        self.state.perm = None if perm is None else perm.to(self.device)
        self.stopper.load_state_dict(checkpoint["early_stopping"])
        if self.scheduler is not None:
            if checkpoint.get("scheduler"):
                self.scheduler.load_state_dict(checkpoint["scheduler"])
            else:  # the user had set the lr by hand: the schedule stayed off
                self.scheduler = None
        if self.plateau is not None and checkpoint.get("plateau"):
            self.plateau.load_state_dict(checkpoint["plateau"])
        best = self.run_dir.best_checkpoint
        if best.exists():
            self.best_weights = {k: v.to(self.device) for k, v in load_checkpoint(best)["model"].items()}

    def _finish(self, reason: str, message: str, *, bad_input: bool = False, **extra: Any) -> Iterator[Event]:
        state = self.state
        finished = RunFinished(
            reason=reason,
            message=message,
            iteration=state.iteration,
            epoch=state.epoch_reached,
            final_accuracy=state.last_accuracy,
            best_accuracy=state.best_accuracy if state.best_accuracy >= 0 else None,
            best_iteration=state.best_iteration if state.best_accuracy >= 0 else None,
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


def _evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, n_preview: int) -> EvalOutcome:
    """Mean test loss, correct count, the first ``n_preview`` predictions and the errors (see analysis.py)."""
    return summarise(predict(model, x, batch), y, n_preview=n_preview)
