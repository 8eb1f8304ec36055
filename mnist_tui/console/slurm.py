"""A sweep and Slurm, printed: ``mnist-tui sweep --status DIR`` (where each run of a sweep is: queued, training on
which node, how it ended, as a table and a line of counts), what ``--slurm`` submitted (or why nothing), and an
array task's last word before its time limit (requeued, or why not)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..engine.events import EXIT_INTERRUPTED
from ..runs import sweep as sw
from ..runs.sweep import slurm
from ..runs.sweep.slurm_submit import Unfinished
from ..runs.untrusted import printable

STYLES = {
    slurm.TRAINING: "green",
    slurm.STARTING: "green",
    slurm.QUEUED_STATE: "cyan",
    sw.Status.FINISHED: "",
    sw.Status.INTERRUPTED: "yellow",
    sw.Status.CRASHED: "red",
    sw.Status.FAILED: "red",
    sw.Status.DAMAGED: "red",
    sw.Status.MISSING: "dim",
}


def status_table(
    sweep: sw.SweepDirectory,
    states: Sequence[slurm.Whereabouts],
    jobs: Sequence[str],
    queue: dict[str, slurm.QueuedTask] | None,
) -> Group:
    counts = Counter(w.state for w in states)
    table = Table(title=Text(f"Sweep {printable(str(sweep.path))}"), title_justify="left")
    for name, justify in (("index", "right"), ("run", "left"), ("state", "left"), ("where", "left"),
                          ("progress", "right"), ("task", "left")):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for w in states:
        state = "not started" if w.state == sw.Status.MISSING else w.state
        progress = "-" if w.progress is None else f"{w.progress:.0%}"
        where = w.where
        if w.state == slurm.TRAINING and where:
            where = f"on {where}"
        elif w.state == slurm.QUEUED_STATE:
            where = f"waiting: {where}" if where and where != "None" else "waiting"
        elif w.state == slurm.STARTING:
            where = f"on {where}"
        task = f"{w.task.job}_{w.task.index} {w.task.state.lower()}" if w.task else "-"
        table.add_row(
            str(w.run.index),  # type: ignore[attr-defined]
            Text(printable(w.run.name)),  # type: ignore[attr-defined]
            Text(state, style=STYLES.get(w.state, "")),
            Text(printable(where)),
            progress,
            task,
        )
    order = [slurm.QUEUED_STATE, slurm.STARTING, slurm.TRAINING, sw.Status.FINISHED, sw.Status.INTERRUPTED,
             sw.Status.CRASHED, sw.Status.FAILED, sw.Status.DAMAGED, sw.Status.MISSING]  # fmt: skip
    tally = ", ".join(f"{counts[s]} {'not started' if s == sw.Status.MISSING else s}" for s in order if counts[s])
    if not jobs:
        source = "never submitted to Slurm (--slurm): the run directories say it all"
    elif queue is None:
        source = f"Slurm's queue cannot be read here (jobs {', '.join(jobs)}): from the run directories only"
    else:
        source = (
            f"Slurm jobs {', '.join(jobs)}; queued and starting from Slurm's queue, the rest from the run directories"
        )
    lines = [table, Text(f"{len(states)} runs: {tally}"), Text(source, style="dim")]
    if counts[sw.Status.INTERRUPTED] + counts[sw.Status.CRASHED] + counts[sw.Status.FAILED] + counts[sw.Status.MISSING]:
        lines.append(Text("the same sweep command with --slurm submits the runs that are not finished", style="dim"))
    return Group(*lines)


def status(sweep: sw.SweepDirectory, plan: sw.SweepPlan, console: Console) -> None:
    """``--status``: each run's state now, from Slurm's queue where it answers and the run directories."""
    jobs = slurm.submitted_jobs(sweep)
    queue = slurm.read_queue(sweep, plan.runs, jobs) if jobs else {}
    states = slurm.whereabouts(sweep, plan.runs, queue)
    console.print(status_table(sweep, states, jobs, queue))


def not_submitted(sweep: sw.SweepDirectory, found: Unfinished, console: Console) -> bool:
    """A warning on stderr for each damaged run (never submitted); when nothing is left to submit, says so and
    where to watch the sweep, and returns True."""
    for w in found.damaged:
        print(f"mnist-tui: warning: not submitted, damaged: {printable(str(sweep.run_dir(w.run)))}", file=sys.stderr)
    if found.todo:
        return False
    console.print(
        f"nothing to submit: {found.finished} of {len(found.states)} runs finished, {found.busy} queued or training"
    )
    console.print(f"  watch it:   mnist-tui sweep --status {sweep.path}")
    return True


def submitted(
    sweep: sw.SweepDirectory, found: Unfinished, job: str, kept: object, max_parallel: int | None, console: Console
) -> None:
    """The job array submitted: its id, its runs, and the commands that watch, report or cancel it."""
    n = len(found.todo)
    console.print(
        f"submitted job array {job}: {n} run{'s' if n != 1 else ''} of {len(found.states)} "
        f"(--array={slurm.array_spec(found.todo, max_parallel)}; {found.finished} finished, {found.busy} queued or "
        "training)"
    )
    console.print(f"  its script:     {kept}")
    console.print(f"  watch it:       mnist-tui sweep --status {sweep.path}")
    console.print(f"  its curves:     mnist-tui compare {sweep.path}")
    console.print(f"  its table:      mnist-tui sweep --report {sweep.path}")
    console.print(f"  tasks' output:  {sweep.path / sw.LOGS}/slurm-{job}_INDEX.out (each run's: logs/NAME.log)")
    console.print(f"  cancel it:      scancel {job}   (the same command with --slurm resubmits what is unfinished)")


def requeue(console: Console) -> int:
    """The run saved before the time limit: requeue this task (its next start resumes the run); the exit code:
    0, so that Slurm does not mark it failed, or the interrupted one where Slurm refuses."""
    why = slurm.requeue_self()
    if why is None:
        console.print("interrupted before the time limit: the task is requeued and its next start resumes the run")
        return 0
    console.print(f"interrupted before the time limit; not requeued ({why}): --slurm again resubmits it")
    return EXIT_INTERRUPTED
