"""A model trained on real MNIST with the fast preset (1.2 epochs, about 99.1%), once per test session.

For the slow tests that need a model that really reads digits. Skips the test when real MNIST cannot be had.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mnist_tui.config import preset_config
from mnist_tui.engine import data
from mnist_tui.engine import events as ev
from mnist_tui.runs.start import make_trainer

_RUN: Path | None = None


def real_mnist(monkeypatch) -> data.ResolvedData:
    """Real MNIST from the user's cache (where `mnist-tui data` puts it), or fetched; skip without it."""
    monkeypatch.delenv("MNIST_TUI_CACHE_DIR", raising=False)
    monkeypatch.delenv("MNIST_TUI_OFFLINE", raising=False)
    try:
        return data.resolve("mnist", allow_download=True)
    except data.DataError as exc:
        pytest.skip(f"real MNIST not available here: {exc}")


def fast_run(monkeypatch, tmp_path_factory) -> Path:
    """The run directory of a fast-preset run on real MNIST (trained on the first call of the session)."""
    global _RUN
    real_mnist(monkeypatch)
    if _RUN is None:
        run_dir = tmp_path_factory.mktemp("fast-run") / "run"
        threads = min(2, os.cpu_count() or 1)
        cfg = preset_config("fast", device="cpu", threads=threads, run_dir=str(run_dir))
        events = list(make_trainer(cfg).run())
        finished = events[-1]
        assert isinstance(finished, ev.RunFinished) and finished.reason == ev.Reason.COMPLETED, finished
        _RUN = run_dir
    return _RUN
