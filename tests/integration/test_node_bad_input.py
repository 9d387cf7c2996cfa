"""Bad input gets the right 4xx and writes nothing; redirects work for plain clients."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from storage_node import auth, maps
from storage_node.client import NodeError

from tests.integration.harness import BUCKET, SECRET, Cluster, admin_headers


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and "tmp" not in p.parts and p.suffix != ".log"}


BAD_NAMES = [
    "%2E%2E/%2E%2E/etc/passwd",
    "a/%2E%2E/%2E%2E/%2E%2E/x",
    "%2E%2E",
    "a/%2E/b",
    "/absolute",
    "a%00b",
    "a//b",
    "x" * 1100,
    "a%5Cb",
]


def test_bad_input_is_rejected_and_writes_nothing(cluster: Cluster) -> None:
    a = cluster.add_node("a")
    cluster.add_node("b")
    cluster.push_map(cluster.make_map(1, 1))
    with cluster.client(a) as c:
        c.create_bucket(BUCKET)
    before = _files(cluster.root)
    with httpx.Client(timeout=10) as http:
        for name in BAD_NAMES:
            r = http.put(f"{a.url}/v1/objects/{BUCKET}/{name}", content=b"evil")
            assert r.status_code == 400, (name, r.status_code)
            assert r.json()["error"] == "invalid name"
            assert http.get(f"{a.url}/v1/objects/{BUCKET}/{name}").status_code == 400
        for bucket in ("..", ".hidden", "a..b", "b" * 70):
            r = http.put(f"{a.url}/v1/objects/{bucket}/x", content=b"evil")
            assert r.status_code in (400, 404), (bucket, r.status_code)
            assert http.put(f"{a.url}/v1/buckets/{bucket}").status_code in (400, 404)
        r = http.put(f"{a.url}/v1/objects/nosuchbucket/x", content=b"data")
        assert r.status_code == 404 and r.json()["error"] == "no such bucket"
        assert http.get(f"{a.url}/v1/buckets/nosuchbucket").status_code == 404
        assert http.get(f"{a.url}/v1/objects/{BUCKET}/never-written", follow_redirects=True).status_code == 404
    assert _files(cluster.root) == before
    assert not (cluster.root.parent / "etc").exists()


def test_map_versions_and_auth(cluster: Cluster) -> None:
    a = cluster.add_node("a")
    v2 = cluster.make_map(2, 2)
    cluster.push_map(v2)
    with cluster.client(a) as c:
        assert c.install_map(v2) is False  # same version, same content: no-op
        with pytest.raises(NodeError) as err:
            c.install_map(cluster.make_map(1, 1))
        assert err.value.status == 409
        with pytest.raises(NodeError) as err:
            c.install_map(v2.model_copy(update={"rebalance_id": "g9"}))
        assert err.value.status == 409
        assert c.get_map() == v2
    with httpx.Client(base_url=a.url, timeout=10) as http:
        other = auth.issue_token("another-secret-0123456789abcdef0123456789")
        expired = auth.issue_token(SECRET, ttl_s=-60)
        for headers in (
            {},
            {"Authorization": "Bearer junk"},
            {"Authorization": f"Bearer {other}"},
            {"Authorization": f"Bearer {expired}"},
        ):
            for method, path in (
                ("GET", "/v1/admin/status"),
                ("GET", "/v1/admin/map"),
                ("POST", "/v1/admin/rebalance/abort"),
                ("GET", "/v1/internal/buckets"),
            ):
                assert http.request(method, path, headers=headers).status_code == 401, (method, path)
            r = http.put("/v1/admin/map", json=cluster.make_map(3, 3).model_dump(mode="json"), headers=headers)
            assert r.status_code == 401
            r = http.post("/v1/admin/cleanup", json={"rm_user_data": True}, headers=headers)
            assert r.status_code == 401
        assert http.get("/v1/admin/map", headers=admin_headers()).json()["version"] == 2
        assert http.get("/health/live").status_code == 200
        metrics = http.get("/metrics").text
        assert "ferry_node_http_requests_total" in metrics and "ferry_node_objects" in metrics


def test_redirects_work_for_curl_and_httpx(cluster: Cluster, tmp_path: Path) -> None:
    nodes = [cluster.add_node(f"n{i}") for i in range(3)]
    cmap = cluster.make_map(1, 1)
    cluster.push_map(cmap)
    with cluster.client(nodes[0]) as c:
        c.create_bucket(BUCKET)
    placement = maps.Placement(cmap)
    name = next(n for n in (f"päth/{i}" for i in range(100)) if placement.owner(BUCKET, n).id != "n0")
    with httpx.Client(timeout=10) as http:
        r = http.put(f"{nodes[0].url}/v1/objects/{BUCKET}/{name}", content=b"x")
        assert r.status_code == 307
        assert r.headers["location"].startswith(cluster.nodes[placement.owner(BUCKET, name).id].url)
    curl = shutil.which("curl")
    assert curl is not None, "curl is needed for this test"
    src = tmp_path / "upload.bin"
    src.write_bytes(b"hello through a redirect" * 1000)
    url = f"{nodes[0].url}/v1/objects/{BUCKET}/{quote(name, safe='/')}"
    subprocess.run([curl, "-sfL", "-T", str(src), url], check=True, timeout=30, capture_output=True)
    got = subprocess.run([curl, "-sfL", url], check=True, timeout=30, capture_output=True).stdout
    assert got == src.read_bytes()


def test_sigterm_stops_cleanly(cluster: Cluster) -> None:
    a = cluster.add_node("a")
    assert cluster.terminate(a) == 0


def test_a_server_error_names_its_kind_in_json_and_the_node_keeps_serving(cluster: Cluster) -> None:
    a = cluster.add_node("a")
    cluster.push_map(cluster.make_map(1, 1))
    with cluster.client(a) as c:
        c.create_bucket(BUCKET)
    with httpx.Client(timeout=10.0) as http:
        for name in ("broken", "fine"):
            assert http.put(f"{a.url}/v1/objects/{BUCKET}/{name}", content=name.encode()).status_code == 200
        # the object's file replaced behind the node's back by something it cannot read (a directory)
        (broken,) = [
            p for p in Path(a.mountpaths[0], "ferry", "objs").rglob("*") if p.is_file() and b"broken" in p.read_bytes()
        ]
        broken.unlink()
        broken.mkdir()
        r = http.get(f"{a.url}/v1/objects/{BUCKET}/broken")
        assert r.status_code == 500, r.text
        assert r.json()["error"] == "internal" and r.json()["detail"].startswith("IsADirectoryError"), r.text
        assert http.get(f"{a.url}/v1/objects/{BUCKET}/fine").content == b"fine"
