"""An already running Kubernetes cluster (e.g. kind, via FERRY_E2E_KUBECONFIG) behind the `kube` fixture's interface.

The operator e2e tests drive every cluster the same way: kubectl with an admin kubeconfig, plus users minted for
RBAC tests. Here a "minted" user is the admin kubeconfig with impersonation (``as``/``as-groups``), so RBAC
decides as it would for that user, on any cluster whose admin may impersonate.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml
from localkube import kubectling

REPO = Path(__file__).resolve().parents[2]


def pinned_bin_dir() -> Path:
    """The pinned kubectl/helm (built once per machine by hack/kube/build.sh)."""
    out = subprocess.run([str(REPO / "hack/kube/build.sh")], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


class ExternalCluster(kubectling.Kubectl):
    """A cluster that runs elsewhere; nothing is started or stopped here."""

    def __init__(self, kubeconfig: Path, bin_dir: Path | None = None) -> None:
        """Use `kubeconfig` (admin) with the pinned kubectl."""
        self.kubeconfig = kubeconfig
        self.bin_dir = bin_dir or pinned_bin_dir()
        self._users = Path(tempfile.mkdtemp(prefix="ferry-e2e-users-"))

    @property
    def env(self) -> dict[str, str]:
        """``os.environ`` with KUBECONFIG and the pinned bin dir first on PATH."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": f"{self.bin_dir}:{os.environ['PATH']}"}

    @property
    def api_url(self) -> str:
        """The API server's URL (from the kubeconfig's current context)."""
        return str(
            yaml.safe_load(self.kubectl("config", "view", "--minify", "-o", "yaml").stdout)["clusters"][0]["cluster"][
                "server"
            ]
        )

    def kubeconfig_for(self, user: str | None) -> Path:
        """The admin kubeconfig, or that of a user minted with :meth:`mint_user`."""
        return self.kubeconfig if user is None else self._users / f"{user}.yaml"

    def kubectl_path(self) -> Path:
        """The pinned kubectl."""
        return self.bin_dir / "kubectl"

    def mint_user(self, name: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig that acts as user `name` (in `groups`) through the admin's impersonation right."""
        config = yaml.safe_load(self.kubectl("config", "view", "--raw", "--minify", "-o", "yaml").stdout)
        user = config["users"][0]["user"]
        user["as"] = name
        user["as-groups"] = ["system:authenticated", *groups]
        path = self._users / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        return path
