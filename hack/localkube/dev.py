"""``make dev``: the local cluster, the CRDs, the operator and the demo cluster.

On a real node the operator is installed the way users install it: ``helm upgrade --install`` of
``charts/ferry`` with the locally built image, into namespace ``ferry-system`` (Pod Security "restricted").
With the pod runner it is a local ``kopf run`` process.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from localkube import binaries, processes
from localkube.cluster import Cluster

REPO = binaries.REPO
CRDS = REPO / "crds"
OPERATOR_PACKAGE = REPO / "operator" / "storage_operator" / "__init__.py"
DEMO = REPO / "examples" / "dev"
CHART = REPO / "charts" / "ferry"
RELEASE = "ferry"
OPERATOR_NAMESPACE = "ferry-system"
RESTRICTED = "pod-security.kubernetes.io/enforce=restricted"


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.yaml") if p.is_file()) if directory.is_dir() else []


def start_operator(cluster: Cluster, progress: Callable[[str], None]) -> bool:
    """Start ``kopf run -m storage_operator --all-namespaces`` in the background unless it runs already."""
    pid_file = cluster.layout.pids / "operator.pid"
    rec = processes.read_pid_file(pid_file)
    if rec is not None and processes.alive(rec):
        progress(f"operator already running (pid {rec.pid})")
        return False
    env = cluster.env
    env[processes.MARKER] = str(cluster.root)
    kopf = Path(sys.executable).parent / "kopf"
    log = cluster.layout.logs / "operator.log"
    proc = processes.spawn(
        [str(kopf), "run", "-m", "storage_operator", "--all-namespaces"],
        log=log, env=env, pid_file=pid_file, cwd=REPO,
    )  # fmt: skip
    progress(f"operator started (pid {proc.pid}), log: {log}")
    return True


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


def run(cluster: Cluster, progress: Callable[[str], None], node: str | None = None) -> int:
    """Bring everything up (reusing what already runs) and print how to use it."""
    cluster.up(progress=progress, node=node)
    progress(f"cluster ready at {cluster.api_url} (state in {cluster.root})")
    crds = _yaml_files(CRDS)
    if crds:
        cluster.kubectl("apply", "-f", str(CRDS))
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        progress(f"CRDs applied from {CRDS.relative_to(REPO)}/")
    operator = OPERATOR_PACKAGE.exists()
    real = cluster.node_kind == "kubelet"
    if operator:
        if real:
            install_chart(cluster, progress)
        else:
            start_operator(cluster, progress)
        if _yaml_files(DEMO):
            if real:
                cluster.kubectl("label", "namespace", "default", RESTRICTED, "--overwrite")
            cluster.kubectl("apply", "-f", str(DEMO))
            progress(f"demo cluster applied from {DEMO.relative_to(REPO)}/")
    else:
        progress("no operator yet (operator/storage_operator/ is missing): cluster and CRDs only")
    if real:
        _print_real_next_steps(cluster)
    else:
        _print_next_steps(cluster, operator)
    return 0


def _print_real_next_steps(cluster: Cluster) -> None:
    kc = shlex.quote(str(cluster.kubeconfig))
    print(f"""
Local Kubernetes is up with a real node ({cluster.api_url}; logs in {cluster.layout.logs}).

  export KUBECONFIG={kc}
  export PATH={shlex.quote(str(cluster.bin_dir))}:$PATH   # kubectl and helm, built from source

Next:
  kubectl get nodes,pods -o wide
  kubectl get storagenodes
  kubectl -n {OPERATOR_NAMESPACE} logs deployment/{RELEASE}-operator     # the operator (a pod, installed by helm)
  kubectl patch storagenode node-1 --type merge -p '{{"spec":{{"state":"maintenance"}}}}'
  kubectl exec node-1-pod -- python -c 'import os; print(os.listdir("/data"))'
  kubectl port-forward pod/node-1-pod 8080:8080   # or reach a pod IP from this machine directly
  make dev-down                 # stop everything `make dev` started, and remove its routes, bridge and rules""")


def _print_next_steps(cluster: Cluster, operator: bool) -> None:
    kc = shlex.quote(str(cluster.kubeconfig))
    print(f"""
Local Kubernetes is up ({cluster.api_url}; logs in {cluster.layout.logs}).

  export KUBECONFIG={kc}
  export PATH={shlex.quote(str(cluster.bin_dir))}:$PATH   # kubectl and helm, built from source

Next:
  kubectl get nodes,pods -o wide
  kubectl get storagenodes
  kubectl patch storagenode node-1 --type merge -p '{{"spec":{{"state":"maintenance"}}}}'
  kubectl logs <pod>            # storage-node pods run as local processes, one 127.x.y.z each""")
    if operator:
        print(f"  tail -f {cluster.layout.logs / 'operator.log'}   # the operator (kopf)")
    print("  make dev-down                 # stop everything `make dev` started")
