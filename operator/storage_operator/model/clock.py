"""Time as the operator reads and writes it: now (UTC) and Kubernetes' timestamp form (pure)."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """A timestamp as Kubernetes writes them."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(ts: str | None) -> datetime | None:
    """Read a timestamp written by :func:`iso` (None stays None)."""
    return None if not ts else datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def seconds_since(then: datetime, at: datetime) -> float:
    """How long before `at` the moment `then` was."""
    return (at - then).total_seconds()
