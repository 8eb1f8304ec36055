"""Command line: arguments -> TrainConfig -> the app, or the headless runner.

    mnist-tui [options]            train; the live app on a terminal, headless otherwise (or with --headless)
    mnist-tui data [options]       where the data set comes from; fetch it ahead of time
    mnist-tui inspect RUN_DIR      browse what a finished run's best weights get wrong (no training)
    mnist-tui --detach [options]   train in a background process that outlives the terminal
    mnist-tui attach [RUN_DIR]     the live app on a run in another process (default: the latest active one)
    mnist-tui runs [DIR...]        the runs: state, progress, best accuracy; attach or inspect from there
    mnist-tui ensemble RUN_DIR...  each run's test accuracy and that of their mean softmax (optionally with TTA)

Torch is imported only once work starts, so the app's first frame is not held up by it.
A bad value gets one line naming the problem and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .config import (
    AMP_MODES,
    COMPILE_MODES,
    DEVICE_HINT,
    GRAPH_MODES,
    MODEL_NAMES,
    MONITORS,
    PRESET_NOTES,
    PRESETS,
    SCHEDULES,
    ConfigError,
    TrainConfig,
    preset_config,
)

DEFAULTS = TrainConfig()


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but an error is one line and exit code 2, without the usage block."""

    def error(self, message: str):  # type: ignore[override]
        fail(message)


def fail(message: str, code: int = 2):
    print(f"mnist-tui: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        default=DEFAULTS.dataset,
        help="mnist, fashion-mnist, kmnist, or a directory holding the four IDX files (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir", help="look here first for the data files (DIR/MNIST/raw/ or a flat directory; raw or .gz)"
    )


ES_FIELDS = ("early_stopping", "monitor", "patience", "min_delta", "warmup_evals", "restore_best")


def train_parser() -> ArgumentParser:
    d, es = DEFAULTS, DEFAULTS.early_stopping
    presets = "\n".join(f"  {name:<9} {note}" for name, note in PRESET_NOTES.items())
    p = ArgumentParser(
        prog="mnist-tui",
        description="Train a convolutional network on handwritten digits and watch it live in the terminal.",
        epilog=f"presets (--preset; any option given with it overrides it):\n{presets}\n\n"
        "Other commands (each with --help): 'mnist-tui data', 'mnist-tui inspect', 'mnist-tui ensemble', "
        "'mnist-tui attach', 'mnist-tui runs'. Defaults are the tutorial recipe.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,  # only what the user gives overrides the preset
    )
    p.add_argument("--version", action="version", version=f"mnist-tui {__version__}")
    p.add_argument("--preset", default="tutorial", help=f"{' | '.join(PRESETS)} (default: tutorial)")
    _data_options(p)
    g = p.add_argument_group("training (defaults: the tutorial preset)")
    g.add_argument("--model", help=f"{' | '.join(MODEL_NAMES)} (default: {d.model})")
    g.add_argument("--epochs", type=_int, help=f"passes over the data (default: {d.epochs})")
    g.add_argument("--batch-size", type=_int, help=f"default: {d.batch_size}")
    g.add_argument("--lr", type=_float, help=f"Adam learning rate, the peak with onecycle (default: {d.lr})")
    g.add_argument("--weight-decay", type=_float, help=f"default: {d.weight_decay}")
    g.add_argument("--schedule", help=f"{' | '.join(SCHEDULES)} (default: {d.schedule})")
    g.add_argument("--label-smoothing", type=_float, help=f"default: {d.label_smoothing}")
    g.add_argument(
        "--aug-rotate", type=_float, metavar="DEG", help="augment: rotate by up to ± DEG degrees (default: 0, off)"
    )
    g.add_argument(
        "--aug-scale", type=_float, metavar="FRAC", help="augment: scale by 1 ± up to FRAC (default: 0, off)"
    )
    g.add_argument(
        "--aug-shift", type=_float, metavar="PX", help="augment: shift by up to ± PX pixels (default: 0, off)"
    )
    g.add_argument(
        "--ema", type=_float, metavar="DECAY", help="evaluate and keep an EMA of the weights (default: 0, off)"
    )
    g.add_argument(
        "--eval-every", type=_int, help=f"full test-set evaluation every N iterations (default: {d.eval_every})"
    )
    g.add_argument("--eval-batch-size", type=_int, help="0: pick one for the device")
    g.add_argument("--max-steps", type=_int, help="stop after this many iterations")
    g.add_argument("--seed", type=_int, help=f"default: {d.seed}")
    g.add_argument("--device", help=f"{DEVICE_HINT} (default: {d.device})")
    g.add_argument("--threads", type=_int, help="CPU threads for torch (default: 0, torch's choice)")
    g.add_argument(
        "--amp",
        help=f"{' | '.join(AMP_MODES)}: bf16 autocast for training and evaluation; auto leaves it off, as it "
        f"made these small networks slower on an H100 (default: {d.amp})",
    )
    g.add_argument(
        "--cuda-graphs",
        help=f"{' | '.join(GRAPH_MODES)}: record the training step once as a CUDA graph and replay it, 3-4x "
        f"fewer ms per step for these small networks on an H100; auto: on for CUDA unless --compile (default: {d.cuda_graphs})",
    )
    g.add_argument(
        "--compile",
        help=f"{' | '.join(COMPILE_MODES)}: torch.compile the model; reduce-overhead adds CUDA graphs; "
        f"falls back to eager if it fails (default: {d.compile})",
    )
    e = p.add_argument_group("early stopping and learning rate")
    e.add_argument(
        "--early-stopping",
        action=argparse.BooleanOptionalAction,
        help="stop when the monitored metric stops improving (default: on)",
    )
    e.add_argument(
        "--monitor", help=f"{' | '.join(MONITORS)}: test accuracy in percent, or test loss (default: {es.monitor})"
    )
    e.add_argument(
        "--patience", type=_int, help=f"evaluations without improvement before a stop (default: {es.patience})"
    )
    e.add_argument(
        "--min-delta", type=_float, help=f"smallest gain that counts, in points or loss (default: {es.min_delta})"
    )
    e.add_argument(
        "--warmup-evals", type=_int, help=f"no stop before this many evaluations (default: {es.warmup_evals})"
    )
    e.add_argument(
        "--restore-best",
        action=argparse.BooleanOptionalAction,
        help="end the run with the best weights seen (default: on)",
    )
    e.add_argument(
        "--lr-plateau",
        action="store_true",
        help=f"multiply the lr by {d.plateau_factor} after --plateau-patience evaluations without improvement",
    )
    e.add_argument("--plateau-patience", type=_int, help=f"default: {d.plateau_patience}")
    r = p.add_argument_group("runs")
    r.add_argument("--run-dir", help="where to write this run (default: a new folder under the user data directory)")
    r.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    r.add_argument("--headless", action="store_true", help="no app: progress bars and a summary table")
    r.add_argument(
        "--detach",
        action="store_true",
        help="train in a background process that outlives this terminal; 'mnist-tui attach' shows it",
    )
    return p


def data_parser() -> ArgumentParser:
    p = ArgumentParser(prog="mnist-tui data", description="Show where the data set comes from, and fetch it.")
    _data_options(p)
    p.add_argument("--no-fetch", action="store_true", help="only show the sources; fetch nothing")
    return p


def inspect_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="mnist-tui inspect",
        description="Evaluate a run's best checkpoint (last.pt without one) once and browse what it gets wrong: "
        "the misclassified test digits, the confusion matrix, per-class accuracy. Headless (or when stdout is "
        "not a terminal) it prints per-class accuracy and the most confused pairs, and writes misclassified.csv "
        "and confusion.csv into the run directory.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (as written by a training run)")
    p.add_argument("--device", default="auto", help=f"{DEVICE_HINT} (default: %(default)s)")
    p.add_argument("--headless", action="store_true", help="no app: print the tables and write the CSVs")
    p.add_argument("--top", type=_int, default=10, help="confused pairs to print (default: %(default)s)")
    return p


def attach_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="mnist-tui attach",
        description="Open the live app on a run another process trains (started with --detach, or in another "
        "terminal): its whole history, then live updates. Every key works as in a normal run; q leaves the "
        "viewer and the run goes on. Several viewers may watch one run. On a run that has ended it shows the "
        "run's history.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?", help="a run directory (default: the latest active run)")
    return p


def runs_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="mnist-tui runs",
        description="List the runs (state, progress, best accuracy, device, started, directory), newest first. "
        "In a terminal it is a screen: enter attaches to the selected run, i inspects it.",
    )
    p.add_argument("dirs", metavar="DIR", nargs="*", help="where to look (default: the runs directory)")
    p.add_argument("--headless", action="store_true", help="print the table instead of opening the screen")
    p.add_argument("--active", action="store_true", help="only runs whose process is training them")
    return p


def _refuse_if_active(run_dir: str) -> None:
    from .engine.runs import read_run

    info = read_run(run_dir)
    if info is not None and info.active:
        fail(f"{info.path}: process {info.pid} is training this run; watch it with 'mnist-tui attach {info.path}'")


def attach_command(args: argparse.Namespace) -> int:
    from .engine.rundir import runs_root
    from .engine.runs import latest_active, read_run

    if args.run_dir is None:
        info = latest_active()
        if info is None:
            fail(
                f"no active run in {runs_root()}; 'mnist-tui runs' lists them all, 'mnist-tui attach RUN_DIR' opens one"
            )
    else:
        if not Path(args.run_dir).expanduser().is_dir():
            fail(f"{args.run_dir}: no such run directory")
        info = read_run(args.run_dir)
        if info is None:
            fail(f"{args.run_dir}: not a mnist-tui run directory (no config.json)")
    if not sys.stdout.isatty():
        fail("attach needs a terminal; 'mnist-tui runs --headless' prints the state of the runs")
    from .ui.app import _run_with_signals
    from .ui.attach import attach_app

    return _run_with_signals(attach_app(info))


def runs_command(args: argparse.Namespace) -> int:
    from .engine.runs import list_runs

    for d in args.dirs:
        if not Path(d).expanduser().is_dir():
            fail(f"{d}: no such directory")
    roots = args.dirs or None
    if args.headless or not sys.stdout.isatty():
        from rich.console import Console

        from .runs_report import runs_table

        runs = [r for r in list_runs(roots) if r.active or not args.active]
        Console(width=None if sys.stdout.isatty() else 200).print(runs_table(runs))  # whole paths in a pipe
        return 0
    from .ui.runs import RunsApp

    choice = RunsApp(roots).run()
    if not choice:
        return 0
    action, run_dir = choice
    if action == "inspect":
        return inspect_command(inspect_parser().parse_args([run_dir]))
    return attach_command(attach_parser().parse_args([run_dir]))


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    given = dict(vars(args))
    for key in ("preset", "resume", "headless", "detach"):
        given.pop(key, None)
    if given.get("data_dir") is not None:
        if not Path(given["data_dir"]).expanduser().is_dir():
            fail(f"--data-dir {given['data_dir']}: no such directory")
        given["data_dir"] = str(Path(given["data_dir"]).expanduser())
    es = {("enabled" if k == "early_stopping" else k): given.pop(k) for k in ES_FIELDS if k in given}
    try:
        return preset_config(args.preset, early_stopping=es, **given)
    except ConfigError as exc:
        fail(str(exc))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["data"]:
        return data_command(data_parser().parse_args(argv[1:]))
    if argv[:1] == ["inspect"]:
        return inspect_command(inspect_parser().parse_args(argv[1:]))
    if argv[:1] == ["ensemble"]:
        from .ensemble import ensemble_command, ensemble_parser

        return ensemble_command(ensemble_parser().parse_args(argv[1:]))
    if argv[:1] == ["attach"]:
        return attach_command(attach_parser().parse_args(argv[1:]))
    if argv[:1] == ["runs"]:
        return runs_command(runs_parser().parse_args(argv[1:]))
    args = train_parser().parse_args(argv)
    config = config_from_args(args)
    resume = getattr(args, "resume", None)
    if resume and not Path(resume).expanduser().is_dir():
        fail(f"--resume {resume}: no such run directory")
    if getattr(args, "detach", False):
        from .background import launch

        if resume:
            _refuse_if_active(resume)
        return launch(config, resume=resume)
    if getattr(args, "headless", False) or not sys.stdout.isatty():
        from .headless import run_headless

        return run_headless(config, resume=resume)
    from .ui.app import run_app

    return run_app(config, resume=resume)


def data_command(args: argparse.Namespace) -> int:
    from .engine import data

    for line in data.describe(args.dataset, args.data_dir):
        print(line)
    if args.no_fetch:
        return 0
    try:
        resolved = data.resolve(args.dataset, args.data_dir, log=lambda m: print(f"  {m}"), allow_download=True)
        arrays = data.load_arrays(resolved)
    except data.DataError as exc:
        fail(str(exc))
    print(
        f"ready: {resolved.name} from {resolved.source}: {len(arrays.train_labels):,} training and "
        f"{len(arrays.test_labels):,} test images, checked"
    )
    return 0


def inspect_command(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir).expanduser()
    if not run_dir.is_dir():
        fail(f"{args.run_dir}: no such run directory")
    headless = args.headless or not sys.stdout.isatty()
    from .engine.errors import InputError  # torch loads from here on
    from .engine.inspect import checkpoint_for, evaluate_checkpoint

    try:
        if sys.stderr.isatty():  # torch, the data and one evaluation take a few seconds
            print(f"mnist-tui: evaluating {checkpoint_for(run_dir)}…", file=sys.stderr)
        snapshot = evaluate_checkpoint(run_dir, device=args.device)
    except InputError as exc:
        fail(str(exc))
    if not headless:
        from .ui.inspect import run_inspect_app

        return run_inspect_app(snapshot, str(run_dir.resolve()))
    from rich.console import Console

    from .engine.analysis import write_error_csvs
    from .inspect_report import error_tables

    console = Console()
    for table in error_tables(snapshot, top=args.top):
        console.print(table)
    try:
        paths = write_error_csvs(run_dir, snapshot)
    except OSError as exc:
        fail(f"{run_dir}: cannot write the CSVs ({exc.strerror or exc})")
    console.print(f"wrote {paths[0]} and {paths[1]}", highlight=False, soft_wrap=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
