"""Map evolution (versions, rebalance ids, status form) and the owned-object builders."""

from __future__ import annotations

from typing import Any

from storage_node.schemas import NodeEntry, NodeFlag
from storage_operator.model import maps
from storage_operator.model.specs import ClusterSpec
from storage_operator.resources import claims, meta, pods, secrets

MAINT = (NodeFlag.maintenance,)


def test_every_change_is_a_new_version_and_only_placement_changes_start_a_rebalance() -> None:
    m1 = maps.with_nodes(None, [NodeEntry(id=n, url=f"http://127.0.0.{i}:8080") for i, n in enumerate("abc", 2)])
    assert (m1.version, m1.rebalance_id) == (1, None)
    m2 = maps.with_nodes(m1, [NodeEntry(id="b", url=m1.nodes["b"].url, flags=list(MAINT))], rebalance=True)
    assert (m2.version, m2.rebalance_id, m2.nodes["b"].flags) == (2, "g1", [NodeFlag.maintenance])
    m3 = maps.without_node(m2, "b")
    assert (m3.version, m3.rebalance_id, sorted(m3.nodes)) == (3, "g1", ["a", "c"])
    assert maps.with_rebalance(m3).rebalance_id == "g2"
    assert m1.nodes["b"].flags == [], "maps are immutable values"


def test_an_address_change_is_a_new_version_without_rebalance_and_no_change_is_the_same_map() -> None:
    m1 = maps.with_nodes(None, [NodeEntry(id="a", url="http://127.0.0.2:8080")])
    assert maps.with_addresses(m1, {"a": "http://127.0.0.2:8080"}) is m1
    m2 = maps.with_addresses(m1, {"a": "http://127.0.0.9:8080", "ghost": "http://x"})
    assert (m2.version, m2.rebalance_id, m2.nodes["a"].url) == (2, None, "http://127.0.0.9:8080")
    assert "ghost" not in m2.nodes


def test_the_status_form_round_trips() -> None:
    m = maps.with_nodes(None, [NodeEntry(id="a", url="http://127.0.0.2:8080", flags=list(MAINT))], rebalance=True)
    raw = maps.to_status(m)
    assert raw == {
        "version": 1,
        "rebalanceId": "g1",
        "nodes": [{"id": "a", "url": "http://127.0.0.2:8080", "flags": ["maintenance"]}],
    }  # one copy is left out, as before copies existed
    assert maps.from_status(raw) == m
    assert maps.from_status(None) is None
    two = maps.with_copies(m, 2)
    assert two.copies == 2 and two.version == 2 and two.rebalance_id == "g2" and two.nodes == m.nodes
    assert (maps.to_status(two) or {})["copies"] == 2 and maps.from_status(maps.to_status(two)) == two
    assert maps.without_node(two, "a").copies == 2, "later maps keep K"
    rebuilt = maps.without_node(two, "a", rebalance=True)
    assert (
        rebuilt.rebalance_id == "g3" and "a" not in rebuilt.nodes and maps.without_node(two, "a").rebalance_id == "g2"
    )
    assert maps.flags_of(m, "a") == MAINT and maps.flags_of(m, "z") is None


def _cluster(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "StorageCluster",
        "metadata": {"name": "c1", "namespace": "ns", "uid": "u-c"},
        "spec": spec,
    }


def _parsed(cluster: dict[str, Any]) -> tuple[dict[str, Any], ClusterSpec]:
    """A StorageCluster body and its spec, parsed as a pass parses it (what the builders take)."""
    return cluster, ClusterSpec.of(cluster)


NODE = {
    "apiVersion": "ferry.dev/v1alpha1",
    "kind": "StorageNode",
    "metadata": {"name": "n1", "namespace": "ns", "uid": "u-n"},
    "spec": {"cluster": "c1"},
}


def test_node_pod_runs_the_node_on_its_pod_ip_with_its_volume_and_the_cluster_key() -> None:
    pod = pods.node_pod(*_parsed(_cluster(storage={"mountpaths": 3}, rebalance={"bandwidth": 5})), NODE)
    c = pod["spec"]["containers"][0]
    assert c["command"] == ["python", "-m", "storage_node"]
    assert "$(POD_IP):8080" in c["args"] and c["args"].count("--mountpath") == 3
    assert c["args"][c["args"].index("--rebalance-bandwidth") + 1] == "5"
    assert c["args"][c["args"].index("--auth-secret-file") + 1] == "/etc/ferry/auth/secret"
    assert {v["name"] for v in pod["spec"]["volumes"]} == {"data", "auth"}
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "u-n"
    assert pod["metadata"]["labels"][meta.NODE_LABEL] == "n1"


def test_without_auth_the_pod_gets_no_key_and_the_claim_uses_the_requested_class() -> None:
    pod = pods.node_pod(*_parsed(_cluster(auth={"enabled": False})), NODE)
    assert "--auth-secret-file" not in pod["spec"]["containers"][0]["args"]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["data"]
    pvc = claims.node_pvc(*_parsed(_cluster(storage={"size": "5Gi", "storageClassName": "fast"})), NODE)
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert pvc["spec"]["storageClassName"] == "fast"
    secret = secrets.auth_secret(*_parsed(_cluster(auth={"secretName": "mine"})), "k")
    assert secret["metadata"]["name"] == "mine" and secret["stringData"] == {"secret": "k"}
