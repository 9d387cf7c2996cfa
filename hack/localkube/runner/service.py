"""The runner process: registers Nodes, watches their pods, runs a worker per pod, provisions volumes."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path

import httpx
from lightkube import AsyncClient, KubeConfig
from lightkube.resources.core_v1 import Pod
from lightkube.types import on_error_retry

from localkube import network, pki
from localkube.layout import Layout
from localkube.runner import logs_server, nodes, provisioner
from localkube.runner.context import Context
from localkube.runner.ips import Allocator
from localkube.runner.pods import PodWorker

log = logging.getLogger("localkube.runner")


async def watch_pods(ctx: Context, node: str) -> None:
    """Start, update and retire pod workers from the watch of pods bound to ``node``."""
    while True:
        try:
            stream = ctx.client.watch(Pod, namespace="*", fields={"spec.nodeName": node}, on_error=on_error_retry)
            async for op, pod in stream:
                uid = pod.metadata.uid if pod.metadata else None
                if not uid or uid in ctx.finished:
                    continue
                worker = ctx.workers.get(uid)
                if op == "DELETED":
                    if worker is not None:
                        worker.update(pod)
                        worker.deleted()
                elif worker is not None:
                    worker.update(pod)
                else:
                    worker = PodWorker(ctx, pod, ctx.address)
                    ctx.workers[uid] = worker
                    worker.task = asyncio.create_task(worker.run(), name=f"pod {uid}")
        except Exception as e:
            log.warning("pod watch for %s failed (%s); retrying", node, e)
            await asyncio.sleep(1.0)


def _lookup(ctx: Context) -> logs_server.Lookup:
    def lookup(namespace: str, pod: str, container: str, previous: bool) -> tuple[Path | None, bool, str]:
        worker = ctx.find(namespace, pod)
        if worker is None:
            return None, False, ""
        return worker.log_path(container, previous), worker.running(container), worker.waiting(container)

    return lookup


async def run(root: Path, node_count: int) -> None:
    """Run until SIGTERM/SIGINT, then stop every pod process (bounded) and exit."""
    layout = Layout(root)
    info = json.loads(layout.info.read_text())
    address = str(info["address"])
    client = AsyncClient(KubeConfig.from_file(layout.component_kubeconfigs / "runner.yaml"), field_manager="localkube")
    ca = pki.ensure_ca(layout.pki)
    serving = pki.issue(ca, layout.pki, f"kubelet-{address}", cn="localkube-kubelet", ips=[address], dns=["localhost"])
    async with httpx.AsyncClient(verify=False) as http:
        ctx = Context(client, layout, address, Allocator(network.slot_of(address), layout.runner / "ips.json"), http)
        server = logs_server.serve(address, network.KUBELET_PORT, serving.cert, serving.key, ca.cert, _lookup(ctx))
        names = [f"local-{i + 1}" for i in range(node_count)]
        for name in names:
            await nodes.register(client, name, address, network.KUBELET_PORT)
        log.info("nodes %s registered at %s", names, address)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        tasks = [
            asyncio.create_task(nodes.keep_ready(client, names, address, network.KUBELET_PORT)),
            asyncio.create_task(provisioner.watch_claims(client, layout.volumes)),
            asyncio.create_task(provisioner.watch_volumes(client, layout.volumes)),
            *(asyncio.create_task(watch_pods(ctx, name)) for name in names),
        ]
        await stop.wait()
        log.info("stopping: terminating %d pod(s)", len(ctx.workers))
        for t in tasks:
            t.cancel()
        workers = [w.task for w in ctx.workers.values() if w.task is not None]
        for t in workers:
            t.cancel()
        await asyncio.wait([*tasks, *workers], timeout=10.0)
        server.shutdown()
        await client.close()
