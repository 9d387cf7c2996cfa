"""Running kubectl as the admin or as a minted user: shared by the local cluster and an external one."""

from __future__ import annotations

import abc
import json
import subprocess
from pathlib import Path
from typing import Any


class Kubectl(abc.ABC):
    """kubectl, apply and get_json for a cluster that knows its kubectl and its users' kubeconfigs."""

    @abc.abstractmethod
    def kubeconfig_for(self, user: str | None) -> Path:
        """The admin kubeconfig (user None) or that of a user minted before."""

    @abc.abstractmethod
    def kubectl_path(self) -> Path:
        """The kubectl binary to run."""

    def kubectl(
        self,
        *args: str,
        user: str | None = None,
        check: bool = True,
        input: str | None = None,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl as admin (or as a minted user); output captured as text."""
        return subprocess.run(
            [str(self.kubectl_path()), f"--kubeconfig={self.kubeconfig_for(user)}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def apply(self, manifest: str, *, namespace: str | None = None) -> subprocess.CompletedProcess[str]:
        """``kubectl apply -f -`` of a YAML manifest (as admin)."""
        ns = [f"--namespace={namespace}"] if namespace else []
        return self.kubectl("apply", *ns, "-f", "-", input=manifest)

    def get_json(self, *args: str, user: str | None = None) -> Any:
        """``kubectl get <args> -o json``, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json", user=user).stdout)
