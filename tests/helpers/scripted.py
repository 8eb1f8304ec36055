"""A scripted event source: a plausible run without torch, for tests, snapshots and a look at the screen.

``DemoRun(...)`` is an event source like the real trainer's: call it with a ``Control`` and iterate. It is
deterministic (seeded; elapsed time is simulated, not read from a clock) and it honours the control the way
the trainer does: pause blocks on ``control.wait_while_paused()``, stop finishes with an evaluation, a
checkpoint and ``RunFinished(reason="stopped")``, save-now yields a ``CheckpointSaved``, a new learning rate
applies from the next step and new early-stopping settings at the next evaluation (each with a
``SettingsChanged``). Early stopping is the engine's own ``EarlyStopper``, fed the scripted evaluations, and
it ends the run when it says so; an ``EarlyStoppingState`` follows the set-up and every evaluation.

    python -m mnist_tui.ui.demo          # the app on a demo run, paced like a real one
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from mnist_tui.config import EarlyStoppingConfig
from mnist_tui.engine.control import Control
from mnist_tui.engine.early_stopping import EarlyStopper
from mnist_tui.engine.events import (
    CheckpointSaved,
    TEST,
    VALIDATION,
    Evaluation,
    Event,
    Log,
    Previews,
    Reason,
    RunFinished,
    RunStarted,
    RunState,
    SettingsChanged,
    StateChanged,
    StepMetrics,
)

# A 5x7 bitmap font for the digits 0..9 (rows top to bottom, "#" = ink).
_FONT = {
    0: (" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "),
    1: ("  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "),
    2: (" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"),
    3: ("#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "),
    4: ("   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "),
    5: ("#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "),
    6: ("  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "),
    7: ("#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "),
    8: (" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "),
    9: (" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "),
}


def demo_digit(label: int, rng: random.Random) -> bytes:
    """A 28x28 uint8 image of ``label``: the font glyph scaled up, slanted, shifted and softened."""
    glyph = _FONT[label % 10]
    scale_x, scale_y = 3.0, 2.6
    slant = rng.uniform(-0.25, 0.25)
    dx, dy = rng.uniform(-2, 2), rng.uniform(-1.5, 1.5)
    x0, y0 = 14 - 2.5 * scale_x + dx, 14 - 3.5 * scale_y + dy
    ink = rng.uniform(0.8, 1.0)
    out = bytearray(28 * 28)
    for r in range(28):
        for c in range(28):
            gy = (r + 0.5 - y0) / scale_y
            gx = (c + 0.5 - x0 + slant * (r - 14)) / scale_x
            value = 0.0
            for sy in (-0.25, 0.25):  # 2x2 supersampling for soft edges
                for sx in (-0.25, 0.25):
                    iy, ix = math.floor(gy + sy / scale_y), math.floor(gx + sx / scale_x)
                    if 0 <= iy < 7 and 0 <= ix < 5 and glyph[iy][ix] == "#":
                        value += 0.25
            out[r * 28 + c] = int(255 * ink * value)
    return bytes(out)


def _loss(iteration: int, rng: random.Random) -> float:
    base = 2.3 * math.exp(-iteration / 35.0) + 0.06 + 0.25 * math.exp(-iteration / 400.0)
    return max(0.005, base * (1.0 + rng.gauss(0.0, 0.18)))


def _accuracy(iteration: int) -> float:
    return 0.992 - 0.88 * math.exp(-iteration / 30.0)


@dataclass
class DemoRun:
    """A scripted run: ``DemoRun(...)(control)`` yields the events a trainer would."""

    steps_per_epoch: int = 60
    epochs: int = 3
    eval_every: int = 20
    chunk: int = 5  # steps per StepMetrics event
    batch_size: int = 100
    n_test_previews: int = 12
    seconds_per_step: float = 0.02  # simulated training time per step (elapsed, ETA)
    step_delay: float = 0.0  # real seconds to sleep per StepMetrics event (0: as fast as possible)
    load_delay: float = 0.0  # real seconds spent "loading"
    hold_at: int | None = None  # stay at this iteration ("running") until a command; a test may raise it meanwhile
    fail_at: int | None = None  # end with RunFinished(reason="failed") at this iteration
    raise_at: int | None = None  # raise an exception at this iteration (a source that crashes)
    early_stop_at: int | None = None  # end with RunFinished(reason="early_stop") at this iteration
    lr: float = 3e-4  # the learning rate the run starts with
    early_stopping: EarlyStoppingConfig = field(
        default_factory=lambda: EarlyStoppingConfig(min_delta=0.1, warmup_evals=5)  # the tests' runs never stop early
    )
    plateau_at: int | None = None  # the plateau schedule cuts the lr (x0.3) at this evaluation's iteration
    start_gate: threading.Event | None = None  # wait for this (while loading) before starting
    run_dir: str = "runs/demo"
    device: str = "cpu"
    device_name: str = "Demo CPU"
    dataset: str = "mnist"
    class_names: tuple[str, ...] = tuple(str(i) for i in range(10))
    seed: int = 0
    events_sent: list[str] = field(default_factory=list)  # kinds yielded, for tests

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    def __call__(self, control: Control) -> Iterator[Event]:
        for event in self._events(control):
            self.events_sent.append(event.kind)
            yield event

    # ------------------------------------------------------------------------------------------------------
    def _events(self, control: Control) -> Iterator[Event]:
        rng = random.Random(self.seed)
        yield StateChanged(RunState.LOADING, f"loading {self.dataset}")
        yield Log(f"{self.dataset}: demo digits (no files read)")
        if self.start_gate is not None:
            while not self.start_gate.wait(0.01):
                if control.stop_requested:
                    break
        if self.load_delay:
            time.sleep(self.load_delay)
        config = {
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "eval_every": self.eval_every,
            "lr": self.lr,
            "schedule": "constant",
            "early_stopping": asdict(self.early_stopping),
            "lr_plateau": self.plateau_at is not None,
            "plateau_patience": 5,
            "plateau_factor": 0.3,
        }
        yield RunStarted(
            run_dir=self.run_dir,
            config=config,
            device=self.device,
            device_name=self.device_name,
            torch_version="2.4.1",
            cuda_version="12.4" if self.device.startswith("cuda") else None,
            model_parameters=514_640,
            dataset=self.dataset,
            class_names=self.class_names,
            data_source="demo",
            train_size=self.steps_per_epoch * self.batch_size,
            test_size=1000,
            steps_per_epoch=self.steps_per_epoch,
            total_steps=self.total_steps,
            threads=2,
        )
        train_labels = tuple(rng.randrange(10) for _ in range(40))
        test_labels = tuple(rng.randrange(10) for _ in range(self.n_test_previews))
        yield Previews(
            train_images=tuple(demo_digit(k, rng) for k in train_labels),
            train_labels=train_labels,
            test_images=tuple(demo_digit(k, rng) for k in test_labels),
            test_labels=test_labels,
        )
        stopper = EarlyStopper(self.early_stopping)
        lr = self.lr
        best, best_iteration = 0.0, 0
        accuracy: float | None = None
        iteration = 0

        yield stopper.state_event(iteration)
        yield StateChanged(RunState.RUNNING, "training")

        def evaluate(at: int, split: str = VALIDATION) -> Evaluation:
            """The validation set decides (the best so far); the test set, a little lower, only reports."""
            nonlocal best, best_iteration, accuracy
            value = _accuracy(at) - (0.002 if split == TEST else 0.0)
            if split == VALIDATION:
                accuracy = value
                if accuracy > best:
                    best, best_iteration = accuracy, at
            predictions = tuple(
                label if rng.random() < value else (label + rng.randrange(1, 10)) % 10 for label in test_labels
            )
            total = 5000 if split == VALIDATION else 10000
            return Evaluation(
                iteration=at,
                epoch=max(1, math.ceil(at / self.steps_per_epoch)),
                split=split,
                loss=max(0.02, 2.2 * math.exp(-at / 35.0) + 0.04),
                accuracy=value,
                correct=round(value * total),
                total=total,
                best_accuracy=best if best_iteration else None,
                best_iteration=best_iteration or None,
                seconds=0.4,
                preview_predictions=predictions,
            )

        def finish(reason: str, message: str) -> RunFinished:
            kept = stopper.watch.best_iteration  # with restore_best the run ends on the best weights, as the trainer's
            restored = stopper.config.restore_best and kept is not None and reason != Reason.FAILED
            weights = f"best from iteration {kept}" if restored else "last"
            return RunFinished(
                reason=reason,
                message=message,
                iteration=iteration,
                epoch=max(1, math.ceil(iteration / self.steps_per_epoch)),
                final_accuracy=accuracy,
                best_accuracy=best if best_iteration else None,
                best_iteration=best_iteration or None,
                elapsed=iteration * self.seconds_per_step,
                device=self.device,
                stopped_early_at=iteration if reason == "early_stop" else None,
                weights=weights,
            )

        def checkpoint(tag: str) -> CheckpointSaved:
            return CheckpointSaved(path=os.path.join(self.run_dir, f"{tag}.pt"), tag=tag, iteration=iteration)

        while True:
            # Commands, between steps, as the trainer checks them.
            if control.take_save_request():
                yield checkpoint("last")
            if control.paused and not control.stop_requested:
                yield StateChanged(RunState.PAUSED, "paused")
                control.wait_while_paused()
                if not control.stop_requested:
                    yield StateChanged(RunState.RUNNING, "training")
            if control.stop_requested:
                yield StateChanged(RunState.STOPPING, "finishing the step, evaluating and saving")
                if iteration:
                    yield evaluate(iteration)
                yield checkpoint("last")
                yield finish(control.stop_reason, f"stopped at iteration {iteration}")
                return
            lr_changes = control.take_changes("lr") if control.has_changes else []
            if lr_changes:  # applied from the next step, as the trainer does
                for kind, value in lr_changes:
                    lr = value if kind == "lr" else lr * value
                yield SettingsChanged(iteration, {"lr": lr})
            if iteration >= self.total_steps:
                yield checkpoint("last")
                yield finish("completed", f"completed {self.epochs} epochs")
                return
            if self.hold_at is not None and iteration >= self.hold_at:
                time.sleep(0.005)  # idle "running" until the test sends a command
                continue

            first = iteration + 1
            iteration = min(iteration + self.chunk, self.total_steps)
            if self.hold_at is not None:
                iteration = min(iteration, self.hold_at)
            if self.raise_at is not None and iteration >= self.raise_at:
                raise RuntimeError(f"demo source crashed at iteration {iteration}")
            if self.step_delay:
                time.sleep(self.step_delay)
            epoch = (iteration - 1) // self.steps_per_epoch + 1
            yield StepMetrics(
                iteration=iteration,
                epoch=epoch,
                epoch_step=(iteration - 1) % self.steps_per_epoch + 1,
                losses=tuple(_loss(i, rng) for i in range(first, iteration + 1)),
                lr=lr,
                images_per_second=self.batch_size / self.seconds_per_step,
                elapsed=iteration * self.seconds_per_step,
            )
            if self.fail_at is not None and iteration >= self.fail_at:
                yield finish(Reason.FAILED, f"loss is nan at iteration {iteration} (diverged?)")
                return
            if iteration % self.eval_every < self.chunk or iteration == self.total_steps:
                at = iteration - iteration % self.eval_every if iteration != self.total_steps else iteration
                if at:
                    for _, settings in control.take_changes("early_stopping"):  # at the evaluation, as the trainer
                        stopper.reconfigure(settings)
                        yield SettingsChanged(iteration, {"early_stopping": asdict(settings)})
                    evaluation = evaluate(at)
                    yield evaluation
                    if at % self.steps_per_epoch == 0:  # each epoch end: the test set too, to report
                        yield evaluate(at, TEST)
                    if stopper.update(evaluation.accuracy, evaluation.loss, at):
                        yield checkpoint("best")
                    yield stopper.state_event(iteration)
                    if self.plateau_at is not None and at == self.plateau_at:
                        lr *= 0.3
                        yield SettingsChanged(iteration, {"lr": lr}, source="plateau")
                    if stopper.should_stop:
                        monitor, wait = stopper.config.monitor, stopper.watch.wait
                        message = f"early stop: no improvement of validation {monitor} for {wait} evaluations"
                        yield finish("early_stop", message)
                        return
            if self.early_stop_at is not None and iteration >= self.early_stop_at:
                yield finish("early_stop", f"no improvement for 3 evaluations (best at {best_iteration})")
                return


def main() -> int:  # pragma: no cover - manual look at the screen
    import argparse

    from mnist_tui.ui.live.app import MnistApp

    parser = argparse.ArgumentParser(description="The mnist-tui screen on a scripted demo run.")
    parser.add_argument("--steps-per-epoch", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds per metrics event")
    parser.add_argument("--fail-at", type=int, default=None)
    parser.add_argument("--run-dir", default=None)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--patience", type=int, default=20, help="early-stopping patience, in evaluations")
    parser.add_argument("--plateau-at", type=int, default=None, help="the plateau schedule cuts the lr here")
    args = parser.parse_args()
    run_dir = args.run_dir or os.path.join(os.getcwd(), "runs", "demo")
    source = DemoRun(
        steps_per_epoch=args.steps_per_epoch,
        epochs=args.epochs,
        eval_every=50,
        step_delay=args.delay,
        load_delay=1.0,
        fail_at=args.fail_at,
        run_dir=run_dir,
        dataset=args.dataset,
        early_stopping=EarlyStoppingConfig(patience=args.patience, min_delta=0.1, warmup_evals=5),
        plateau_at=args.plateau_at,
    )
    app = MnistApp(source, run_dir=run_dir)
    app.run()
    return int(app.return_code or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
