"""Runs one pod: volumes, env, init containers, containers with restarts and probes, status, deletion.

One :class:`PodWorker` (an asyncio task) per pod uid. Flow:
``allocate IP -> check images -> [volumes + env, retried] -> init containers -> containers (supervise:
exits, restarts with back-off, probes) -> on deletion: SIGTERM, grace, SIGKILL -> clean up -> delete``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lightkube.core.exceptions import ApiError
from lightkube.models.core_v1 import Container
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

from localkube.runner import containers, env, images, probes, refs, sandbox, volumes
from localkube.runner.context import Context

log = logging.getLogger("localkube.runner.pods")

_MAX_BACKOFF = 30.0
_TICK = 0.2


def now_iso() -> str:
    """RFC 3339 timestamp, second precision, as the API server stores them."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Run:
    """A container of the pod across its restarts."""

    spec: Container
    proc: containers.Process | None = None
    restarts: int = 0
    state: dict[str, Any] = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict[str, Any] = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    done: bool = False
    backoff: float = 0.0
    backoff_until: float = 0.0
    ran_since: float = 0.0
    readiness: probes.Tracker | None = None
    liveness: probes.Tracker | None = None
    startup: probes.Tracker | None = None

    @property
    def name(self) -> str:
        """The container name."""
        return self.spec.name

    def status(self) -> dict[str, Any]:
        """The container's entry in containerStatuses."""
        out: dict[str, Any] = {
            "name": self.name,
            "image": self.spec.image or "",
            "imageID": "",
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restarts,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.proc is not None:
            out["containerID"] = f"localkube://{self.proc.pid}"
        return out


class PodWorker:
    """Runs the containers of one pod bound to one of the runner's nodes."""

    def __init__(self, ctx: Context, pod: Pod, host_ip: str) -> None:
        assert pod.metadata is not None and pod.spec is not None
        self.ctx = ctx
        self.pod = pod
        self.host_ip = host_ip
        self.namespace = pod.metadata.namespace or "default"
        self.name = pod.metadata.name or ""
        self.uid = pod.metadata.uid or ""
        self.created = time.monotonic()
        self.dir = ctx.pods_dir / f"{self.namespace}_{self.name}_{self.uid}"
        self.ip = ""
        self.gone = False
        self.changed = asyncio.Event()
        self.inits = [Run(c) for c in pod.spec.initContainers or []]
        self.mains = [Run(c) for c in pod.spec.containers]
        self.phase = "Pending"
        self.conditions: dict[str, tuple[bool, str]] = {}
        self.start_time = now_iso()
        self.mounts: dict[str, list[volumes.Mount]] = {}
        self.envs: dict[str, dict[str, str]] = {}
        self._published: dict[str, Any] | None = None
        self.task: asyncio.Task[None] | None = None

    # -- events from the watch ---------------------------------------------------------------------------

    def update(self, pod: Pod) -> None:
        """A newer version of the pod object arrived."""
        self.pod = pod
        self.changed.set()

    def deleted(self) -> None:
        """The pod object is gone from the API."""
        self.gone = True
        self.changed.set()

    @property
    def terminating(self) -> bool:
        """Whether the pod is being deleted."""
        return self.gone or (self.pod.metadata is not None and self.pod.metadata.deletionTimestamp is not None)

    @property
    def restart_policy(self) -> str:
        """Always, OnFailure or Never."""
        return (self.pod.spec.restartPolicy if self.pod.spec else None) or "Always"

    def log_path(self, container: str, previous: bool) -> Path | None:
        """The log file of the container's current (or previous) run."""
        runs = {r.name: r for r in self.inits + self.mains}
        if container not in runs:
            return None
        n = runs[container].restarts - (1 if previous else 0)
        if runs[container].proc is None and not previous and runs[container].state.get("waiting"):
            n -= 1  # waiting to restart: the current log is the last run's
        return self.dir / "logs" / container / f"{n}.log" if n >= 0 else None

    def waiting(self, container: str) -> str:
        """The container's waiting reason, or ""."""
        for r in self.inits + self.mains:
            if r.name == container:
                return str(r.state.get("waiting", {}).get("reason", ""))
        return ""

    def running(self, container: str) -> bool:
        """Whether the container's process runs now."""
        return any(r.name == container and r.proc is not None for r in self.inits + self.mains)

    # -- the pod's life ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """The worker task: run the pod until it is deleted."""
        try:
            await self._live()
        except asyncio.CancelledError:
            await self._kill_all(min(self._grace(), 5.0))
            raise
        except Exception:
            log.exception("pod %s/%s failed in the runner", self.namespace, self.name)
            await self._kill_all(self._grace())
            while not self.terminating:
                await self._wait(5.0)
        await self._finish()

    async def _live(self) -> None:
        if self.terminating:
            return
        if self.pod.status is not None and self.pod.status.phase in ("Succeeded", "Failed"):
            self.phase = self.pod.status.phase
            while not self.terminating:
                await self._wait(5.0)
            return
        self.ip = self.ctx.ips.allocate(self.namespace, self.name)
        self._set_condition("PodScheduled", True)
        bad = [r for r in self.inits + self.mains if not images.runnable(r.spec.image)]
        if bad:
            for r in bad:
                message = images.not_runnable_message(r.spec.image)
                r.state = {"waiting": {"reason": images.NOT_RUNNABLE_REASON, "message": message}}
            await self._settle(lambda: False)
            return
        if not await self._configure():
            return
        self._set_condition("PodReadyToStartContainers", True)
        for r in self.inits:
            if not await self._run_init(r):
                return
        self._set_condition("Initialized", True)
        while not self.terminating:
            now = time.monotonic()
            for r in self.mains:
                await self._step(r, now)
            self._update_phase()
            await self._publish()
            await self._wait(_TICK)

    async def _settle(self, stop: Any) -> None:
        while not self.terminating and not stop():
            await self._publish()
            await self._wait(2.0)

    async def _configure(self) -> bool:
        """Volumes and env; retried until they can be made or the pod is deleted."""
        self.dir.mkdir(parents=True, exist_ok=True)
        while not self.terminating:
            try:
                vols = await volumes.prepare(self.ctx.client, self.pod, self.dir, self.ip, self.host_ip)
                for r in self.inits + self.mains:
                    start = env.base(self.name, self.ctx.address, self.ctx.marker)
                    self.envs[r.name] = await env.build(self.ctx.client, self.pod, r.spec, start, self.ip, self.host_ip)
                    self.mounts[r.name] = volumes.mounts(r.spec, vols)
                return True
            except refs.ConfigError as e:
                for r in self.inits + self.mains:
                    r.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(e)}}
            except ApiError as e:
                log.warning("pod %s/%s: API error while configuring: %s", self.namespace, self.name, e)
            await self._publish()
            await self._wait(1.0)
        return False

    async def _run_init(self, r: Run) -> bool:
        while not self.terminating:
            await self._step(r, time.monotonic(), init=True)
            if r.done:
                return True
            if r.state.get("terminated") and self.restart_policy == "Never":
                self.phase = "Failed"
                await self._publish()
                await self._settle(lambda: False)
                return False
            await self._publish()
            await self._wait(_TICK)
        return False

    async def _step(self, r: Run, now: float, *, init: bool = False) -> None:
        if r.proc is None:
            if not r.done and now >= r.backoff_until and not (init and r.state.get("terminated")):
                self._start(r)
            return
        code = r.proc.poll()
        if code is not None:
            self._exited(r, code, init=init)
            return
        await self._probe(r, now)

    def _start(self, r: Run) -> None:
        command = [env.expand(a, self.envs[r.name]) for a in (r.spec.command or []) + (r.spec.args or [])]
        if not r.spec.command:
            message = "the ferry image has no entrypoint: set the container's command"
            r.state = {"waiting": {"reason": "CreateContainerError", "message": message}}
            return
        argv = sandbox.argv(command, self.mounts[r.name], r.spec.workingDir)
        log_file = self.dir / "logs" / r.name / f"{r.restarts}.log"
        pid_file = self.ctx.pids_dir / f"{self.uid}-{r.name}.pid"
        r.proc = containers.Process.start(argv, self.envs[r.name], log_file, pid_file)
        r.ran_since = time.monotonic()
        r.state = {"running": {"startedAt": _iso(r.proc.started_at)}}
        r.ready = False
        r.readiness = probes.Tracker(r.spec.readinessProbe, r.ran_since) if r.spec.readinessProbe else None
        r.liveness = probes.Tracker(r.spec.livenessProbe, r.ran_since) if r.spec.livenessProbe else None
        r.startup = probes.Tracker(r.spec.startupProbe, r.ran_since) if r.spec.startupProbe else None
        r.started = r.startup is None
        log.info("pod %s/%s container %s started, pid %d", self.namespace, self.name, r.name, r.proc.pid)

    def _exited(self, r: Run, code: int, *, init: bool) -> None:
        assert r.proc is not None
        terminated = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": _iso(r.proc.started_at),
            "finishedAt": now_iso(),
            "containerID": f"localkube://{r.proc.pid}",
        }
        log.info("pod %s/%s container %s exited with %d", self.namespace, self.name, r.name, code)
        r.proc, r.ready, r.started = None, False, False
        policy = self.restart_policy
        if init and code == 0:
            r.state, r.done = {"terminated": terminated}, True
            return
        restart = policy == "Always" or (policy == "OnFailure" and code != 0) or (init and policy != "Never")
        if not restart:
            r.state, r.done = {"terminated": terminated}, True
            return
        ran = time.monotonic() - r.ran_since
        r.backoff = 0.0 if ran > 60 else (min(_MAX_BACKOFF, max(1.0, r.backoff * 2)) if r.restarts else 0.0)
        r.backoff_until = time.monotonic() + r.backoff
        r.restarts += 1
        r.last_state = {"terminated": terminated}
        if r.backoff:
            message = f"back-off {r.backoff:.0f}s restarting failed container={r.name} pod={self.name}"
            r.state = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
        else:
            r.state = {"waiting": {"reason": "ContainerCreating"}}

    async def _probe(self, r: Run, now: float) -> None:
        assert r.proc is not None
        if r.startup is not None and not r.started:
            if r.startup.due(now):
                r.startup.record(*await self._check(r, r.startup), now=now)
                if r.startup.result is True:
                    r.started = True
                elif r.startup.result is False:
                    await self._kill_unhealthy(r, "startup")
            return
        r.started = True
        if r.liveness is not None and r.liveness.due(now):
            r.liveness.record(*await self._check(r, r.liveness), now=now)
            if r.liveness.result is False:
                await self._kill_unhealthy(r, "liveness")
                return
        if r.readiness is None:
            r.ready = True
        elif r.readiness.due(now):
            r.readiness.record(*await self._check(r, r.readiness), now=now)
            r.ready = bool(r.readiness.result)

    async def _check(self, r: Run, t: probes.Tracker) -> tuple[bool, str]:
        async def run_exec(command: Sequence[str], timeout: float) -> bool:
            argv = sandbox.argv(list(command), self.mounts[r.name], r.spec.workingDir)
            proc = await asyncio.create_subprocess_exec(
                *argv,
                env=self.envs[r.name],
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                return await asyncio.wait_for(proc.wait(), timeout) == 0
            except TimeoutError:
                proc.kill()
                await proc.wait()
                return False

        return await probes.check(t.probe, r.spec, self.ip, self.ctx.http, run_exec)

    async def _kill_unhealthy(self, r: Run, kind: str) -> None:
        assert r.proc is not None
        log.info("pod %s/%s container %s failed its %s probe; killing it", self.namespace, self.name, r.name, kind)
        grace = r.spec.livenessProbe.terminationGracePeriodSeconds if r.spec.livenessProbe else None
        await r.proc.terminate(float(grace if grace is not None else self._grace()))

    def _update_phase(self) -> None:
        if all(r.done for r in self.mains):
            failed = any(r.state.get("terminated", {}).get("exitCode", 0) != 0 for r in self.mains)
            self.phase = "Failed" if failed else "Succeeded"
        elif any(r.proc is not None or r.restarts for r in self.mains):
            self.phase = "Running"
        ready = bool(self.mains) and all(r.ready for r in self.mains)
        self._set_condition("ContainersReady", ready)
        self._set_condition("Ready", ready)

    # -- status ------------------------------------------------------------------------------------------

    def _set_condition(self, kind: str, value: bool) -> None:
        if self.conditions.get(kind, (None, ""))[0] != value:
            self.conditions[kind] = (value, now_iso())

    def _status(self) -> dict[str, Any]:
        for kind in ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"):
            if kind not in self.conditions:
                self._set_condition(kind, False)
        status: dict[str, Any] = {
            "phase": self.phase,
            "hostIP": self.host_ip,
            "hostIPs": [{"ip": self.host_ip}],
            "startTime": self.start_time,
            "conditions": [
                {
                    "type": k,
                    "status": "True" if v else "False",
                    "lastTransitionTime": t,
                    "lastProbeTime": None,
                }
                for k, (v, t) in self.conditions.items()
            ],
            "containerStatuses": [r.status() for r in self.mains],
        }
        if self.ip:
            status["podIP"] = self.ip
            status["podIPs"] = [{"ip": self.ip}]
        if self.inits:
            status["initContainerStatuses"] = [r.status() for r in self.inits]
        return status

    async def _publish(self) -> None:
        status = self._status()
        if status == self._published or self.gone:
            return
        try:
            await self.ctx.client.patch(
                Pod.Status,
                self.name,
                {"status": status},
                namespace=self.namespace,
                patch_type=PatchType.STRATEGIC,
            )
            self._published = status
        except ApiError as e:
            if e.status.code != 404:
                log.warning("pod %s/%s: status update failed: %s", self.namespace, self.name, e)

    async def _wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), timeout)
        self.changed.clear()

    # -- deletion ----------------------------------------------------------------------------------------

    def _grace(self) -> float:
        """The grace period for stopping containers; at least 2s, like the kubelet."""
        meta, spec = self.pod.metadata, self.pod.spec
        if meta is not None and meta.deletionGracePeriodSeconds is not None:
            return max(2.0, float(meta.deletionGracePeriodSeconds))
        if spec is not None and spec.terminationGracePeriodSeconds is not None:
            return max(2.0, float(spec.terminationGracePeriodSeconds))
        return 30.0

    async def _kill_all(self, grace: float) -> None:
        runs = [r for r in self.inits + self.mains if r.proc is not None]
        await asyncio.gather(*(r.proc.terminate(grace) for r in runs if r.proc is not None))

    async def _finish(self) -> None:
        """Stop the containers within the grace period, clean up, and complete the pod's deletion."""
        await self._kill_all(self._grace())
        shutil.rmtree(self.dir, ignore_errors=True)
        if not self.gone:
            try:
                await self.ctx.client.delete(Pod, self.name, namespace=self.namespace, grace_period=0)
            except ApiError as e:
                if e.status.code != 404:
                    log.warning("pod %s/%s: final delete failed: %s", self.namespace, self.name, e)
        log.info("pod %s/%s deleted", self.namespace, self.name)
        self.ctx.finished.add(self.uid)
        self.ctx.workers.pop(self.uid, None)
