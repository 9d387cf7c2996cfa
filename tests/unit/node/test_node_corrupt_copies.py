"""Copies corrupted on disk: the store never hands their bytes out, takes them out of service and says so."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest
from storage_node import fileio
from storage_node.store import CorruptCopy
from storage_node.store.format import path_of

from tests.unit.node.test_node_in_process import run, token
from tests.unit.node.test_node_store import _put, _store


def flip(path: Path, size: int, at: int = 10) -> None:
    """Flip one byte of an object file's data (the last `size` bytes), keeping its size, as bit rot would."""
    with open(path, "r+b") as fh:
        fh.seek(os.path.getsize(path) - size + at)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0xFF]))


def _trash(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "mp" / "ferry" / "trash").iterdir())


def test_a_small_copy_with_a_flipped_byte_is_refused_and_taken_out_of_service(tmp_path: Path) -> None:
    store = _store(tmp_path)
    meta, good = _put(store, "bad", b"a" * 1000), _put(store, "good", b"g" * 1000)
    flip(path_of(meta.mountpath, "b", "bad"), meta.size)

    with pytest.raises(CorruptCopy, match="b/bad"):
        store.read_checked(meta)
    assert store.get("b", "bad") is None, "out of the index: never listed, reported or sent by the rebalance"
    assert [m.name for m in store.snapshot()] == ["good"] and store.total_objects == 1
    assert store.quarantined("b", "bad") == meta.version
    assert not path_of(meta.mountpath, "b", "bad").exists()
    assert len(_trash(tmp_path)) == 1, "the file is kept aside for inspection until the node restarts"
    assert store.read_checked(meta) is None, "found only once"
    assert store.read_checked(good) == b"g" * 1000 and store.quarantined("b", "good") is None


def test_a_large_copy_is_checked_before_any_byte_is_handed_out(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = bytes(range(256)) * 12288  # 3 MiB: streamed to disk, sent from a descriptor
    meta, good = _put(store, "bad", data), _put(store, "good", data)
    flip(path_of(meta.mountpath, "b", "bad"), meta.size, at=len(data) - 1)  # its very last byte

    async def check() -> None:
        with pytest.raises(CorruptCopy):
            await store.open_checked(meta)
        opened = await store.open_checked(good)
        assert opened is not None
        fd, offset = opened
        try:
            assert os.pread(fd, good.size, offset) == data
        finally:
            os.close(fd)

    asyncio.run(check())
    assert store.get("b", "bad") is None and store.get("b", "good") is good


def test_a_file_whose_header_is_gone_is_corrupt_too(tmp_path: Path) -> None:
    store = _store(tmp_path)
    meta = _put(store, "k", b"data")
    path = path_of(meta.mountpath, "b", "k")
    path.write_bytes(b"\0" * os.path.getsize(path))
    with pytest.raises(CorruptCopy):
        store.read_checked(meta)
    assert store.get("b", "k") is None


def test_a_copy_replaced_by_a_newer_write_is_not_taken_for_corrupt(tmp_path: Path) -> None:
    store = _store(tmp_path)
    old = _put(store, "k", b"old")
    new = _put(store, "k", b"new!")
    assert store.read_checked(old) is None, "the old version is gone: nothing to serve, nothing corrupt"
    assert store.get("b", "k") is new and store.quarantined("b", "k") is None
    assert store.read_checked(new) == b"new!"


def test_a_repaired_copy_and_a_dropped_bucket_leave_no_trace_of_the_corruption(tmp_path: Path) -> None:
    store = _store(tmp_path)
    meta = _put(store, "k", b"x" * 100)
    flip(path_of(meta.mountpath, "b", "k"), meta.size)
    with pytest.raises(CorruptCopy):
        store.read_checked(meta)
    tmp = store.begin_migrating("b", "k", meta.size, meta.version, meta.cksum)  # a good copy from another node
    tmp.write(b"x" * 100)
    store.commit_migrating(tmp, meta.version, meta.cksum)
    repaired = store.get("b", "k")
    assert repaired is not None and store.read_checked(repaired) == b"x" * 100
    store.drop_bucket("b")
    assert store.quarantined("b", "k") is None


def test_with_one_copy_a_corrupt_object_answers_500_corrupt_copy_never_its_bytes(tmp_path: Path) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        counted = await _corrupt_counted(client)
        small, large = b"s" * 5000, os.urandom(3 << 20)
        for name, data in (("small", small), ("large", large)):
            assert (await client.put(f"/v1/objects/b/{name}", content=data)).status_code == 200
            flip(path_of(str(tmp_path / "mp"), "b", name), len(data), at=len(data) // 2)
        for name in ("small", "large"):
            r = await client.get(f"/v1/objects/b/{name}")
            assert r.status_code == 500, (name, r.status_code)
            assert r.json()["error"] == "corrupt copy" and f"b/{name}" in r.json()["detail"]
            assert (await client.get(f"/v1/objects/b/{name}")).status_code == 500, "and so it stays"
            internal = await client.get(f"/v1/internal/objects/b/{name}", headers=token())
            assert internal.status_code == 404, "other nodes are never sent the bad bytes either"
        listed = (await client.get("/v1/buckets/b")).json()["objects"]
        assert listed == []
        assert await _corrupt_counted(client) == counted + 2
        # a new write of the object is served as ever
        assert (await client.put("/v1/objects/b/small", content=b"fresh")).status_code == 200
        got = await client.get("/v1/objects/b/small")
        assert got.status_code == 200 and got.content == b"fresh"
        assert got.headers["x-ferry-checksum"] == fileio.checksum(b"fresh")

    run(tmp_path, test)


async def _corrupt_counted(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    return next(
        float(line.split()[1]) for line in text.splitlines() if line.startswith("ferry_node_corrupt_copies_total")
    )
