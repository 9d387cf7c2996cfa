"""The replacement step of a pass: each node's `spec.replace` carried one stage further (``plan.replacing``).

Each stage is recorded in the node's status before its deletion is made, so a pass interrupted anywhere (the
operator killed) resumes from the record: a claim is deleted only while it is the one recorded, never a new one.
"""

from __future__ import annotations

from storage_operator.clients import events
from storage_operator.clients.protocols import Kube
from storage_operator.model import clock
from storage_operator.model.bodies import name_of
from storage_operator.model.states import NodeState
from storage_operator.plan import lifecycle, replacing
from storage_operator.plan.passes import Outcome, Pace, Pass
from storage_operator.resources import claims, pods


async def replace(kube: Kube, p: Pass) -> Outcome:
    """Carry every node's replacement one stage further; busy while one is under way."""
    smap = p.status.map
    busy = False
    for node in p.nodes:
        n = name_of(node)
        old = p.node_statuses[n].replacement
        asked = p.node_specs[n].replace
        if asked is None and old is None:
            continue
        report = p.reports.get(n)
        view = p.view(node)
        pvc = p.pvcs.get(n)
        # it holds the current map and refills no more (the rebalance after its empty start is over)
        filled = (
            report is not None
            and smap is not None
            and report.map_version == smap.version
            and report.refill_after is None
        )
        facts = replacing.Facts(
            name=n,
            asked=asked,
            current=old,
            member=smap is not None and n in smap.nodes,
            serving=view.desired in (NodeState.ONLINE, NodeState.MAINTENANCE)
            and lifecycle.next_step(view).action is lifecycle.Action.NOTHING,
            answering=report is not None,
            pod_exists=n in p.pods,
            claim_uid=None if pvc is None else str(pvc["metadata"].get("uid", "")) or None,
            filled=filled,
            rebalancing=p.status.running is not None,
            copies=smap.copies if smap is not None else p.spec.redundancy.copies,
            objects=p.node_statuses[n].objects,
            now=clock.iso(p.clock.now()),
        )
        decision = replacing.decide(facts)
        if decision.record is not None:
            await kube.patch_node_status(p.namespace, n, {"replacement": decision.record.to_api()})
        if decision.delete_pod:
            await kube.delete_pod(p.namespace, pods.pod_name(n))
        if decision.delete_claim:
            await kube.delete_pvc(p.namespace, claims.pvc_name(n))
        if decision.event is not None:
            reason, message, warn = decision.event
            (events.warn if warn else events.info)(node, reason=reason, message=message)
        current = decision.record or old
        busy = busy or (current is not None and current.stage in replacing.ACTIVE)
    return Outcome(pace=Pace.HURRY if busy else Pace.IDLE)
