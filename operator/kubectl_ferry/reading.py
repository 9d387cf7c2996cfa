"""The plugin's one I/O: `kubectl get ... -o json` with the user's kubeconfig, failures turned into clear errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CLUSTERS = "storageclusters.ferry.dev"
NODES = "storagenodes.ferry.dev"
TIMEOUT = 30.0
_KLOG = re.compile(r"^(error: )?[EWI]\d{4} ")  # client-go's log lines, not kubectl's message


class Unavailable(Exception):
    """The resources cannot be read; the message says why, for the user."""


@dataclass(frozen=True)
class Kubectl:
    """How to run kubectl: the binary and the flags that pick the cluster (kubeconfig, context)."""

    binary: str
    flags: tuple[str, ...] = ()

    @classmethod
    def find(cls, kubeconfig: str | None = None, context: str | None = None) -> Kubectl:
        """kubectl from $FERRY_KUBECTL or PATH, with the given kubeconfig and context."""
        binary = os.environ.get("FERRY_KUBECTL") or shutil.which("kubectl")
        if not binary:
            raise Unavailable("kubectl not found on PATH (kubectl ferry reads the resources through kubectl)")
        flags = [f"--kubeconfig={kubeconfig}"] if kubeconfig else []
        flags += [f"--context={context}"] if context else []
        return cls(binary, tuple(flags))

    def get(self, resource: str, name: str | None, namespace: str | None, all_namespaces: bool) -> list[Any]:
        """The objects (one when `name` is given), as parsed JSON."""
        scope = ["--all-namespaces"] if all_namespaces else ([f"--namespace={namespace}"] if namespace else [])
        out = self._run(["get", resource, *([name] if name else []), *scope, "-o", "json"], resource, name)
        doc = json.loads(out)
        return [doc] if name else list(doc.get("items") or [])

    def _run(self, args: Sequence[str], resource: str, name: str | None) -> str:
        try:
            proc = subprocess.run(
                [self.binary, *self.flags, *args], capture_output=True, text=True, timeout=TIMEOUT, check=False
            )
        except FileNotFoundError as e:
            raise Unavailable(f"kubectl not found: {self.binary}") from e
        except subprocess.TimeoutExpired as e:
            raise Unavailable(f"kubectl get {resource} did not answer within {TIMEOUT:.0f}s") from e
        if proc.returncode != 0:
            raise Unavailable(explain(proc.stderr, resource, name))
        return proc.stdout


def explain(stderr: str, resource: str, name: str | None) -> str:
    """kubectl's error, said plainly for the cases a user meets (missing object, no access, Ferry not installed)."""
    kind = "StorageCluster" if resource == CLUSTERS else "StorageNode"
    said = [line for line in stderr.splitlines() if line.strip() and not _KLOG.match(line)]
    text = said[-1].strip() if said else stderr.strip()
    if "connection to the server" in text or "Unable to connect to the server" in text:
        return f"cannot reach the Kubernetes API server ({text})"
    if "(NotFound)" in text and name:
        return f"no {kind} named {name!r} here (check the name and the namespace, -n)"
    if "(Forbidden)" in text:
        return f"no access: you may not read {kind}s here ({text})"
    if "doesn't have a resource type" in text:
        return f"Ferry is not installed in this cluster: the API server has no {kind} resource ({text})"
    return text or f"kubectl get {resource} failed"
