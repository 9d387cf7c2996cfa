"""The Argo CD health check (argocd/health.lua) gives the health a user expects for each kind of status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lupa.lua51
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (ROOT / "argocd" / "health.lua").read_text()
SAMPLES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "health_samples.yaml").read_text())


def _to_lua(lua: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return lua.table_from({k: _to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([_to_lua(lua, v) for v in value])
    return value


def assess(obj: dict[str, Any]) -> tuple[str, str]:
    """Run health.lua the way Argo CD does (Lua 5.1, the object as global `obj`); (status, message)."""
    lua = lupa.lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = _to_lua(lua, obj)
    hs = lua.execute(SCRIPT)
    return str(hs["status"]), str(hs["message"])


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["name"] for s in SAMPLES])
def test_health_of_sample_status(sample: dict[str, Any]) -> None:
    status, message = assess(sample["object"])
    assert (status, sample["message"] in message) == (sample["expect"], True), message


def test_argocd_cm_embeds_health_lua_for_both_kinds() -> None:
    cm = yaml.safe_load((ROOT / "argocd" / "argocd-cm.yaml").read_text())
    scripts = {k: v for k, v in cm["data"].items() if k.startswith("resource.customizations.health.")}
    assert sorted(scripts) == [
        "resource.customizations.health.ferry.dev_StorageCluster",
        "resource.customizations.health.ferry.dev_StorageNode",
    ]
    assert all(v == SCRIPT for v in scripts.values()), "argocd-cm.yaml is stale: re-indent health.lua into it"
