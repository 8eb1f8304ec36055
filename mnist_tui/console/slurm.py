"""``mnist-tui sweep --status DIR``: where each run of a sweep is (queued, training on which node, how it
ended), as a table and a line of counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..runs import sweep as sw
from ..runs.sweep import slurm
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
