"""The real node: containers with their own IPs, logs and exec, restarts, fsGroup volumes, Services and DNS."""

from __future__ import annotations

import errno
import json
import socket
import time
import urllib.request
from typing import Any

import pytest
from localkube.cluster import Cluster
from localkube.node import hostnet

pytestmark = pytest.mark.e2e

SERVER = """
import http.server, os, signal, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # as PID 1, only a handled signal ends it
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(os.environ.get("BODY", "hello").encode())
    def log_message(self, *args): pass
print("serving on", os.environ["POD_IP"], flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
"""
POD_IP = {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
# What Pod Security "restricted" asks of every pod (the image's user is 10001).
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "fsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def pod(name: str, script: str, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": "ferry:dev",
        "command": ["python", "-c", script],
        "securityContext": CONTAINER_SECURITY,
    }
    container.update(spec.pop("container", {}))
    container["env"] = [POD_IP, *container.get("env", [])]
    body = {"securityContext": POD_SECURITY, "terminationGracePeriodSeconds": 2, "containers": [container], **spec}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}}, "spec": body}


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


def poll(cond: Any, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.3)


def run(kube: Cluster, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
    kube.apply(json.dumps(manifest), namespace=namespace)
    name = manifest["metadata"]["name"]
    kube.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "-n", namespace, "--timeout=90s", timeout=100)
    return dict(kube.get_json("pod", name, "-n", namespace))


def test_a_pod_is_a_container_with_its_own_ip_logs_and_exec(kube: Cluster, namespace: str) -> None:
    ranges = kube.ranges
    assert ranges is not None
    body = run(kube, namespace, pod("web", SERVER, container={"env": [{"name": "BODY", "value": "hi"}]}))
    ip = body["status"]["podIP"]
    assert ip.startswith(ranges.gateway.rsplit(".", 1)[0] + ".") and ip != ranges.gateway
    assert body["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")
    assert get(f"http://{ip}:8080/") == "hi"
    assert f"serving on {ip}" in kube.kubectl("logs", "web", "-n", namespace).stdout
    who = kube.kubectl("exec", "web", "-n", namespace, "--", "id", "-u").stdout.strip()
    assert who == "10001"


def test_pod_security_restricted_rejects_a_pod_that_may_escalate(kube: Cluster, namespace: str) -> None:
    loose = pod("loose", "import time; time.sleep(60)")
    del loose["spec"]["securityContext"], loose["spec"]["containers"][0]["securityContext"]
    refused = kube.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(loose), check=False)
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr


def test_a_container_killed_inside_restarts_under_the_kubelet(kube: Cluster, namespace: str) -> None:
    run(kube, namespace, pod("web", SERVER))
    kube.kubectl("exec", "web", "-n", namespace, "--", "sh", "-c", "kill 1", check=False)
    poll(lambda: kube.get_json("pod", "web", "-n", namespace)["status"]["containerStatuses"][0]["restartCount"] >= 1)
    kube.kubectl("wait", "--for=condition=Ready", "pod/web", "-n", namespace, "--timeout=90s", timeout=100)


def test_fs_group_makes_the_volume_writable_and_it_outlives_the_pod(kube: Cluster, namespace: str) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    kube.apply(json.dumps(claim), namespace=namespace)
    volume = {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}
    mount = {"volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    writer = "import time; open('/data/kept', 'w').write('kept'); print('written', flush=True); time.sleep(3600)"
    run(kube, namespace, pod("writer", writer, container=mount, **volume))
    kube.kubectl("delete", "pod", "writer", "-n", namespace, "--wait=true")
    reader = "import time; print(open('/data/kept').read(), flush=True); time.sleep(3600)"
    run(kube, namespace, pod("reader", reader, container=mount, **volume))
    assert poll(lambda: "kept" in kube.kubectl("logs", "reader", "-n", namespace).stdout)


def test_a_service_reaches_its_pod_through_kube_proxy_and_its_name_resolves(kube: Cluster, namespace: str) -> None:
    run(kube, namespace, pod("web", SERVER, container={"env": [{"name": "BODY", "value": "via-service"}]}))
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    kube.apply(json.dumps(service), namespace=namespace)
    fetch = (
        "import sys, time, urllib.request\n"
        "for url in sys.argv[1:]:\n"
        "    for _ in range(60):\n"
        "        try:\n"
        "            print(urllib.request.urlopen(url, timeout=2).read().decode(), flush=True); break\n"
        "        except OSError:\n"
        "            time.sleep(0.5)\n"
        "time.sleep(3600)\n"
    )
    cluster_ip = kube.get_json("service", "web", "-n", namespace)["spec"]["clusterIP"]
    urls = [f"http://{cluster_ip}/", f"http://web.{namespace}.svc.cluster.local/", "http://web/"]
    run(kube, namespace, pod("client", fetch, container={"args": urls}))
    assert poll(lambda: kube.kubectl("logs", "client", "-n", namespace).stdout.split() == ["via-service"] * 3)


def test_nothing_leaves_the_machine(kube: Cluster, namespace: str) -> None:
    ranges = kube.ranges
    assert ranges is not None
    assert hostnet.routes(ranges) == list(ranges.unreachable)
    # from this machine, a Service address that kube-proxy has not programmed dies on the unreachable route
    with pytest.raises(OSError) as refused, socket.create_connection((ranges.service_ip[:-1] + "9", 80), timeout=2):
        pass
    assert refused.value.errno == errno.EHOSTUNREACH
    # a pod has no route out (the connection fails inside the pod, before any packet), and names outside the
    # cluster do not resolve (CoreDNS forwards nowhere)
    probe = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('203.0.113.7', 80), timeout=2)\n"
        "except OSError as e:\n"
        "    print('connect', e.errno)\n"
        "try:\n"
        "    socket.getaddrinfo('example.org', 80)\n"
        "except OSError as e:\n"
        "    print('resolve', type(e).__name__)\n"
        "import time; time.sleep(3600)\n"
    )
    run(kube, namespace, pod("probe", probe))
    out = poll(lambda: kube.kubectl("logs", "probe", "-n", namespace).stdout.strip())
    assert out.splitlines() == [f"connect {errno.ENETUNREACH}", "resolve gaierror"], out
