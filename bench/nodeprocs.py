"""Storage-node processes started by the benchmarks: wait until ready, stop by pid."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

import httpx


def free_port(host: str) -> int:
    """A TCP port free on `host` right now (for a process about to listen there)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """A node process."""

    id: str
    url: str
    proc: subprocess.Popen[bytes]


def ready(node_id: str, url: str, proc: subprocess.Popen[bytes], timeout: float) -> Proc:
    """Wait (bounded) until the node answers /health/ready; RuntimeError if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{node_id} exited")
        try:
            if httpx.get(url + "/health/ready", timeout=1).status_code == 200:
                return Proc(node_id, url, proc)
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{node_id} not ready")


def stop(nodes: list[Proc]) -> None:
    """SIGTERM (then SIGKILL) the processes a bench started."""
    terminate([n.proc for n in nodes])


def terminate(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process by its pid, in order; SIGKILL what is still there after 10 s."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def upload(
    urls: list[str], bucket: str, count: int, size: int, concurrency: int = 8, prefix: str = "o", first: int = 0
) -> None:
    """PUT objects <prefix>{first:06d}..<prefix>{count-1:06d} of `size` bytes over the nodes (redirects followed)."""
    sem = asyncio.Semaphore(concurrency)
    data = os.urandom(size)
    async with httpx.AsyncClient(follow_redirects=True, timeout=120) as http:

        async def one(i: int) -> None:
            async with sem:
                r = await http.put(f"{urls[i % len(urls)]}/v1/objects/{bucket}/{prefix}{i:06d}", content=data)
                r.raise_for_status()

        await asyncio.gather(*(one(i) for i in range(first, count)))
