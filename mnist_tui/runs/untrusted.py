"""What a run's files and paths say, taken as untrusted: a JSON line that parses or None, text fit to print.

Anyone with write access to a run directory (or a copy of one from elsewhere) decides what its files hold and
what its directories are called. ``json_value`` never raises on a line: a line too long, too deeply nested
(``[[[[...`` 100,000 deep makes ``json.loads`` raise RecursionError) or not JSON is None, a damaged line.
``printable`` escapes control characters (an escape sequence in a directory name would otherwise be sent to
the terminal as it is) for anything printed from a path or a file's contents.
Stdlib only.
"""

from __future__ import annotations

import json
import math
from typing import Any

# Longer lines are damaged: what mnist-tui writes is a few kilobytes a line at most (a step's losses, a
# snapshot's misclassified digits are the longest, well under this).
MAX_LINE_BYTES = 4 << 20


def json_value(line: bytes | str, *, max_bytes: int = MAX_LINE_BYTES) -> Any | None:
    """The JSON value of ``line``; None for a line that is not JSON, too long, or nested too deeply."""
    if len(line) > max_bytes:
        return None
    try:
        return json.loads(line)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None


def json_object(line: bytes | str, *, max_bytes: int = MAX_LINE_BYTES) -> dict[str, Any] | None:
    """``json_value`` when it is an object (what every line of metrics.jsonl is), else None."""
    value = json_value(line, max_bytes=max_bytes)
    return value if isinstance(value, dict) else None


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool, not a string), else None."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def printable(text: object) -> str:
    """``text`` with its control characters (and other unprintable ones) escaped, as Python writes them
    (``\\x1b``, ``\\n``): what is printed from a path or a file shows as it is and never steers the terminal."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
