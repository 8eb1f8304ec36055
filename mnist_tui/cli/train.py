"""``mnist-tui [options]``: train, in the live app on a terminal, headless otherwise (or with ``--headless``),
or in a background process (``--detach``)."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import (
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
from .common import ArgumentParser, command_list, data_options, fail, float_arg, int_arg, interactive

DEFAULTS = TrainConfig()


ES_FIELDS = ("early_stopping", "monitor", "patience", "min_delta", "warmup_evals", "restore_best")


def parser() -> ArgumentParser:
    from ..ui.live.commands import BINDING_IDS
    from ..ui.live.keymap import keymap_path

    d, es = DEFAULTS, DEFAULTS.early_stopping
    presets = "\n".join(
        textwrap.fill(f"{name:<9} {note}", 78, initial_indent="  ", subsequent_indent=" " * 12)
        for name, note in PRESET_NOTES.items()
    )
    ids = textwrap.fill(", ".join(BINDING_IDS), 78, initial_indent="  ", subsequent_indent="  ")
    p = ArgumentParser(
        prog="mnist-tui",
        usage="%(prog)s [options]\n       %(prog)s COMMAND ...   (one of the commands below; each has its own --help)",
        description="Train a convolutional network on handwritten digits and watch it live in the terminal.\n\n"
        f"commands ('mnist-tui COMMAND --help' for each):\n{command_list()}",
        epilog="presets (--preset; any option given with it overrides it; defaults are the tutorial recipe):\n"
        f"{presets}\n\n"
        f"The app's keys ('?' in the app lists them) can be remapped in {keymap_path()}\n"
        'TOML, a binding id = its keys, such as pause = "P" or maximize = "f11,z". The binding ids:\n'
        f"{ids}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,  # only what the user gives overrides the preset
    )
    p.add_argument("--version", action="version", version=f"mnist-tui {__version__}")
    p.add_argument("--preset", help=f"{' | '.join(PRESETS)} (default: tutorial)")
    data_options(p)
    g = p.add_argument_group("training (defaults: the tutorial preset)")
    g.add_argument("--model", help=f"{' | '.join(MODEL_NAMES)} (default: {d.model})")
    g.add_argument("--epochs", type=int_arg, help=f"passes over the data (default: {d.epochs})")
    g.add_argument("--batch-size", type=int_arg, help=f"default: {d.batch_size}")
    g.add_argument("--lr", type=float_arg, help=f"Adam learning rate, the peak with onecycle (default: {d.lr})")
    g.add_argument("--weight-decay", type=float_arg, help=f"default: {d.weight_decay}")
    g.add_argument("--schedule", help=f"{' | '.join(SCHEDULES)} (default: {d.schedule})")
    g.add_argument("--label-smoothing", type=float_arg, help=f"default: {d.label_smoothing}")
    g.add_argument(
        "--aug-rotate", type=float_arg, metavar="DEG", help="augment: rotate by up to ± DEG degrees (default: 0, off)"
    )
    g.add_argument(
        "--aug-scale", type=float_arg, metavar="FRAC", help="augment: scale by 1 ± up to FRAC (default: 0, off)"
    )
    g.add_argument(
        "--aug-shift", type=float_arg, metavar="PX", help="augment: shift by up to ± PX pixels (default: 0, off)"
    )
    g.add_argument(
        "--ema", type=float_arg, metavar="DECAY", help="evaluate and keep an EMA of the weights (default: 0, off)"
    )
    g.add_argument(
        "--eval-every",
        type=int_arg,
        help=f"evaluate every N iterations and at each epoch end: the validation set, or the test set without one; "
        f"the test set is also evaluated at each epoch end and at the end (default: {d.eval_every})",
    )
    g.add_argument("--eval-batch-size", type=int_arg, help="0: pick one for the device")
    g.add_argument("--max-steps", type=int_arg, help="stop after this many iterations")
    g.add_argument("--seed", type=int_arg, help=f"default: {d.seed}")
    g.add_argument("--device", help=f"{DEVICE_HINT} (default: {d.device})")
    g.add_argument(
        "--threads",
        type=int_arg,
        help="CPU threads for torch (default: 0, the run's share of the CPU when it starts, recorded in its "
        "config.json and kept on resume)",
    )
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
    v = p.add_argument_group(
        "validation: every decision (early stopping, the best weights, the plateau) is made on images held out of "
        "the training set; the test set only reports"
    )
    v.add_argument(
        "--val-split",
        type=val_split_arg,
        metavar="N",
        help="validation images held out of the training set: a count (5000) or a fraction (0.1); 0 trains on "
        "all of it and allows no early stopping, --restore-best or --lr-plateau (default: a twelfth, 5,000 of "
        "MNIST's 60,000; the fast and best presets: 0, they keep their final weights)",
    )
    v.add_argument(
        "--divergence-check",
        action=argparse.BooleanOptionalAction,
        help="end a run as diverged when its training loss explodes (10x a chance-level guess's) or its "
        "validation accuracy stays at chance after the warm-up; a non-finite loss always ends it (default: on)",
    )
    e = p.add_argument_group("early stopping and learning rate")
    e.add_argument(
        "--early-stopping",
        action=argparse.BooleanOptionalAction,
        help="stop when the monitored metric stops improving (default: on)",
    )
    e.add_argument(
        "--monitor",
        help=f"{' | '.join(MONITORS)}: validation accuracy in percent, or validation loss (default: {es.monitor})",
    )
    e.add_argument(
        "--patience", type=int_arg, help=f"evaluations without improvement before a stop (default: {es.patience})"
    )
    e.add_argument(
        "--min-delta", type=float_arg, help=f"smallest gain that counts, in points or loss (default: {es.min_delta})"
    )
    e.add_argument(
        "--warmup-evals", type=int_arg, help=f"no stop before this many evaluations (default: {es.warmup_evals})"
    )
    e.add_argument(
        "--restore-best",
        action=argparse.BooleanOptionalAction,
        help="end the run with the best weights seen on the validation set (default: on)",
    )
    e.add_argument(
        "--lr-plateau",
        action="store_true",
        help=f"multiply the lr by {d.plateau_factor} after --plateau-patience evaluations without improvement",
    )
    e.add_argument("--plateau-patience", type=int_arg, help=f"default: {d.plateau_patience}")
    r = p.add_argument_group("runs")
    r.add_argument("--run-dir", help="where to write this run (default: a new folder under the user data directory)")
    r.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    r.add_argument("--headless", action="store_true", help="no app: progress bars and a summary table")
    r.add_argument(
        "--detach",
        action="store_true",
        help="train in a background process that outlives this terminal; 'mnist-tui attach' shows it",
    )
    app_options(p)
    return p


# What may change when a run is resumed: how long it goes on and where; everything else is the run's own.
RESUMABLE = ("max_steps", "epochs", "device", "threads")
NOT_CONFIG = ("resume", "headless", "detach", "theme", "no_bell", "refresh")  # how to run it, not what it computes


def val_split_arg(text: str) -> float:
    """A count of images (a whole number) or a fraction below 1."""
    value = float_arg(text)
    if value < 0 or (value >= 1 and value != int(value)):
        raise argparse.ArgumentTypeError(f"expected a count of images or a fraction below 1, got {text!r}")
    return int(value) if value >= 1 else value


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def resume_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The options given with ``--resume`` that apply to the resumed run, checked against its saved config
    (one line and exit code 2 for a directory that holds no run, an option that cannot change, a bad value)."""
    from ..engine.errors import InputError
    from ..runs.rundir import RunDirectory

    given = {k: v for k, v in vars(args).items() if k not in NOT_CONFIG}
    refused = [_option(k) for k in given if k not in RESUMABLE]
    if refused:
        fail(
            f"{', '.join(refused)} cannot change on a resumed run (it goes on with its own settings; "
            f"these can: {', '.join(_option(k) for k in RESUMABLE)})"
        )
    try:
        RunDirectory(args.resume).read_config().replace(**given)
    except ConfigError as exc:
        fail(str(exc))
    except InputError as exc:
        fail(str(exc))
    return given


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    given = dict(vars(args))
    for key in ("preset", *NOT_CONFIG):
        given.pop(key, None)
    if given.get("data_dir") is not None:
        if not Path(given["data_dir"]).expanduser().is_dir():
            fail(f"--data-dir {given['data_dir']}: no such directory")
        given["data_dir"] = str(Path(given["data_dir"]).expanduser())
    es = {("enabled" if k == "early_stopping" else k): given.pop(k) for k in ES_FIELDS if k in given}
    try:
        return preset_config(getattr(args, "preset", "tutorial"), early_stopping=es, **given)
    except ConfigError as exc:
        fail(str(exc))


def app_options(parser: argparse.ArgumentParser) -> None:
    """--theme and --no-bell: how the live app looks and tells (also for 'mnist-tui attach')."""
    a = parser.add_argument_group("the app")
    a.add_argument(
        "--theme",
        metavar="NAME",
        help="the app's colours: a Textual theme such as nord, dracula, textual-dark or textual-light (default: "
        "the terminal's own colours, ansi-dark or ansi-light; the palette's 'Theme' command changes it live)",
    )
    a.add_argument(
        "--no-bell",
        action="store_true",
        help="do not ring the terminal's bell when the run ends, stops early, diverges or fails, or the "
        "connection to it is lost (the toast still shows)",
    )
    a.add_argument(
        "--refresh",
        type=refresh_arg,
        metavar="SECONDS",
        help="update the numbers on screen at most every SECONDS and the charts every twice that: a slow link "
        "(SSH over a mobile or hotel network) gets fewer bytes; the palette's 'Refresh rate' changes it live "
        "(default: 1)",
    )


def refresh_arg(text: str) -> float:
    """Seconds between screen updates: above 0, at most a minute."""
    from ..ui.common.refresh import MAX_REFRESH

    value = float_arg(text)
    if not 0 < value <= MAX_REFRESH:
        raise argparse.ArgumentTypeError(f"expected seconds above 0 and at most {MAX_REFRESH:g}, got {text!r}")
    return value


def app_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The app's theme and bell from --theme and --no-bell; an unknown theme is one line and exit code 2."""
    theme = getattr(args, "theme", None)
    if theme is not None:
        from ..ui.common.theme import check_theme

        problem = check_theme(theme)
        if problem:
            fail(problem)
    settings: dict[str, Any] = {"theme": theme, "bell": not getattr(args, "no_bell", False)}
    if getattr(args, "refresh", None) is not None:
        settings["refresh"] = args.refresh
    return settings


def check_run_dir(option: str, path: str | None) -> None:
    """One line and exit code 2 when ``path`` is no safe place to write a run (``rundir.check_directory``)."""
    if path is None:
        return
    from ..runs.rundir import RunDirectory, RunDirError, check_directory
    from ..runs.untrusted import printable

    try:
        check_directory(path, option=option)
        if option == "--resume":
            RunDirectory.resume(path)  # one that holds nothing to resume says so here, not in a traceback
    except RunDirError as exc:
        fail(printable(exc))


def run(args: argparse.Namespace) -> int:
    from ..runs.signals import interrupt_quietly

    interrupt_quietly()  # a stop signal during start-up (PyTorch takes seconds to import) ends it without a traceback
    settings = app_settings(args)  # checked first: a typo in --theme is found before any work starts
    resume = getattr(args, "resume", None)
    if resume:
        if not Path(resume).expanduser().is_dir():
            fail(f"--resume {resume}: no such run directory")
        check_run_dir("--resume", resume)
        config, changes = None, resume_changes(args)
    else:
        config, changes = config_from_args(args), {}
        check_run_dir("--run-dir", config.run_dir)
    if getattr(args, "detach", False):
        from ..runs.background import launch

        return launch(config, resume=resume, changes=changes)
    if getattr(args, "headless", False) or not interactive():
        from ..console.headless import run_headless

        return run_headless(config, resume=resume, changes=changes)
    from ..ui.live.launch import run_app

    return run_app(config, resume=resume, changes=changes, **settings)
