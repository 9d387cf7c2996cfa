"""The Range header of an object GET: which bytes it asks for, which ones are ignored, which cannot be served."""

from __future__ import annotations

import pytest
from storage_node.objects_asgi import byte_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=2-5", 10, (2, 5)),
        ("bytes=2-", 10, (2, 9)),
        ("bytes=5-100", 10, (5, 9)),  # past the end: up to the end
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        (" Bytes = 1-2 ", 10, (1, 2)),
        ("bytes=0-1,4-5", 10, None),  # several ranges: the whole object
        ("items=0-1", 10, None),
        ("bytes=5-2", 10, None),  # malformed: ignored
        ("bytes=a-b", 10, None),
        ("bytes=-", 10, None),
        ("bytes=1", 10, None),
    ],
)
def test_a_range_header_asks_for_these_bytes(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=-0", 10), ("bytes=0-", 0)]
)
def test_a_range_past_the_end_cannot_be_served(header: str, size: int) -> None:
    with pytest.raises(ValueError, match="bytes="):
        byte_range(header, size)
