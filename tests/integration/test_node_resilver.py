"""Mountpaths change: objects move to their proper local mountpath, reads keep working."""

from __future__ import annotations

from storage_node import hrw

from tests.integration.harness import (
    BUCKET,
    Cluster,
    mixed_sizes,
    objects_on_disk,
    upload,
    verify_readable,
    wait_for,
)


def _on_proper_mountpaths(cluster: Cluster, node_id: str, expected: dict[str, str]) -> bool:
    node = cluster.nodes[node_id]
    mps = [str(mp.resolve()) for mp in node.mountpaths]
    found = 0
    for mp in node.mountpaths:
        for (bucket, name), ck in objects_on_disk([mp]).items():
            if hrw.winner(f"{bucket}/{name}", mps) != str(mp.resolve()) or expected.get(name) != ck:
                return False
            found += 1
    return found == len(expected)


def test_resilver_on_mountpath_change(cluster: Cluster) -> None:
    node = cluster.add_node("a", 1)
    with cluster.client(node) as c:
        c.create_bucket(BUCKET)
    expected = upload([node.url], mixed_sizes(400, seed=6))
    assert cluster.terminate(node) == 0

    old = node.mountpaths[0]
    node.mountpaths = [old, old.parent / "mp1", old.parent / "mp2"]
    cluster.start(node)
    verify_readable([node.url], expected)
    wait_for("resilver onto 3 mountpaths", lambda: _on_proper_mountpaths(cluster, "a", expected), timeout=60)

    cluster.kill(node)
    node.mountpaths = node.mountpaths[1:]  # the first mountpath goes away (its directory is still there)
    cluster.start(node)
    verify_readable([node.url], expected)
    wait_for("resilver off the removed mountpath", lambda: _on_proper_mountpaths(cluster, "a", expected), timeout=60)
    assert not objects_on_disk([old])
