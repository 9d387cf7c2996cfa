"""Clients keep doing PUT/GET/DELETE/list during a rebalance: no failure, nothing lost or resurrected."""

from __future__ import annotations

import asyncio
import random

import httpx
from storage_node import fileio
from storage_node.schemas import NodeFlag

from tests.integration.harness import BUCKET, Cluster, mixed_sizes, payload, upload, verify_readable

WORKERS = 6


async def _worker(
    wid: int,
    urls: list[str],
    model: dict[str, str | None],
    stable: dict[str, str],
    stop: asyncio.Event,
    failures: list[str],
    counts: dict[str, int],
) -> None:
    rnd = random.Random(wid)
    mine = [f"hot/w{wid}/k{i}" for i in range(60)]  # only this worker touches these keys
    gen = 0
    async with httpx.AsyncClient(follow_redirects=True, timeout=60.0) as http:
        while not stop.is_set() or counts["ops"] < 600:
            url = rnd.choice(urls)
            op = rnd.random()
            key = rnd.choice(mine)
            try:
                if op < 0.35:
                    gen += 1
                    data = payload(f"{key}#{wid}.{gen}", rnd.choice([100, 3000, 40000, 300000]))
                    r = await http.put(f"{url}/v1/objects/{BUCKET}/{key}", content=data)
                    if r.status_code != 200 or r.json()["checksum"] != fileio.checksum(data):
                        failures.append(f"PUT {key}: {r.status_code}")
                    model[key] = fileio.checksum(data)
                elif op < 0.5:
                    r = await http.delete(f"{url}/v1/objects/{BUCKET}/{key}")
                    want = 200 if model.get(key) else 404
                    if r.status_code != want:
                        failures.append(f"DELETE {key}: {r.status_code}, expected {want}")
                    model[key] = None
                elif op < 0.8:
                    name = key if op < 0.65 else rnd.choice(list(stable))
                    r = await http.get(f"{url}/v1/objects/{BUCKET}/{name}")
                    want_ck = model.get(name) if name in model else stable.get(name)
                    if want_ck is None:
                        if r.status_code != 404:
                            failures.append(f"GET {name}: {r.status_code}, expected 404 (resurrected?)")
                    elif r.status_code != 200 or fileio.checksum(r.content) != want_ck:
                        failures.append(f"GET {name}: {r.status_code}, wrong bytes or missing")
                else:
                    r = await http.get(f"{url}/v1/buckets/{BUCKET}", params={"prefix": "dir", "limit": "800"})
                    if r.status_code != 200:
                        failures.append(f"LIST: {r.status_code} {r.text[:200]}")
                    else:
                        page = {o["name"]: o["checksum"] for o in r.json()["objects"]}
                        first = sorted(stable)[: len(page)]
                        if [n for n in first if page.get(n) != stable[n]]:
                            failures.append("LIST: stable objects missing or wrong in the first page")
            except httpx.HTTPError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
            counts["ops"] += 1


async def _traffic(
    cluster: Cluster,
    urls: list[str],
    stable: dict[str, str],
    model: dict[str, str | None],
    failures: list[str],
    counts: dict[str, int],
) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(_worker(w, urls, model, stable, stop, failures, counts)) for w in range(WORKERS)]
    await asyncio.sleep(0.5)
    await asyncio.to_thread(cluster.push_map, cluster.make_map(2, 2, {"n1": [NodeFlag.maintenance]}))
    await asyncio.to_thread(cluster.wait_rebalance, "g2", 180.0)
    counts["during"] = counts["ops"]
    stop.set()
    await asyncio.gather(*tasks)


def test_traffic_during_rebalance(cluster: Cluster) -> None:
    urls = cluster.form(4)
    stable = upload(urls, mixed_sizes(1500, seed=5))
    for node in cluster.nodes.values():
        cluster.set_bandwidth(node, 4 << 20, concurrency=2)  # slow enough for traffic to overlap it
    model: dict[str, str | None] = {}
    failures: list[str] = []
    counts = {"ops": 0}
    asyncio.run(_traffic(cluster, urls, stable, model, failures, counts))

    assert not failures, f"{len(failures)} failed requests, e.g. {failures[:5]}"
    assert counts["during"] > 100, counts
    live = {k: v for k, v in model.items() if v is not None}
    expected = {**stable, **live}
    assert not cluster.holdings()["n1"]
    cluster.assert_in_place(expected)
    verify_readable(urls[:2], expected)
    with cluster.client(cluster.nodes["n2"]) as c:
        listed = {o.name: o.checksum for o in c.list_all(BUCKET)}
    assert listed == expected
    with httpx.Client(follow_redirects=True, timeout=30) as http:
        for key, ck in model.items():
            if ck is None:
                assert http.get(f"{urls[0]}/v1/objects/{BUCKET}/{key}").status_code == 404, key
