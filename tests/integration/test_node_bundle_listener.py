"""The raw rebalance-bundle listener: announced, token-checked, verifies checksums, HTTP still works as fallback."""

from __future__ import annotations

import functools
import json
import os
import socket
import struct
import threading
from collections.abc import Mapping
from pathlib import Path

import httpx
from storage_node import auth, fileio
from storage_node.rebalance import sending
from storage_node.rebalance.bundles import FrameHeader
from storage_node.schemas import NodeFlag

from tests.integration.harness import (
    BUCKET,
    SECRET,
    Cluster,
    admin_headers,
    mixed_sizes,
    upload,
    verify_readable,
)

_LEN = struct.Struct(">I")


def _port(url: str) -> int | None:
    r = httpx.get(f"{url}/v1/internal/rebalance/endpoint", headers=admin_headers(), timeout=10)
    assert r.status_code == 200
    port = r.json()["port"]
    assert port is None or isinstance(port, int)
    return port


def _hello(host: str, port: int, hello: Mapping[str, object]) -> object:
    with socket.create_connection((host, port), timeout=10) as s:
        body = json.dumps(hello).encode()
        s.sendall(_LEN.pack(len(body)) + body)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + _LEN.unpack(buf[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return json.loads(buf[4:])


def _open(path: Path) -> tuple[int, int]:
    return os.open(path, os.O_RDONLY), 0


def test_listener_is_announced_and_checks_token_and_target(cluster: Cluster) -> None:
    a = cluster.add_node("a")
    assert httpx.get(f"{a.url}/v1/internal/rebalance/endpoint", timeout=10).status_code == 401
    port = _port(a.url)
    assert port is not None
    good = auth.issue_token(SECRET)
    other = auth.issue_token("another-secret-0123456789abcdef0123456789")
    base = {"to": "a", "from": "x", "reb": "g1"}
    for bad in ({**base, "token": ""}, {**base, "token": "junk"}, {**base, "token": other}):
        answer = _hello(a.host, port, bad)
        assert isinstance(answer, dict) and "unauthorized" in answer["error"]
    answer = _hello(a.host, port, {**base, "token": good, "to": "b"})
    assert isinstance(answer, dict) and "error" in answer
    answer = _hello(a.host, port, {**base, "token": good, "reb": "nope"})
    assert isinstance(answer, dict) and "error" in answer


def test_listener_verifies_checksums_and_versions(cluster: Cluster, tmp_path: Path) -> None:
    a = cluster.add_node("a")
    cluster.push_map(cluster.make_map(1, 1))
    cluster.wait_rebalance("g1")
    with cluster.client(a) as c:
        c.create_bucket(BUCKET)
        bucket_version = 0
        newer = c.put_object(BUCKET, "newer", b"client data")
    port = _port(a.url)
    assert port is not None
    good, bad = b"g" * 300_000, b"b" * 1000
    files = {"good": good, "bad": bad, "newer": b"stale copy", "old": b"older than the bucket"}
    versions = {"newer": newer.version - 1, "old": 1}
    items = []
    for name, data in files.items():
        cksum = fileio.checksum(data) if name != "bad" else fileio.checksum(b"something else")
        version = versions.get(name, 2**62)
        frame = FrameHeader(BUCKET, name, len(data), cksum, version, bucket_version)
        path = tmp_path / name
        path.write_bytes(data)
        items.append(sending.Item(frame, functools.partial(_open, path)))
    hello = {"token": auth.issue_token(SECRET), "to": "a", "from": "x", "reb": "g1", "mv": 1}
    sent, verdicts = sending.send_raw(
        a.host, port, hello, items, sending.Throttle(lambda: 0), threading.Event(), timeout=30
    )
    assert [i.frame.name for i in sent] == ["good", "bad", "newer", "old"]
    assert verdicts == ["ok", "bad", "newer", "gone"]
    with cluster.client(a) as c:
        assert c.get_object(BUCKET, "good").data == good
        got = c.get_object(BUCKET, "newer")
        assert (got.data, got.version) == (b"client data", newer.version)
        assert c.status().objects == 2
    assert not any((a.mountpaths[0] / "ferry" / "tmp").iterdir()), "no temp file left behind"


def test_drain_falls_back_to_http_without_listener(cluster: Cluster) -> None:
    cluster.add_node("n0")
    cluster.add_node("n1", 1, "--bundle-port", "-1")
    assert _port(cluster.nodes["n1"].url) is None
    assert _port(cluster.nodes["n0"].url) is not None
    cluster.push_map(cluster.make_map(1, 1, {"n1": [NodeFlag.maintenance]}))
    cluster.wait_rebalance("g1")
    with cluster.client(cluster.nodes["n0"]) as c:
        c.create_bucket(BUCKET)
    urls = [n.url for n in cluster.nodes.values()]
    expected = upload(urls, mixed_sizes(300))
    # everything moves n0 -> n1 over HTTP (n1 has no listener), then back n1 -> n0 over the listener
    cluster.push_map(cluster.make_map(2, 2, {"n0": [NodeFlag.maintenance]}))
    cluster.wait_rebalance("g2")
    assert not cluster.holdings()["n0"]
    cluster.assert_in_place(expected)
    cluster.push_map(cluster.make_map(3, 3, {"n1": [NodeFlag.maintenance]}))
    cluster.wait_rebalance("g3")
    assert not cluster.holdings()["n1"]
    cluster.assert_in_place(expected)
    verify_readable(urls, expected)
