from __future__ import annotations

from pathlib import Path

import pytest

from helpers.synthetic import write_dataset


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Keep every test out of the user's cache and data directories."""
    base = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("MNIST_TUI_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("MNIST_TUI_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("MNIST_TUI_OFFLINE", "1")  # no network fetches unless a test asks for them


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    """A flat directory with a small synthetic data set in the real MNIST format."""
    return write_dataset(tmp_path_factory.mktemp("synthetic"), n_train=600, n_test=200)
