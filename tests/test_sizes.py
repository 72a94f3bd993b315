"""Sizes as users write them (``jobforge.storage.sizes``): binary units only."""

from __future__ import annotations

import pytest

from jobforge.storage.sizes import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("64MiB", 64 * 1024 * 1024),
        ("4KiB", 4096),
        (" 2 GiB ", 2 * 1024**3),
        ("512B", 512),
        ("512", 512),
        (4017, 4017),
    ],
)
def test_sizes_are_read(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["64MB", "64mib", "1.5MiB", "0", "0KiB", -1, "", "MiB", True])
def test_a_bad_size_says_what_is_expected(text: str | int) -> None:
    with pytest.raises(ValueError, match=r"expected a whole number of bytes .* got "):
        parse_size(text)


def test_a_size_is_shown_in_the_largest_unit_that_divides_it() -> None:
    assert format_size(128 * 1024 * 1024) == "128MiB"
    assert format_size(4096) == "4KiB"
    assert format_size(4017) == "4017B"
    assert format_size(3 * 1024**3) == "3GiB"
