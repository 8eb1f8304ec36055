"""How numbers look on screen (pure functions). A value that could not be read prints as N/A."""

from __future__ import annotations

import math
from collections.abc import Sequence

NA = "N/A"


def duration(seconds: float | None) -> str:
    """1:05, 12:34, 1:02:03; N/A for None or a negative or non-finite value."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return NA
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def size(num_bytes: float | None) -> str:
    """Binary units, three significant digits: 812 MiB, 1.52 GiB."""
    if num_bytes is None:
        return NA
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
        value /= 1024
    return NA  # unreachable


def percent(value: float | None, digits: int = 0) -> str:
    """A 0..100 value as a percentage."""
    return NA if value is None else f"{value:.{digits}f}%"


def fraction(value: float | None, digits: int = 2) -> str:
    """A 0..1 value as a percentage (accuracies)."""
    return NA if value is None else f"{100.0 * value:.{digits}f}%"


def count(value: int | None) -> str:
    return NA if value is None else f"{value:,}"


def number(value: float | None, fmt: str = ".0f", unit: str = "") -> str:
    return NA if value is None else f"{value:{fmt}}{unit}"


def rate(images_per_second: float | None) -> str:
    if images_per_second is None or images_per_second <= 0:
        return NA
    if images_per_second >= 10_000:
        return f"{images_per_second / 1000:.1f}k img/s"
    return f"{images_per_second:,.0f} img/s"


def eta(remaining_steps: int | None, batch_size: int | None, images_per_second: float | None) -> float | None:
    """Seconds left: remaining steps x batch / throughput; None when it cannot be known."""
    if remaining_steps is None or not batch_size or not images_per_second or images_per_second <= 0:
        return None
    return max(0, remaining_steps) * batch_size / images_per_second


def learning_rate(value: float | None) -> str:
    """A learning rate in up to three significant digits: 3e-04, 2.7e-05, 0.01, 0.3; N/A when unknown."""
    if value is None or not math.isfinite(value):
        return NA
    if value == 0 or 1e-2 <= abs(value) < 1e3:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"


def short_name(name: str) -> str:
    """'7 - seven' (torchvision's MNIST names) -> '7'; other names stay as they are."""
    head, sep, _ = name.partition(" - ")
    return head if sep else name


def class_label(class_names: Sequence[str], index: int, *, short: bool = True, width: int | None = None) -> str:
    """How a class shows: its short name (its full one if not ``short``), or its number when it has no name
    or when the name is longer than ``width`` characters (a matrix column, the error list)."""
    if 0 <= index < len(class_names):
        name = short_name(class_names[index]) if short else class_names[index]
        if width is None or len(name) <= width:
            return name
    return str(index)
