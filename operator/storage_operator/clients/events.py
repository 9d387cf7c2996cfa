"""Kubernetes events on the operator's objects, posted through kopf (Normal and Warning)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import kopf


def info(obj: Mapping[str, Any], *, reason: str, message: str) -> None:
    """A Normal event on `obj`."""
    kopf.info(cast(Any, obj), reason=reason, message=message)


def warn(obj: Mapping[str, Any], *, reason: str, message: str) -> None:
    """A Warning event on `obj`."""
    kopf.warn(cast(Any, obj), reason=reason, message=message)
