"""Readiness, liveness and startup probes (httpGet, tcpSocket, exec) with the kubelet's thresholds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import httpx
from lightkube.models.core_v1 import Container, Probe

ExecFn = Callable[[Sequence[str], float], Awaitable[bool]]


def _port(container: Container, port: int | str) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.ports or []:
        if p.name == port:
            return int(p.containerPort)
    raise ValueError(f"container {container.name} has no port named {port!r}")


async def check(
    probe: Probe, container: Container, pod_ip: str, http: httpx.AsyncClient, run_exec: ExecFn
) -> tuple[bool, str]:
    """Run ``probe`` once; returns (success, message on failure)."""
    timeout = float(probe.timeoutSeconds or 1)
    try:
        if probe.httpGet is not None:
            g = probe.httpGet
            scheme = (g.scheme or "HTTP").lower()
            host = g.host or pod_ip
            url = f"{scheme}://{host}:{_port(container, g.port)}{g.path or '/'}"
            headers = {h.name: h.value for h in g.httpHeaders or []}
            resp = await http.get(url, headers=headers, timeout=timeout)
            if 200 <= resp.status_code < 400:
                return True, ""
            return False, f"HTTP probe failed with statuscode: {resp.status_code}"
        if probe.tcpSocket is not None:
            t = probe.tcpSocket
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(t.host or pod_ip, _port(container, t.port)), timeout
            )
            writer.close()
            return True, ""
        if probe.exec is not None:
            ok = await run_exec(probe.exec.command or [], timeout)
            return ok, "" if ok else "exec probe failed"
    except (httpx.HTTPError, OSError, TimeoutError, ValueError) as e:
        return False, f"probe failed: {type(e).__name__}: {e}"
    return False, "unsupported probe type (only httpGet, tcpSocket and exec are supported)"


class Tracker:
    """One probe of one container run: when it is due, and its thresholded result."""

    def __init__(self, probe: Probe, started: float) -> None:
        self.probe = probe
        self.next_at = started + float(probe.initialDelaySeconds or 0)
        self.successes = 0
        self.failures = 0
        self.result: bool | None = None
        self.message = ""

    @property
    def period(self) -> float:
        """Seconds between probes."""
        return float(self.probe.periodSeconds or 10)

    def due(self, now: float | None = None) -> bool:
        """Whether it is time to probe again."""
        return (now if now is not None else time.monotonic()) >= self.next_at

    def record(self, ok: bool, message: str, now: float | None = None) -> None:
        """Account one probe outcome against successThreshold / failureThreshold."""
        self.next_at = (now if now is not None else time.monotonic()) + self.period
        self.message = message
        if ok:
            self.successes += 1
            self.failures = 0
            if self.successes >= (self.probe.successThreshold or 1):
                self.result = True
        else:
            self.failures += 1
            self.successes = 0
            if self.failures >= (self.probe.failureThreshold or 3):
                self.result = False
