"""The models' defaults are the CRDs': every ``default:`` in ``crds/*.yaml`` is the model's, and back.

The API server fills the CRDs' defaults in before the operator sees a body; ``model.specs`` has them once more
for bodies that lack them. Both must say the same, by the field's path in camelCase (``spec.storage.size``). An
object the CRD defaults to ``{}`` is a nested model whose own fields carry the defaults (the API server then
fills those in too). The defaults only Python has are listed in ``specs.PYTHON_ONLY``. The chart installs the
same CRD files (``charts/ferry/crds/``, byte for byte; ``tests/packaging/test_chart_crds.py`` checks every file).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from storage_operator.model import specs
from storage_operator.model.specs import ClusterSpec, NodeSpec
from storage_operator.model.statuses import ClusterStatus, NodeStatus

ROOT = Path(__file__).resolve().parents[3]
Where = tuple[str, ...]
# each custom resource's CRD file and the models of its spec and status
KINDS: dict[str, tuple[str, type[BaseModel], type[BaseModel]]] = {
    "StorageCluster": ("ferry.dev_storageclusters.yaml", ClusterSpec, ClusterStatus),
    "StorageNode": ("ferry.dev_storagenodes.yaml", NodeSpec, NodeStatus),
}


def _schema(kind: str, directory: Path = ROOT / "crds") -> dict[str, Any]:
    crd = yaml.safe_load((directory / KINDS[kind][0]).read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    return dict(version["schema"]["openAPIV3Schema"])


def crd_defaults(schema: dict[str, Any], path: Where = ()) -> Iterator[tuple[Where, Any]]:
    """Every `default:` of a structural schema, by its path (array items as `[]`)."""
    if "default" in schema:
        yield path, schema["default"]
    for key, sub in (schema.get("properties") or {}).items():
        yield from crd_defaults(sub, (*path, key))
    if isinstance(schema.get("items"), dict):
        yield from crd_defaults(schema["items"], (*path, "[]"))
    if isinstance(schema.get("additionalProperties"), dict):
        yield from crd_defaults(schema["additionalProperties"], (*path, "*"))


def model_defaults(model: type[BaseModel], path: Where) -> Iterator[tuple[Where, Any]]:
    """Every default of a model's fields that is not None, by its alias path; a nested model's is `{}`."""
    if not any(f.is_required() for f in model.model_fields.values()):
        yield path, {}
    for name, field in model.model_fields.items():
        if field.is_required():
            continue
        value = field.get_default(call_default_factory=True)
        alias = str(field.serialization_alias or field.alias or name)
        if isinstance(value, BaseModel):
            yield from model_defaults(type(value), (*path, alias))
        elif value is not None:
            yield (*path, alias), to_jsonable_python(value)


def _models_of(kind: str) -> dict[Where, Any]:
    _, spec, status = KINDS[kind]
    return {**dict(model_defaults(spec, ("spec",))), **dict(model_defaults(status, ("status",)))}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_crd_default_is_the_models(kind: str) -> None:
    models = _models_of(kind)
    found = dict(crd_defaults(_schema(kind)))
    assert found, "the walk finds the CRD's defaults"
    wrong = {p: (d, models.get(p, "<none>")) for p, d in found.items() if models.get(p, object()) != d}
    assert not wrong, f"CRD default != model default, by path: {wrong}"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_model_default_is_the_crds_or_python_only(kind: str) -> None:
    found = dict(crd_defaults(_schema(kind)))
    own = {p: d for p, d in _models_of(kind).items() if p not in found}
    python_only = {p: to_jsonable_python(d) for p, d in specs.PYTHON_ONLY.items()}
    # a status is the operator's own record: the CRD defaults nothing there, an empty value is no value
    unlisted = {p: d for p, d in own.items() if python_only.get(p, object()) != d and not (p[0] == "status" and not d)}
    assert not unlisted, f"defaults only the model has; add them to the CRD or to specs.PYTHON_ONLY: {unlisted}"


def test_the_python_only_defaults_are_really_not_in_the_crds() -> None:
    found = {p for kind in KINDS for p in dict(crd_defaults(_schema(kind)))}
    assert not found & set(specs.PYTHON_ONLY)
    models = {p: d for kind in KINDS for p, d in _models_of(kind).items()}
    assert all(models[p] == to_jsonable_python(d) for p, d in specs.PYTHON_ONLY.items())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_charts_crds_are_the_same_files(kind: str) -> None:
    name = KINDS[kind][0]
    assert (ROOT / "charts" / "ferry" / "crds" / name).read_bytes() == (ROOT / "crds" / name).read_bytes()


def test_the_walk_sees_a_changed_default() -> None:
    schema = _schema("StorageCluster")
    schema["properties"]["spec"]["properties"]["port"]["default"] = 9090
    assert dict(crd_defaults(schema))[("spec", "port")] != _models_of("StorageCluster")[("spec", "port")]
