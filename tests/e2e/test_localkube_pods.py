"""Pods as local processes: own IP, probes, env and volumes, logs, restarts, deletion, PVC persistence."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from localkube import processes
from localkube.cluster import Cluster

pytestmark = pytest.mark.e2e

SERVER = """
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(os.environ.get("BODY", "hello").encode())
    def log_message(self, *args): pass
print("serving on", os.environ["POD_IP"], flush=True)
http.server.ThreadingHTTPServer((os.environ["POD_IP"], 8080), H).serve_forever()
"""

POD_IP = {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def pod(name: str, script: str, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "ferry:dev", "command": ["python", "-c", script]}
    container.update(spec.pop("container", {}))
    container["env"] = [POD_IP, *container.get("env", [])]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container], **spec}}


def ready_probe() -> dict[str, Any]:
    return {"readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}}


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


def pid_of(kube: Cluster, namespace: str, name: str) -> processes.Record:
    status = kube.get_json("pod", name, "-n", namespace)["status"]["containerStatuses"][0]
    return processes.record_of(int(status["containerID"].removeprefix("localkube://")))


def poll(cond: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.3)


def test_pod_runs_as_a_process_with_its_own_ip_and_becomes_ready(kube: Cluster, namespace: str) -> None:
    kube.apply(json.dumps(pod("web", SERVER, container=ready_probe())), namespace=namespace)
    kube.kubectl("wait", "--for=condition=Ready", "pod/web", "-n", namespace, "--timeout=60s")
    ip = kube.get_json("pod", "web", "-n", namespace)["status"]["podIP"]
    assert ip.startswith("127.") and ip not in (kube.address, "127.0.0.1")
    assert get(f"http://{ip}:8080/") == "hello"
    cmdline = Path(f"/proc/{pid_of(kube, namespace, 'web').pid}/cmdline").read_bytes()
    assert b"python" in cmdline
    assert f"serving on {ip}" in kube.kubectl("logs", "web", "-n", namespace).stdout


def test_pods_listen_on_the_same_port_at_their_own_addresses(kube: Cluster, namespace: str) -> None:
    for name in ("a", "b"):
        manifest = pod(name, SERVER, container={**ready_probe(), "env": [{"name": "BODY", "value": f"I am {name}"}]})
        kube.apply(json.dumps(manifest), namespace=namespace)
    kube.kubectl("wait", "--for=condition=Ready", "pod/a", "pod/b", "-n", namespace, "--timeout=60s")
    ips = {n: kube.get_json("pod", n, "-n", namespace)["status"]["podIP"] for n in ("a", "b")}
    assert ips["a"] != ips["b"]
    assert get(f"http://{ips['a']}:8080/") == "I am a"
    assert get(f"http://{ips['b']}:8080/") == "I am b"


def test_deleting_a_pod_ends_its_process_after_the_grace_period(kube: Cluster, namespace: str) -> None:
    stubborn = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(3600)"
    )
    kube.apply(json.dumps(pod("stubborn", stubborn, terminationGracePeriodSeconds=2)), namespace=namespace)
    kube.kubectl("wait", "--for=condition=Ready", "pod/stubborn", "-n", namespace, "--timeout=60s")
    rec = pid_of(kube, namespace, "stubborn")
    assert processes.alive(rec)
    kube.kubectl("delete", "pod", "stubborn", "-n", namespace, "--timeout=60s")
    assert not processes.alive(rec)
    gone = kube.kubectl("get", "pod", "stubborn", "-n", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_an_image_the_runner_cannot_run_is_reported_on_the_pod(kube: Cluster, namespace: str) -> None:
    manifest = pod("nginx", "", container={"image": "nginx:1.27", "command": ["nginx"]})
    kube.apply(json.dumps(manifest), namespace=namespace)
    reason = "{.status.containerStatuses[0].state.waiting.reason}"
    kube.kubectl("wait", f"--for=jsonpath={reason}=ImageNotRunnable", "pod/nginx", "-n", namespace, "--timeout=60s")
    waiting = kube.get_json("pod", "nginx", "-n", namespace)["status"]["containerStatuses"][0]["state"]["waiting"]
    assert "ferry" in waiting["message"]
    logs = kube.kubectl("logs", "nginx", "-n", namespace, check=False)
    assert logs.returncode != 0 and "ImageNotRunnable" in logs.stderr


CHECKS = """
import json, os, pathlib, ssl, urllib.request
sa = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount")
req = urllib.request.Request(
    f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}/version",
    headers={"Authorization": "Bearer " + (sa / "token").read_text()})
ctx = ssl.create_default_context(cafile=str(sa / "ca.crt"))
pathlib.Path("/scratch/x").write_text("written")
print(json.dumps({
    "ns": os.environ["MY_NS"], "greeting": os.environ["GREETING"], "password": os.environ["PASSWORD"],
    "config_file": pathlib.Path("/etc/cfg/file.txt").read_text(),
    "secret_file": pathlib.Path("/etc/sec/password").read_text(),
    "scratch": pathlib.Path("/scratch/x").read_text(),
    "sa_namespace": (sa / "namespace").read_text(),
    "api_version": json.load(urllib.request.urlopen(req, context=ctx, timeout=10))["gitVersion"],
}), flush=True)
"""


def test_env_volumes_and_service_account_are_provided(kube: Cluster, namespace: str) -> None:
    kube.kubectl("create", "configmap", "cfg", "-n", namespace, "--from-literal=greeting=hi",
                 "--from-literal=file.txt=from a configmap")  # fmt: skip
    kube.kubectl("create", "secret", "generic", "sec", "-n", namespace, "--from-literal=password=s3cr3t")
    container = {
        "env": [
            {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
        ],
        "volumeMounts": [
            {"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True},
            {"name": "sec", "mountPath": "/etc/sec", "readOnly": True},
            {"name": "scratch", "mountPath": "/scratch"},
        ],
    }
    volumes = [
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {"name": "sec", "secret": {"secretName": "sec"}},
        {"name": "scratch", "emptyDir": {}},
    ]
    manifest = pod("checks", CHECKS, container=container, volumes=volumes, restartPolicy="Never")
    kube.apply(json.dumps(manifest), namespace=namespace)
    kube.kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/checks", "-n", namespace, "--timeout=60s")
    seen = json.loads(kube.kubectl("logs", "checks", "-n", namespace).stdout)
    assert seen == {
        "ns": namespace,
        "greeting": "hi",
        "password": "s3cr3t",
        "config_file": "from a configmap",
        "secret_file": "s3cr3t",
        "scratch": "written",
        "sa_namespace": namespace,
        "api_version": "v1.34.4",
    }


def test_restart_policy_and_liveness_probe_are_honoured(kube: Cluster, namespace: str) -> None:
    failing = pod("fails", "import sys; print('bye', flush=True); sys.exit(3)", restartPolicy="Never")
    kube.apply(json.dumps(failing), namespace=namespace)
    # Healthy until it has said hello: then the exec probe fails and the container is restarted.
    script = (
        "import pathlib, time\nsaid = pathlib.Path('/scratch/said')\nsaid.unlink(missing_ok=True)\n"
        "print('hello', flush=True)\nsaid.touch()\ntime.sleep(3600)"
    )
    live = {
        "livenessProbe": {
            "exec": {"command": ["sh", "-c", "test ! -e /scratch/said"]},
            "initialDelaySeconds": 2,  # each run clears the marker left by the previous one first
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
    }
    unhealthy = pod(
        "unhealthy",
        script,
        container=live,
        terminationGracePeriodSeconds=1,
        volumes=[{"name": "scratch", "emptyDir": {}}],
    )
    kube.apply(json.dumps(unhealthy), namespace=namespace)
    kube.kubectl("wait", "--for=jsonpath={.status.phase}=Failed", "pod/fails", "-n", namespace, "--timeout=60s")
    state = kube.get_json("pod", "fails", "-n", namespace)["status"]["containerStatuses"][0]["state"]
    assert state["terminated"]["exitCode"] == 3
    assert "bye" in kube.kubectl("logs", "fails", "-n", namespace).stdout

    def restarts() -> int:
        statuses = kube.get_json("pod", "unhealthy", "-n", namespace)["status"].get("containerStatuses", [])
        return int(statuses[0]["restartCount"]) if statuses else 0

    poll(lambda: restarts() >= 1)
    assert "hello" in kube.kubectl("logs", "unhealthy", "-n", namespace, "--previous").stdout


COUNTER = """
import pathlib, time
p = pathlib.Path("/data/count")
n = int(p.read_text()) + 1 if p.exists() else 1
p.write_text(str(n))
print("count", n, flush=True)
time.sleep(3600)
"""

PVC = {
    "apiVersion": "v1",
    "kind": "PersistentVolumeClaim",
    "metadata": {"name": "data"},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
}


def test_pvc_directory_keeps_files_across_pod_recreation(kube: Cluster, namespace: str) -> None:
    kube.apply(json.dumps(PVC), namespace=namespace)
    manifest = pod(
        "counter", COUNTER, terminationGracePeriodSeconds=1,
        container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
    )  # fmt: skip
    ips = []
    for expected in ("count 1", "count 2"):
        kube.apply(json.dumps(manifest), namespace=namespace)
        kube.kubectl("wait", "--for=condition=Ready", "pod/counter", "-n", namespace, "--timeout=60s")
        poll(lambda expected=expected: expected in kube.kubectl("logs", "counter", "-n", namespace).stdout)
        ips.append(kube.get_json("pod", "counter", "-n", namespace)["status"]["podIP"])
        kube.kubectl("delete", "pod", "counter", "-n", namespace, "--timeout=60s")
    assert ips[0] == ips[1]  # a re-created pod keeps its address

    pv_name = kube.get_json("pvc", "data", "-n", namespace)["spec"]["volumeName"]
    directory = Path(kube.get_json("pv", pv_name)["spec"]["hostPath"]["path"])
    assert (directory / "count").read_text() == "2"
    kube.kubectl("delete", "pvc", "data", "-n", namespace, "--timeout=60s")
    poll(lambda: kube.kubectl("get", "pv", pv_name, check=False).returncode != 0)
    assert not directory.exists()
