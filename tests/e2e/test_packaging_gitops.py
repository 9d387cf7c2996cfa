"""GitOps on the local cluster: overlay applied server-side, a committed state change, no field fights, health."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from localkube.cluster import Cluster

from tests.e2e.operator.ferry_e2e import Ferry, wait_until
from tests.packaging.test_argocd_health import assess

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "kustomize"
MANAGER = "argocd"  # the field manager Argo CD uses for server-side apply
CLUSTER = "lab-objects"
NODES = [f"lab-node-{i}" for i in (1, 2, 3, 4)]
FieldPath = tuple[str, ...]


class Operator:
    """`kopf run` for one namespace (standalone), as its own process group, stopped by its pid."""

    def __init__(self, env: dict[str, str], namespace: str, log: Path) -> None:
        cmd = [sys.executable, "-m", "kopf", "run", "-m", "storage_operator", "--standalone", "--namespace", namespace]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@pytest.fixture
def lab(kube: Cluster, tmp_path: Path) -> Iterator[tuple[Ferry, Path]]:
    """A checkout of examples/kustomize whose `lab` overlay targets a fresh namespace, and an operator for it."""
    namespace = f"gitops-{uuid.uuid4().hex[:8]}"
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES, repo)
    overlay = repo / "overlays" / "lab"
    for name in ("kustomization.yaml", "namespace.yaml"):
        path = overlay / name
        path.write_text(path.read_text().replace("ferry-lab", namespace))
    # a slower lab link (1 MiB/s per node), so that a transition stays visible for a while
    settings = overlay / "cluster-settings.yaml"
    settings.write_text(settings.read_text().replace("bandwidth: 52428800", "bandwidth: 1048576"))
    operator = Operator({**kube.env, "FERRY_STALL_SECONDS": "30"}, namespace, tmp_path / "operator.log")
    try:
        yield Ferry(kube.kubectl, namespace=namespace, cluster=CLUSTER), overlay
    finally:
        # the operator goes first; then nothing holds the finalizers it set and the namespace (data included) goes
        operator.stop()
        for kind in ("storagenodes", "storageclusters"):
            for name in kube.kubectl("get", kind, "-n", namespace, "-o", "name", check=False).stdout.split():
                patch = '{"metadata":{"finalizers":null}}'
                kube.kubectl("patch", name, "-n", namespace, "--type", "merge", "-p", patch, check=False)
        kube.kubectl("delete", "namespace", namespace, "--ignore-not-found", "--timeout=120s", check=False, timeout=150)


def apply(ferry: Ferry, overlay: Path) -> subprocess.CompletedProcess[str]:
    """What Argo CD does with the overlay: server-side apply as field manager `argocd`, never forcing conflicts."""
    return ferry.kubectl_("apply", "--server-side", f"--field-manager={MANAGER}", "-k", str(overlay), check=False)


def with_owners(ferry: Ferry, kind: str, name: str) -> dict[str, Any]:
    """The object as the API server has it, managedFields included."""
    out = ferry.kubectl("get", kind, name, "-o", "json", "--show-managed-fields")
    obj: dict[str, Any] = json.loads(out.stdout)
    return obj


def leaves(fields: dict[str, Any], prefix: FieldPath = ()) -> set[FieldPath]:
    """The fields a managedFields entry owns (fieldsV1), as paths; '.' (the container itself) is left out."""
    out: set[FieldPath] = set()
    for key, sub in fields.items():
        if key == ".":
            continue
        out |= leaves(sub, (*prefix, key)) if sub else {(*prefix, key)}
    return out


def operator_owned(obj: dict[str, Any]) -> dict[str, set[FieldPath]]:
    """Fields of the main resource (not /status) owned by managers other than the user's, by manager."""
    out: dict[str, set[FieldPath]] = {}
    for entry in obj["metadata"].get("managedFields") or []:
        if entry["manager"] != MANAGER and entry.get("subresource", "") == "":
            out.setdefault(entry["manager"], set()).update(leaves(entry.get("fieldsV1") or {}))
    return out


def operator_bookkeeping(path: FieldPath) -> bool:
    """The finalizer and kopf's annotations (last-handled-configuration, handler progress): no manifest sets them."""
    if path[:2] == ("f:metadata", "f:finalizers"):
        return True
    return path[:2] == ("f:metadata", "f:annotations") and path[2].startswith("f:kopf.zalando.org/")


def user_owned(obj: dict[str, Any]) -> set[FieldPath]:
    entries = [e for e in obj["metadata"].get("managedFields") or [] if e["manager"] == MANAGER]
    assert [e["operation"] for e in entries] == ["Apply"], obj["metadata"].get("managedFields")
    return leaves(entries[0]["fieldsV1"])


def settled(ferry: Ferry, node: str, state: str) -> bool:
    body = ferry.node(node)
    status: dict[str, Any] = body.get("status") or {}
    ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
    return (
        status.get("observedGeneration") == body["metadata"]["generation"]
        and status.get("state") == state
        and [c["status"] for c in ready] == ["True"]
    )


def test_committed_state_change_is_carried_out_without_field_fights(lab: tuple[Ferry, Path]) -> None:
    ferry, overlay = lab
    first = apply(ferry, overlay)
    assert first.returncode == 0, first.stderr
    ferry.kubectl("wait", "--for=condition=Ready", "storagenode", "--all", "--timeout=240s", timeout=270)
    listed = json.loads(ferry.kubectl("get", "storagenodes", "-o", "json").stdout)["items"]
    assert sorted(n["metadata"]["name"] for n in listed) == NODES
    wait_until("the cluster Ready", lambda: assess(ferry.get("storagecluster", CLUSTER))[0] == "Healthy", 120)
    for node in NODES:
        assert assess(ferry.node(node)) == ("Healthy", "node is online")
    data = ferry.write(60, bucket="gitops")

    # the commit: node-2 goes to maintenance in node-states.yaml; Argo CD applies it
    states = overlay / "node-states.yaml"
    states.write_text(states.read_text().replace("state: online", "state: maintenance"))
    changed = apply(ferry, overlay)
    assert changed.returncode == 0, changed.stderr
    assert f"storagenode.ferry.dev/{NODES[1]} serverside-applied" in changed.stdout
    seen_node: list[str] = []
    seen_cluster: list[str] = []
    deadline = time.monotonic() + 240
    while not settled(ferry, NODES[1], "maintenance"):
        assert time.monotonic() < deadline, f"{NODES[1]} never reached maintenance: {ferry.status(NODES[1])}"
        seen_node.append(assess(ferry.node(NODES[1]))[0])
        seen_cluster.append(assess(ferry.get("storagecluster", CLUSTER))[0])
    assert "Progressing" in seen_node and "Progressing" in seen_cluster, (seen_node, seen_cluster)
    assert not {"Degraded", "Missing", "Unknown"} & set(seen_node + seen_cluster), (seen_node, seen_cluster)
    assert assess(ferry.node(NODES[1])) == ("Healthy", "node is maintenance")
    wait_until("the cluster Ready again", lambda: assess(ferry.get("storagecluster", CLUSTER))[0] == "Healthy", 120)
    assert ferry.holdings()[NODES[1]] == 0
    ferry.verify(data)

    # no fights: the operator owns status, its finalizer and kopf's bookkeeping, never a field of the manifests
    objects = [with_owners(ferry, "storagecluster", CLUSTER), *(with_owners(ferry, "storagenode", n) for n in NODES)]
    for obj in objects:
        mine = user_owned(obj)
        assert ("f:spec", "f:state") in mine or obj["kind"] == "StorageCluster"
        others = operator_owned(obj)
        assert any(p[:2] == ("f:metadata", "f:finalizers") for owned in others.values() for p in owned), others
        status_writers = [e["manager"] for e in obj["metadata"]["managedFields"] if e.get("subresource") == "status"]
        assert status_writers and MANAGER not in status_writers
        for manager, owned in others.items():
            assert not owned & mine, f"{manager} took over {owned & mine} of {obj['metadata']['name']}"
            stray = {p for p in owned if not operator_bookkeeping(p)}
            assert not stray, f"{manager} owns {stray} of {obj['metadata']['name']}"
    again = apply(ferry, overlay)
    assert again.returncode == 0, f"re-applying the unchanged manifests conflicts:\n{again.stderr}"
    assert ferry.node(NODES[1])["spec"]["state"] == "maintenance"
