"""``mnist-tui data``: where the data set comes from, and fetching it ahead of time."""

from __future__ import annotations

import argparse

from .common import DEFAULT_DATASET, ArgumentParser, data_options, fail


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="mnist-tui data", description="Show where the data set comes from, and fetch it.")
    data_options(p)
    p.set_defaults(dataset=DEFAULT_DATASET)
    p.add_argument("--no-fetch", action="store_true", help="only show the sources; fetch nothing")
    return p


def run(args: argparse.Namespace) -> int:
    from ..engine import data

    for line in data.describe(args.dataset, args.data_dir):
        print(line)
    if args.no_fetch:
        return 0
    try:
        resolved = data.resolve(args.dataset, args.data_dir, log=lambda m: print(f"  {m}"), allow_download=True)
        arrays = data.load_arrays(resolved)
    except data.DataError as exc:
        fail(str(exc))
    print(
        f"ready: {resolved.name} from {resolved.source}: {len(arrays.train_labels):,} training and "
        f"{len(arrays.test_labels):,} test images, checked"
    )
    return 0
