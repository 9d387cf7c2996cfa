"""kopf's diff base built from the fields it keeps: no deep copy of every event's status and managedFields.

kopf builds an object's "essence" (spec, labels, annotations) on every watch event of every resource it
serves, starting from a deep copy of the whole body and then deleting status and most metadata. With 100
StorageNodes whose statuses the operator writes, those copies were the operator's largest CPU cost. This
storage hands kopf a shallow body that holds only what the essence keeps; the result is the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import kopf

KEPT_METADATA = ("name", "namespace", "labels", "annotations", "ownerReferences")


class LeanDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's default annotation storage (same annotation key), building the essence from a lean body."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        """The essence kopf would build, without copying the parts it throws away."""
        fields = list(extra_fields or [])
        if fields:
            return super().build(body=body, extra_fields=fields)  # extra fields may name anything
        meta = body.get("metadata") or {}
        lean: dict[str, Any] = {k: v for k, v in body.items() if k not in ("status", "metadata")}
        lean["metadata"] = {k: meta[k] for k in KEPT_METADATA if k in meta}
        return super().build(body=kopf.Body(cast(kopf.RawBody, lean)))
