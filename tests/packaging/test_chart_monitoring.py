"""The chart's monitoring objects: off by default, aimed at what the operator and the nodes really expose."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from storage_operator.model.specs import ClusterSpec
from storage_operator.resources import pods

from tests.monitoring import ALL_ON, CHART, KINDS, NODE_METRICS, metric_names, operator_metric_names, tools

Manifest = dict[str, Any]
Render = Callable[..., list[Manifest]]
Helm = Callable[..., subprocess.CompletedProcess[str]]
Reject = Callable[..., str]
ON = {
    "monitoring.serviceMonitor.enabled": True,
    "monitoring.podMonitor.enabled": True,
    "monitoring.prometheusRule.enabled": True,
    "monitoring.dashboard.enabled": True,
}


def one(manifests: list[Manifest], kind: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def dashboard(manifests: list[Manifest]) -> dict[str, Any]:
    cm = next(m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("-dashboard"))
    return dict(json.loads(cm["data"]["ferry.json"]))


def dashboard_exprs(dash: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [str(v.get("definition", "")) for v in dash["templating"]["list"]]
    return exprs


def alerts(manifests: list[Manifest]) -> dict[str, dict[str, Any]]:
    rule = one(manifests, "PrometheusRule")
    return {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}


def test_off_by_default_so_prometheus_operator_crds_are_not_needed(render: Render) -> None:
    manifests = render({"cluster.create": True})
    assert not [m for m in manifests if m["apiVersion"].startswith("monitoring.coreos.com/")]
    assert not [m for m in manifests if m["kind"] == "ConfigMap"]


def test_helm_lint_with_every_monitoring_object(helm: Helm) -> None:
    proc = helm("lint", "--strict", str(CHART), *ALL_ON)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_service_monitor_selects_the_operator_metrics_service_and_keeps_the_objects_namespace(render: Render) -> None:
    manifests = render({"monitoring.serviceMonitor.enabled": True})
    sm = one(manifests, "ServiceMonitor")
    service = one(manifests, "Service")  # made for the ServiceMonitor even with metrics.service off
    labels = service["metadata"]["labels"]
    assert sm["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert sm["spec"]["namespaceSelector"] == {"matchNames": ["storage"]}
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    # the gauges' own `namespace` label (the StorageNode's) must not be renamed exported_namespace
    assert endpoint["honorLabels"] is True


def test_pod_monitor_selects_the_pods_the_operator_builds(render: Render) -> None:
    pm = one(render({"monitoring.podMonitor.enabled": True}), "PodMonitor")
    cluster = {"kind": "StorageCluster", "metadata": {"name": "c1", "namespace": "team", "uid": "u1"}}
    node = {
        "kind": "StorageNode",
        "metadata": {"name": "n1", "namespace": "team", "uid": "u2"},
        "spec": {"cluster": "c1"},
    }
    pod = pods.node_pod(cluster, ClusterSpec(), node)
    labels = pod["metadata"]["labels"]
    assert pm["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = pm["spec"]["podMetricsEndpoints"]
    ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
    assert endpoint["port"] in ports and endpoint["path"] == "/metrics"
    # the relabelings read pod labels the operator sets: the cluster and node names become target labels
    meta = {
        "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in k): v for k, v in labels.items()
    }
    got = {r["targetLabel"]: meta[r["sourceLabels"][0]] for r in endpoint["relabelings"]}
    assert got == {"ferry_cluster": "c1", "ferry_node": "n1"}


@pytest.mark.parametrize(
    ("values", "selector"),
    [
        ({}, {"any": True}),
        ({"operator.watchNamespaces": ["team-a", "team-b"]}, {"matchNames": ["team-a", "team-b"]}),
        ({"operator.watchNamespaces": ["team-*"]}, {"any": True}),
        (
            {"operator.watchNamespaces": ["team-*"], "monitoring.podMonitor.namespaceSelector": {"matchNames": ["x"]}},
            {"matchNames": ["x"]},
        ),
    ],
    ids=["all-namespaces", "named", "pattern", "explicit"],
)
def test_pod_monitor_watches_the_operators_namespaces(
    render: Render, values: dict[str, Any], selector: dict[str, Any]
) -> None:
    pm = one(render({"monitoring.podMonitor.enabled": True, **values}), "PodMonitor")
    assert pm["spec"]["namespaceSelector"] == selector


def test_alerts_carry_severity_summary_description_and_runbook(render: Render) -> None:
    found = alerts(render({"monitoring.prometheusRule.enabled": True}))
    assert set(found) == {
        "FerryRebalanceStalled",
        "FerryStorageNodeNotReady",
        "FerryCapacityLow",
        "FerryRolloutStuck",
        "FerryObjectsBelowCopies",
    }
    for name, rule in found.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert {"summary", "description", "runbook"} <= rule["annotations"].keys(), name
        assert all(len(rule["annotations"][k]) > 20 for k in ("summary", "description", "runbook")), name
    assert 'reason="RebalanceStalled"' in found["FerryRebalanceStalled"]["expr"]
    assert 'reason="RolloutStuck"' in found["FerryRolloutStuck"]["expr"]
    below = found["FerryObjectsBelowCopies"]
    assert "ferry_cluster_objects_below_copies" in below["expr"] and below["expr"].strip().endswith("> 0")
    assert below["for"] == "10m", "the default loss grace (lossGraceSeconds: 600)"


def test_alert_thresholds_delays_severities_and_labels_follow_values(render: Render) -> None:
    found = alerts(
        render(
            {
                "monitoring.prometheusRule.enabled": True,
                "monitoring.prometheusRule.nodeNotReady": {"for": "3m", "severity": "critical"},
                "monitoring.prometheusRule.capacityLow.freeRatio": 0.25,
                "monitoring.prometheusRule.rolloutStuck.enabled": False,
                "monitoring.prometheusRule.objectsBelowCopies": {"for": "30m", "severity": "critical"},
                "monitoring.prometheusRule.alertLabels": {"team": "storage"},
            }
        )
    )
    assert "FerryRolloutStuck" not in found
    assert found["FerryStorageNodeNotReady"]["for"] == "3m"
    assert found["FerryStorageNodeNotReady"]["labels"] == {"severity": "critical", "team": "storage"}
    assert "3m" in found["FerryStorageNodeNotReady"]["annotations"]["summary"]
    assert "< 0.25" in found["FerryCapacityLow"]["expr"]
    assert found["FerryObjectsBelowCopies"]["for"] == "30m"
    assert found["FerryObjectsBelowCopies"]["labels"] == {"severity": "critical", "team": "storage"}
    assert "30m" in found["FerryObjectsBelowCopies"]["annotations"]["summary"]


def test_extra_labels_reach_every_monitoring_object_for_a_prometheus_selector(render: Render) -> None:
    manifests = render({**ON, "monitoring.labels": {"release": "kube-prometheus-stack"}})
    for kind in KINDS:
        assert one(manifests, kind)["metadata"]["labels"]["release"] == "kube-prometheus-stack", kind
    own = render({**ON, "monitoring.podMonitor.labels": {"only": "pods"}})
    assert one(own, "PodMonitor")["metadata"]["labels"]["only"] == "pods"
    assert "only" not in one(own, "ServiceMonitor")["metadata"]["labels"]


def test_dashboard_configmap_for_the_grafana_sidecar(render: Render) -> None:
    cm = next(m for m in render({"monitoring.dashboard.enabled": True}) if m["kind"] == "ConfigMap")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "storage"
    moved = render(
        {
            "monitoring.dashboard.enabled": True,
            "monitoring.dashboard.namespace": "monitoring",
            "monitoring.dashboard.label": "dashboards",
            "monitoring.dashboard.labelValue": "ferry",
            "monitoring.dashboard.annotations": {"grafana_folder": "Storage"},
        }
    )
    cm = next(m for m in moved if m["kind"] == "ConfigMap")
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["labels"]["dashboards"] == "ferry" and "grafana_dashboard" not in cm["metadata"]["labels"]
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Storage"}
    assert json.loads(cm["data"]["ferry.json"]) == json.loads(
        (CHART / "files" / "dashboards" / "ferry.json").read_text()
    )


def test_dashboard_shows_state_objects_bytes_space_rebalance_requests_and_objects_below_k(render: Render) -> None:
    dash = dashboard(render({"monitoring.dashboard.enabled": True}))
    assert {v["name"] for v in dash["templating"]["list"]} >= {"namespace", "cluster"}
    exprs = dashboard_exprs(dash)
    used = metric_names(exprs)
    assert used >= {
        "ferry_operator_storagenode_state",
        "ferry_node_objects",
        "ferry_node_stored_bytes",
        "ferry_node_mountpath_free_bytes",
        "ferry_node_rebalance_remaining_bytes",
        "ferry_node_rebalance_running",
        "ferry_node_http_requests_total",
        "ferry_node_http_request_duration_seconds",
        "ferry_cluster_objects_below_copies",
        "ferry_cluster_copies",
    }
    assert any("histogram_quantile" in e for e in exprs)
    panel_exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert all("$namespace" in e and "$cluster" in e for e in panel_exprs), "every panel follows the variables"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_and_alerts_use_only_metrics_that_exist(render: Render) -> None:
    manifests = render(ON)
    exprs = dashboard_exprs(dashboard(manifests)) + [r["expr"] for r in alerts(manifests).values()]
    known = NODE_METRICS | operator_metric_names()
    used = metric_names(exprs)
    assert used, "no metric found: the name matcher is broken"
    assert used <= known, f"unknown metric names: {sorted(used - known)}"


def test_metric_name_check_catches_a_renamed_metric() -> None:
    known = NODE_METRICS | operator_metric_names()
    assert not metric_names(["rate(ferry_requests[5m])", "ferry_objects"]) <= known
    assert metric_names(['sum by (ferry_node) (ferry_node_objects{ferry_cluster="c"})']) == {"ferry_node_objects"}
    assert metric_names(['label_values(ferry_node_info{namespace=~"$namespace"}, ferry_cluster)']) == {
        "ferry_node_info"
    }
    assert metric_names(["rate(ferry_node_http_request_duration_seconds_bucket[5m])"]) <= known
    assert "ferry_operator_condition" in known and "ferry_transitions_total" in known


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"monitoring.serviceMonitor.enabeld": True}, "'enabeld' not allowed"),
        ({"monitoring.podMonitor.interval": "often"}, "/monitoring/podMonitor/interval"),
        ({"monitoring.prometheusRule.capacityLow.freeRatio": 2}, "/monitoring/prometheusRule/capacityLow/freeRatio"),
        ({"monitoring.prometheusRule.nodeNotReady.for": "ten minutes"}, "/monitoring/prometheusRule/nodeNotReady/for"),
        ({"monitoring.dashboard.labelValue": 1}, "/monitoring/dashboard/labelValue"),
        (
            {"monitoring.prometheusRule.objectsBelowCopies.for": "10"},
            "/monitoring/prometheusRule/objectsBelowCopies/for",
        ),
        ({"monitoring.labels": {"release": 1}}, "/monitoring/labels/release"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_schema_rejects_wrong_monitoring_values(render_error: Reject, values: dict[str, Any], message: str) -> None:
    assert message in render_error(values)


def test_alert_rules_load_in_prometheus(render: Render, tmp_path: Path) -> None:
    """Prometheus's own rule loader (rulefmt, PromQL parser, templates) accepts every alert the chart renders."""
    rulecheck = tools() / "rulecheck"
    rule = one(render(ON), "PrometheusRule")
    good = tmp_path / "rules.yaml"
    good.write_text(yaml.safe_dump(rule["spec"]))
    proc = subprocess.run([str(rulecheck), str(good)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(alerts([rule]))} rules" in proc.stdout
    # the checker does fail on a broken expression
    broken = json.loads(json.dumps(rule["spec"]))
    broken["groups"][0]["rules"][0]["expr"] = "max by (namespace) (ferry_operator_condition"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(broken))
    proc = subprocess.run([str(rulecheck), str(bad)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and "parse error" in proc.stderr
