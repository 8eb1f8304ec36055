"""A sweep on a Slurm cluster: its unfinished runs submitted as one job array (``sbatch``), and the queue read
back (``squeue``) beside the run directories, which say the rest.

    SWEEP_DIR/
      slurm/JOBID.sbatch     the script of each submission, as submitted (the job id names it)
      slurm/JOBID.runs.json  the run each of its task indices trains (its command's own plan numbers them)
      logs/slurm-JOBID_INDEX.out   each array task's own output (its run's full output: logs/NAME.log)

Each array task is ``mnist-tui sweep [the sweep's options] --run-dir SWEEP_DIR --only $SLURM_ARRAY_TASK_ID``:
it decides its run under the run's locks (runs.py) as any sweep does, so a task given again resumes its run, a
finished run ends the task at once, and a run that another task trains is left alone. The sweep directory
must be on a file system that every node sees and whose flock works across nodes.

The stdlib (and the package's own signal handling): sbatch, squeue and scontrol are the interface, as a user
would type them. What --slurm submits is decided in slurm_submit.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...engine.files import atomic_write
from ..signals import on_signals
from .directory import LOGS, SLURM, SweepDirectory, check_private, read_bounded
from .plan import SweepError

SCRIPT_SUFFIX = ".sbatch"
RUNS_SUFFIX = ".runs.json"  # the run each task index trains
TIME_SIGNAL = "USR1"  # sent by Slurm before the time limit (--signal): the task saves its run and requeues itself
SIGNAL_SECONDS = 90  # how long before the time limit: a run evaluates and writes a checkpoint in that time
QUEUED = ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED")
ON_NODE = ("RUNNING", "CONFIGURING", "COMPLETING", "SIGNALING", "STAGE_OUT", "RESIZING")
COMMAND_SECONDS = 30  # a Slurm command that does not answer in this time: the controller is unreachable


@dataclass(frozen=True)
class Resources:
    """What each array task asks of Slurm (one run, on one GPU at most); None: the cluster's default."""

    partition: str | None = None
    time: str | None = None  # --time: minutes, MM:SS, HH:MM:SS or D-HH:MM:SS
    gpus_per_task: int = 0
    cpus_per_task: int | None = None
    max_parallel: int | None = None  # at most this many tasks at once (%K)
    sbatch_args: tuple[str, ...] = field(default_factory=tuple)  # more sbatch options, as given


@dataclass(frozen=True)
class QueuedTask:
    """One array task in Slurm's queue: its job, its state and the node it runs on (or why it waits)."""

    job: str
    index: int
    state: str  # PENDING, RUNNING, ... as squeue says
    node: str  # the node it runs on, "" while it waits
    reason: str  # why it waits (Resources, Priority, ...), "None" while it runs

    @property
    def queued(self) -> bool:
        return self.state in QUEUED

    @property
    def on_node(self) -> bool:
        return self.state in ON_NODE


def which(name: str) -> str | None:
    return shutil.which(name)


def array_spec(indices: Iterable[int], max_parallel: int | None = None) -> str:
    """``0-2,5,7-8%2``: the indices as ranges, and at most ``max_parallel`` tasks at once."""
    ordered = sorted(set(indices))
    parts: list[str] = []
    start = prev = None
    for i in ordered:
        if prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        start = prev = i
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ",".join(parts) + (f"%{max_parallel}" if max_parallel else "")


def check_time(text: str) -> str:
    """Slurm's --time forms (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS); ValueError otherwise."""
    if not re.fullmatch(r"\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2}", text):
        raise ValueError(f"--time {text}: expected minutes, MM:SS, HH:MM:SS or D-HH:MM:SS (such as 0:30:00)")
    return text


def time_seconds(text: str) -> int:
    days, _, rest = text.rpartition("-") if "-" in text else ("", "", text)
    parts = [int(p) for p in rest.split(":")]
    if days:  # D-HH, D-HH:MM, D-HH:MM:SS
        parts += [0] * (3 - len(parts))
        h, m, s = parts
        return ((int(days) * 24 + h) * 60 + m) * 60 + s
    if len(parts) == 1:
        return parts[0] * 60
    if len(parts) == 2:
        return parts[0] * 60 + parts[1]
    return (parts[0] * 60 + parts[1]) * 60 + parts[2]


def batch_script(
    sweep: SweepDirectory,
    task: Sequence[str],
    indices: Sequence[int],
    resources: Resources,
    *,
    name: str,
    environment: dict[str, str],
    workdir: str | os.PathLike,
) -> str:
    """The job array's script: one run of the sweep per task (``task`` ends with ``--only``; the task's index
    is appended), its output in the sweep's logs, the environment each node needs."""
    out = sweep.path / LOGS / "slurm-%A_%a.out"
    lines = [
        "#!/bin/bash",
        f"# mnist-tui sweep {sweep.path}: one run of the sweep per array task (its index is --only).",
        f"#SBATCH --job-name={name}",
        f"#SBATCH --array={array_spec(indices, resources.max_parallel)}",
        "#SBATCH --ntasks=1",
        f"#SBATCH --output={out}",
        "#SBATCH --open-mode=append",
        f"#SBATCH --chdir={workdir}",
        "#SBATCH --requeue",
    ]
    if resources.partition:
        lines.append(f"#SBATCH --partition={resources.partition}")
    if resources.time:
        lines.append(f"#SBATCH --time={resources.time}")
        seconds = min(SIGNAL_SECONDS, max(10, time_seconds(resources.time) // 4))
        lines.append(f"#SBATCH --signal=B:{TIME_SIGNAL}@{seconds}")
    if resources.gpus_per_task:
        lines.append(f"#SBATCH --gpus-per-task={resources.gpus_per_task}")
    if resources.cpus_per_task:
        lines.append(f"#SBATCH --cpus-per-task={resources.cpus_per_task}")
    lines += [f"#SBATCH {arg}" for arg in resources.sbatch_args]
    lines += [
        "",
        "# The data set was found on the login node; the nodes read it from the same place, never download.",
        *(f"export {key}={shlex.quote(value)}" for key, value in sorted(environment.items())),
        "# 'exec': the task's process is the sweep task itself, so Slurm's signals reach it: SIGTERM (scancel,",
        f"# preemption) saves the run and ends it interrupted; SIG{TIME_SIGNAL} (the time limit is near) saves it",
        "# and requeues the task, whose next start resumes the run.",
        f'exec {shlex.join(task)} "$SLURM_ARRAY_TASK_ID"',
        "",
    ]
    return "\n".join(lines)


def _slurm(args: Sequence[str], what: str) -> subprocess.CompletedProcess:
    path = which(args[0])
    if path is None:
        raise SweepError(f"{args[0]} not found: {what} needs Slurm's commands on this machine's PATH")
    try:
        return subprocess.run(
            [path, *args[1:]],
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SweepError(
            f"{args[0]} did not answer in {COMMAND_SECONDS} s: is the Slurm controller reachable?"
        ) from None
    except OSError as exc:
        raise SweepError(f"{args[0]}: cannot run ({exc.strerror or exc})") from None


def _last_error(result: subprocess.CompletedProcess) -> str:
    """The line of a Slurm command's output that says what went wrong (its error, else its last line)."""
    lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "unrecognized" in line or "invalid" in line]
    return (errors or lines or [f"exit code {result.returncode}"])[-1]


def scripts_dir(sweep: SweepDirectory) -> Path:
    return sweep.path / SLURM


def submit(sweep: SweepDirectory, script: str, runs: dict[int, str]) -> tuple[str, Path]:
    """``sbatch`` the script; the job id and where the script is kept (``slurm/JOBID.sbatch``). ``runs``: the
    run each task index trains (the task's own plan numbers them: a sweep grown since numbers them otherwise),
    kept in ``slurm/JOBID.runs.json`` for reading the queue back."""
    folder = scripts_dir(sweep)
    sweep.make()
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise SweepError(f"{folder}: cannot write ({exc.strerror or exc})") from None
    check_private(folder, inside=True)
    pending = folder / f".submitting-{os.getpid()}{SCRIPT_SUFFIX}"
    fd = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o700)
    with os.fdopen(fd, "w") as f:
        f.write(script)
    result = _slurm(["sbatch", "--parsable", str(pending)], "--slurm")
    if result.returncode != 0:
        pending.unlink(missing_ok=True)
        raise SweepError(f"sbatch refused the job array: {_last_error(result)}")
    job = result.stdout.strip().split(";")[0]
    if not job.isdigit():
        pending.unlink(missing_ok=True)
        raise SweepError(f"sbatch answered {result.stdout.strip()!r}, not a job id")
    kept = folder / f"{job}{SCRIPT_SUFFIX}"
    os.replace(pending, kept)
    text = json.dumps({"job": job, "runs": {str(i): name for i, name in sorted(runs.items())}}, indent=1)
    try:
        atomic_write(folder / f"{job}{RUNS_SUFFIX}", lambda f: f.write(text.encode()))
    except OSError:
        pass  # the queue is then read by the sweep's own numbering
    return job, kept


def task_runs(sweep: SweepDirectory, job: str) -> dict[int, str] | None:
    """The run each task index of ``job`` trains, as submitted; None where that was not kept."""
    try:
        data = json.loads(read_bounded(scripts_dir(sweep) / f"{job}{RUNS_SUFFIX}", 64 << 20))
        return {int(i): str(name) for i, name in dict(data["runs"]).items()}
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return None


def submitted_jobs(sweep: SweepDirectory) -> list[str]:
    """The job ids of the sweep's submissions, oldest first."""
    try:
        names = [p.name for p in scripts_dir(sweep).iterdir()]
    except OSError:
        return []
    jobs = [n.removesuffix(SCRIPT_SUFFIX) for n in names if n.endswith(SCRIPT_SUFFIX)]
    return sorted((j for j in jobs if j.isdigit()), key=int)


def _indices(text: str) -> list[int]:
    """``4``, ``[5-7%2]``, ``[1,3-4]``: the task indices squeue prints after ``JOB_``."""
    text = text.strip("[]").split("%")[0]
    found: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            found.extend(range(int(low), int(high or low) + 1))
    return found


def read_queue(sweep: SweepDirectory, runs: Sequence, jobs: Sequence[str]) -> dict[str, QueuedTask] | None:
    """The sweep's array tasks in Slurm's queue now, by the name of the run each trains (a later submission's
    task wins); None where Slurm cannot be asked (no squeue here, no controller). ``runs``: the sweep's plan,
    for a submission whose numbering was not kept."""
    by_index = read_queue_indices(jobs)
    if by_index is None:
        return None
    numbering = {job: task_runs(sweep, job) for job in jobs}
    plan = {r.index: r.name for r in runs}
    tasks: dict[str, QueuedTask] = {}
    for task in by_index:
        name = (numbering.get(task.job) or plan).get(task.index)
        if name is not None:
            tasks[name] = task
    return tasks


def read_queue_indices(jobs: Sequence[str]) -> list[QueuedTask] | None:
    """The array tasks of ``jobs`` in Slurm's queue now, oldest job first; None where Slurm cannot be asked."""
    if not jobs or which("squeue") is None:
        return None if which("squeue") is None else []
    try:
        result = _slurm(["squeue", "--noheader", "--array", "--me", "--format=%i|%T|%N|%r"], "--status")
    except SweepError:
        return None
    if result.returncode != 0:
        return None
    order = {job: n for n, job in enumerate(jobs)}
    tasks: list[QueuedTask] = []
    for line in result.stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 4:
            continue
        jobid, state, node, reason = fields
        job, underscore, rest = jobid.partition("_")
        if not underscore or job not in order:
            continue
        for index in _indices(rest):
            tasks.append(QueuedTask(job, index, state.split()[0], node.strip(), reason.strip()))
    return sorted(tasks, key=lambda t: order[t.job])


def requeue_self() -> str | None:
    """In an array task: ask Slurm to requeue this task (its next start resumes the run); None when done,
    else why not."""
    job, index = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if not job or not index:
        return "not a Slurm array task"
    try:
        result = _slurm(["scontrol", "requeue", f"{job}_{index}"], "requeueing")
    except SweepError as exc:
        return str(exc)
    return None if result.returncode == 0 else _last_error(result)


@contextlib.contextmanager
def on_time_limit(stop: Callable[[], None]) -> Iterator[list[int]]:
    """In an array task, the signal that the script asks for before the time limit (SIG``TIME_SIGNAL``) calls
    ``stop`` (the run then saves and ends interrupted, as on SIGTERM); the list it yields says whether it came.
    Outside an array task it changes nothing."""
    came: list[int] = []
    if not os.environ.get("SLURM_ARRAY_TASK_ID"):
        yield came
        return

    def handler(signum: int) -> None:
        came.append(signum)
        stop()

    with on_signals(handler, catch=(f"SIG{TIME_SIGNAL}",)):
        yield came


def check_nodes(resources: Resources) -> str | None:
    """Why no node of the partition could ever run a task as asked (too few CPUs, no GPU), else None; None
    too where sinfo cannot say."""
    if which("sinfo") is None:
        return None
    args = ["sinfo", "--noheader", "--format=%c|%G|%P"]
    if resources.partition:
        args.append(f"--partition={resources.partition}")
    try:
        result = _slurm(args, "--slurm")
    except SweepError:
        return None
    if result.returncode != 0:
        return None
    rows = [line.split("|") for line in result.stdout.splitlines() if line.count("|") == 2]
    where = f"partition {resources.partition}" if resources.partition else "the default partition"
    if not rows:
        return f"Slurm has no nodes in {where}" if resources.partition else None
    cpus = max((int(c.rstrip("+")) for c, _, _ in rows if c.rstrip("+").isdigit()), default=0)
    if resources.cpus_per_task and cpus and resources.cpus_per_task > cpus:
        return (
            f"--cpus-per-task {resources.cpus_per_task}: the largest node of {where} has {cpus} CPUs, so the "
            f"tasks would wait forever; ask for {cpus} or fewer"
        )
    if resources.gpus_per_task and not any("gpu" in g for _, g, _ in rows):
        return (
            f"--gpus-per-task {resources.gpus_per_task}: no node of {where} has GPUs (gres gpu); "
            f"choose a GPU partition with --partition, or train on CPUs without --gpus-per-task"
        )
    return None


@dataclass(frozen=True)
class Whereabouts:
    """What a run of the sweep is doing now, from its directory and, where Slurm answers, its queue."""

    run: object  # PlannedRun
    state: str  # queued, starting, training, finished, interrupted, crashed, failed, missing, damaged
    where: str  # the node it trains on, or why it waits; "" otherwise
    progress: float | None  # 0..1 of its steps, where known
    task: QueuedTask | None


QUEUED_STATE, STARTING, TRAINING = "queued", "starting", "training"


def whereabouts(sweep: SweepDirectory, runs: Sequence, queue: dict[str, QueuedTask] | None) -> list[Whereabouts]:
    """Each run's state: a run whose lock or claim is held trains (on the node its process.json names: the
    run's flock is seen from every node of the shared file system); else a task in the queue says queued or
    starting; else the run's files say how it ended."""
    from ..rundir import RunDirectory
    from .runs import Status, run_status

    found: list[Whereabouts] = []
    for run in runs:
        status, info = run_status(sweep.run_dir(run), sweep.log_path(run))
        task = (queue or {}).get(run.name)
        progress = info.progress if info is not None else None
        if status == Status.RUNNING:
            host = ""
            try:
                host = str((RunDirectory(sweep.run_dir(run)).read_process() or {}).get("host") or "")
            except (OSError, ValueError, RecursionError):
                host = ""
            found.append(Whereabouts(run, TRAINING, host or (task.node if task else ""), progress, task))
        elif task is not None and task.queued and status != Status.FINISHED:
            found.append(Whereabouts(run, QUEUED_STATE, task.reason, progress, task))
        elif task is not None and task.on_node and status != Status.FINISHED:
            found.append(Whereabouts(run, STARTING, task.node, progress, task))
        else:
            found.append(Whereabouts(run, status, "", progress, task))
    return found


NETWORK_FILE_SYSTEMS = ("nfs", "nfs4", "lustre", "gpfs", "beegfs", "cephfs", "ceph", "glusterfs", "fuse.glusterfs",
                        "panfs", "wekafs", "fuse.sshfs", "cifs", "smb3", "9p", "virtiofs")  # fmt: skip


def file_system(path: str | os.PathLike) -> str | None:
    """The type of the file system that holds ``path`` (from /proc/self/mounts), or None where unknown."""
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as f:
            mounts = [line.split() for line in f.read(1 << 20).splitlines()]
    except OSError:
        return None
    real = os.path.realpath(path)
    best, kind = "", None
    for fields in mounts:
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def local_note(what: str, path: str | os.PathLike) -> str | None:
    """A note where ``path`` (or the directory it will be made in) is on a file system of this machine only
    (a node would not see it)."""
    there = Path(path)
    while not there.exists() and there.parent != there:
        there = there.parent
    kind = file_system(there)
    if kind is None or kind in NETWORK_FILE_SYSTEMS:
        return None
    return (
        f"note: {what} {path} is on a local file system ({kind}); on a cluster of several nodes it must be on "
        f"one that every node sees"
    )
