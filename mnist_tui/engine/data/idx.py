"""The four files themselves: which names count in a directory, their checksums, and the IDX parser.

``read_images`` and ``read_labels`` parse an IDX file (raw or .gz) into a CPU tensor with strict format checks;
``_verify`` checks files against the known MD5 sums. Every problem is a one-line DataError naming the file.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

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
# Reading IDX files


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
