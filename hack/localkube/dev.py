"""``make dev``: the local cluster, the CRDs, the operator installed by its Helm chart, and the demo cluster.

The operator is installed the way users install it: ``helm upgrade --install`` of ``charts/ferry`` with the
locally built image (``ferry:dev``), into namespace ``ferry-system``; it and the demo's storage nodes run as
pods under Pod Security "restricted".
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

from localkube import binaries
from localkube.cluster import Cluster

REPO = binaries.REPO
CRDS = REPO / "crds"
DEMO = REPO / "examples" / "dev"
CHART = REPO / "charts" / "ferry"
RELEASE = "ferry"
OPERATOR_NAMESPACE = "ferry-system"
RESTRICTED = "pod-security.kubernetes.io/enforce=restricted"


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.yaml") if p.is_file()) if directory.is_dir() else []


def install_chart(cluster: Cluster, progress: Callable[[str], None]) -> None:
    """``helm upgrade --install`` the chart (operator as a pod, image ferry:dev) into ``ferry-system``."""
    ns = OPERATOR_NAMESPACE
    if cluster.kubectl("get", "namespace", ns, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("label", "namespace", ns, RESTRICTED, "--overwrite")
    argv = [str(cluster.bin_dir / "helm"), "upgrade", "--install", RELEASE, str(CHART), "-n", ns]
    argv += ["--set", "image.repository=ferry,image.tag=dev", "--wait", "--timeout", "3m"]
    proc = subprocess.run(argv, env=cluster.env, capture_output=True, text=True, check=False, timeout=240)
    if proc.returncode != 0:
        raise RuntimeError(f"helm upgrade --install failed:\n{proc.stdout}\n{proc.stderr}")
    progress(f"operator installed by helm (release {RELEASE} in namespace {ns}, image ferry:dev)")


def run(cluster: Cluster, progress: Callable[[str], None]) -> int:
    """Bring everything up (reusing what already runs) and print how to use it."""
    cluster.up(progress=progress)
    progress(f"cluster ready at {cluster.api_url} (state in {cluster.root})")
    cluster.kubectl("apply", "-f", str(CRDS))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    progress(f"CRDs applied from {CRDS.relative_to(REPO)}/")
    install_chart(cluster, progress)
    if _yaml_files(DEMO):
        cluster.kubectl("label", "namespace", "default", RESTRICTED, "--overwrite")
        cluster.kubectl("apply", "-f", str(DEMO))
        progress(f"demo cluster applied from {DEMO.relative_to(REPO)}/")
    _print_next_steps(cluster)
    return 0


def _print_next_steps(cluster: Cluster) -> None:
    kc = shlex.quote(str(cluster.kubeconfig))
    print(f"""
Local Kubernetes is up with a real node ({cluster.api_url}; logs in {cluster.layout.logs}).

  export KUBECONFIG={kc}
  export PATH={shlex.quote(str(cluster.bin_dir))}:$PATH   # kubectl and helm, built from source

Next:
  kubectl get nodes,pods -o wide
  kubectl get storagenodes
  kubectl -n {OPERATOR_NAMESPACE} logs deployment/{RELEASE}-operator   # the operator: a pod installed by helm
  kubectl patch storagenode node-2 --type merge -p '{{"spec":{{"state":"maintenance"}}}}'
  kubectl logs node-1-pod
  kubectl exec node-1-pod -- ls /data
  curl -s http://$(kubectl get pod node-1-pod -o jsonpath='{{.status.podIP}}'):8080/health/ready   # pod IPs route here
  make dev-down                 # stop everything `make dev` started, remove its routes, bridge and rules""")
