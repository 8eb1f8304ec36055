"""The suite runs on several pytest-xdist workers (``-n auto`` in pyproject.toml): they split the cores, each test
keeps to directories of its own, and the tests that share what they train run on one worker.

Each worker's torch, and every process its tests start, uses its share of the cores (``OMP_NUM_THREADS``) unless
the caller set ``OMP_NUM_THREADS``; a test that looks at how a run chooses its own threads removes it. Each test
counts its runs' CPU share among its own runs only, so a run's threads never depend on what another worker trains.
"""

from __future__ import annotations

import os

_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


if _WORKERS > 1 and not os.environ.get("OMP_NUM_THREADS"):  # before torch is imported
    os.environ["OMP_NUM_THREADS"] = str(max(1, _cores() // _WORKERS))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from helpers.synthetic import write_dataset  # noqa: E402

# Tests in one file run on one worker (their module fixtures are made once); these files share one group besides:
GROUPS = {
    "tests/engine/test_real_mnist.py": "real-mnist",  # both use helpers.trained.fast_run, trained once per worker
    "tests/cli/test_predict.py": "real-mnist",
}


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: unknown where it is not installed
def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: two workers even on one core (many tests wait on processes they start), at most four (each
    worker holds a torch)."""
    return max(2, min(4, _cores()))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items) -> None:
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        path = Path(item.path).relative_to(config.rootpath).as_posix()
        item.add_marker(pytest.mark.xdist_group(GROUPS.get(path, Path(path).stem)))


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Keep every test out of the user's cache and data directories, and its runs' CPU share to its own runs."""
    base = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("MNIST_TUI_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("MNIST_TUI_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("MNIST_TUI_OFFLINE", "1")  # no network fetches unless a test asks for them
    (base / "cpu-share").mkdir(mode=0o700)
    monkeypatch.setenv("MNIST_TUI_CPU_SHARE_DIR", str(base / "cpu-share"))


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    """A flat directory with a small synthetic data set in the real MNIST format."""
    return write_dataset(tmp_path_factory.mktemp("synthetic"), n_train=600, n_test=200)
