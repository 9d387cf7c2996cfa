"""The rebalance-tracking step of a pass: the running global rebalance completed, restarted if it failed, or going on.

The figures and the verdicts come from ``plan.progress`` (pure); a rebalance that ended badly on a node is
restarted under a new id through ``publishing.publish``.
"""

from __future__ import annotations

from collections.abc import Mapping

from storage_node.schemas import NodeFlag

from storage_operator.clients import events, metrics
from storage_operator.clients.protocols import Fleet, Kube
from storage_operator.model import clock, maps
from storage_operator.model.states import RebalanceState
from storage_operator.plan import progress
from storage_operator.plan.passes import Outcome, Pace, Pass
from storage_operator.steps import publishing


async def track_rebalance(kube: Kube, fleet: Fleet, p: Pass, pods_wanted: Mapping[str, bool]) -> Outcome:
    """The running rebalance's progress from the nodes' reports: completed, restarted if it failed, or going on.

    It is complete when every member whose pod is meant to run (`pods_wanted`) reports its part done.
    """
    rb = p.status.running
    if rb is None or p.status.map is None:
        return Outcome()
    reports = {n: r.rebalance for n, r in p.reports.items()}
    mark = progress.marker(reports, rb.id)
    at = p.clock.now()
    rb = rb.model_copy(update={"totals": progress.cluster_totals(reports, rb.id)})
    if mark != rb.progress_mark:
        rb = rb.model_copy(update={"progress_mark": mark, "last_progress_at": clock.iso(at)})
    # a node given up (lost) cannot report: the rebalance that re-creates its copies completes without it
    required = {
        n for n, e in p.status.map.nodes.items() if pods_wanted.get(n, False) and NodeFlag.lost not in e.flags
    }
    if progress.completed(reports, rb.id, required):
        done = rb.model_copy(update={"state": RebalanceState.COMPLETED, "finished_at": clock.iso(at)})
        started = clock.parse(rb.started_at) or at
        metrics.REBALANCE_SECONDS.observe(clock.seconds_since(started, at))
        events.info(p.cluster, reason="RebalanceCompleted", message=f"global rebalance {rb.id} completed")
        return Outcome(status=p.status.model_copy(update={"rebalance": None, "last_rebalance": done}), pace=Pace.BUSY)
    progressed = Outcome(status=p.status.model_copy(update={"rebalance": rb}), pace=Pace.BUSY)
    bad = progress.failed(reports, rb.id)
    if not bad:
        return progressed
    events.warn(p.cluster, reason="RebalanceRestarted", message=f"rebalance {rb.id} ended badly on {', '.join(bad)}")
    q = p.after(progressed)
    assert q.status.map is not None
    why = f"restart of {rb.id}"
    restarted = await publishing.publish(kube, fleet, q, maps.with_rebalance(q.status.map), rebalance=True, why=why)
    return progressed.then(restarted)
