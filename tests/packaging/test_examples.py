"""The example manifests (demo, plain, kustomize) are valid Ferry objects that reference each other correctly."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
Manifest = dict[str, Any]


def _crd_schemas() -> dict[str, dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = {}
    for path in (ROOT / "crds").glob("ferry.dev_*.yaml"):
        crd = yaml.safe_load(path.read_text())
        schemas[crd["spec"]["names"]["kind"]] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schemas


SCHEMAS = _crd_schemas()


def violations(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    """What a user would be told by the API server for unknown fields, wrong types and values off the enum."""
    found: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in {schema['enum']}")
    kind = schema.get("type")
    types = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list}
    if kind in types and not isinstance(value, types[kind]):
        found.append(f"{where}: {value!r} is not {kind}")
    if isinstance(value, dict) and not schema.get("x-kubernetes-preserve-unknown-fields"):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        for key, sub in value.items():
            if key in props:
                found += violations(sub, props[key], f"{where}.{key}")
            elif isinstance(extra, dict):
                found += violations(sub, extra, f"{where}.{key}")
            else:
                found.append(f"{where}.{key}: unknown field")
    return found


def check_ferry_objects(manifests: list[Manifest]) -> None:
    clusters = {
        (m["metadata"].get("namespace"), m["metadata"]["name"]) for m in manifests if m["kind"] == "StorageCluster"
    }
    for m in manifests:
        if m["apiVersion"] != "ferry.dev/v1alpha1":
            continue
        name = m["metadata"]["name"]
        assert not violations(m["spec"], SCHEMAS[m["kind"]]["properties"]["spec"], f"{m['kind']}/{name}.spec")
        if m["kind"] == "StorageNode":
            assert (m["metadata"].get("namespace"), m["spec"]["cluster"]) in clusters, f"{name}: unknown cluster"


def load(*paths: Path) -> list[Manifest]:
    return [doc for p in paths for doc in yaml.safe_load_all(p.read_text()) if doc]


def kustomize(kube_bin: Path, directory: Path) -> list[Manifest]:
    out = subprocess.run(
        [str(kube_bin / "kubectl"), "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def test_the_checker_catches_typos() -> None:
    spec = SCHEMAS["StorageNode"]["properties"]["spec"]
    assert violations({"cluster": "a", "state": "paused", "rmUserdata": True}, spec, "spec") == [
        "spec.state: 'paused' not in ['online', 'maintenance', 'shutdown', 'decommissioned']",
        "spec.rmUserdata: unknown field",
    ]


def test_dev_demo_is_cluster_demo_with_auth_and_three_nodes() -> None:
    manifests = load(*sorted((EXAMPLES / "dev").glob("*.yaml")))
    check_ferry_objects(manifests)
    (cluster,) = [m for m in manifests if m["kind"] == "StorageCluster"]
    assert cluster["metadata"] == {"name": "demo", "namespace": "default"}
    assert cluster["spec"]["auth"]["enabled"] is True
    nodes = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "StorageNode"}
    assert sorted(nodes) == ["node-1", "node-2", "node-3"]
    assert {n["spec"]["state"] for n in nodes.values()} == {"online"}


def test_plain_manifests_are_valid() -> None:
    manifests = load(*sorted((EXAMPLES / "plain").glob("*.yaml")))
    check_ferry_objects(manifests)
    assert {m["kind"] for m in manifests} == {"StorageCluster", "StorageNode"}


def test_kustomize_base_builds(kube_bin: Path) -> None:
    manifests = kustomize(kube_bin, EXAMPLES / "kustomize" / "base")
    check_ferry_objects(manifests)
    assert sorted(m["metadata"]["name"] for m in manifests if m["kind"] == "StorageNode") == [
        "node-1",
        "node-2",
        "node-3",
    ]


def test_kustomize_overlay_renames_nodes_and_their_cluster_together(kube_bin: Path) -> None:
    manifests = kustomize(kube_bin, EXAMPLES / "kustomize" / "overlays" / "lab")
    check_ferry_objects(manifests)
    nodes = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "StorageNode"}
    assert sorted(nodes) == ["lab-node-1", "lab-node-2", "lab-node-3", "lab-node-4"]
    assert {n["spec"]["cluster"] for n in nodes.values()} == {"lab-objects"}
    assert {n["metadata"]["namespace"] for n in nodes.values()} == {"ferry-lab"}
    (cluster,) = [m for m in manifests if m["kind"] == "StorageCluster"]
    assert cluster["spec"]["rebalance"] == {"enabled": True, "concurrency": 2, "bandwidth": 52428800}


@pytest.mark.parametrize("state", ["maintenance", "shutdown", "decommissioned"])
def test_editing_node_states_in_the_overlay_changes_only_that_node(kube_bin: Path, tmp_path: Path, state: str) -> None:
    tree = tmp_path / "kustomize"
    shutil.copytree(EXAMPLES / "kustomize", tree)
    patch = tree / "overlays" / "lab" / "node-states.yaml"
    patch.write_text(patch.read_text().replace("state: online", f"state: {state}"))
    before = {m["metadata"]["name"]: m for m in kustomize(kube_bin, EXAMPLES / "kustomize" / "overlays" / "lab")}
    after = {m["metadata"]["name"]: m for m in kustomize(kube_bin, tree / "overlays" / "lab")}
    assert after["lab-node-2"]["spec"]["state"] == state
    assert {k: v for k, v in after.items() if k != "lab-node-2"} == {
        k: v for k, v in before.items() if k != "lab-node-2"
    }
