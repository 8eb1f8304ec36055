"""Finished runs for the compare and export tests: two short runs on the synthetic digits, trained once per
session in this process and copied into each test's own directory (without process.json: no process trains
a copy)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mnist_tui.engine import events as ev

from helpers import engine

SETTINGS = {"a": {"seed": 1, "lr": 2e-3}, "b": {"seed": 2, "lr": 5e-3}}
_MASTERS: dict[str, Path] = {}


def finished_runs(tmp_path_factory, synthetic_dir: Path, root: Path) -> list[Path]:
    """Copies of the two runs in ``root``: ``root/a`` and ``root/b`` (12 steps of 11 a epoch, evaluated every 4)."""
    if not _MASTERS:
        base = tmp_path_factory.mktemp("compared")
        for name, settings in SETTINGS.items():
            cfg = engine.config(synthetic_dir, base / name, max_steps=12, eval_every=4, **settings)
            events = engine.run_all(cfg)
            assert isinstance(events[-1], ev.RunFinished) and events[-1].reason == ev.Reason.COMPLETED, events[-1]
            (base / name / "process.json").unlink()
            _MASTERS[name] = base / name
    root.mkdir(parents=True, exist_ok=True)
    copies = []
    for name, master in _MASTERS.items():
        shutil.copytree(master, root / name)
        copies.append(root / name)
    return copies


def metrics_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def with_config(run_dir: Path, **changes) -> None:
    """Change fields of a run's config.json (as if it had been run with other settings)."""
    path = run_dir / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))
