"""Starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler on the node's bridge address.

Order: etcd -> apiserver (/readyz) -> controller manager + scheduler (/healthz). Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from localkube import kubeconfigs, network, pki, processes
from localkube.layout import Layout


@dataclass(frozen=True)
class Services:
    """The Service range and its first address (the ClusterIP of Service ``kubernetes``)."""

    cidr: str
    ip: str


ISSUER = "https://kubernetes.default.svc.cluster.local"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
ADMIN_USER = "ferry-admin"


@dataclass(frozen=True)
class Credentials:
    """The control plane's certificates and keys."""

    ca: pki.KeyPair
    apiserver: pki.KeyPair
    kubelet_client: pki.KeyPair
    signing: pki.KeyPair
    admin: pki.KeyPair


def make_pki(layout: Layout, address: str, services: Services) -> Credentials:
    """Create (once) every certificate and the kubeconfigs of admin and components."""
    d = layout.pki
    ca = pki.ensure_ca(d)
    apiserver = pki.issue(
        ca,
        d,
        f"apiserver-{address}",
        cn="kube-apiserver",
        ips=[address, "127.0.0.1", services.ip],
        dns=[
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ],
    )
    kubelet_client = pki.issue(
        ca, d, "apiserver-kubelet-client", cn="kube-apiserver-kubelet-client", orgs=["system:masters"]
    )
    admin = pki.issue(ca, d, "admin", cn=ADMIN_USER, orgs=["system:masters"])
    server = f"https://{address}:{network.API_PORT}"
    kubeconfigs.write(layout.kubeconfig, server=server, ca=ca.cert, user=ADMIN_USER, client=admin)
    for name, cn, orgs in (
        ("kube-controller-manager", "system:kube-controller-manager", ()),
        ("kube-scheduler", "system:kube-scheduler", ()),
    ):
        pair = pki.issue(ca, d, name, cn=cn, orgs=orgs)
        kubeconfigs.write(
            layout.component_kubeconfigs / f"{name}.yaml", server=server, ca=ca.cert, user=cn, client=pair
        )
    return Credentials(ca, apiserver, kubelet_client, pki.ensure_signing_key(d), admin)


def _argv(name: str, bin_dir: Path, layout: Layout, address: str, creds: Credentials, services: Services) -> list[str]:
    kc = layout.component_kubeconfigs
    a = address
    if name == "etcd":
        return [
            str(bin_dir / "etcd"),
            "--name=localkube",
            f"--data-dir={layout.etcd_data}",
            f"--listen-client-urls=http://{a}:{network.ETCD_CLIENT_PORT}",
            f"--advertise-client-urls=http://{a}:{network.ETCD_CLIENT_PORT}",
            f"--listen-peer-urls=http://{a}:{network.ETCD_PEER_PORT}",
            f"--initial-advertise-peer-urls=http://{a}:{network.ETCD_PEER_PORT}",
            f"--initial-cluster=localkube=http://{a}:{network.ETCD_PEER_PORT}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
            "--quota-backend-bytes=2147483648",
        ]
    if name == "kube-apiserver":
        return [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers=http://{a}:{network.ETCD_CLIENT_PORT}",
            f"--bind-address={a}",
            f"--advertise-address={a}",
            f"--secure-port={network.API_PORT}",
            f"--tls-cert-file={creds.apiserver.cert}",
            f"--tls-private-key-file={creds.apiserver.key}",
            f"--client-ca-file={creds.ca.cert}",
            f"--requestheader-client-ca-file={creds.ca.cert}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--service-account-key-file={creds.signing.cert}",
            f"--service-account-signing-key-file={creds.signing.key}",
            f"--service-account-issuer={ISSUER}",
            f"--service-cluster-ip-range={services.cidr}",
            "--authorization-mode=Node,RBAC",
            f"--kubelet-client-certificate={creds.kubelet_client.cert}",
            f"--kubelet-client-key={creds.kubelet_client.key}",
            f"--kubelet-certificate-authority={creds.ca.cert}",
            "--kubelet-preferred-address-types=InternalIP",
            "--endpoint-reconciler-type=lease",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ]
    if name in ("kube-controller-manager", "kube-scheduler"):
        own = kc / f"{name}.yaml"
        port = network.CONTROLLER_MANAGER_PORT if name == "kube-controller-manager" else network.SCHEDULER_PORT
        argv = [
            str(bin_dir / name),
            f"--kubeconfig={own}",
            f"--authentication-kubeconfig={own}",
            f"--authorization-kubeconfig={own}",
            f"--bind-address={a}",
            f"--secure-port={port}",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ]
        if name == "kube-controller-manager":
            argv += [
                f"--service-account-private-key-file={creds.signing.key}",
                f"--root-ca-file={creds.ca.cert}",
                "--use-service-account-credentials=true",
                f"--cluster-signing-cert-file={creds.ca.cert}",
                f"--cluster-signing-key-file={creds.ca.key}",
                f"--service-cluster-ip-range={services.cidr}",
            ]
        return argv
    raise ValueError(name)


def start(
    layout: Layout,
    bin_dir: Path,
    address: str,
    env: Mapping[str, str],
    *,
    services: Services,
    timeout: float = 120.0,
    progress: Callable[[str], None] = lambda _: None,
) -> None:
    """Start the four control-plane processes (those not already running) and wait until each is healthy."""
    creds = make_pki(layout, address, services)
    layout.etcd_data.mkdir(parents=True, exist_ok=True)
    layout.etcd_data.chmod(0o700)
    deadline = time.monotonic() + timeout
    admin_ctx = client_context(creds.ca.cert, creds.admin)
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    checks: dict[str, tuple[str, ssl.SSLContext | None]] = {
        "etcd": (f"http://{address}:{network.ETCD_CLIENT_PORT}/health", None),
        "kube-apiserver": (f"https://{address}:{network.API_PORT}/readyz", admin_ctx),
        "kube-controller-manager": (f"https://{address}:{network.CONTROLLER_MANAGER_PORT}/healthz", insecure),
        "kube-scheduler": (f"https://{address}:{network.SCHEDULER_PORT}/healthz", insecure),
    }
    for group in (("etcd",), ("kube-apiserver",), ("kube-controller-manager", "kube-scheduler")):
        for name in group:
            pid_file = layout.pids / f"{name}.pid"
            rec = processes.read_pid_file(pid_file)
            if rec is not None and processes.alive(rec):
                continue
            progress(f"starting {name}")
            processes.spawn(
                _argv(name, bin_dir, layout, address, creds, services),
                log=layout.logs / f"{name}.log",
                env=env,
                pid_file=pid_file,
            )
        for name in group:
            url, ctx = checks[name]
            _wait_healthy(name, url, ctx, layout, deadline)


def _wait_healthy(name: str, url: str, ctx: ssl.SSLContext | None, layout: Layout, deadline: float) -> None:
    pid_file = layout.pids / f"{name}.pid"
    last = ""
    while time.monotonic() < deadline:
        rec = processes.read_pid_file(pid_file)
        if rec is None or not processes.alive(rec):
            raise RuntimeError(f"{name} exited during start-up; see {layout.logs / (name + '.log')}")
        code, body = http_get(url, ctx)
        if code == 200:
            return
        last = f"HTTP {code}: {body[:200]}" if code else body
        time.sleep(0.2)
    raise TimeoutError(f"{name} not healthy at {url} in time ({last}); see {layout.logs / (name + '.log')}")


def client_context(ca: Path, client: pki.KeyPair) -> ssl.SSLContext:
    """An SSL context trusting ``ca`` and presenting ``client``."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.load_cert_chain(str(client.cert), str(client.key))
    return ctx


def http_get(url: str, ctx: ssl.SSLContext | None, timeout: float = 2.0) -> tuple[int, str]:
    """GET ``url``; returns (status, body), status 0 when it could not connect."""
    try:
        resp = httpx.get(url, verify=ctx if ctx is not None else True, timeout=timeout, follow_redirects=True)
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as e:
        return 0, str(e)
    return resp.status_code, resp.content.decode(errors="replace")


def stop(layout: Layout) -> None:
    """Stop the control plane in reverse order; idempotent."""
    for name in reversed(COMPONENTS):
        processes.stop_pid_file(layout.pids / f"{name}.pid", grace=10.0)


def running(layout: Layout) -> dict[str, bool]:
    """Which control-plane processes are alive."""
    out = {}
    for name in COMPONENTS:
        rec = processes.read_pid_file(layout.pids / f"{name}.pid")
        out[name] = rec is not None and processes.alive(rec)
    return out


def environment(root: Path) -> dict[str, str]:
    """The environment for processes of the cluster at ``root``: ours plus the cluster marker."""
    env = dict(os.environ)
    env[processes.MARKER] = str(root)
    with contextlib.suppress(KeyError):
        del env["KUBECONFIG"]
    return env
