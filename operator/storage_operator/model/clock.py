"""Time as the operator reads and writes it: a ``Clock`` to read now (UTC) from, Kubernetes' timestamp form (pure).

A pass reads the time only through the clock it was observed with (``plan.passes.Pass.clock``): the system's
(``SYSTEM``) when the operator runs, a fixed one in the unit tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Where the time is read from."""

    def now(self) -> datetime:
        """The current time (UTC)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """The current time (UTC)."""
        return datetime.now(UTC)


SYSTEM: Clock = SystemClock()


def iso(ts: datetime) -> str:
    """A timestamp as Kubernetes writes them."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(ts: str | None) -> datetime | None:
    """Read a timestamp written by :func:`iso` (None stays None)."""
    return None if not ts else datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def seconds_since(then: datetime, at: datetime) -> float:
    """How long before `at` the moment `then` was."""
    return (at - then).total_seconds()
