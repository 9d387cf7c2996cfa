"""`kubectl ferry show cluster|rebalance` on recorded resources: what each column says, ETAs, clear errors."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubectl_ferry import cli, reading, tables, views

RECORDED = json.loads((Path(__file__).parent / "resources.json").read_text())
NOW = datetime(2026, 11, 26, 1, 0, 40, tzinfo=UTC)  # 40 s into rebalance g3


def view() -> views.ClusterView:
    return views.ClusterView.from_resources(RECORDED["cluster"], RECORDED["nodes"]["items"])


def rows(text: str) -> dict[str, list[str]]:
    """The table's rows by node name, cells split on the column gaps (3+ spaces)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("NODE"))
    header = lines[start].split("   ")
    out: dict[str, list[str]] = {}
    for line in lines[start + 1 :]:
        cells = [c.strip() for c in line.split("   ") if c.strip()]
        assert len(cells) == len([h for h in header if h.strip()]), line
        out[cells[0]] = cells
    return out


def test_show_cluster_lists_each_node_of_the_cluster_with_its_figures() -> None:
    text = tables.cluster(view())
    head = text.splitlines()[0]
    assert "store/c1" in head and "phase Rebalancing" in head and "map v5" in head
    assert "2 online" in head and "1 maintenance" in head and "copies 1" in head and "below K" not in head
    assert "revision" not in head  # an operator without rolling upgrades: nothing said about them
    table = rows(text)
    assert list(table) == ["n1", "n2", "n3", "n4"]  # other-1 belongs to c2
    n1 = table["n1"]
    assert n1[:5] == ["n1", "online", "maintenance", "Rebalancing", "False (TransitionInProgress)"]
    assert n1[5:] == ["http://10.88.0.11:8080", "75", "-", "-", "75.0MiB", "1.0GiB", "256.0MiB", "5", "g3 traverse 25%"]
    # an operator that does not report capacity (or copies) yet: shown as unknown, not as zero
    assert table["n2"][10:12] == ["-", "-"] and table["n2"][-1] == "g3 done 100%"
    # a node the operator has not seen yet
    assert table["n4"] == ["n4", "-", "online", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"]


def test_show_cluster_names_the_client_service_and_its_port() -> None:
    assert "service" not in tables.cluster(view()).splitlines()[0], "an operator that does not report it"
    cluster = json.loads(json.dumps(RECORDED["cluster"]))
    cluster["status"]["service"] = {"name": "c1", "port": 8080}
    head = tables.cluster(views.ClusterView.from_resources(cluster, RECORDED["nodes"]["items"])).splitlines()[0]
    assert "service c1:8080" in head


def test_show_cluster_surfaces_a_degraded_cluster() -> None:
    cluster = json.loads(json.dumps(RECORDED["cluster"]))
    cluster["status"]["conditions"][2] = {
        "type": "Degraded",
        "status": "True",
        "reason": "RolloutStuck",
        "message": "n2 not Ready on revision 7f9c",
    }
    cluster["status"] |= {"updatedNodes": 1, "currentRevision": "5d2a", "updateRevision": "7f9c"}
    text = tables.cluster(views.ClusterView.from_resources(cluster, RECORDED["nodes"]["items"]))
    assert "Degraded=True RolloutStuck: n2 not Ready on revision 7f9c" in text
    assert "revision 5d2a -> 7f9c, updated 1/4" in text.splitlines()[0]
    cluster["status"] |= {"updatedNodes": 4, "currentRevision": "7f9c"}
    text = tables.cluster(views.ClusterView.from_resources(cluster, RECORDED["nodes"]["items"]))
    assert "revision 7f9c" in text.splitlines()[0] and "updated" not in text.splitlines()[0]


def test_show_cluster_gives_the_copies_and_the_objects_below_k_of_a_node_down() -> None:
    cluster = json.loads(json.dumps(RECORDED["cluster"]))
    cluster["status"]["map"]["copies"] = 2
    cluster["status"]["objectsBelowCopies"] = 412
    cluster["status"]["conditions"][2] = {
        "type": "Degraded",
        "status": "True",
        "reason": "RedundancyReduced",
        "message": "n3 unavailable: about 412 objects have 1 of 2 copies",
    }
    nodes = json.loads(json.dumps(RECORDED["nodes"]["items"]))
    for node in nodes:
        down = node["metadata"]["name"] == "n3"
        node.setdefault("status", {}).update(
            {"reachableCopies": "1/2" if down else "2/2", "objectsBelowCopies": 412 if down else 0}
        )
    text = tables.cluster(views.ClusterView.from_resources(cluster, nodes))
    assert "copies 2, below K 412" in text.splitlines()[0]
    assert "Degraded=True RedundancyReduced: n3 unavailable: about 412 objects have 1 of 2 copies" in text
    table = rows(text)
    assert [table[n][7:9] for n in ("n1", "n2", "n3")] == [["2/2", "0"], ["2/2", "0"], ["1/2", "412"]]


def test_show_rebalance_gives_bytes_sent_of_to_send_and_etas() -> None:
    text = tables.rebalance(view(), NOW)
    head = text.splitlines()[0]
    assert "rebalance g3 Running" in head and "started 2026-11-26T01:00:00Z" in head and "elapsed 40s" in head
    # 25 MiB of 100 MiB in 40 s: the other 75 MiB take 120 s at that pace
    assert "sent 25.0MiB/100.0MiB (25%)" in head and "ETA 2m00s" in head
    table = rows(text)
    assert table["n1"] == ["n1", "online", "traverse", "25/100", "25.0MiB/100.0MiB", "0B", "25%", "2m00s"]
    assert table["n2"][2] == "done" and table["n2"][-1] == "0s"
    # a receiving node without figures of its own: the cluster's pace (40% in 40 s: 60 s more)
    assert table["n3"][-2:] == ["40%", "60s"]
    assert table["n4"][2:] == ["-"] * 6


def test_a_finished_rebalance_shows_how_long_it_took() -> None:
    cluster = json.loads(json.dumps(RECORDED["cluster"]))
    del cluster["status"]["rebalance"]
    text = tables.rebalance(views.ClusterView.from_resources(cluster, []), NOW)
    assert "rebalance g2 Completed" in text and "took 12s" in text and "ETA 0s" in text
    del cluster["status"]["lastRebalance"]
    assert "no rebalance has run yet" in tables.rebalance(views.ClusterView.from_resources(cluster, []), NOW)


@pytest.mark.parametrize(
    ("done", "total", "started", "expected"),
    [
        (25, 100, NOW - timedelta(seconds=40), timedelta(seconds=120)),
        (100, 100, NOW - timedelta(seconds=40), timedelta(0)),
        (0, 100, NOW - timedelta(seconds=40), None),  # no pace yet
        (25, 100, None, None),  # no start time
        (0, 0, None, None),  # nothing to send
    ],
)
def test_eta_from_progress_and_start(
    done: int, total: int, started: datetime | None, expected: timedelta | None
) -> None:
    assert views.eta(started, NOW, done, total) == expected


def test_sizes_and_durations_read_like_kubectl() -> None:
    assert [tables.size(n) for n in (None, 0, 1023, 1536, 5 * 2**30)] == ["-", "0B", "1023B", "1.5KiB", "5.0GiB"]
    durations = [timedelta(seconds=s) for s in (0, 59, 185, 9000)]
    assert [tables.duration(d) for d in durations] == ["0s", "59s", "3m05s", "2h30m"]


@pytest.mark.parametrize(
    ("stderr", "name", "says"),
    [
        (
            'Error from server (NotFound): storageclusters.ferry.dev "c9" not found',
            "c9",
            "no StorageCluster named 'c9'",
        ),
        (
            'Error from server (Forbidden): storageclusters.ferry.dev is forbidden: User "bob" cannot list',
            None,
            "no access: you may not read StorageClusters",
        ),
        ('error: the server doesn\'t have a resource type "storageclusters"', None, "Ferry is not installed"),
        (
            'error: E1126 04:02:20.438546 25079 memcache.go:265] "Unhandled Error" err="couldn\'t get..."\n'
            "The connection to the server localhost:8080 was refused - did you specify the right host or port?",
            None,
            "cannot reach the Kubernetes API server (The connection to the server localhost:8080 was refused",
        ),
    ],
)
def test_kubectl_failures_are_explained(stderr: str, name: str | None, says: str) -> None:
    assert says in reading.explain(stderr, reading.CLUSTERS, name)


def run(argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(cli.parser().parse_args(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_missing_kubectl_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("FERRY_KUBECTL", raising=False)
    code, out, err = run(["show", "cluster"], {}, monkeypatch)
    assert code == 1 and out == "" and "kubectl not found on PATH" in err
    code, _, err = run(["show", "rebalance"], {"FERRY_KUBECTL": str(tmp_path / "kubectl")}, monkeypatch)
    assert code == 1 and "kubectl not found" in err


@pytest.mark.parametrize("interval", ["0", "0.5", "61", "3600"])
def test_watch_interval_is_bounded(interval: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.parser().parse_args(["show", "cluster", "--watch", "--interval", interval])
    assert exit_.value.code == 2 and "between 1 and 60 seconds" in capsys.readouterr().err
