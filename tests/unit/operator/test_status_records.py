"""The statuses the operator persists read back as written: real status bodies round-trip through ``model.statuses``.

``status_bodies.json`` holds StorageCluster and StorageNode statuses as the API server returned them during a
run of the operator e2e suite (``kubectl get storageclusters,storagenodes -A -o json`` polled while
``pytest tests/e2e/operator`` ran; one body for each distinct shape: phases, rebalance records, transitions).
``status_writes.json`` holds what the hand-mapped dataclasses (before the pydantic models) wrote for the values
built in ``_written``: the models must write the same dicts, key for key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from storage_node.schemas import ClusterMap, NodeEntry, NodeFlag
from storage_operator.model import statuses
from storage_operator.model.states import NodeState, RebalanceState, UpgradeStrategy
from storage_operator.model.statuses import ClusterStatus, NodeStatus, Rebalance, Rollout, Totals, Transition

HERE = Path(__file__).parent
BODIES: dict[str, list[dict[str, Any]]] = json.loads((HERE / "status_bodies.json").read_text())
WRITTEN_BEFORE: dict[str, dict[str, Any]] = json.loads((HERE / "status_writes.json").read_text())


@pytest.mark.parametrize("raw", BODIES["StorageCluster"], ids=lambda raw: str(raw.get("phase")))
def test_a_real_cluster_status_round_trips(raw: dict[str, Any]) -> None:
    status = ClusterStatus.from_status(raw)
    assert status.to_status() == raw
    assert ClusterStatus.from_status(status.to_status()) == status


@pytest.mark.parametrize("raw", BODIES["StorageNode"], ids=lambda raw: str(raw.get("phase")))
def test_a_real_node_status_round_trips(raw: dict[str, Any]) -> None:
    status = NodeStatus.from_status(raw)
    assert status.to_status() == raw
    assert NodeStatus.from_status(status.to_status()) == status


def test_the_bodies_cover_a_running_rebalance_a_completed_one_and_a_transition() -> None:
    parsed = [ClusterStatus.from_status(raw) for raw in BODIES["StorageCluster"]]
    assert any(s.running is not None and s.running.totals is not None for s in parsed)
    assert any(s.last_rebalance is not None and s.last_rebalance.finished_at is not None for s in parsed)
    assert any(s.transition is not None and s.transition.source is None for s in parsed), "a join: no `from`"
    assert any(s.map is None for s in parsed) and any(s.map is not None for s in parsed)


def test_a_new_rebalance_supersedes_the_running_one_and_keeps_its_figures() -> None:
    smap = ClusterMap(version=4, rebalance_id="g2", nodes={"a": NodeEntry(id="a", url="http://127.0.0.2:8080")})
    running = Rebalance(id="g1", state=RebalanceState.RUNNING, map_version=3, started_at="t0", last_progress_at="t1")
    status = ClusterStatus(rebalance=running).with_map(smap, rebalance=True, why="restart of g1", now="t2")
    assert status.rebalance is not None and status.rebalance.id == "g2" and status.rebalance.running
    assert status.last_rebalance == Rebalance(
        id="g1", state=RebalanceState.SUPERSEDED, map_version=3, started_at="t0", last_progress_at="t1"
    )
    assert status.to_status()["rebalance"]["startedAt"] == "t2"


def test_a_map_without_a_rebalance_keeps_the_records() -> None:
    smap = ClusterMap(version=2, rebalance_id=None, nodes={})
    done = Rebalance(id="g1", state=RebalanceState.COMPLETED, map_version=1, started_at="t0", last_progress_at="t1")
    status = ClusterStatus(last_rebalance=done).with_map(smap, rebalance=False, why="node address changed", now="t2")
    assert (status.map, status.rebalance, status.last_rebalance) == (smap, None, done)


def test_the_patch_of_an_unchanged_status_is_none() -> None:
    raw = BODIES["StorageCluster"][-1]
    patch, after = statuses.patch(raw, {k: raw.get(k) for k in statuses.STATUS_KEYS})
    assert patch is None and after == raw


def _written() -> dict[str, ClusterStatus | NodeStatus]:
    smap = ClusterMap(
        version=4,
        rebalance_id="g2",
        nodes={
            "b": NodeEntry(id="b", url="http://127.0.0.3:8080", flags=[NodeFlag.maintenance]),
            "a": NodeEntry(id="a", url="http://127.0.0.2:8080"),
        },
    )
    bare = ClusterMap(version=1, rebalance_id=None, nodes={"a": NodeEntry(id="a", url="http://127.0.0.2:8080")})
    totals = Totals(
        objects_to_send=5,
        bytes_to_send=500,
        objects_sent=2,
        bytes_sent=200,
        objects_received=1,
        bytes_received=100,
        percent=40,
    )
    running = Rebalance(
        id="g2",
        state=RebalanceState.RUNNING,
        map_version=4,
        started_at="t0",
        last_progress_at="t1",
        progress_mark=3,
        reason="a: join",
        totals=totals,
    )
    fresh = Rebalance(id="g1", state=RebalanceState.RUNNING, map_version=1, started_at="t0", last_progress_at="t0")
    finished = {"state": RebalanceState.COMPLETED, "map_version": 3, "last_progress_at": "t2", "finished_at": "t3"}
    done = fresh.model_copy(update={**finished, "totals": Totals()})
    cond = {
        "type": "Ready",
        "status": "True",
        "reason": "StateReached",
        "message": "",
        "lastTransitionTime": "t",
        "observedGeneration": 2,
    }
    decommission = Transition(
        node="b",
        to=NodeState.DECOMMISSIONED,
        operation="decommission",
        started_at="t",
        source=NodeState.MAINTENANCE,
        cleaned=True,
    )
    return {
        "cluster-empty": ClusterStatus(),
        "cluster-full": ClusterStatus(
            map=smap,
            rebalance=running,
            last_rebalance=done,
            transition=Transition(node="a", to=NodeState.ONLINE, operation="join", started_at="t0"),
            state="online",
            phase="Rebalancing",
            observed_generation=2,
            node_counts={"online": 2, "maintenance": 0},
            conditions=(cond,),
            rollout=Rollout(node="b", strategy=UpgradeStrategy.RESTART, started_at="t4"),
            current_revision="r1",
            update_revision="r2",
            updated_nodes=1,
        ),
        "cluster-bare-map": ClusterStatus(map=bare, rebalance=fresh, conditions=(), transition=decommission),
        "node-empty": NodeStatus(),
        "node-full": NodeStatus(
            state=NodeState.MAINTENANCE,
            phase="Ready",
            observed_generation=3,
            pod="a-pod",
            address="http://127.0.0.2:8080",
            map_version=4,
            objects=10,
            bytes=1000,
            capacity={"bytes": 5, "free": "1Gi"},
            rebalance={"id": "g2", "percent": 40},
            pending_since="t",
            conditions=(cond,),
        ),
        "node-zeroes": NodeStatus(objects=0, bytes=0, map_version=0, observed_generation=0),
    }


@pytest.mark.parametrize("case", sorted(WRITTEN_BEFORE))
def test_a_status_writes_the_dict_the_hand_mapping_wrote(case: str) -> None:
    assert _written()[case].to_status() == WRITTEN_BEFORE[case]


def test_status_keys_a_newer_operator_wrote_are_ignored_and_not_written_back() -> None:
    raw = {**BODIES["StorageCluster"][-1], "futureKey": {"a": 1}}
    assert "futureKey" not in ClusterStatus.from_status(raw).to_status()
    node = {**BODIES["StorageNode"][-1], "futureKey": 1}
    assert NodeStatus.from_status(node).to_status() == BODIES["StorageNode"][-1]
