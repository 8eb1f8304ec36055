"""runs/sweep/grid.py: a sweep's plan from its command line's seeds and grid, in the runs layer (no cli): a bad
seed list or grid is a SweepError carrying the one line the cli prints, never an exit from inside the layer."""

from __future__ import annotations

import pytest

from mnist_tui.cli import train
from mnist_tui.runs.sweep import SweepError, grid


def test_seeds_are_ranges_and_lists_each_once_in_the_order_given():
    assert grid.parse_seeds("0-2,7") == (0, 1, 2, 7)
    for text, expected in (
        ("3-1", "3-1 is not a range"),
        ("0,1,0", "seed 0 is given twice"),
        ("a", "expected a range"),
    ):
        with pytest.raises(SweepError, match=expected):
            grid.parse_seeds(text)


def test_the_grid_is_checked_against_the_training_parser_and_makes_every_combination():
    parser = train.parser()
    options = grid.parse_grid(["lr=1e-3,3e-3", "early-stopping=on,off"], parser, set())
    assert [(o.key, o.values) for o in options] == [("lr", ("1e-3", "3e-3")), ("early-stopping", ("on", "off"))]
    with pytest.raises(SweepError, match="--lr is given both as a training option and in --grid"):
        grid.parse_grid(["lr=1e-3"], parser, {"lr"})
    with pytest.raises(SweepError, match="foo is not a training option that can vary"):
        grid.parse_grid(["foo=1,2"], parser, set())

    def config_of(args: list[str]):
        return train.config_from_args(parser.parse_args(args))

    plan = grid.plan_runs(
        ["--epochs", "1"], (0, 1), options, base=config_of(["--epochs", "1"]), config_of=config_of, command="x"
    )
    assert [r.name for r in plan.runs][:3] == [
        "lr=1e-3_early-stopping=on_seed=0",
        "lr=1e-3_early-stopping=on_seed=1",
        "lr=1e-3_early-stopping=off_seed=0",
    ]
    assert len(plan.runs) == 8 and plan.runs[7].args == (
        "--epochs",
        "1",
        "--lr",
        "3e-3",
        "--no-early-stopping",
        "--seed",
        "1",
    )
    assert "seed" not in plan.base and plan.grid == (("lr", ("1e-3", "3e-3")), ("early-stopping", ("on", "off")))
