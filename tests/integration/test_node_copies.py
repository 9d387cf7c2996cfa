"""K copies on real node processes: writes make K copies, a lost node's copies are re-created, K changes both ways."""

from __future__ import annotations

import shutil
import signal
import time

import httpx
from storage_node import fileio, maps

from tests.integration.harness import BUCKET, Cluster, mixed_sizes, upload, verify_readable, wait_for
from tests.workload import Workload


def with_copies(cluster: Cluster, count: int, copies: int, reb: int | None = 1) -> list[str]:
    """Nodes n0.. holding `copies` copies of each object (map v1, rebalance g<reb>), bucket created; their URLs."""
    for i in range(count):
        cluster.add_node(f"n{i}")
    cluster.push_map(cluster.make_map(1, reb, copies=copies))
    with cluster.client(cluster.nodes["n0"]) as c:
        c.create_bucket(BUCKET)
    return [n.url for n in cluster.nodes.values()]


def test_every_write_is_on_its_two_holders_when_acknowledged(cluster: Cluster) -> None:
    urls = with_copies(cluster, 4, 2, reb=None)  # as the operator forms a cluster: no rebalance yet
    expected = upload(urls, mixed_sizes(400, seed=3))
    cluster.assert_copies(expected)  # no rebalance ran: the writes themselves made the copies
    verify_readable(urls, expected)


def test_a_node_killed_with_its_disk_wiped_loses_nothing_once_the_map_drops_it(cluster: Cluster) -> None:
    expected = upload(with_copies(cluster, 4, 2), mixed_sizes(600, seed=4))
    cluster.assert_copies(expected)
    lost = cluster.nodes["n2"]
    on_lost = {name for _, name in cluster.holdings()["n2"]}
    cluster.kill(lost)
    for mp in lost.mountpaths:
        shutil.rmtree(mp)
    del cluster.nodes["n2"]

    cluster.push_map(cluster.make_map(2, 2, copies=2))  # the map without it: its copies are re-created
    cluster.wait_rebalance("g2")
    cluster.assert_copies(expected)
    received = 0
    for node in cluster.nodes.values():
        with cluster.client(node) as c:
            received += c.rebalance_status().objects_received
    # the HRW minimum: one new copy of each object the lost node held, nothing else moved
    assert received == len(on_lost), (received, len(on_lost))
    verify_readable([n.url for n in cluster.nodes.values()], expected)


def test_changing_k_adds_and_removes_copies_counted_on_disk(cluster: Cluster) -> None:
    urls = cluster.form(4)
    expected = upload(urls, mixed_sizes(400, seed=5))
    cluster.assert_copies(expected)  # K = 1: each on its one node
    for version, copies in ((2, 2), (3, 3), (4, 1), (5, 2)):
        cluster.push_map(cluster.make_map(version, version, copies=copies))
        cluster.wait_rebalance(f"g{version}")
        cluster.assert_copies(expected)
        verify_readable(urls[:2], expected)
    placement = maps.Placement(cluster.map)  # type: ignore[arg-type]
    assert all(len(placement.holders(BUCKET, n)) == 2 for n in expected)


def test_more_copies_than_nodes_gives_every_node_a_copy(cluster: Cluster) -> None:
    expected = upload(with_copies(cluster, 2, 3), mixed_sizes(100, seed=6))
    held = cluster.holdings()
    assert {name for _, name in held["n0"]} == {name for _, name in held["n1"]} == set(expected)


#: Requests sent or redirected to a node in the moment it is killed (before the others find it down), at most.
CUT_OFF_AT_A_KILL = 20


def test_a_node_killed_under_load_fails_no_request_to_the_others_and_comes_back_empty(cluster: Cluster) -> None:
    urls = with_copies(cluster, 4, 2)
    stable = upload(urls, mixed_sizes(300, seed=7))
    victim = cluster.nodes["n2"]
    up = set(cluster.nodes)
    killed_at: list[float] = []

    def targets() -> list[str]:
        return [cluster.nodes[n].url for n in sorted(up)]

    def gone(url: str, at: float) -> bool:  # a connection to the killed node, cut by the kill or refused after it
        return url == victim.url and bool(killed_at) and at >= killed_at[0]

    with Workload(BUCKET, targets, threads=4, keys=40, stable=stable, seed=3, gone=gone) as clients:
        time.sleep(1.0)
        up.discard("n2")
        killed_at.append(time.monotonic())
        cluster.kill(victim)
        for mp in victim.mountpaths:
            shutil.rmtree(mp)
        time.sleep(4.0)
        during = clients.requests
        time.sleep(4.0)
        assert clients.requests - during > 100, "the others kept answering while n2 was down"
        cluster.start(victim)  # the same node on an empty disk: it asks the others for what it should hold
        up.add("n2")
        time.sleep(3.0)
    print(f"\nclients: {clients.summary(per_kind=2)}")
    assert not clients.failures, clients.summary()
    assert len(clients.gone) <= CUT_OFF_AT_A_KILL, clients.summary()
    assert clients.requests > 500, clients.requests
    wrong = clients.check_back(targets())
    assert not wrong, wrong[:10]
    verify_readable(targets(), stable)

    cluster.push_map(cluster.make_map(2, 2, copies=2))  # a rebalance puts every copy back where the map says
    cluster.wait_rebalance("g2")
    expected = {**stable, **clients.live()}
    held = cluster.holdings()
    placement = maps.Placement(cluster.map)  # type: ignore[arg-type]
    for name, ck in expected.items():
        if name in clients.uncertain():
            continue
        where = {n for n, objs in held.items() if objs.get((BUCKET, name)) == ck}
        assert where == {h.id for h in placement.holders(BUCKET, name)}, (name, where)


def test_a_frozen_node_holds_no_read_up_and_serves_nothing_stale_when_it_thaws(cluster: Cluster) -> None:
    urls = with_copies(cluster, 3, 2)
    stable = upload(urls, mixed_sizes(200, seed=8))
    frozen = cluster.nodes["n1"]
    assert frozen.proc is not None
    placement = maps.Placement(cluster.map)  # type: ignore[arg-type]
    mine = [n for n in stable if placement.owner(BUCKET, n).id == "n1"][:30]
    others = [u for u in urls if u != frozen.url]
    frozen.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(6.0)  # the others find it down (two probes in a row unanswered, each within 2 s)
        with httpx.Client(follow_redirects=True, timeout=10) as http:
            start = time.monotonic()
            for i, name in enumerate(stable):
                r = http.get(f"{others[i % 2]}/v1/objects/{BUCKET}/{name}")
                assert r.status_code == 200 and r.headers["x-ferry-checksum"] == stable[name], (name, r.status_code)
            assert time.monotonic() - start < 20, "reads waited for the frozen node"
            # overwrite and delete objects whose primary is the frozen node, through the others
            for name in mine[:15]:
                assert (
                    http.put(f"{others[0]}/v1/objects/{BUCKET}/{name}", content=b"new " + name.encode()).status_code
                    == 200
                )
            for name in mine[15:]:
                assert http.delete(f"{others[1]}/v1/objects/{BUCKET}/{name}").status_code == 200
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
    with httpx.Client(follow_redirects=True, timeout=30) as http:
        for name in mine[:15]:  # through the thawed node itself: the new version, never its stale copy
            r = http.get(f"{frozen.url}/v1/objects/{BUCKET}/{name}")
            assert r.status_code == 200 and r.content == b"new " + name.encode(), (name, r.status_code)
        for name in mine[15:]:
            assert http.get(f"{frozen.url}/v1/objects/{BUCKET}/{name}").status_code == 404, f"{name} came back"


def test_a_copy_made_on_a_spare_while_a_holder_was_down_leaves_the_spare_once_the_holder_is_back(
    cluster: Cluster,
) -> None:
    urls = with_copies(cluster, 4, 2)
    frozen = cluster.nodes["n1"]
    assert frozen.proc is not None
    placement = maps.Placement(cluster.map)  # type: ignore[arg-type]
    names = [f"spare/{i}" for i in range(400)]
    # held by n1 and n0 and written through n0 only: the spares that stand in for n1 write nothing themselves
    mine = [n for n in names if {h.id for h in placement.holders(BUCKET, n)} == {"n0", "n1"}][:20]
    frozen.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(6.0)  # the others find it down (two probes in a row unanswered, each within 2 s)
        with httpx.Client(follow_redirects=True, timeout=10) as http:
            for name in mine:  # the copy meant for n1 goes to the next node of the object's ranking
                r = http.put(f"{cluster.nodes['n0'].url}/v1/objects/{BUCKET}/{name}", content=name.encode())
                assert r.status_code == 200, (name, r.status_code, r.text)
        stood_in = {n for held in cluster.holdings().values() for _, n in held}
        assert stood_in == set(mine)
        spares = sum(1 for node, held in cluster.holdings().items() for _, n in held if node != "n1") - len(mine)
        assert spares == len(mine), "each write left a copy on a spare"
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
    expected = {n: fileio.checksum(n.encode()) for n in mine}

    def in_place() -> bool:
        try:
            cluster.assert_copies(expected)
        except AssertionError:
            return False
        return True

    # no new rebalance: the spares hand their copies to n1 and drop them by themselves
    wait_for("each copy on exactly its holders", in_place, timeout=60, interval=0.5)
    cluster.assert_copies(expected)
    verify_readable(urls, expected)
