"""AIStore processes for the benchmarks: one aisnode proxy and one target on loopback, data in a local directory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import nodeprocs

ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = ROOT / "hack" / "ais" / "build.sh"
AIS_VERSION = "v1.5.0"

# aisnode serves its public (client) net and its intra-cluster net on separate endpoints. With two ports on one
# address it listens on INADDR_ANY for the public net (ais/htrun.go pubAddrAny); with the same port on two
# addresses it binds both to those addresses. So: public on 127.0.0.1:P, intra-control (and data) on
# 127.0.0.2:P. aisnode only accepts a hostname that is one of the machine's interface addresses, so 127.0.0.2
# must be on `lo`: `enter_private_netns()` arranges that in a network namespace of the benchmark's own.
PUB_HOST = "127.0.0.1"
INTRA_HOST = "127.0.0.2"
_NETNS_MARK = "FERRY_BENCH_PRIVATE_NETNS"

# The cluster config, as AIStore's local playground writes it (deploy/dev/local/aisnode_config.sh of v1.5.0);
# sections it leaves out take their defaults. Timeouts: the smallest startup time v1.5.0 accepts (30s; the
# primary waits a quarter of it for the target count to settle), so the cluster is up in a few seconds.
_CLUSTER_CONFIG: dict[str, object] = {
    "backend": {},
    "timeout": {
        "cplane_operation": "2s",
        "max_keepalive": "5s",
        "cold_get_conflict": "5s",
        "max_host_busy": "20s",
        "startup_time": "30s",
        "join_startup_time": "1m",
        "send_file_time": "5m",
        "ec_streams_time": "10m",
        "object_md": "2h",
    },
    "space": {
        "cleanupwm": 65,
        "lowwm": 75,
        "highwm": 90,
        "out_of_space": 95,
        "batch_size": 32768,
        "dont_cleanup_time": "120m",
    },
    "resilver": {"enabled": True},
    "memsys": {
        "min_free": "2gb",
        "default_buf": "32kb",
        "to_gc": "4gb",
        "hk_time": "3m",
        "min_pct_total": 0,
        "min_pct_free": 0,
    },
    "versioning": {"enabled": True, "validate_warm_get": False},
    "net": {
        "l4": {"proto": "tcp", "sndrcv_buf_size": 131072},
        "http": {
            "use_https": False,
            "server_crt": "server.crt",
            "server_key": "server.key",
            "domain_tls": "",
            "client_ca_tls": "",
            "client_auth_tls": 0,
            "idle_conn_time": "6s",
            "idle_conns_per_host": 32,
            "idle_conns": 256,
            "write_buffer_size": 65536,
            "read_buffer_size": 65536,
            "chunked_transfer": True,
            "skip_verify": False,
        },
        "use_ipv6": False,
    },
    "auth": {},
}


def aisnode_binary() -> Path:
    """The cached `aisnode` executable, built by hack/ais/build.sh on first use (several minutes)."""
    out = subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True).stdout
    path = Path(out.strip().splitlines()[-1])
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{BUILD_SCRIPT} did not produce an executable: {path}")
    return path


def loopback_addresses() -> set[str]:
    """The IPv4 addresses configured on `lo` in this process's network namespace."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", "lo"], check=True, capture_output=True, text=True)
    return {line.split()[3].split("/")[0] for line in out.stdout.splitlines() if len(line.split()) > 3}


def enter_private_netns() -> None:
    """Re-execute this program (same pid) in a new network namespace whose `lo` has 127.0.0.1 and 127.0.0.2.

    Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN), as this machine and CI run. Nothing in that namespace can reach
    or be reached from outside it: every server started there is on loopback, and the machine's own network
    settings stay untouched. Call it first thing in a benchmark's main(): the whole run (Ferry's nodes, AIStore,
    the load client) then shares the namespace. Returns at once when 127.0.0.2 is already on `lo`.
    """
    if INTRA_HOST in loopback_addresses():
        return
    if os.environ.get(_NETNS_MARK):
        raise RuntimeError(f"inside the benchmark's network namespace but {INTRA_HOST} is not on lo")
    setup = f'ip link set lo up && ip addr add {INTRA_HOST}/8 dev lo && exec "$@"'
    argv = [sys.executable, *sys.orig_argv[1:]]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe("unshare", ["unshare", "--net", "--", "sh", "-c", setup, "sh", *argv], {**os.environ, _NETNS_MARK: "1"})


def free_port_on_both() -> int:
    """A TCP port free on both PUB_HOST and INTRA_HOST right now."""
    for _ in range(100):
        with socket.socket() as a:
            a.bind((PUB_HOST, 0))
            port = int(a.getsockname()[1])
            with socket.socket() as b:
                try:
                    b.bind((INTRA_HOST, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no port free on both {PUB_HOST} and {INTRA_HOST}")


@dataclass
class AisNode:
    """One aisnode process."""

    role: str
    url: str
    proc: subprocess.Popen[bytes]
    home: Path


@dataclass
class AisCluster:
    """A running 1 proxy + 1 target cluster with one ais:// bucket."""

    proxy: AisNode
    target: AisNode
    bucket: str
    data: Path
    # query string the proxy appends when it redirects a PUT to the target (`pid=<proxy id>&utm=<time>`)
    put_redirect_query: str = field(default="")

    @property
    def pids(self) -> list[int]:
        """Both processes' pids (the server side of a load run)."""
        return [self.proxy.proc.pid, self.target.proc.pid]

    def object_path(self, name: str) -> str:
        """The request path of an object: `/v1/objects/<bucket>/<name>` (provider ais is the default)."""
        return f"/v1/objects/{self.bucket}/{name}"

    def get_url(self, name: str) -> str:
        """Where a load tool GETs an object: the target itself.

        A GET on the proxy answers with a redirect to the target (301 here; 307 for PUT) and wrk does not follow
        redirects, so the load goes to the target's public endpoint, which serves a GET directly when neither
        AuthN nor intra-cluster signing is on (ais/target.go checkObjVerb: "legacy direct read access"). That
        is the same request a client that follows redirects sends second; the proxy's hop is left out.
        """
        return self.target.url + self.object_path(name)

    def put_url(self, name: str) -> str:
        """Where a load tool PUTs an object: the target, with the proxy's redirect marker.

        A target answers 400 "PUT(obj) is expected to be redirected" to a PUT without the `pid`/`utm` query a
        proxy's redirect carries; with it (and no request signing configured) the target accepts the PUT. The
        marker is the one of a real redirect taken at startup; `utm` only feeds the target's redirect-latency
        statistic.
        """
        return f"{self.target.url}{self.object_path(name)}?{self.put_redirect_query}"


def _write_configs(home: Path, data: Path, role: str, port: int, primary_url: str) -> tuple[Path, Path]:
    conf_dir, log_dir = home / "conf", home / "log"
    conf_dir.mkdir(parents=True)
    log_dir.mkdir()
    cluster = {
        **_CLUSTER_CONFIG,
        "proxy": {"primary_url": primary_url, "original_url": primary_url, "discovery_url": "", "non_electable": False},
    }
    local = {
        "confdir": str(conf_dir),
        "log_dir": str(log_dir),
        "host_net": {
            "hostname": PUB_HOST,
            "hostname_intra_control": INTRA_HOST,
            "hostname_intra_data": "",
            "port": str(port),
            "port_intra_control": str(port),
            "port_intra_data": "0",
        },
        "fspaths": {},
        # the playground's "test" mountpaths: <root>/mp1, no separate filesystem or disk required
        "test_fspaths": {"root": str(data), "count": 1 if role == "target" else 0, "instance": 0},
    }
    cluster_path, local_path = home / "ais.json", home / "ais_local.json"
    cluster_path.write_text(json.dumps(cluster, indent=1))
    local_path.write_text(json.dumps(local, indent=1))
    return cluster_path, local_path


def _start(binary: Path, root: Path, data: Path, role: str, primary_url: str, port: int) -> AisNode:
    home = root / role
    cluster_path, local_path = _write_configs(home, data, role, port, primary_url)
    args = [str(binary), f"-config={cluster_path}", f"-local_config={local_path}", f"-role={role}"]
    if role == "proxy":
        args.append("-ntargets=1")
    log = open(home / "stdout.log", "ab")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    return AisNode(role, f"http://{PUB_HOST}:{port}", proc, home)


def _wait_ready(proxy: AisNode, target: AisNode, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as http:
        while time.monotonic() < deadline:
            for node in (proxy, target):
                if node.proc.poll() is not None:
                    tail = (node.home / "stdout.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"aisnode {node.role} exited ({node.proc.returncode}): {tail}")
            with contextlib.suppress(httpx.HTTPError):
                ok = http.get(proxy.url + "/v1/health", params={"prr": "true"}).status_code == 200
                smap = http.get(proxy.url + "/v1/daemon", params={"what": "smap"}).json() if ok else {}
                if ok and len(smap.get("tmap") or {}) == 1 and http.get(target.url + "/v1/health").status_code == 200:
                    return
            time.sleep(0.2)
    raise RuntimeError(f"AIStore not ready within {timeout:.0f}s (logs under {proxy.home.parent})")


def _stop(nodes: list[AisNode]) -> None:
    """SIGTERM each process by its pid (target first), SIGKILL what is still there after 10 s."""
    nodeprocs.terminate([node.proc for node in nodes])


@contextlib.contextmanager
def cluster(data_parent: Path | None = None, bucket: str = "bench", ready_timeout: float = 90) -> Iterator[AisCluster]:
    """Start 1 proxy + 1 target with data under a temp dir in `data_parent`; yield it with `ais://<bucket>`.

    Stops both processes by pid and removes the temp dir (data, configs, logs) on the way out. Needs 127.0.0.2
    on `lo` (see `enter_private_netns`).
    """
    if INTRA_HOST not in loopback_addresses():
        raise RuntimeError(f"{INTRA_HOST} is not on lo: call aisprocs.enter_private_netns() first (see its doc)")
    binary = aisnode_binary()
    root = Path(tempfile.mkdtemp(prefix="ferry-ais-", dir=data_parent))
    nodes: list[AisNode] = []
    try:
        data = root / "data"
        proxy_port = free_port_on_both()
        primary_url = f"http://{PUB_HOST}:{proxy_port}"
        nodes.append(_start(binary, root, data, "proxy", primary_url, proxy_port))
        target_port = free_port_on_both()
        nodes.insert(0, _start(binary, root, data, "target", primary_url, target_port))
        target, proxy = nodes
        _wait_ready(proxy, target, ready_timeout)
        with httpx.Client(timeout=30) as http:
            r = http.post(f"{proxy.url}/v1/buckets/{bucket}", params={"provider": "ais"}, json={"action": "create-bck"})
            r.raise_for_status()
            # one real PUT through the proxy: its redirect gives the marker a direct PUT to the target needs
            r = http.put(f"{proxy.url}/v1/objects/{bucket}/ferry-probe", content=b"probe")
            if r.status_code not in (301, 302, 307, 308):
                raise RuntimeError(f"expected a redirect from the proxy's PUT, got {r.status_code}: {r.text[:200]}")
            location = urlsplit(r.headers["location"])
            if f"{location.scheme}://{location.netloc}" != target.url:
                raise RuntimeError(f"proxy redirected to {location.netloc}, not to the target {target.url}")
            http.put(r.headers["location"], content=b"probe").raise_for_status()
        yield AisCluster(proxy, target, bucket, data / "mp1", location.query)
    finally:
        _stop(nodes)
        shutil.rmtree(root, ignore_errors=True)


async def _put_many(urls: list[str], data: bytes, concurrency: int, follow_redirects: bool) -> None:
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=120, follow_redirects=follow_redirects) as http:

        async def one(url: str) -> None:
            async with sem:
                r = await http.put(url, content=data)
                r.raise_for_status()

        await asyncio.gather(*(one(u) for u in urls))


def put_objects(
    ais: AisCluster,
    count: int,
    size: int,
    prefix: str = "o",
    concurrency: int = 8,
    first: int = 0,
    via_proxy: bool = False,
) -> list[str]:
    """PUT objects <prefix>{first:06d}..<prefix>{count-1:06d} of `size` random bytes; return their names.

    By default each PUT goes straight to the target with the proxy's redirect marker (`put_url`): the request a
    client sends after following the proxy's 307. `via_proxy` sends each to the proxy and follows the redirect.
    """
    names = [f"{prefix}{i:06d}" for i in range(first, count)]
    urls = [ais.proxy.url + ais.object_path(n) if via_proxy else ais.put_url(n) for n in names]
    asyncio.run(_put_many(urls, os.urandom(size), concurrency, via_proxy))
    return names
