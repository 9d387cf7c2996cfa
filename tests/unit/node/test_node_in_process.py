"""One node served in-process through httpx's ASGI transport: the data path's answers and the guard, no sockets."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from storage_node import auth
from storage_node.app import create_app
from storage_node.config import Config
from storage_node.limits import Limits
from storage_node.node import Node
from storage_node.schemas import ClusterMap, NodeEntry, Settings

SECRET = "in-process-secret-0123456789abcdef0123456789"
URL = "http://127.0.0.1:1"


@asynccontextmanager
async def served(root: Path, **limits: float) -> AsyncIterator[httpx.AsyncClient]:
    """A started node (one-node map, bucket "b") and a client that talks to its app in-process."""
    cfg = Config(
        node_id="n",
        host="127.0.0.1",
        port=1,
        mountpaths=[str(root / "mp")],
        state_dir=root / "state",
        auth_secret=SECRET,
        settings=Settings(),
        bundle_port=-1,
        limits=Limits(**limits),  # type: ignore[arg-type]
    )
    app = create_app(cfg)
    node: Node = app.node
    await node.start()
    try:
        await node.install_map(ClusterMap(version=1, rebalance_id="g1", nodes={"n": NodeEntry(id="n", url=URL)}))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=URL) as client:
            assert (await client.put("/v1/buckets/b")).status_code == 200
            yield client
    finally:
        await node.stop()


def run(root: Path, test: Callable[[httpx.AsyncClient], Awaitable[None]], **limits: float) -> None:
    async def main() -> None:
        async with served(root, **limits) as client:
            await test(client)

    asyncio.run(main())


def token() -> dict[str, str]:
    return {"Authorization": f"Bearer {auth.issue_token(SECRET)}"}


def test_an_object_written_reads_back_with_its_checksum_and_a_deleted_one_is_gone(tmp_path: Path) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        data = b"x" * 3000
        r = await client.put("/v1/objects/b/dir/obj", content=data)
        assert r.status_code == 200, r.text
        assert r.json()["size"] == 3000
        got = await client.get("/v1/objects/b/dir/obj")
        assert got.content == data
        assert got.headers["x-ferry-checksum"] == r.json()["checksum"]
        head = await client.head("/v1/objects/b/dir/obj")
        assert head.headers["content-length"] == "3000" and head.content == b""
        listed = (await client.get("/v1/buckets/b")).json()["objects"]
        assert [(o["name"], o["size"]) for o in listed] == [("dir/obj", 3000)]
        assert (await client.delete("/v1/objects/b/dir/obj")).status_code == 200
        assert (await client.get("/v1/objects/b/dir/obj")).status_code == 404
        assert (await client.delete("/v1/objects/b/dir/obj")).status_code == 404
        assert (await client.get("/v1/objects/nobucket/x")).json()["error"] == "no such bucket"

    run(tmp_path, test)


def test_a_large_object_streams_from_its_file_and_a_wrong_checksum_is_refused(tmp_path: Path) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        data = bytes(range(256)) * 8192  # 2 MiB: streamed, not read whole
        assert (await client.put("/v1/objects/b/big", content=data)).status_code == 200
        got = await client.get("/v1/objects/b/big")
        assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
        r = await client.put("/v1/objects/b/big", content=b"other", headers={"x-ferry-checksum": "0" * 16})
        assert (r.status_code, r.json()["error"]) == (400, "bad checksum")
        assert (await client.get("/v1/objects/b/big")).content == data  # the previous version is untouched

    run(tmp_path, test)


def test_the_guard_refuses_before_the_app_reads_the_body(tmp_path: Path) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        big = b"[" * (2 << 20)
        assert (await client.put("/v1/admin/settings", content=big)).status_code == 401
        r = await client.put("/v1/admin/settings", content=big, headers=token())
        assert (r.status_code, r.json()["error"]) == (413, "body too large")
        assert (await client.put("/v1/objects/b/bad%FF", content=b"x")).status_code == 400
        assert (await client.get("/openapi.json")).status_code == 404
        r = await client.put("/v1/internal/buckets", json={"../../x": [1, False]}, headers=token())
        assert r.status_code == 422 and r.json()["error"] == "invalid request"

    run(tmp_path, test, max_json_body=1 << 20)


def test_a_body_that_pauses_too_long_is_refused_and_leaves_no_temp_file(tmp_path: Path) -> None:
    async def slow() -> AsyncIterator[bytes]:
        yield b"first piece"
        await asyncio.sleep(2)
        yield b"too late"

    async def test(client: httpx.AsyncClient) -> None:
        r = await client.put("/v1/objects/b/slow", content=slow())
        assert (r.status_code, r.json()["error"]) == (408, "body timeout")
        assert r.headers["connection"] == "close"
        assert (await client.get("/v1/objects/b/slow")).status_code == 404
        assert list((tmp_path / "mp" / "ferry" / "tmp").iterdir()) == []

    run(tmp_path, test, body_timeout_s=0.5)


def test_concurrent_large_writes_of_one_object_leave_the_newest_version(tmp_path: Path) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        bodies = [bytes([i]) * (600 << 10) for i in range(8)]  # over OFF_LOOP_BYTES: finished in threads
        answers = await asyncio.gather(*(client.put("/v1/objects/b/same", content=b) for b in bodies))
        assert [r.status_code for r in answers] == [200] * 8
        newest = max(range(8), key=lambda i: answers[i].json()["version"])
        got = await client.get("/v1/objects/b/same")
        assert got.content == bodies[newest]
        assert got.headers["x-ferry-version"] == str(answers[newest].json()["version"])
        assert list((tmp_path / "mp" / "ferry" / "tmp").iterdir()) == []
        r = await client.put("/v1/admin/settings", json={"fsync": True}, headers=token())
        assert r.status_code == 200 and r.json()["fsync"] is True
        assert (await client.put("/v1/objects/b/synced", content=b"s" * 100)).status_code == 200
        assert (await client.get("/v1/objects/b/synced")).content == b"s" * 100

    run(tmp_path, test)


def test_a_range_of_a_small_and_of_a_large_object_is_served_from_its_copy(tmp_path: Path) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        small, large = bytes(range(256)) * 4, bytes(range(251)) * 12000  # read whole; streamed from its file
        for name, data in (("small", small), ("large", large)):
            put = await client.put(f"/v1/objects/b/{name}", content=data)
            size = len(data)
            for asked, first, last in (
                ("bytes=0-9", 0, 9),
                ("bytes=100-", 100, size - 1),
                ("bytes=-7", size - 7, size - 1),
            ):
                r = await client.get(f"/v1/objects/b/{name}", headers={"range": asked})
                assert r.status_code == 206, (name, asked, r.status_code)
                assert r.content == data[first : last + 1], (name, asked)
                assert r.headers["content-range"] == f"bytes {first}-{last}/{size}"
                assert r.headers["x-ferry-checksum"] == put.json()["checksum"]  # the whole object's
            past = await client.get(f"/v1/objects/b/{name}", headers={"range": f"bytes={size}-"})
            assert (past.status_code, past.json()["error"]) == (416, "range not satisfiable")
            assert past.headers["content-range"] == f"bytes */{size}"
            whole = await client.get(f"/v1/objects/b/{name}", headers={"range": "bytes=0-1,5-6"})  # several: ignored
            assert (whole.status_code, whole.content) == (200, data)
            assert whole.headers["accept-ranges"] == "bytes"
        head = await client.head("/v1/objects/b/small", headers={"range": "bytes=0-9"})
        assert (head.status_code, head.headers["content-length"]) == (200, str(len(small)))

    run(tmp_path, test)


def test_an_intra_cluster_request_meant_for_another_node_is_refused_and_deletes_nothing(tmp_path: Path) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        put = await client.put("/v1/objects/b/kept", content=b"still here")
        version = int(put.json()["version"]) + 1
        other = {**token(), "x-ferry-to": "n-old"}  # the pod address of n-old is this node's now
        r = await client.delete("/v1/internal/objects/b/kept", params={"version": version}, headers=other)
        assert (r.status_code, r.json()["error"], r.headers["x-ferry-node"]) == (421, "misdirected", "n")
        assert (await client.head("/v1/internal/objects/b/kept", headers=other)).status_code == 421
        assert (await client.get("/v1/objects/b/kept")).content == b"still here"
        meant = {**token(), "x-ferry-to": "n"}
        r = await client.delete("/v1/internal/objects/b/kept", params={"version": version}, headers=meant)
        assert r.status_code == 200 and r.json()["existed"] is True
        assert (await client.get("/v1/objects/b/kept")).status_code == 404

    run(tmp_path, test)
