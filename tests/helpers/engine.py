"""Helpers for engine tests: a small config on the synthetic data, and running a trainer to its end."""

from __future__ import annotations

from pathlib import Path

from mnist_tui.config import TrainConfig
from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control
from mnist_tui.runs.start import make_trainer


def config(synthetic_dir: Path, run_dir: Path, **kw) -> TrainConfig:
    base = dict(
        dataset=str(synthetic_dir),
        epochs=2,
        batch_size=50,
        eval_every=4,
        device="cpu",
        seed=3,
        lr=2e-3,
        metrics_interval=0.0,
        run_dir=str(run_dir),
    )
    base.update(kw)
    return TrainConfig(**base)


def run_all(cfg: TrainConfig, control: Control | None = None) -> list[ev.Event]:
    return list(make_trainer(cfg, control).run())


def of(events, cls):
    return [e for e in events if isinstance(e, cls)]
