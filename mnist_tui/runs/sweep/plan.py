"""A sweep's plan: every run's name, seed, grid setting, training options and the config it computes; how a
plan grows (more seeds, more values of its grid's options) and what names a sweep directory after it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...config import TrainConfig
from ...engine.errors import InputError

PLAN_VERSION = 1
MAX_RUNS = 10_000
# What a run computes, for telling two plans apart: where it is written and what it runs on may differ.
NOT_PLANNED = ("run_dir", "device", "threads")


class SweepError(InputError):
    """A sweep cannot be planned, read or run as asked (one line, exit code 2)."""


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: its directory's name, seed, grid setting and the training options that make it."""

    index: int
    name: str
    seed: int
    setting: tuple[tuple[str, str], ...]  # (option, value as given) per grid option, in grid order
    args: tuple[str, ...]  # the training options: the sweep's own, the setting's, --seed
    config: dict[str, Any] = field(compare=False, hash=False)  # what it computes (NOT_PLANNED left out)

    @property
    def setting_label(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.setting) or "all runs"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "seed": self.seed,
            "setting": dict(self.setting),
            "args": list(self.args),
            "config": self.config,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlannedRun:
        run = cls(
            index=int(data["index"]),
            name=str(data["name"]),
            seed=int(data["seed"]),
            setting=tuple((str(k), str(v)) for k, v in dict(data["setting"]).items()),
            args=tuple(str(a) for a in data["args"]),
            config=dict(data["config"]),
        )
        if run.name != run_name(run.setting, run.seed):  # a directory's name: never ../x or a/b
            raise ValueError(f"run {run.name!r} is not named after its setting and seed")
        return run


def planned_config(config: TrainConfig) -> dict[str, Any]:
    """The part of a run's config that a plan fixes (not where it is written or what it runs on)."""
    return {k: v for k, v in config.to_dict().items() if k not in NOT_PLANNED}


def run_name(setting: Sequence[tuple[str, str]], seed: int) -> str:
    """``lr=1e-3_batch-size=128_seed=0``: the grid's values as given, then the seed; safe as a file name."""
    parts = [f"{key}={value}" for key, value in setting] + [f"seed={seed}"]
    return "_".join("".join(c if c.isalnum() or c in ".+-=" else "-" for c in part) for part in parts)


@dataclass(frozen=True)
class SweepPlan:
    """Every run of a sweep, in the order they go: each setting of the grid (its first option slowest), and
    within it each seed.

    ``base`` is what every run computes apart from its seed and its grid setting (the config of the shared
    training options alone): two plans with the same base and the same grid options are the same sweep, one
    perhaps with more seeds or grid values than the other (``merged``); a sweep directory is named after it
    (``key``)."""

    options: tuple[str, ...]  # the training options every run shares, as given
    seeds: tuple[int, ...]
    grid: tuple[tuple[str, tuple[str, ...]], ...]  # (option, values as given)
    runs: tuple[PlannedRun, ...]
    command: str = ""  # the command line that made it, for messages
    base: dict[str, Any] | None = field(default=None, compare=False, hash=False)  # None: a plan from before

    def same_runs(self, other: SweepPlan) -> bool:
        """Whether ``other`` plans the same runs: the same names computing the same configs."""
        return [(r.name, r.config) for r in self.runs] == [(r.name, r.config) for r in other.runs]

    @property
    def grid_keys(self) -> tuple[str, ...]:
        return tuple(key for key, _ in self.grid)

    def key(self) -> str:
        """A short digest of what makes this sweep itself (its base and its grid's options), not of its seeds
        or grid values: more seeds of the same sweep have the same key."""
        text = json.dumps({"base": self.base, "grid": self.grid_keys}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]

    def difference(self, other: SweepPlan) -> str | None:
        """Why ``other`` is not this sweep (other training options, other grid options, a run of the same name
        computing something else); None when it is this sweep, perhaps with other seeds or grid values."""
        if self.grid_keys != other.grid_keys:
            mine, theirs = ", ".join(self.grid_keys) or "nothing", ", ".join(other.grid_keys) or "nothing"
            return f"a grid of {mine}, not of {theirs},"
        if self.base is not None and other.base is not None and self.base != other.base:
            changed = sorted(k for k in set(self.base) | set(other.base) if self.base.get(k) != other.base.get(k))
            return f"other training options ({', '.join(changed)})"
        mine = {r.name: r.config for r in self.runs}
        for r in other.runs:
            if r.name in mine and mine[r.name] != r.config:
                return f"{r.name} would compute something else"
        if self.base is None or other.base is None:  # a plan from before: only the same runs are the same sweep
            return None if self.same_runs(other) else "other runs"
        return None

    def merged(self, other: SweepPlan) -> SweepPlan:
        """This plan with the runs of ``other`` (the same sweep, see ``difference``) that it lacks: seeds in
        the order first given, grid values likewise, runs in the plan's order (setting, then seed)."""
        seeds = (*self.seeds, *(s for s in other.seeds if s not in self.seeds))
        theirs = dict(other.grid)
        grid = tuple((k, (*v, *(x for x in theirs.get(k, ()) if x not in v))) for k, v in self.grid)
        by_name = {r.name: r for r in other.runs} | {r.name: r for r in self.runs}
        order = lambda r: (*(dict(grid)[k].index(v) for k, v in r.setting), seeds.index(r.seed))
        runs = sorted(by_name.values(), key=order)
        runs = [PlannedRun(i, r.name, r.seed, r.setting, r.args, r.config) for i, r in enumerate(runs)]
        return SweepPlan(self.options, seeds, grid, tuple(runs), self.command, self.base)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": PLAN_VERSION,
            "command": self.command,
            "options": list(self.options),
            "seeds": list(self.seeds),
            "grid": [[key, list(values)] for key, values in self.grid],
            "base": self.base,
            "runs": [r.to_dict() for r in self.runs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepPlan:
        base = data.get("base")
        return cls(
            options=tuple(str(o) for o in data["options"]),
            seeds=tuple(int(s) for s in data["seeds"]),
            grid=tuple((str(key), tuple(str(v) for v in values)) for key, values in data["grid"]),
            runs=tuple(PlannedRun.from_dict(r) for r in data["runs"]),
            command=str(data.get("command", "")),
            base=dict(base) if base is not None else None,
        )
