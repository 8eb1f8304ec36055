"""The four files themselves: which names count in a directory, their checksums, and the IDX parser.

``read_images`` and ``read_labels`` parse an IDX file (raw or .gz) into a CPU tensor with strict format checks,
reading no further than the header says; ``_verify`` checks the files' format and the MD5 of their uncompressed
contents against the known sums, in the same single pass. Every problem is a one-line DataError naming the file.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from .catalogue import FILES, NUM_CLASSES, SIDE, DataError, DatasetSpec, LogFn, _one_line

IMAGES_MAGIC = 0x00000803  # 2051: unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # 2049: unsigned bytes, 1 dimension


# ---------------------------------------------------------------------------------------------------------
# Looking in one directory


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


# ---------------------------------------------------------------------------------------------------------
# Checksums


def _verify(spec: DatasetSpec, files: dict[str, Path], log: LogFn, hint: str = "") -> str:
    """Check each file's format and the MD5 of its contents (one pass a file); raise DataError on a problem.

    The uncompressed contents are what is checked, raw or .gz alike: the same files gzipped by another tool
    are the same data. Where no checksum of a file's contents is known, its format is still checked, the log
    says its contents are unverified, and it is used. Says what was checked.
    """
    unverified: list[str] = []
    for key, path in files.items():
        gz = path.name.endswith(".gz")
        stem = path.name[:-3] if gz else path.name
        actual = _read_idx(path, IMAGES_MAGIC if key.endswith("images") else LABELS_MAGIC, keep=False).md5
        known = spec.raw_md5.get(stem)
        if known is None:
            unverified.append(path.name)
        elif actual != known:
            why = hint or f"damaged, or not {spec.display}?"
            archive = spec.gz_md5.get(stem)
            published = f"; the published {stem}.gz has MD5 {archive}" if gz and archive else ""
            raise DataError(
                f"{path}: MD5 {actual} of the {'uncompressed ' if gz else ''}contents does not match the known "
                f"{spec.name} checksum {known} ({why}{published})"
            )
    if not unverified:
        return "checksums match"
    log(
        f"{spec.name}: no checksum is known for the contents of {', '.join(unverified)}; "
        "their format is checked, their contents are unverified"
    )
    return "format checked, contents unverified (no checksum known)"


# ---------------------------------------------------------------------------------------------------------
# Reading IDX files

_CHUNK = 1 << 20  # bytes read (and decompressed) at a time
# A .gz that holds more than its header promises is read this far past the end, to say by how much; a gzip
# bomb is refused after header + payload + this much, however far it would expand.
_TRAILING_SHOWN = 1 << 16
# The most images (or labels) one file may say it holds: far more than any MNIST-format set (EMNIST's largest
# split, 697,932; MNIST's 60,000), far less than a header's 4,294,967,295. A header is believed only this far,
# and only as far as the memory there is: a few MB of .gz can truthfully announce gigabytes of zeros.
MAX_ITEMS = 1_000_000
# Bytes of memory one loaded image needs: its uint8 copy, the float32 copy the trainer normalises, and a margin.
_BYTES_PER_IMAGE = SIDE * SIDE * (1 + 4 + 1)


@dataclass
class _Contents:
    """What one pass over an IDX file found (its format already checked)."""

    buf: bytearray | None  # header + payload, when asked to keep them
    md5: str  # MD5 of the uncompressed contents (header + payload)
    count: int  # images or labels


def read_images(path: Path) -> torch.Tensor:
    """An IDX image file (raw or .gz) as uint8 [N, 28, 28]; DataError on any format problem."""
    path = Path(path)
    contents = _read_idx(path, IMAGES_MAGIC, keep=True)
    assert contents.buf is not None
    n = contents.count
    return torch.frombuffer(contents.buf, dtype=torch.uint8, offset=16, count=n * SIDE * SIDE).view(n, SIDE, SIDE)


def read_labels(path: Path) -> torch.Tensor:
    """An IDX label file (raw or .gz) as int64 [N] with values 0-9; DataError on any format problem."""
    path = Path(path)
    contents = _read_idx(path, LABELS_MAGIC, keep=True)
    assert contents.buf is not None
    return torch.frombuffer(contents.buf, dtype=torch.uint8, offset=8, count=contents.count).to(torch.int64)


def _read_idx(path: Path, magic: int, *, keep: bool) -> _Contents:
    """One pass over an IDX file: strict format checks, the MD5 of its contents, and (if ``keep``) its bytes.

    The header is read first; after it, no more than the payload it announces (plus a little, to detect and
    measure trailing bytes) is read or decompressed, so a small .gz that would expand enormously costs no more
    than the file it claims to be. Every problem is a one-line DataError naming the file.
    """
    kind, header = ("image", 16) if magic == IMAGES_MAGIC else ("label", 8)
    gz = path.name.endswith(".gz")
    unit = " uncompressed" if gz else ""
    try:
        f = gzip.open(path, "rb") if gz else path.open("rb")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({_one_line(exc)})") from None
    try:
        with f:
            return _scan(path, f, magic, kind, header, unit, keep)
    except DataError:
        raise
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        if gz:
            raise DataError(f"{path}: not a readable gzip file ({_one_line(exc)})") from None
        raise DataError(f"{path}: cannot read it ({_one_line(exc)})") from None


def _scan(path: Path, f: BinaryIO, magic: int, kind: str, header: int, unit: str, keep: bool) -> _Contents:
    digest = hashlib.md5(usedforsecurity=False)
    head = _read_at_most(f, header)
    digest.update(head)
    _check_magic(path, head, magic, kind)
    if len(head) < header:
        raise DataError(f"{path}: truncated: {len(head)} bytes{unit}, shorter than the {header}-byte IDX {kind} header")
    if magic == IMAGES_MAGIC:
        _, n, rows, cols = struct.unpack(">IIII", head)
        if (rows, cols) != (SIDE, SIDE):
            raise DataError(f"{path}: images are {rows}x{cols}, expected {SIDE}x{SIDE}")
        what, body = f"{n} images of {SIDE}x{SIDE}", n * SIDE * SIDE
    else:
        _, n = struct.unpack(">II", head)
        what, body = f"{n} labels", n
    expected = header + body
    if n > MAX_ITEMS:
        raise DataError(
            f"{path}: header says {what}; at most {MAX_ITEMS:,} are read from one file (not read any further)"
        )
    if keep and magic == IMAGES_MAGIC:
        _check_memory(path, what, n * _BYTES_PER_IMAGE)
    if not unit:  # a raw file's size is known before reading it: refuse a wrong one without reading on
        _check_size(path, os.fstat(f.fileno()).st_size, unit, what, expected)
    buf = bytearray(head) if keep else None
    got, bad_label = 0, None
    while got < body:
        chunk = f.read(min(_CHUNK, body - got))
        if not chunk:
            break
        digest.update(chunk)
        if keep:
            buf += chunk  # type: ignore[operator]
        if magic == LABELS_MAGIC and bad_label is None:
            values = np.frombuffer(chunk, np.uint8)
            outside = np.flatnonzero(values >= NUM_CLASSES)
            if len(outside):
                bad_label = (int(values[outside[0]]), got + int(outside[0]))
        got += len(chunk)
    if got < body:
        _check_size(path, header + got, unit, what, expected)
    extra = _count_trailing(f)
    if extra:
        _check_size(path, expected + extra, unit, what, expected, more=extra > _TRAILING_SHOWN)
    if n == 0:
        raise DataError(f"{path}: holds no {kind}s")
    if bad_label is not None:
        value, index = bad_label
        raise DataError(f"{path}: label {value} at index {index} is outside 0-{NUM_CLASSES - 1}")
    return _Contents(buf, digest.hexdigest(), n)


def _available_memory() -> int | None:
    """Bytes of memory this machine can give without swapping (Linux's MemAvailable), else free memory where
    the system says, else None (unknown: not checked)."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _check_memory(path: Path, what: str, need: int) -> None:
    """Refuse, before anything is allocated, a data set that would not fit in the memory available now."""
    available = _available_memory()
    if available is not None and need > available:
        raise DataError(
            f"{path}: header says {what}: about {need / 2**30:.1f} GiB once loaded, more than the "
            f"{available / 2**30:.1f} GiB of memory available; not read"
        )


def _read_at_most(f: BinaryIO, size: int) -> bytes:
    """``size`` bytes, or fewer only at the end of the file."""
    parts: list[bytes] = []
    left = size
    while left > 0:
        chunk = f.read(left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _count_trailing(f: BinaryIO) -> int:
    """How many bytes are left, counted up to just past ``_TRAILING_SHOWN`` and discarded.

    Reading to the end of a .gz also makes gzip check the stream's CRC and length.
    """
    extra = 0
    while extra <= _TRAILING_SHOWN:
        chunk = f.read(_TRAILING_SHOWN + 1 - extra)
        if not chunk:
            break
        extra += len(chunk)
    return extra


def _check_magic(path: Path, buf: bytes, expected: int, kind: str) -> None:
    if len(buf) < 4:
        raise DataError(f"{path}: truncated: {len(buf)} bytes, too short for an IDX {kind} file")
    (magic,) = struct.unpack_from(">I", buf)
    if magic == expected:
        return
    other = {IMAGES_MAGIC: " (that of an image file)", LABELS_MAGIC: " (that of a label file)"}.get(magic, "")
    raise DataError(f"{path}: not an IDX {kind} file: magic number {magic} (0x{magic:08x}){other}, expected {expected}")


def _check_size(path: Path, size: int, unit: str, what: str, expected: int, *, more: bool = False) -> None:
    """Refuse contents of ``size`` bytes where the header says ``expected`` (``more``: at least that many)."""
    if size < expected:
        raise DataError(f"{path}: truncated: header says {what} ({expected} bytes) but the file has {size} bytes{unit}")
    if more:
        raise DataError(
            f"{path}: over {size - expected - 1} bytes more than the header's {what} ({expected} bytes){unit}; "
            "not read any further"
        )
    if size > expected:
        raise DataError(f"{path}: {size - expected} bytes more than the header's {what} ({expected} bytes){unit}")


def _check_counts(images_path: Path, images: torch.Tensor, labels_path: Path, labels: torch.Tensor) -> None:
    if len(images) != len(labels):
        raise DataError(f"{labels_path}: {len(labels)} labels but {images_path.name} has {len(images)} images")
