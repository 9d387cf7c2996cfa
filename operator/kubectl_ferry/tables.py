"""The views as text: aligned columns like `kubectl get`, sizes in IEC units, durations (pure)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from kubectl_ferry.views import ClusterView, NodeRebalance, NodeRow

NONE = "-"
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size(n: int | None) -> str:
    """Bytes in IEC units (`1.5GiB`), `-` when unknown."""
    if n is None:
        return NONE
    value, unit = float(n), 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return f"{n}B" if unit == 0 else f"{value:.1f}{_UNITS[unit]}"


def count(n: int | None) -> str:
    """A count, `-` when unknown."""
    return NONE if n is None else str(n)


def duration(d: timedelta | None) -> str:
    """`45s`, `3m05s`, `2h10m`; `-` when unknown."""
    if d is None:
        return NONE
    s = max(0, int(d.total_seconds()))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns separated by at least three spaces, as `kubectl get` prints them."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in (header, *rows)
    ]
    return "\n".join(lines)


def _fraction(done: int | None, total: int | None, show: Callable[[int | None], str] = count) -> str:
    return f"{show(done)}/{show(total)}" if done is not None or total is not None else NONE


def _percent(part: NodeRebalance | None) -> str:
    return NONE if part is None or part.percent is None else f"{part.percent}%"


def _headline(view: ClusterView) -> str:
    parts = [f"StorageCluster {view.namespace}/{view.name}", f"state {view.state}", f"phase {view.phase}"]
    parts.append(f"map v{view.map_version}" if view.map_version is not None else "no map yet")
    counts = ", ".join(f"{n} {state}" for state, n in sorted(view.node_counts.items()) if n)
    parts.append(f"nodes: {counts or len(view.nodes)}")
    if view.copies is not None:
        parts.append(f"copies {view.copies}" + (f", below K {view.below}" if view.below is not None else ""))
    if view.revision is not None:
        parts.append(f"revision {view.revision}")
    if view.service is not None:
        parts.append(f"service {view.service}")
    return "   ".join(parts)


def _rebalance_cell(view: ClusterView, row: NodeRow) -> str:
    part = view.node_part(row)
    if part is None:
        return NONE
    return f"{part.id} {part.stage} {_percent(part)}"


def cluster(view: ClusterView) -> str:
    """`show cluster`: the cluster's summary line, its notable conditions, then one row per node."""
    header = [
        "NODE",
        "STATE",
        "DESIRED",
        "PHASE",
        "READY",
        "ADDRESS",
        "OBJECTS",
        "COPIES",
        "BELOW-K",
        "BYTES",
        "CAPACITY",
        "FREE",
        "MAP",
        "REBALANCE",
    ]
    rows = [
        (
            r.name,
            r.state,
            r.desired,
            r.phase,
            r.ready if r.ready != "False" or not r.reason else f"False ({r.reason})",
            r.address,
            count(r.objects),
            r.copies,
            count(r.below),
            size(r.bytes),
            size(r.capacity.capacity),
            size(r.capacity.free),
            count(r.map_version),
            _rebalance_cell(view, r),
        )
        for r in view.nodes
    ]
    out = [_headline(view)]
    rb = view.rebalance
    if rb is not None:
        pct = f" {rb.percent}%" if rb.percent is not None else ""
        out.append(f"rebalance {rb.id} {rb.state}{pct}")
    out += [f"{t}={s} {reason}: {msg}".rstrip(": ") for t, s, reason, msg in view.conditions]
    out.append(table(header, rows) if rows else "(no StorageNodes)")
    return "\n".join(out)


def rebalance(view: ClusterView, now: datetime) -> str:
    """`show rebalance`: the current (or last) global rebalance, cluster-wide and per node, with ETAs."""
    rb = view.rebalance
    if rb is None:
        return f"StorageCluster {view.namespace}/{view.name}: no rebalance has run yet"
    head = [f"StorageCluster {view.namespace}/{view.name}", f"rebalance {rb.id} {rb.state}"]
    if rb.started is not None:
        end = rb.finished if not rb.running and rb.finished is not None else now
        head.append(f"started {rb.started:%Y-%m-%dT%H:%M:%SZ}")
        head.append(("elapsed " if rb.running else "took ") + duration(end - rb.started))
    sent = _fraction(rb.bytes_sent, rb.bytes_to_send, size)
    head.append(f"sent {sent}" + (f" ({rb.percent}%)" if rb.percent is not None else ""))
    head.append(f"ETA {duration(rb.eta(now))}")
    header = ["NODE", "STATE", "STAGE", "OBJECTS SENT", "BYTES SENT", "BYTES RECEIVED", "PROGRESS", "ETA"]
    rows = []
    for r in view.nodes:
        part = view.node_part(r)
        if part is None:
            rows.append((r.name, r.state, NONE, NONE, NONE, NONE, NONE, NONE))
            continue
        rows.append(
            (
                r.name,
                r.state,
                part.stage,
                _fraction(part.objects_sent, part.objects_to_send),
                _fraction(part.bytes_sent, part.bytes_to_send, size),
                size(part.bytes_received),
                _percent(part),
                duration(part.eta(now, rb.started)),
            )
        )
    return "   ".join(head) + "\n" + (table(header, rows) if rows else "(no StorageNodes)")
