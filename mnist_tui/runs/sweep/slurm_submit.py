"""What ``mnist-tui sweep --slurm`` submits, decided on the login node before sbatch (slurm.py does the asking):
the resources each array task asks for (checked), the data set (found here once: the nodes read it from the
same place and never download), the runs that are neither finished nor queued nor training, and the command
each task runs, in the job array's script. A request that cannot be met is a SweepError (one line, exit 2)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import slurm
from .directory import SweepDirectory
from .plan import SweepError, SweepPlan
from .runs import Status

SET_HERE = ("--array", "-a", "--output", "-o", "--error", "-e", "--chdir", "-D")  # the runs, their logs


def check_resources(
    *,
    partition: str | None,
    time: str | None,
    gpus_per_task: int,
    cpus_per_task: int | None,
    max_parallel: int | None,
    sbatch_args: Sequence[str],
) -> slurm.Resources:
    """What each task asks of Slurm, as the options give it; SweepError where it cannot be asked."""
    if gpus_per_task not in (0, 1):
        raise SweepError(
            f"--gpus-per-task {gpus_per_task}: a run trains on one GPU; give 0 or 1 (--max-parallel K runs K at once)"
        )
    for option, value in (("--cpus-per-task", cpus_per_task), ("--max-parallel", max_parallel)):
        if value is not None and value < 1:
            raise SweepError(f"{option} {value}: expected 1 or more")
    if time is not None:
        try:
            slurm.check_time(time)
        except ValueError as exc:
            raise SweepError(str(exc)) from None
    for arg in sbatch_args:
        if not arg.startswith("-") or "\n" in arg:
            raise SweepError(f"--sbatch-arg {arg!r}: expected one sbatch option, such as --sbatch-arg=--account=abc")
        if arg.split("=")[0] in SET_HERE:
            raise SweepError(f"--sbatch-arg {arg}: --slurm sets {arg.split('=')[0]} itself (the runs, their logs)")
    return slurm.Resources(
        partition=partition,
        time=time,
        gpus_per_task=gpus_per_task,
        cpus_per_task=cpus_per_task,
        max_parallel=max_parallel,
        sbatch_args=tuple(sbatch_args),
    )


def data_environment(plan: SweepPlan) -> tuple[dict[str, str], list[str]]:
    """The data set, found (or fetched) here on the login node and checked once: the environment that makes
    every task read it from the same place and never download, and the lines that say where it is. A data set
    not found is a SweepError."""
    from ...engine import data
    from ...engine.data.catalogue import CACHE_ENV, cache_dir
    from ...engine.data.fetch import OFFLINE_ENV

    config: dict[str, Any] = plan.base or (plan.runs[0].config if plan.runs else {})
    dataset, data_dir = config.get("dataset", "mnist"), config.get("data_dir")
    try:
        resolved = data.resolve(dataset, data_dir, allow_download=True)
    except data.DataError as exc:
        raise SweepError(f"the data set, checked here before submitting: {exc}") from None
    lines = [f"data: {resolved.name} from {resolved.source} (the nodes read it there: it must be on shared storage)"]
    first = next(iter(resolved.files.values()), None)
    note = slurm.local_note("the data set", Path(first).parent) if first else None
    if note:
        lines.append(note)
    return {OFFLINE_ENV: "1", CACHE_ENV: str(cache_dir().absolute())}, lines


@dataclass(frozen=True)
class Unfinished:
    """Where each run of the sweep is before a submission, and what to submit: the task indices (the command's
    own plan numbers them) of the runs neither finished, nor queued, nor training, nor damaged."""

    states: list[slurm.Whereabouts]
    todo: list[int]
    busy: int  # queued or training
    damaged: list[slurm.Whereabouts]
    finished: int


def unfinished(sweep: SweepDirectory, plan: SweepPlan, *, group_read: bool) -> Unfinished:
    """The plan written into the sweep (grown, under its lock; refused while a sweep trains in this directory:
    it would race the tasks) and each of its runs' state, from the run directories and Slurm's queue."""
    sweep.check_free()
    merged = sweep.update_plan(plan)
    if group_read:
        sweep.share_with_group()
    queue = slurm.read_queue(sweep, merged.runs, slurm.submitted_jobs(sweep))
    # The tasks run this command: its own plan numbers them (a sweep grown since numbers its runs otherwise).
    states = slurm.whereabouts(sweep, plan.runs, queue)
    return Unfinished(
        states=states,
        todo=[w.run.index for w in states if w.state in (Status.MISSING, *Status.TO_RESUME)],  # type: ignore[attr-defined]
        busy=sum(w.state in (slurm.QUEUED_STATE, slurm.STARTING, slurm.TRAINING) for w in states),
        damaged=[w for w in states if w.state == Status.DAMAGED],
        finished=sum(w.state == Status.FINISHED for w in states),
    )


def task_command(sweep_args: Sequence[str], given: set[str], resources: slurm.Resources, *, python: str) -> list[str]:
    """What each array task runs: the sweep command (``sweep_args``: its arguments after ``mnist-tui``, its
    directory's --run-dir among them) on the task's CPUs (its GPU where it asks for one), ending with ``--only``.
    ``given``: the training options the command gives itself."""
    task = [python, "-m", "mnist_tui", *sweep_args]
    if resources.gpus_per_task == 0 and "device" not in given:
        task += ["--devices", "cpu"]  # no GPU asked for: none used (a node's GPUs are other tasks')
    if "threads" not in given:  # the CPUs Slurm gives the task, not every core of a node that others share
        task += ["--threads", str(resources.cpus_per_task or 1)]
    return [*task, "--only"]


def sweep_script(
    sweep: SweepDirectory,
    sweep_args: Sequence[str],
    given: set[str],
    todo: Sequence[int],
    resources: slurm.Resources,
    environment: dict[str, str],
    *,
    python: str,
    workdir: str | os.PathLike,
) -> str:
    """The job array's script for the runs ``todo`` of the sweep: each task is the sweep command with ``--only``
    its index, run by ``python`` from ``workdir``."""
    task = task_command(sweep_args, given, resources, python=python)
    name = f"mnist-tui-{sweep.path.name}"[:64]
    return slurm.batch_script(sweep, task, todo, resources, name=name, environment=environment, workdir=workdir)
