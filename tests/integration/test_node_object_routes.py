"""The object routes on a real node process: clients that go away mid-request, a slow reader, a range read.

What a user would notice: an upload cut off leaves nothing visible and no temp file; a download cut off
frees its file; a client that reads slowly does not make the node hold the object in memory; the node
answers the next request every time.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.integration.harness import BUCKET, Cluster, NodeProc, wait_for

MIB = 1 << 20


def _connect(node: NodeProc) -> socket.socket:
    parts = urlsplit(node.url)
    assert parts.hostname is not None and parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def _open_fds(node: NodeProc) -> int:
    assert node.proc is not None
    return len(os.listdir(f"/proc/{node.proc.pid}/fd"))


def _rss(node: NodeProc) -> int:
    assert node.proc is not None
    for line in Path(f"/proc/{node.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _temp_files(node: NodeProc) -> list[Path]:
    return [f for mp in node.mountpaths for f in (mp / "ferry" / "tmp").iterdir()]


def _put_big(node: NodeProc, name: str, size: int) -> str:
    data = os.urandom(MIB) * (size // MIB)
    with httpx.Client(timeout=60) as http:
        assert http.put(f"{node.url}/v1/objects/{BUCKET}/{name}", content=data).status_code == 200
    return hashlib.sha256(data).hexdigest()


def test_an_upload_cut_off_leaves_nothing_and_a_download_cut_off_frees_its_file(cluster: Cluster) -> None:
    cluster.form(1)
    node = cluster.nodes["n0"]
    _put_big(node, "big", 64 * MIB)
    with httpx.Client(timeout=30) as http:
        http.get(f"{node.url}/v1/objects/{BUCKET}/big", headers={"range": "bytes=0-0"})  # (first use of the path)
    fds = _open_fds(node)
    for attempt in range(5):
        # an upload announced as 8 MiB, cut after 1 MiB
        with _connect(node) as s:
            head = f"PUT /v1/objects/{BUCKET}/cut-{attempt} HTTP/1.1\r\nhost: n0\r\ncontent-length: {8 * MIB}\r\n\r\n"
            s.sendall(head.encode() + b"x" * MIB)
        # a download of 64 MiB, cut after its first MiB
        with _connect(node) as s:
            s.sendall(f"GET /v1/objects/{BUCKET}/big HTTP/1.1\r\nhost: n0\r\n\r\n".encode())
            got = 0
            while got < MIB:
                got += len(s.recv(256 << 10))
    wait_for("no temp file left", lambda: not _temp_files(node), timeout=30, interval=0.2)
    wait_for("the cut downloads' files closed", lambda: _open_fds(node) <= fds, timeout=30, interval=0.2)
    with httpx.Client(timeout=30) as http:
        for attempt in range(5):
            assert http.get(f"{node.url}/v1/objects/{BUCKET}/cut-{attempt}").status_code == 404
        assert http.put(f"{node.url}/v1/objects/{BUCKET}/after", content=b"still serving").status_code == 200
        assert http.get(f"{node.url}/v1/objects/{BUCKET}/after").content == b"still serving"
        listed = http.get(f"{node.url}/v1/buckets/{BUCKET}").json()["objects"]
        assert sorted(o["name"] for o in listed) == ["after", "big"]


def test_a_slow_reader_of_a_large_object_does_not_make_the_node_hold_it_in_memory(cluster: Cluster) -> None:
    cluster.form(1)
    node = cluster.nodes["n0"]
    size = 256 * MIB
    digest = _put_big(node, "huge", size)
    before = _rss(node)
    with _connect(node) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        s.sendall(f"GET /v1/objects/{BUCKET}/huge HTTP/1.1\r\nhost: n0\r\n\r\n".encode())
        read = b""
        while b"\r\n\r\n" not in read:
            read += s.recv(4096)
        head, _, first = read.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:100]
        h = hashlib.sha256(first)
        got = len(first)
        peak = 0
        for _ in range(40):  # slowly: 40 reads of 64 KiB over 2 s, while the node could send it all
            piece = s.recv(64 << 10)
            h.update(piece)
            got += len(piece)
            time.sleep(0.05)
            peak = max(peak, _rss(node) - before)
        while got < size:  # then the rest at full speed: every byte arrives, in order
            piece = s.recv(1 << 20)
            assert piece, f"the connection ended after {got} of {size} bytes"
            h.update(piece)
            got += len(piece)
    assert h.hexdigest() == digest
    # the node sends from the file in pieces of 4 MiB and waits for the socket: far less than the object
    assert peak < 48 * MIB, f"the node's memory grew by {peak / MIB:.0f} MiB for a reader that took little"
