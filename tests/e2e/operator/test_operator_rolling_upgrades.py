"""Rolling upgrades on the real node: a new image rolls the nodes one at a time under client load; a bad one stops.

The clients send to every node pod the API shows (`loads.EveryPod`), the node being rolled included. Figures
(printed with ``-s``): how long the rollout took, the requests made during it, the failed ones, the ones sent
to a pod already gone (counted apart, by exception class), the global rebalances it ran and the bytes they moved.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from storage_node.schemas import rebalance_number

from tests.e2e.operator.conftest import InClusterOperator
from tests.e2e.operator.ferry_e2e import Ferry, wait_until
from tests.e2e.operator.loads import assert_read_back, clients
from tests.workload import Failure

pytestmark = pytest.mark.e2e
NODES = ["node-1", "node-2", "node-3"]
BIG = (262_144,)
COUNT = 36  # 9 MiB in all, ~3 MiB per node
SECOND_TAG = "ferry:rollout-next"
#: Requests sent during a rollout, at least: "no failed request" means nothing with none sent. The runs on a
#: 2-core machine sent 686-2,139 (restart) and 4,643-14,824 (drain), fewer when other tests share the cores.
REQUEST_FLOOR = {"restart": 200, "drain": 1_000}
#: `restart`: the only failures excused, and how many at most in a rollout of 3 nodes (docs/lifecycle.md): a 503
#: with Retry-After, from a node that waited `peer_wait_seconds` for the restarting one to say what it holds.
#: Requests to the restarting pod itself while it is gone are not failures but `gone` (bounded in `loads`).
RESTART_EXCUSED_503 = 10


def second_image(kube: Any) -> dict[str, Any]:
    """A spec change that makes a new pod revision: the locally built image under a second tag on the real node.

    ``ctr images tag`` in the node's containerd gives the same bytes another name; the kubelet finds it there
    (IfNotPresent), as it would find an image pulled from a registry. On an external cluster
    (FERRY_E2E_KUBECONFIG) there is no such node to tag on: a new environment variable changes the pod instead.
    """
    layout = getattr(kube, "layout", None)
    if layout is None:
        return {"env": [{"name": "FERRY_ROLLOUT_TEST", "value": str(time.time())}]}
    from localkube.node import agents

    sock = str(agents.dirs_of(layout).containerd_socket)
    ctr = ["/usr/bin/ctr", "--address", sock, "--namespace", agents.CTR_NAMESPACE]
    listed = subprocess.run([*ctr, "images", "ls", "-q"], capture_output=True, text=True, check=True).stdout.split()
    source = next(ref for ref in listed if ref.endswith("/ferry:dev"))
    target = source.replace("/ferry:dev", f"/{SECOND_TAG}")
    if target not in listed:
        subprocess.run([*ctr, "images", "tag", source, target], capture_output=True, text=True, check=True)
    return {"image": SECOND_TAG}


def patch_cluster(ferry: Ferry, spec: dict[str, Any]) -> None:
    body = json.dumps({"spec": spec})
    ferry.kubectl("patch", "storagecluster", ferry.cluster, "--type", "merge", "-p", body)


def revisions(ferry: Ferry) -> dict[str, str]:
    """The revision each node pod was built at (its annotation)."""
    pods = json.loads(ferry.kubectl("get", "pods", "-l", f"ferry.dev/cluster={ferry.cluster}", "-o", "json").stdout)
    return {
        p["metadata"]["labels"]["ferry.dev/node"]: p["metadata"].get("annotations", {}).get("ferry.dev/revision", "")
        for p in pods["items"]
        if not p["metadata"].get("deletionTimestamp")
    }


def printed(ferry: Ferry) -> dict[str, str]:
    """`kubectl get storagecluster` as a user reads it (cells cut at the headers' columns; empty ones stay empty)."""
    header, row = ferry.kubectl("get", "storagecluster", ferry.cluster).stdout.splitlines()[:2]
    starts = [i for i, c in enumerate(header) if c != " " and (i == 0 or header[i - 1] == " ")]
    ends = [*starts[1:], None]
    return {header[a:b].strip(): row[a:b].strip() for a, b in zip(starts, ends, strict=True)}


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions", [])}


def rolled_out(ferry: Ferry) -> bool:
    """The cluster saw the latest spec, every node runs its revision and nothing is in progress."""
    body = ferry.get("storagecluster", ferry.cluster)
    st = body.get("status") or {}
    return (
        st.get("observedGeneration") == body["metadata"]["generation"]
        and st.get("updatedNodes") == len(NODES)
        and st.get("currentRevision") == st.get("updateRevision")
        and "rollout" not in st
        and conditions(st).get("Ready", {}).get("status") == "True"
        and set(revisions(ferry).values()) == {st.get("updateRevision")}
    )


@dataclass
class Watcher:
    """Reads the cluster status every half second: the rebalances seen and what they moved, the nodes rolled."""

    ferry: Ferry
    earlier: set[str] = field(default_factory=set)  # rebalances that ran before (not counted)
    moved: dict[str, int] = field(default_factory=dict)  # rebalance id -> bytes sent
    rolled: list[str] = field(default_factory=list)  # nodes in the order the rollout took them
    phases: set[str] = field(default_factory=set)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.done.wait(0.5):
            try:
                st = self.ferry.cluster_status()
            except subprocess.CalledProcessError:
                continue
            for rb in (st.get("rebalance"), st.get("lastRebalance")):
                if rb and rb["id"] not in self.earlier:
                    self.moved[rb["id"]] = max(self.moved.get(rb["id"], 0), int(rb.get("bytesSent", 0)))
            node = (st.get("rollout") or {}).get("node")
            if node and (not self.rolled or self.rolled[-1] != node):
                self.rolled.append(node)
            self.phases.add(st.get("phase", ""))


@contextmanager
def watching(ferry: Ferry) -> Iterator[Watcher]:
    st = ferry.cluster_status()
    w = Watcher(ferry, earlier={rb["id"] for rb in (st.get("rebalance"), st.get("lastRebalance")) if rb})
    t = threading.Thread(target=w.run, daemon=True)
    t.start()
    try:
        yield w
    finally:
        w.done.set()
        t.join(10)


def failure_windows(failures: list[Failure], gap: float = 5.0) -> list[tuple[float, float, int]]:
    """Failures grouped into windows (start, end, count): a gap of more than `gap` seconds starts a new one."""
    out: list[tuple[float, float, int]] = []
    for f in sorted(failures, key=lambda f: f.at):
        if out and f.at - out[-1][1] <= gap:
            s, _, n = out[-1]
            out[-1] = (s, f.at, n + 1)
        else:
            out.append((f.at, f.at, 1))
    return out


def roll(
    ferry: Ferry, spec: dict[str, Any], strategy: str, copies: int = 1, *, strict: bool = False
) -> tuple[dict[str, Any], Any]:
    """Write data (`copies` of each object), change the pod under client load, wait for the rollout; the figures.

    `strict`: the clients send to every pod whose Ready condition is True and nothing is excused (`loads.clients`).
    """
    ferry.create(NODES, cluster_spec={"redundancy": {"copies": copies}})
    patch_cluster(ferry, {"upgrade": {"strategy": strategy}})
    ds = ferry.write(COUNT, sizes=BIG)
    before = set(revisions(ferry).values())
    assert len(before) == 1
    first = rebalance_number(ferry.cluster_map().rebalance_id)
    with clients(ferry, ds, strict=strict) as (load, windows), watching(ferry) as w:
        time.sleep(1.0)
        start = time.monotonic()
        patch_cluster(ferry, spec)
        wait_until("the rollout to finish", lambda: rolled_out(ferry), timeout=600, interval=1.0)
        took = time.monotonic() - start
        windows.append((start, time.monotonic()))
        time.sleep(1.0)
    after = set(revisions(ferry).values())
    assert after.isdisjoint(before) and len(after) == 1, (before, after)
    assert sorted(w.rolled) == NODES and len(w.rolled) == len(NODES), f"one node at a time, each once: {w.rolled}"
    figures = {
        "strategy": strategy,
        "seconds": round(took, 1),
        "requests": load.overlapping(windows),
        "failed": len(load.failures),
        "gone": load.gone_by_class(),
        "rebalances": rebalance_number(ferry.cluster_map().rebalance_id) - first,
        "bytes_moved_seen": sum(w.moved.values()),  # a lower bound: a rebalance over between two reads is missed
        "failure_windows_s": [round(e - s, 1) for s, e, _ in failure_windows(load.failures)],
    }
    print(f"\nrolling upgrade ({strategy}): {figures}")
    live, maybe = copies * (COUNT + len(load.live())), copies * len(load.uncertain())

    def counted() -> bool:  # with K copies, a copy written to a spare while a holder restarted goes to it soon
        return live <= sum(ferry.holdings().values()) <= live + maybe

    wait_until("every object at its copies", counted, timeout=60, interval=1.0)
    ferry.verify(ds)
    assert_read_back(ferry, load)
    assert load.overlapping(windows) >= REQUEST_FLOOR[strategy], f"too few requests to tell: {figures}"
    return figures, load


def node_logs(ferry: Ferry) -> str:
    """What the node pods logged about server errors (each traceback), else the tail of their logs."""
    out = []
    for n in NODES:
        lines = ferry.kubectl("logs", f"{n}-pod", "--tail=5000", check=False).stdout.splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
        picked = [line for i in starts[:3] for line in lines[max(0, i - 2) : i + 40]] or lines[-20:]
        out.append(f"--- {n}\n" + "\n".join(picked))
    return "\n".join(out)


def test_restart_rolls_every_node_with_a_bounded_number_of_retryable_failures(ferry: Ferry) -> None:
    figures, load = roll(ferry, {"env": [{"name": "FERRY_ROLLOUT_TEST", "value": "restart"}]}, "restart")
    assert figures["rebalances"] == 0 and figures["bytes_moved_seen"] == 0, "a restart moves no data"
    # while a node restarts its objects cannot be read: a request sent or redirected to its pod cannot connect
    # (`gone`, bounded per pod that went), and one another node answers by asking it may wait for it and then
    # say 503 with Retry-After; never a wrong answer (other bytes, a 404 for an object that exists, a deleted
    # object back), never another status or exception
    excused = [f for f in load.failures if f.status == 503 and f.retry_after]
    wrong = [f for f in load.failures if not (f.status == 503 and f.retry_after)]
    assert not wrong, load.summary() + "\n" + node_logs(ferry)
    assert len(excused) <= RESTART_EXCUSED_503, f"{len(excused)} 503s: {load.summary()}"


def test_with_two_copies_restart_rolls_every_node_with_no_failed_request(ferry: Ferry) -> None:
    spec = {"env": [{"name": "FERRY_ROLLOUT_TEST", "value": "restart-k2"}]}
    figures, load = roll(ferry, spec, "restart", copies=2, strict=True)
    # one rebalance after each node's restart puts the copies written meanwhile on their holders
    assert figures["rebalances"] == len(NODES), figures
    # while a node restarts the other holder of each of its objects answers, and its pod left the Ready ones
    # before it stopped listening: no failure of any kind, nothing excused
    assert not load.failures, load.summary() + "\n" + key_logs(ferry, [f.key for f in load.failures])


def key_logs(ferry: Ferry, keys: list[str]) -> str:
    """What the node pods logged about these keys (and warnings), by node."""
    out = []
    for n in NODES:
        for previous in (True, False):
            args = ["logs", f"{n}-pod", "--tail=20000"] + (["--previous"] if previous else [])
            lines = ferry.kubectl(*args, check=False).stdout.splitlines()
            picked = [line for line in lines if any(k in line for k in keys) or " WARNING " in line]
            out.append(f"--- {n}{' (previous)' if previous else ''}\n" + "\n".join(picked[-60:]))
    return "\n".join(out)


def test_a_bad_image_stops_the_rollout_degraded_and_rolling_back_recovers(ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(30)
    good = set(revisions(ferry).values())
    patch_cluster(ferry, {"upgrade": {"readyTimeoutSeconds": 15}})
    patch_cluster(ferry, {"image": "ferry:does-not-exist", "imagePullPolicy": "Never"})

    def stuck() -> bool:
        degraded = conditions(ferry.cluster_status()).get("Degraded", {})
        return degraded.get("status") == "True" and degraded.get("reason") == "RolloutStuck"

    wait_until("Degraded with RolloutStuck", stuck, timeout=180, interval=1.0)
    st = ferry.cluster_status()
    message = conditions(st)["Degraded"]["message"]
    assert "node-1" in message, message
    assert st["rollout"]["node"] == "node-1" and st["updatedNodes"] == 1
    revs = revisions(ferry)
    assert revs["node-2"] in good and revs["node-3"] in good, "the other nodes stay at the old revision"
    assert ferry.status("node-1")["phase"] == "Upgrading"
    row = printed(ferry)
    assert (row["PHASE"], row["UPDATED"]) == ("Upgrading", "1"), row
    time.sleep(5)
    assert set(revisions(ferry).items()) == set(revs.items()), "the rollout stays stopped"
    ferry.verify(ds, nodes=["node-2", "node-3"])  # node-1 was drained first: its objects are on the others

    patch_cluster(ferry, {"image": "ferry:dev", "imagePullPolicy": "IfNotPresent"})  # roll back
    wait_until("the rollback to finish", lambda: rolled_out(ferry), timeout=300, interval=1.0)
    st = ferry.cluster_status()
    assert conditions(st)["Degraded"]["status"] == "False"
    assert set(revisions(ferry).values()) == good
    row = printed(ferry)
    assert (row["PHASE"], row["UPDATED"]) == ("Ready", "3"), row
    ferry.wait_ready("node-1")
    ferry.verify(ds)


def test_drain_rolls_every_node_to_a_new_image_under_load_with_no_failed_request(ferry: Ferry, kube: Any) -> None:
    # the clients send to every pod whose Ready condition is True, a pod being deleted included, and nothing is
    # excused: a node pod leaves that list before it stops listening (its pre-stop step)
    figures, load = roll(ferry, second_image(kube), "drain", strict=True)
    assert not load.failures, load.summary() + (
        "\n" + node_logs(ferry) if any(f.status >= 500 for f in load.failures) else ""
    )
    # each node's data moves off and back: two rebalances a node (more only if one had to be restarted)
    assert figures["rebalances"] >= 2 * len(NODES), figures
    assert figures["bytes_moved_seen"] > 0


def test_a_paused_rollout_starts_no_node_until_it_is_resumed(ferry: Ferry) -> None:
    ferry.create(NODES)
    patch_cluster(ferry, {"upgrade": {"strategy": "restart", "paused": True}})
    before = revisions(ferry)
    patch_cluster(ferry, {"env": [{"name": "FERRY_ROLLOUT_TEST", "value": "paused"}]})

    def paused() -> bool:
        progressing = conditions(ferry.cluster_status()).get("Progressing", {})
        return progressing.get("status") == "False" and progressing.get("reason") == "RolloutPaused"

    wait_until("Progressing False with RolloutPaused", paused, timeout=60)
    time.sleep(5)
    assert revisions(ferry) == before, "no pod was re-created while paused"
    st = ferry.cluster_status()
    assert st["updatedNodes"] == 0 and st["currentRevision"] != st["updateRevision"]

    patch_cluster(ferry, {"upgrade": {"paused": False}})
    wait_until("the rollout to finish", lambda: rolled_out(ferry), timeout=300, interval=1.0)


def test_a_restarted_operator_resumes_the_rollout_and_a_node_in_maintenance_is_rolled_when_it_is_back(
    ferry: Ferry, operator: InClusterOperator
) -> None:
    ferry.create(NODES)
    ds = ferry.write(30)
    ferry.patch_state("node-3", "maintenance")
    ferry.wait_ready("node-3")
    old = revisions(ferry)
    with watching(ferry) as w:
        patch_cluster(ferry, {"env": [{"name": "FERRY_ROLLOUT_TEST", "value": "resume"}]})
        wait_until("a node being rolled", lambda: bool(w.rolled), timeout=120, interval=0.5)
        operator.kill()  # mid-rollout: the node in progress is recorded in the status, nothing else is kept
        operator.start()

        def online_nodes_rolled() -> bool:
            now = revisions(ferry)
            st = ferry.cluster_status()
            return all(now.get(n) not in (None, old[n]) for n in ("node-1", "node-2")) and "rollout" not in st

        wait_until("the online nodes on the new revision", online_nodes_rolled, timeout=600, interval=1.0)
        time.sleep(5)
        assert revisions(ferry)["node-3"] == old["node-3"], "a node in maintenance is not woken for an update"
        assert ferry.status("node-3")["state"] == "maintenance"
        assert sorted(w.rolled) == ["node-1", "node-2"], f"each online node once, one at a time: {w.rolled}"
        ferry.patch_state("node-3", "online")
        wait_until("node-3 rolled once back online", lambda: rolled_out(ferry), timeout=600, interval=1.0)
    assert w.rolled.count("node-3") <= 1, w.rolled
    assert ferry.status("node-3")["state"] == "online"
    ferry.verify(ds)
