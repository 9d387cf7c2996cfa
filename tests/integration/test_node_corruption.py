"""Copies corrupted on disk, on real node processes: never served, counted, repaired from another holder."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from storage_node import fileio, maps
from storage_node.store import read_header
from storage_node.store.format import path_of

from tests.integration.harness import BUCKET, Cluster, NodeProc, admin_headers, upload, verify_readable, wait_for
from tests.integration.test_node_copies import with_copies


def _file(node: NodeProc, name: str) -> Path:
    return path_of(str(node.mountpaths[0]), BUCKET, name)


def flip(node: NodeProc, name: str) -> None:
    """Flip a few bytes in the middle of the data of `node`'s copy of `name`, keeping the file's size."""
    path = _file(node, name)
    with open(path, "r+b") as fh:
        parsed = read_header(fh)
        assert parsed is not None
        meta, offset = parsed
        at = offset + meta.size // 2
        fh.seek(at)
        old = fh.read(4)
        fh.seek(at)
        fh.write(bytes(b ^ 0x5A for b in old))


def data_checksum(node: NodeProc, name: str) -> str | None:
    """The checksum of the data in `node`'s file of `name` as it is on disk now (None: no file)."""
    try:
        with open(_file(node, name), "rb") as fh:
            parsed = read_header(fh)
            assert parsed is not None
            return fileio.checksum(fh.read())
    except FileNotFoundError:
        return None


def counted(nodes: list[NodeProc], metric: str) -> float:
    """The sum of a counter over `nodes`."""
    total = 0.0
    for node in nodes:
        for family in text_string_to_metric_families(httpx.get(node.url + "/metrics", timeout=10).text):
            total += sum(s.value for s in family.samples if s.name == metric)
    return total


def test_with_two_copies_a_copy_corrupted_on_disk_is_not_served_and_is_repaired(cluster: Cluster) -> None:
    urls = with_copies(cluster, 3, 2)
    sizes = {"small-on-primary": 20_000, "large-on-primary": 3 << 20, "small-on-second": 5_000}
    expected = upload(urls, {n: sizes[n] for n in sizes})
    placement = maps.Placement(cluster.map)  # type: ignore[arg-type]
    holders = {n: [cluster.nodes[h.id] for h in placement.holders(BUCKET, n)] for n in sizes}
    bad = {
        "small-on-primary": holders["small-on-primary"][0],  # the primary serves its copy without asking
        "large-on-primary": holders["large-on-primary"][0],
        "small-on-second": holders["small-on-second"][1],  # read by the other nodes only
    }
    nodes = list(cluster.nodes.values())
    before = counted(nodes, "ferry_node_corrupt_copies_total")
    for name, node in bad.items():
        flip(node, name)
        assert data_checksum(node, name) != expected[name]

    verify_readable(urls, expected)  # through every node: all 200, every byte right
    second = bad["small-on-second"]
    with httpx.Client(timeout=30) as http:  # how another node fetches a copy from it
        r = http.get(f"{second.url}/v1/internal/objects/{BUCKET}/small-on-second", headers=admin_headers())
    assert r.status_code == 404 or fileio.checksum(r.content) == expected["small-on-second"], "bad bytes sent"

    def repaired() -> bool:
        return all(data_checksum(node, name) == expected[name] for name, node in bad.items())

    wait_for("the corrupt copies repaired on disk", repaired, timeout=30)
    assert counted(nodes, "ferry_node_corrupt_copies_total") - before == 3
    assert counted(nodes, "ferry_node_repaired_copies_total") >= 3
    verify_readable(urls, expected)
    cluster.assert_copies(expected)


def test_with_one_copy_a_corrupt_copy_answers_500_corrupt_copy_through_every_node(cluster: Cluster) -> None:
    urls = cluster.form(3)
    expected = upload(urls, {"only-copy": 50_000, "large-only-copy": 2 << 20})
    placement = maps.Placement(cluster.map)  # type: ignore[arg-type]
    for name in expected:
        flip(cluster.nodes[placement.owner(BUCKET, name).id], name)
    with httpx.Client(follow_redirects=True, timeout=30) as http:
        for url in urls:
            for name in expected:
                r = http.get(f"{url}/v1/objects/{BUCKET}/{name}")
                assert r.status_code == 500, (url, name, r.status_code)
                assert r.json()["error"] == "corrupt copy" and name in r.json()["detail"]
    assert counted(list(cluster.nodes.values()), "ferry_node_corrupt_copies_total") == 2
    assert os.listdir(cluster.nodes[placement.owner(BUCKET, "only-copy").id].mountpaths[0] / "ferry" / "trash")
