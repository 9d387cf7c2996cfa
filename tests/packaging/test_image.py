"""The Dockerfile builds the one slim, non-root image with every dependency pinned (checked by reading it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.upper().startswith(name + " ")]


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_runtime_dependency_is_pinned_exactly() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {_canon(line.split("==")[0]) for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line}
    wanted = {_canon(re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0]) for dep in project["dependencies"]}
    assert wanted - pins == set()


def test_installs_the_project_under_the_constraints() -> None:
    assert any("--constraint constraints.txt" in run and " ." in run for run in instructions("RUN"))


def test_runs_as_a_numeric_non_root_user() -> None:
    (user,) = instructions("USER")
    assert re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", user.strip()), user


def test_final_stage_is_slim_python() -> None:
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", DOCKERFILE, re.M)
    assert instructions("FROM")[-1].strip() == "${PYTHON_IMAGE}"


def test_default_command_is_the_operator_the_chart_runs() -> None:
    (cmd,) = instructions("CMD")
    chart_default = yaml.safe_load((ROOT / "charts" / "ferry" / "values.yaml").read_text())
    assert chart_default["operator"]["peering"]["enabled"] is True
    assert yaml.safe_load(cmd) == [
        "kopf",
        "run",
        "-m",
        "storage_operator",
        "--all-namespaces",
        "--liveness=http://0.0.0.0:8081/healthz",
    ]


def test_build_context_leaves_out_the_virtualenv_and_tests() -> None:
    ignore = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert ignore[0] == "*", "the context starts empty and lists what the image needs"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert allowed == {"pyproject.toml", "constraints.txt", "README.md", "node", "operator"}
    sources = {src.rstrip("/") for arg in instructions("COPY") if "--from" not in arg for src in arg.split()[:-1]}
    assert sources == allowed
