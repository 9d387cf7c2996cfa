"""Rebalance bundle framing, parsed from arbitrarily split chunks."""

from __future__ import annotations

from collections.abc import Callable

from storage_node.rebalance.bundles import END, FrameHeader, Reader


def _chunks(data: bytes, size: int) -> Callable[[memoryview], int]:
    """A recv_into handing out `data` in pieces of at most `size` bytes, as a socket might."""
    pos = 0

    def recv_into(view: memoryview) -> int:
        nonlocal pos
        n = min(size, len(view), len(data) - pos)
        view[:n] = data[pos : pos + n]
        pos += n
        return n

    return recv_into


def _parse(data: bytes, size: int) -> list[tuple[FrameHeader, bytes]]:
    reader = Reader(_chunks(data, size))
    out = []
    while (h := reader.frame()) is not None:
        buf = bytearray()
        reader.stream(h.size, buf.extend)
        out.append((h, bytes(buf)))
    return out


def test_frames_roundtrip_for_any_chunking() -> None:
    objs = [(f"dir/ö{i}", bytes([i]) * (i * 37)) for i in range(20)]
    wire = b"".join(FrameHeader("bk", n, len(d), "c" * 32, 1000 + i, 7).encode() + d for i, (n, d) in enumerate(objs))
    wire += END
    for size in (1, 3, 64, 4096, len(wire)):
        parsed = _parse(wire, size)
        assert [(h.name, d) for h, d in parsed] == objs
        assert [h.version for h, _ in parsed] == list(range(1000, 1020))


def test_truncated_bundle_raises() -> None:
    wire = FrameHeader("bk", "n", 10, "c", 1, 1).encode() + b"12345"
    try:
        _parse(wire, 4)
    except EOFError:
        return
    raise AssertionError("expected EOFError")


def test_throttle_applies_a_changed_rate_within_a_slice() -> None:
    import threading

    from storage_node.rebalance.sending import Throttle

    rate = {"value": 1024}
    throttle = Throttle(lambda: rate["value"])
    stop = threading.Event()
    done = threading.Event()

    def send() -> None:
        throttle.wait(10 * 1024 * 1024, stop)  # ~3 hours at 1 KiB/s
        done.set()

    worker = threading.Thread(target=send, daemon=True)
    worker.start()
    assert not done.wait(0.3), "the low rate holds the sender back"
    rate["value"] = 0  # unlimited
    assert done.wait(30), "lifting the throttle releases the sender (not after its old reservation)"
