"""Small synthetic digit sets written in the real MNIST file format (IDX, optionally gzipped).

Each class has its own fixed stroke pattern plus noise and a random shift, so a network learns it well
above chance within a few dozen steps, and the real loader reads it exactly as it reads MNIST.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_images(images: np.ndarray) -> bytes:
    n, rows, cols = images.shape
    return struct.pack(">IIII", 0x00000803, n, rows, cols) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 0x00000801, len(labels)) + labels.astype(np.uint8).tobytes()


def make_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    templates = np.zeros((10, 28, 28), np.float32)
    pattern_rng = np.random.default_rng(1234)  # the same class patterns for every split
    for k in range(10):
        for _ in range(4):
            r, c = pattern_rng.integers(4, 20, size=2)
            h, w = pattern_rng.integers(2, 9, size=2)
            templates[k, r : r + h, c : c + w] = 1.0
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = np.empty((n, 28, 28), np.float32)
    for i, k in enumerate(labels):
        dr, dc = rng.integers(-2, 3, size=2)
        img = np.roll(templates[k], (dr, dc), axis=(0, 1))
        images[i] = img * rng.uniform(0.6, 1.0) + rng.normal(0, 0.15, (28, 28))
    images = (np.clip(images, 0, 1) * 255).astype(np.uint8)
    return images, labels.astype(np.uint8)


def write_dataset(
    directory: Path, n_train: int = 600, n_test: int = 200, *, gz: bool = False, seed: int = 0
) -> Path:
    """Write the four files into ``directory`` (created); returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    train = make_digits(n_train, seed)
    test = make_digits(n_test, seed + 1)
    blobs = {
        "train_images": idx_images(train[0]),
        "train_labels": idx_labels(train[1]),
        "test_images": idx_images(test[0]),
        "test_labels": idx_labels(test[1]),
    }
    for key, name in FILES.items():
        if gz:
            (directory / (name + ".gz")).write_bytes(gzip.compress(blobs[key], mtime=0))
        else:
            (directory / name).write_bytes(blobs[key])
    return directory
