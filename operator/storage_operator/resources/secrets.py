"""The cluster's token-signing Secret: the key the operator's node tokens are signed with (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage_operator.resources import meta

AUTH_KEY = "secret"


def auth_secret_name(cluster: Mapping[str, Any]) -> str:
    """Name of the Secret holding the cluster's token-signing key."""
    auth = cluster.get("spec", {}).get("auth", {})
    return str(auth.get("secretName") or f"{cluster['metadata']['name']}-auth")


def auth_secret(cluster: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The cluster's token-signing Secret (owned by the StorageCluster)."""
    cname = cluster["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": meta.object_meta(auth_secret_name(cluster), cluster, cname, None),
        "stringData": {AUTH_KEY: key},
    }
