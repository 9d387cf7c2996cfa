"""Helm test of a Ferry StorageCluster: every online node is ready and an object written to the cluster reads back."""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any

import httpx
from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource

StorageNode = create_namespaced_resource("ferry.dev", "v1alpha1", "StorageNode", "storagenodes")


def _url(address: str) -> str:
    return address if address.startswith(("http://", "https://")) else f"http://{address}"


def main() -> int:
    """Check the cluster named by FERRY_CLUSTER in FERRY_NAMESPACE; print what was checked; exit 1 on failure."""
    namespace, cluster = os.environ["FERRY_NAMESPACE"], os.environ["FERRY_CLUSTER"]
    bodies: list[dict[str, Any]] = [dict(n) for n in Client().list(StorageNode, namespace=namespace)]
    nodes = [b for b in bodies if b.get("spec", {}).get("cluster") == cluster]
    online = sorted(
        (str(b["metadata"]["name"]), _url(str(b["status"]["address"])))
        for b in nodes
        if (b.get("status") or {}).get("state") == "online" and (b.get("status") or {}).get("address")
    )
    if not online:
        print(f"FAIL: StorageCluster {namespace}/{cluster} has no online StorageNode with an address")
        return 1
    failures: list[str] = []
    with httpx.Client(timeout=10.0, follow_redirects=True) as http:
        for name, url in online:
            ready = http.get(f"{url}/health/ready")
            print(f"node {name} at {url}: /health/ready -> {ready.status_code}")
            if ready.status_code != 200:
                failures.append(f"node {name} is not ready ({ready.status_code}: {ready.text[:200]})")
        if failures:
            print("FAIL:", "; ".join(failures))
            return 1
        bucket, body = f"helm-test-{uuid.uuid4().hex[:10]}", uuid.uuid4().bytes * 64
        first = online[0][1]
        http.put(f"{first}/v1/buckets/{bucket}").raise_for_status()
        http.put(f"{first}/v1/objects/{bucket}/probe", content=body).raise_for_status()
        for name, url in online:
            got = http.get(f"{url}/v1/objects/{bucket}/probe")
            if got.status_code != 200 or got.content != body:
                failures.append(f"node {name}: reading the probe object gave {got.status_code}")
        http.delete(f"{first}/v1/objects/{bucket}/probe")
        http.delete(f"{first}/v1/buckets/{bucket}")
    if failures:
        print("FAIL:", "; ".join(failures))
        return 1
    print(f"OK: {len(online)} online node(s) of {namespace}/{cluster} ready; a written object read back from each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
