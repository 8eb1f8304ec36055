"""A sweep without the app: a line per run started, resumed or ended, progress bars for the runs training,
and at the end the table per setting (``sweep_table``), which ``mnist-tui sweep --report`` prints too;
``list_plan``: ``--list``, the plan numbered for ``--only``.

The first SIGINT, SIGTERM or SIGHUP stops the sweep: nothing more starts, and each run being trained gets
one stop signal (it evaluates, saves and ends as ``interrupted``); the same sweep command resumes them.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..runs import sweep as sw
from ..runs.signals import ALL, on_signals


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _accuracy(stats: sw.Stats | None) -> tuple[str, str, str]:
    if stats is None:
        return "n/a", "n/a", "n/a"
    spread = "" if stats.std is None else f" ± {stats.std * 100:.2f}"
    return f"{stats.mean:.2%}{spread}", f"{stats.min:.2%}", f"{stats.max:.2%}"


def _seconds(stats: sw.Stats | None) -> tuple[str, str, str]:
    if stats is None:
        return "n/a", "n/a", "n/a"
    spread = "" if stats.std is None else f" ± {stats.std:.1f}"
    return f"{stats.mean:.1f} s{spread}", f"{stats.min:.1f} s", f"{stats.max:.1f} s"


def sweep_table(summaries: Sequence[sw.SettingSummary], target: float, title: str = "") -> Table:
    """Per setting: its finished runs, mean ± standard deviation (in points), min and max of their final test
    accuracy, and of their seconds of training to the first test evaluation at or above ``target`` (over the
    runs that reached it: how many did is its own column)."""
    table = Table(title=title or None, title_justify="left")
    table.add_column("setting")
    table.add_column("runs", justify="right")
    for name in ("final test accuracy", "min", "max", f"time to {target:.2%}", "min", "max", "reached"):
        table.add_column(name, justify="right")
    for s in summaries:
        table.add_row(
            Text(s.label),  # values as the user gave them: text, never markup
            f"{s.finished}/{s.planned}",
            *_accuracy(s.accuracy),
            *_seconds(s.time),
            f"{s.reached}/{s.finished}",
        )
    return table


def report(sweep: sw.SweepDirectory, plan: sw.SweepPlan, target: float, console: Console) -> list[sw.RunResult]:
    """Print the table of the sweep as its directory has it now, write its sweep.csv; the rows."""
    rows = sw.results(sweep, plan, target)
    try:
        wrote: str = f"wrote {sw.write_results(sweep, plan, rows, target)}"
    except sw.SweepError as exc:  # another user's sweep: read, not written into
        wrote = f"{sw.RESULTS} not written: {exc}"
    finished = sum(r.status == sw.Status.FINISHED for r in rows)
    console.print(
        sweep_table(sw.summarise(rows), target, f"Sweep {sweep.path}: {finished} of {len(rows)} runs finished")
    )
    others: dict[str, list[str]] = {}
    for r in rows:
        if r.status != sw.Status.FINISHED:
            others.setdefault(r.status, []).append(r.run.name)
    for status, names in others.items():
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        console.print(Text(f"{len(names)} {status}: {shown}"))
    console.print(Text(wrote, style="dim"))
    return rows


def list_plan(plan: sw.SweepPlan, sweep: sw.SweepDirectory, console: Console) -> int:
    """``--list``: each run of the plan, its index (for ``--only``) and its status now."""
    console.print(f"{len(plan.runs)} runs (--only 0 to {len(plan.runs) - 1}) in {sweep.path}")
    for r in plan.runs:
        status = sw.run_status(sweep.run_dir(r), sweep.log_path(r))[0]
        console.print(Text(f"{r.index:>5}  {status:<11}  {r.name}"))
    return 0


def run_sweep(
    runner: sw.SweepRunner,
    console: Console,
    *,
    target: float = sw.DEFAULT_TARGET,
    catch: tuple[str, ...] = ALL,
    ignore: tuple[str, ...] = (),
) -> int:
    """Drive ``runner``, showing each run's start and end and the training ones' progress; the exit code:
    0 when every run given to it is finished, 130 when a signal stopped the sweep, 1 otherwise."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    total = progress.add_task("[bold]sweep", total=len(runner.runs))
    bars: dict[str, TaskID] = {}
    tally = sw.Tally(len(runner.runs))

    def stop(signum: int) -> None:
        if not runner.stopping:
            progress.console.print(
                Text("stopping: each run saves and stops; the same sweep command resumes them", style="yellow")
            )
        runner.stop()

    def line(text: str, style: str | None = None) -> None:
        progress.console.print(Text(text, style=style or ""))

    with on_signals(stop, catch=catch, ignore=ignore), progress:
        for event in runner.events():
            tally.update(event)
            if isinstance(event, sw.RunKept):
                line(f"kept     {event.run.name} (finished before)", "dim")
            elif isinstance(event, sw.RunLaunched):
                where = f" on {event.device}" if event.device else ""
                why = {"resume": f" ({event.was})", "restart": f" ({event.was} before its first checkpoint)"}
                line(f"{event.action:<8} {event.run.name}{where}{why.get(event.action, '')}")
                bars[event.run.name] = progress.add_task(event.run.name, total=None)
            elif isinstance(event, sw.RunWaiting):
                line(f"waiting  {event.run.name}: process {event.pid or '?'} trains it", "yellow")
            elif isinstance(event, sw.RunLeft):
                line(f"left     {event.run.name}: {event.status}; {event.detail}", "yellow")
            elif isinstance(event, sw.RunEnded):
                if event.run.name in bars:
                    progress.remove_task(bars.pop(event.run.name))
                if event.status == sw.Status.FINISHED:
                    r = sw.result_of(runner.sweep, event.run, target)
                    reached = "not reached" if r.time_to_target is None else f"reached at {r.time_to_target:.1f} s"
                    line(
                        f"finished {event.run.name}: {r.reason}, final test accuracy {_pct(r.final_test_accuracy)}, "
                        f"{target:.2%} {reached}"
                    )
                else:
                    why = event.message or f"exit code {event.exit_code}"
                    line(f"{event.status:<8} {event.run.name}: {why}", "yellow" if runner.stopping else "red")
            elif isinstance(event, sw.Progress):
                for run, info in event.running:
                    if info is not None and run.name in bars and info.total_steps:
                        progress.update(bars[run.name], total=info.total_steps, completed=info.iteration or 0)
            progress.update(total, completed=tally.finished)
    return tally.exit_code(stopped=runner.stopping)
