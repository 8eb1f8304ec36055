"""``mnist-tui sweep [training options] --seeds 0-4 [--grid OPTION=V1,V2 ...]``: every combination of the grid
and the seeds as an ordinary run, all in one sweep directory, then a table per setting; the same command
resumes it. ``--report DIR`` prints the table of a sweep; ``--only INDEX`` runs one run of it (a cluster task);
``--slurm`` submits the runs not finished as one Slurm job array and returns; ``--status DIR`` says where each run
is (queued, training on which node, how it ended)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from ..engine.errors import InputError
from ..engine.events import EXIT_INTERRUPTED
from . import train
from .common import ArgumentParser, fail, float_arg, int_arg, interactive


class SweepParser(ArgumentParser):
    """Parses the sweep's own options and leaves every other one, in order, in ``training`` for the training
    parser (which then checks them as ``mnist-tui`` does)."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        namespace, rest = super().parse_known_args(args, namespace)
        namespace.training = rest
        return namespace, []


def parser() -> ArgumentParser:
    p = SweepParser(
        prog="mnist-tui sweep",
        description="Train every combination of --grid and --seeds as an ordinary run (its own run directory), "
        "all in one sweep directory with sweep.json (the plan) and sweep.csv (one row per run), then print a "
        "table per setting: mean ± standard deviation, min and max of the final test accuracy and of the time "
        "to --target. Interrupted (Ctrl+C, a dropped SSH session, kill), the same command resumes it: finished "
        "runs are kept, interrupted ones resume exactly, missing ones start. More --seeds or --grid values extend a "
        "sweep (its finished runs kept); other training options are another sweep.",
        epilog="Training options: any option of 'mnist-tui' (see 'mnist-tui --help'), shared by every run, "
        "except --seed (use --seeds) and --resume (give the same sweep command again).\n\n"
        "  mnist-tui sweep --preset fast --seeds 0-4 --run-dir runs/fast-sweep\n"
        "  mnist-tui sweep --preset fast --seeds 0,1 --grid lr=3e-3,1e-2 --grid batch-size=128,256 --run-dir runs/lr\n"
        "  mnist-tui sweep --report runs/lr --target 0.99",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # a prefix of a training option must reach the training parser whole
    )
    p.add_argument("--seeds", default="0", help="a range (0-4), a list (0,1,7) or both (0-2,7) (default: 0)")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="OPTION=V1,V2",
        help="a training option and its values, such as lr=1e-3,3e-3 or early-stopping=on,off; repeat it for "
        "more options: every combination runs",
    )
    p.add_argument(
        "--devices",
        help="cuda:0,cuda:1,... or cpu: one run at a time on each, at once (default: one run at a time, on --device)",
    )
    p.add_argument(
        "--target",
        type=fraction_arg,
        help="test accuracy for the time-to-target columns, as a fraction (default: 0.99)",
    )
    p.add_argument(
        "--run-dir",
        help="the sweep directory (default: sweep-KEY under the runs directory, KEY from the sweep's training "
        "options and grid options: the same command, or one with more seeds or grid values, finds it again)",
    )
    p.add_argument(
        "--only",
        type=int_arg,
        metavar="INDEX",
        help="train only run INDEX of the plan (from 0; --list numbers them): one task of a cluster job array",
    )
    p.add_argument("--list", action="store_true", help="print the plan (index, status, run) and train nothing")
    p.add_argument(
        "--report", metavar="DIR", help="print the table of the sweep in DIR and write its sweep.csv; train nothing"
    )
    p.add_argument("--headless", action="store_true", help="progress lines and the table, never the app")
    p.add_argument(
        "--detach", action="store_true", help="run the sweep in a background process that outlives this terminal"
    )
    p.add_argument("--background", action="store_true", help=argparse.SUPPRESS)  # the detached sweep itself
    p.add_argument(
        "--group-read",
        action="store_true",
        help="let your group read the sweep (its table, curves, runs): directories g+rx, files g+r, as each run "
        "ends; never group-writable (a sweep refuses a directory others can write to)",
    )
    p.add_argument(
        "--status",
        metavar="DIR",
        help="say where each run of the sweep in DIR is: queued, training (on which "
        "node), finished, interrupted or failed (from Slurm's queue where it answers, and the run directories)",
    )
    s = p.add_argument_group(
        "Slurm",
        "--slurm submits the runs that are not finished as one job array (one run per task) and returns; "
        "the sweep directory must be on a file system every node sees (see docs/slurm.md)",
    )
    s.add_argument("--slurm", action="store_true", help="submit the sweep to Slurm (sbatch) instead of training here")
    s.add_argument("--partition", help="the partition (default: the cluster's default)")
    s.add_argument("--time", help="each task's time limit (minutes, HH:MM:SS, D-HH:MM:SS); near it, the run "
                   "saves and the task requeues itself")  # fmt: skip
    s.add_argument("--gpus-per-task", type=int_arg, default=0, metavar="N",
                   help="0 (default: the runs train on CPU) or 1: one GPU per task, one run per GPU")  # fmt: skip
    s.add_argument("--cpus-per-task", type=int_arg, metavar="N", help="CPUs per task (default: the cluster's)")
    s.add_argument("--max-parallel", type=int_arg, metavar="K", help="at most K tasks at once (--array=...%%K)")
    s.add_argument("--sbatch-arg", action="append", default=[], metavar="ARG",
                   help="one more sbatch option, as in an #SBATCH line (--sbatch-arg=--account=abc); repeat it")  # fmt: skip
    return p


def fraction_arg(text: str) -> float:
    value = float_arg(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction above 0 and at most 1 (0.99 for 99%), got {text!r}")
    return value


def plan_sweep(args: argparse.Namespace):
    """The plan of the command line's sweep (runs/sweep/grid.py): every combination's training options and the
    config they make (each checked as 'mnist-tui' checks its options: a bad one is one line and exit code 2)."""
    from ..runs.sweep import SweepError, grid

    train_parser = train.parser()
    base = train_parser.parse_args(args.training)
    given = set(vars(base))
    if "seed" in given:
        fail("--seed: a sweep takes --seeds (a range such as 0-4 or a list such as 0,1,7)")
    if "resume" in given:
        fail("--resume: give the same sweep command again to resume a sweep (its interrupted runs resume exactly)")
    if args.devices and "device" in given:
        fail("--device and --devices: give one (--devices runs one process per device)")
    try:
        seeds = grid.parse_seeds(args.seeds)
        options = grid.parse_grid(args.grid, train_parser, given)
        return grid.plan_runs(
            args.training,
            seeds,
            options,
            base=train.config_from_args(base),
            config_of=lambda run_args: train.config_from_args(train_parser.parse_args(run_args)),
            command=shlex.join(_argv(args)),
        )
    except SweepError as exc:
        fail(str(exc))


def _argv(args: argparse.Namespace, *, run_dir: str | None = None) -> list[str]:
    """The sweep's command line (to show, and for the background process of ``--detach``)."""
    argv = ["mnist-tui", "sweep", *args.training, "--seeds", args.seeds]
    for text in args.grid:
        argv += ["--grid", text]
    if args.devices:
        argv += ["--devices", args.devices]
    if args.target is not None:
        argv += ["--target", repr(args.target)]
    if run_dir or args.run_dir:
        argv += ["--run-dir", str(run_dir or args.run_dir)]
    if args.group_read:
        argv += ["--group-read"]
    return argv


def _devices(args: argparse.Namespace) -> list[str | None]:
    if not args.devices:
        return [None]
    from ..runs.sweep import check_devices

    devices = [d.strip() for d in args.devices.split(",")]
    if "" in devices:
        fail(f"--devices {args.devices}: an empty device in the list")
    try:
        check_devices(devices)
    except (InputError, ValueError) as exc:
        fail(f"--devices {args.devices}: {exc}")
    return list(devices)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..runs import sweep as sw

    console = Console(width=None if sys.stdout.isatty() else 200)
    if args.report is not None:
        return report(args, console)
    if args.status is not None:
        return status(args, console)
    slurm_only = [o for o, v in (("--partition", args.partition), ("--time", args.time), ("--gpus-per-task",
                  args.gpus_per_task), ("--cpus-per-task", args.cpus_per_task), ("--max-parallel",
                  args.max_parallel), ("--sbatch-arg", args.sbatch_arg)) if v]  # fmt: skip
    if slurm_only and not args.slurm:
        fail(f"{slurm_only[0]} is an option of --slurm; add --slurm to submit the sweep to Slurm")
    plan = plan_sweep(args)
    # Without --run-dir, the sweep's directory is named after it: the same command finds it again.
    try:
        sweep = sw.SweepDirectory(args.run_dir or sw.default_sweep_dir(plan))
        sweep.check_plan(plan)  # reads only: another sweep's directory is refused before anything is written
    except sw.SweepError as exc:
        fail(str(exc))
    if args.list:
        from ..console.sweep import list_plan

        return list_plan(plan, sweep, console)
    if args.slurm:
        return submit_slurm(args, plan, sweep, console)
    if args.only is not None and not 0 <= args.only < len(plan.runs):
        n = len(plan.runs)
        fail(f"--only {args.only}: the sweep has {n} run{'s' if n != 1 else ''}, numbered 0 to {n - 1}")
    devices = _devices(args)
    target = sw.DEFAULT_TARGET if args.target is None else args.target
    again = shlex.join(_argv(args, run_dir=str(sweep.path) if args.run_dir else None))
    try:
        if args.detach:
            sweep.check_free()
            return sw.launch_detached([*_argv(args, run_dir=str(sweep.path))[1:], "--headless", "--background"], sweep)
        if args.only is None:
            # Before sweep.json: a second sweep, refused, writes nothing.
            sweep.lock("detached" if args.background else "foreground")
        sweep.update_plan(plan)  # under its own lock: a cluster's tasks may all grow it at once
        if args.group_read:
            sweep.share_with_group()
        if args.background:
            sw.leave_terminal(sweep)
    except sw.SweepError as exc:
        sweep.close()
        fail(str(exc))
    try:
        if args.only is not None:
            return run_one(sweep, plan.runs[args.only], devices[0], console, target)
        runner = sw.SweepRunner(sweep, plan.runs, devices)
        console.print(f"Sweep of {len(plan.runs)} run{'s' if len(plan.runs) != 1 else ''} in {sweep.path}")
        console.print(f"  to resume it: {again}")
        if args.headless or args.background or not interactive():
            background = {"catch": ("SIGTERM", "SIGINT"), "ignore": ("SIGHUP",)} if args.background else {}
            code = _drive(runner, console, target, **background)
        else:
            from ..ui.apps.sweep_app import run_sweep_app

            code = _drive(runner, console, target, app=run_sweep_app)
        if runner.not_started is None:
            from ..console.sweep import report as print_report

            print_report(sweep, sweep.read_plan() or plan, target, console)
        if runner.stopping and runner.not_started is None:
            console.print(f"stopped; the same command resumes it: {again}")
        return code
    except sw.SweepError as exc:
        fail(str(exc))
    finally:
        if args.group_read:
            sweep.share_with_group()  # what the runs wrote (their files are private as they are written)
        sweep.close()


def _drive(runner, console, target: float, app=None, **signals: Any) -> int:
    """The sweep in the compare view (``app``) or as progress lines; a run that could not start is one line."""
    from ..console.sweep import run_sweep

    if app is not None:
        code = app(runner).exit_code(stopped=runner.stopping)
    else:
        code = run_sweep(runner, console, target=target, **signals)
    if runner.not_started is not None:  # a run could not start (bad data, ...): nor would the others
        message, code = runner.not_started
        print(f"mnist-tui: error: {message}", file=sys.stderr)
    return code


def run_one(sweep, run, device: str | None, console, target: float) -> int:
    """``--only``: train (or resume, or keep) that one run, decided under its locks as the sweep decides, its
    output in the sweep's logs/NAME.log and a line per step here. A run that another process trains is left
    to it (exit code 1). The run's process is in a session of its own: a scheduler's SIGTERM (the time limit,
    scancel) reaches this process, which forwards one to it; it saves and ends ``interrupted``. In a Slurm
    array task, the signal before the time limit stops it likewise, and the task then requeues itself."""
    from ..console.slurm import requeue
    from ..runs import sweep as sw
    from ..runs.sweep import slurm

    runner = sw.SweepRunner(sweep, [run], [device], wait=False)
    console.print(f"run {run.index} of the sweep in {sweep.path}: {run.name} (its output: {sweep.log_path(run)})")
    with slurm.on_time_limit(runner.stop) as near_limit:
        code = _drive(runner, console, target)
    if near_limit and code == EXIT_INTERRUPTED:
        return requeue(console)
    return code


def _read_sweep(option: str, path: str, given, refusal: str, show) -> None:
    """``option PATH`` (--report, --status): one line and exit 2 when another option came with it (``given``:
    (option, whether given) pairs) or PATH holds no sweep; else ``show(sweep, plan)``."""
    from ..runs import sweep as sw

    others = [o for o, was_given in given if was_given]
    if others:
        fail(f"{option} {refusal} {others[0]}")
    if not Path(path).expanduser().is_dir():
        fail(f"{option} {path}: no such directory")
    try:
        sweep = sw.SweepDirectory(path)
        plan = sweep.read_plan()
        if plan is None:
            fail(f"{option} {path}: no sweep.json there; is it a sweep directory?")
        show(sweep, plan)
    except sw.SweepError as exc:
        fail(str(exc))


def report(args: argparse.Namespace, console) -> int:
    from ..console.sweep import report as print_report
    from ..runs import sweep as sw

    given = (("training options", args.training), ("--grid", args.grid), ("--devices", args.devices),
             ("--only", args.only is not None), ("--detach", args.detach), ("--list", args.list),
             ("--run-dir", args.run_dir), ("--seeds", args.seeds != "0"))  # fmt: skip
    target = sw.DEFAULT_TARGET if args.target is None else args.target
    _read_sweep("--report", args.report, given, "reads a sweep and trains nothing; give it only --target, not",
                lambda sweep, plan: print_report(sweep, plan, target, console))  # fmt: skip
    return 0


# --- Slurm (runs/sweep/slurm.py asks Slurm, runs/sweep/slurm_submit.py decides, console/slurm.py prints) ----------
def _resources(args: argparse.Namespace):
    from ..runs.sweep import SweepError, slurm_submit

    try:
        return slurm_submit.check_resources(
            partition=args.partition,
            time=args.time,
            gpus_per_task=args.gpus_per_task,
            cpus_per_task=args.cpus_per_task,
            max_parallel=args.max_parallel,
            sbatch_args=args.sbatch_arg,
        )
    except SweepError as exc:
        fail(str(exc))


def submit_slurm(args: argparse.Namespace, plan, sweep, console) -> int:
    """``--slurm``: the runs not finished (nor queued, nor training) as one job array; the job id and where to
    watch it, then return."""
    from ..console import slurm as printed
    from ..runs import sweep as sw
    from ..runs.sweep import slurm, slurm_submit

    given = [o for o, v in (("--devices", args.devices), ("--detach", args.detach), ("--only", args.only is not None),
                            ("--headless", args.headless)) if v]  # fmt: skip
    if given:
        fail(f"--slurm and {given[0]}: Slurm runs one run per task, on the GPU it gives the task")
    resources = _resources(args)
    if slurm.which("sbatch") is None:
        fail("--slurm: sbatch not found; submit from a machine with Slurm's commands (a login node)")
    why = slurm.check_nodes(resources)
    if why:
        fail(why)
    try:
        environment, lines = slurm_submit.data_environment(plan)
        print(*lines, sep="\n")
        note = slurm.local_note("the sweep directory", sweep.path)
        if note:
            print(note)
        found = slurm_submit.unfinished(sweep, plan, group_read=args.group_read)
        if printed.not_submitted(sweep, found, console):
            return 0
        script = slurm_script(
            args, sweep, found.todo, resources, environment, python=sys.executable, workdir=os.getcwd()
        )
        job, kept = slurm.submit(sweep, script, {i: plan.runs[i].name for i in found.todo})
        if args.group_read:
            sweep.share_with_group()
    except sw.SweepError as exc:
        fail(str(exc))
    printed.submitted(sweep, found, job, kept, resources.max_parallel, console)
    return 0


def slurm_script(args: argparse.Namespace, sweep, todo, resources, environment, *, python: str, workdir: str) -> str:
    """The job array's script for the runs ``todo`` of the command line's sweep (runs/sweep/slurm_submit.py):
    each task is the same sweep command with ``--only`` its index, run by ``python`` from ``workdir``."""
    from ..runs.sweep import slurm_submit

    sweep_args = _argv(args, run_dir=str(sweep.path))[1:]
    given = set(vars(train.parser().parse_args(args.training)))
    return slurm_submit.sweep_script(
        sweep, sweep_args, given, todo, resources, environment, python=python, workdir=workdir
    )


def status(args: argparse.Namespace, console) -> int:
    """``--status DIR``: each run's state, from Slurm's queue where it answers and the run directories."""
    from ..console.slurm import status as print_status

    given = (("training options", args.training), ("--grid", args.grid), ("--slurm", args.slurm),
             ("--only", args.only is not None), ("--run-dir", args.run_dir), ("--seeds", args.seeds != "0"))
    _read_sweep("--status", args.status, given, "reads a sweep and changes nothing; give it alone, not with",
                lambda sweep, plan: print_status(sweep, plan, console))  # fmt: skip
    return 0
