"""Sizes of files as users write them (``"64MiB"``, ``"4KiB"``, ``"1GiB"``, ``"512B"``).

Binary units only (a KiB is 1024 bytes): a size given here is compared with
file sizes on disk, and ``"64MB"`` would leave the reader guessing whether it
meant 64 000 000 or 64 Mi bytes.
"""

from __future__ import annotations

import re

UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}

EXPECTED = (
    'a whole number of bytes or a size such as "64MiB" (units B, KiB, MiB, GiB, TiB), above 0'
)
"""What a size must look like (error messages name it)."""

_SIZE = re.compile(r"\s*(\d+)\s*([A-Za-z]*)\s*")


def parse_size(value: str | int) -> int:
    """The bytes of ``value`` (``"64MiB"`` -> 67108864; an int is bytes);
    ``ValueError`` saying what is expected when it is not a size above 0."""
    if isinstance(value, bool):
        raise ValueError(f"expected {EXPECTED}, got {value!r}")
    if isinstance(value, int):
        number, unit = value, "B"
    else:
        match = _SIZE.fullmatch(value)
        if match is None or (match.group(2) or "B") not in UNITS:
            raise ValueError(f"expected {EXPECTED}, got {value!r}")
        number, unit = int(match.group(1)), match.group(2) or "B"
    if number <= 0:
        raise ValueError(f"expected {EXPECTED}, got {value!r}")
    return number * UNITS[unit]


def format_size(size: int) -> str:
    """``size`` bytes in the largest unit that divides it (67108864 -> ``"64MiB"``)."""
    for unit, factor in reversed(UNITS.items()):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"  # pragma: no cover - B divides every size
