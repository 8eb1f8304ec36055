"""A sweep's plan from its command line: the seeds (``0-4``, ``0,1,7``, ``0-2,7``), each ``--grid OPTION=V1,V2``
checked against the training parser's own options, and every combination of them with each seed as a run
whose config its training options make. A bad seed list or grid is a SweepError (one line, exit code 2).

The training parser and the function that makes a config from training options are the caller's (the cli's):
this module reads the parser's table of options and never parses a command line of its own."""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable, Sequence
from typing import NamedTuple

from ...config import TrainConfig
from .plan import MAX_RUNS, PlannedRun, SweepError, SweepPlan, planned_config, run_name

SWITCH = {"on": True, "true": True, "yes": True, "1": True, "off": False, "false": False, "no": False, "0": False}
NOT_IN_GRID = {"resume", "run_dir", "headless", "detach", "version", "help"}  # how to run, not what to compute


class GridOption(NamedTuple):
    """One ``--grid OPTION=V1,V2``: the option, its values as given, the training arguments of each value."""

    key: str
    values: tuple[str, ...]
    arguments: list[list[str]]


def parse_seeds(text: str) -> tuple[int, ...]:
    """``0-4``, ``0,1,7`` or ``0-2,7``: the seeds, in the order given, each once."""
    seeds: list[int] = []
    seen: set[int] = set()
    for item in text.split(","):
        low, dash, high = item.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise SweepError(f"--seeds {text}: expected a range (0-4), a list (0,1,7) or both (0-2,7) of whole numbers")
        first, last = int(low), int(high) if dash else int(low)
        if last < first or last - first >= MAX_RUNS:
            raise SweepError(
                f"--seeds {text}: {item.strip()} is not a range from low to high of at most {MAX_RUNS:,} seeds"
            )
        for seed in range(first, last + 1):
            if seed in seen:
                raise SweepError(f"--seeds {text}: seed {seed} is given twice")
            seen.add(seed)
            seeds.append(seed)
    return tuple(seeds)


def parse_grid(texts: Sequence[str], train_parser: argparse.ArgumentParser, given: set[str]) -> list[GridOption]:
    """Each ``--grid OPTION=V1,V2`` as a GridOption; ``given``: the training options given outside the grid."""
    grid: list[GridOption] = []
    for text in texts:
        key, equals, listed = text.partition("=")
        key = key.strip().lstrip("-").replace("_", "-")
        if not equals or not key:
            raise SweepError(f"--grid {text}: expected OPTION=VALUE,VALUE,... (such as lr=1e-3,3e-3)")
        if not listed.strip():
            raise SweepError(f"--grid {text}: an empty grid; give {key} one value or more (such as {key}=V1,V2)")
        values = [v.strip() for v in listed.split(",")]
        if "" in values:
            raise SweepError(f"--grid {text}: an empty value in the list")
        action = train_parser._option_string_actions.get(f"--{key}")  # the training parser's own table
        if key == "seed":
            raise SweepError(f"--grid {text}: seeds are given with --seeds (0-4 or 0,1,7)")
        if action is None or action.option_strings[0] != f"--{key}" or action.dest in NOT_IN_GRID:
            raise SweepError(f"--grid {text}: {key} is not a training option that can vary (see 'mnist-tui --help')")
        if action.dest in given:
            raise SweepError(f"--{key} is given both as a training option and in --grid; give it in one place")
        if any(key == g.key for g in grid):
            raise SweepError(f"--grid {key} is given twice; list all its values in one --grid {key}=V1,V2")
        twice = next((v for v in values if values.count(v) > 1), None)
        if twice is not None:
            raise SweepError(f"--grid {text}: {twice} is given twice")
        if action.nargs == 0:  # a switch: on or off
            unknown = [v for v in values if v.lower() not in SWITCH]
            if unknown:
                raise SweepError(f"--grid {text}: --{key} is a switch; its values are on or off, got {unknown[0]!r}")
            off = [f"--no-{key}"] if f"--no-{key}" in action.option_strings else []
            arguments = [[f"--{key}"] if SWITCH[v.lower()] else off for v in values]
        else:
            arguments = [[f"--{key}", v] for v in values]
        grid.append(GridOption(key, tuple(values), arguments))
    return grid


def plan_runs(
    training: Sequence[str],
    seeds: tuple[int, ...],
    grid: Sequence[GridOption],
    *,
    base: TrainConfig,
    config_of: Callable[[list[str]], TrainConfig],
    command: str,
) -> SweepPlan:
    """Every combination of ``grid`` with each seed as a run: its training options (``training``, the setting's,
    ``--seed``) and the config ``config_of`` makes of them. ``base``: the config of ``training`` alone."""
    base_config = {k: v for k, v in planned_config(base).items() if k != "seed"}
    count = len(seeds)
    for option in grid:
        count *= len(option.values)
    if count > MAX_RUNS:
        raise SweepError(f"the sweep would train {count:,} runs; at most {MAX_RUNS:,}")
    runs: list[PlannedRun] = []
    for combo in itertools.product(*[list(zip(g.values, g.arguments)) for g in grid]):
        setting = tuple((g.key, value) for g, (value, _) in zip(grid, combo))
        options = [a for _, arguments in combo for a in arguments]
        for seed in seeds:
            run_args = (*training, *options, "--seed", str(seed))
            name = run_name(setting, seed)
            runs.append(PlannedRun(len(runs), name, seed, setting, run_args, planned_config(config_of(list(run_args)))))
    names: set[str] = set()
    for r in runs:
        if r.name in names:
            raise SweepError(
                f"two runs of the grid would share the directory {r.name}; give values that differ as text"
            )
        names.add(r.name)
    values = tuple((g.key, g.values) for g in grid)
    return SweepPlan(tuple(training), seeds, values, tuple(runs), command, base_config)
