"""The headless runner: the same event stream as the app, shown as rich progress bars and a final table.

Used with ``--headless`` and whenever stdout is not a terminal. SIGINT, SIGTERM and SIGHUP stop the run
gracefully (evaluate, save, write the summary with reason ``interrupted``); a second signal aborts.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..config import TrainConfig
from ..engine.control import Control
from ..engine.events import (
    EXIT_FAILED,
    VALIDATION,
    CheckpointSaved,
    Evaluation,
    Event,
    Log,
    RunFinished,
    RunStarted,
    StateChanged,
    StepMetrics,
)
from ..runs.signals import RunGuard, stop_on_signals
from ..runs.throughput import Throughput
from .tables import output_console


def run_headless(
    config: TrainConfig | None,
    *,
    resume: str | None = None,
    changes: dict[str, Any] | None = None,
    console: Console | None = None,
) -> int:
    """Train ``config``, or resume the run in ``resume`` (with ``changes``), showing progress; the exit code."""
    from ..runs.start import make_trainer  # torch loads here, not at CLI start

    control = Control()
    trainer = make_trainer(config, control, resume=resume, changes=changes)
    with stop_on_signals(control) as guard:
        console = console or output_console()
        return show(trainer.run(), console, err_console=output_console(stderr=True), guard=guard)


def show(
    events: Iterable[Event], console: Console, *, err_console: Console | None = None, guard: RunGuard | None = None
) -> int:
    """Render an event stream; returns the process exit code. ``guard.ended`` is set at the run's end."""
    err_console = err_console or console
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[left]}", style="progress.remaining"),
        console=console,
        transient=False,
    )
    throughput = Throughput()  # the speed and time left, steadied as the app's device panel shows them
    batch_size: int | None = None
    total_task = epoch_task = None
    started: RunStarted | None = None
    finished: RunFinished | None = None
    with progress:
        for event in events:
            # User text (paths, data-set names, messages) is printed as text, never read as rich markup.
            if isinstance(event, Log):
                progress.console.print(Text(event.message, style="dim"))
            elif isinstance(event, StateChanged) and event.state in ("paused", "stopping"):
                progress.console.print(Text(event.message, style="yellow"))
            elif isinstance(event, RunStarted):
                started = event
                progress.console.print(
                    Text.assemble(
                        "Training ", (str(event.config["model"]), "bold"), " on ", (event.dataset, "bold"),
                        f" ({event.train_size:,} train / {event.test_size:,} test) on {event.device} "
                        f"({event.device_name}), {event.model_parameters:,} parameters",
                    )
                )  # fmt: skip
                progress.console.print(Text(f"Run directory: {event.run_dir}"))
                total_task = progress.add_task(
                    "total", total=event.total_steps, completed=event.start_iteration, info="", left=clock(None)
                )
                epoch_task = progress.add_task("epoch", total=event.steps_per_epoch, info="", left=clock(None))
                throughput.reset()
                batch_size = int(event.config.get("batch_size") or 0) or None
            elif isinstance(event, StepMetrics) and started is not None:
                throughput.step(event.iteration, event.elapsed, event.images_per_second)
                speed = throughput.speed(batch_size)
                rate = "N/A" if speed is None else f"{speed:,.0f} img/s"
                progress.update(
                    total_task,
                    completed=event.iteration,
                    info=f"loss {event.losses[-1]:.4f}  {rate}",
                    left=clock(throughput.eta(started.total_steps - event.iteration, batch_size)),
                )
                progress.update(
                    epoch_task,
                    completed=event.epoch_step,
                    description=f"epoch {event.epoch}/{started.config['epochs']}",
                    left=clock(throughput.eta(started.steps_per_epoch - event.epoch_step, batch_size)),
                )
            elif isinstance(event, Evaluation):
                throughput.evaluated(event.seconds)
                best = "" if event.best_accuracy is None else f"  (best validation {event.best_accuracy:.2%})"
                kept = "  weights kept" if event.weights_from is not None else ""
                progress.console.print(
                    f"iter {event.iteration:>6}  epoch {event.epoch:>3}  {event.split:<10} loss {event.loss:.4f}  "
                    f"accuracy {event.accuracy:.2%}{best if event.split == VALIDATION else kept}"
                )
            elif isinstance(event, CheckpointSaved) and event.tag == "last":
                progress.console.print(Text(f"saved {event.path}", style="dim"))
            elif isinstance(event, RunFinished):
                finished = event
                if guard is not None:
                    guard.ended = True  # saved and summarised: a late signal must not turn it into a crash
    if finished is None:
        err_console.print("mnist-tui: error: the run ended without a result")
        return EXIT_FAILED
    if finished.reason == "failed":
        err_console.print(f"mnist-tui: error: {finished.message}", markup=False, highlight=False, soft_wrap=True)
        return finished.exit_code
    console.print(summary_table(finished, started))
    return finished.exit_code


def clock(seconds: float | None) -> str:
    """A time left as the progress bars show times: 0:01:23, -:--:-- when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-:--:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def summary_table(finished: RunFinished, started: RunStarted | None) -> Table:
    table = Table(title=f"Run {finished.reason}", show_header=False)
    table.add_column(style="bold")
    table.add_column()

    def pct(value: float | None) -> str:
        return "N/A" if value is None else f"{value:.2%}"

    table.add_row("final test accuracy", f"{pct(finished.final_accuracy)} (the weights the run ends with)")
    if finished.best_accuracy is not None:
        table.add_row("validation accuracy", f"{pct(finished.validation_accuracy)} (of those weights)")
        table.add_row(
            "best validation accuracy", f"{pct(finished.best_accuracy)} at iteration {finished.best_iteration}"
        )
    table.add_row("weights", finished.weights)
    table.add_row("iterations", f"{finished.iteration:,} (epoch {finished.epoch})")
    table.add_row("training time", f"{finished.elapsed:.1f} s")
    table.add_row("device", Text(finished.device))
    table.add_row("message", Text(finished.message))
    if started is not None:
        table.add_row("run directory", Text(started.run_dir))
    return table
