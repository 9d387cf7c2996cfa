"""The chart installs exactly the project's CRDs (crds/ is the source of truth)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "ferry"


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.yaml"))


def test_chart_ships_every_crd_of_the_project() -> None:
    assert names(CHART / "crds") == names(ROOT / "crds")
    assert "kopf.dev_peerings.yaml" in names(CHART / "crds")


def test_chart_crds_are_byte_for_byte_the_projects() -> None:
    stale = [n for n in names(ROOT / "crds") if (CHART / "crds" / n).read_bytes() != (ROOT / "crds" / n).read_bytes()]
    assert not stale, f"charts/ferry/crds differs from crds/ for {stale}: run `cp crds/*.yaml charts/ferry/crds/`"
