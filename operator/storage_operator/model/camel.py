"""The base of the custom-resource models (pure): frozen, camelCase on the wire, unknown fields ignored.

A StorageCluster or StorageNode body is parsed once, where a pass (or a handler) first sees it; everything below
reads attributes. Fields are snake_case in Python and camelCase in the API (``alias_generator``); either name is
accepted on input (``populate_by_name``), so code and tests build values by field name. Fields a newer CRD adds
are ignored (``extra="ignore"``): an older operator keeps working. A change is a new value (``model_copy``).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel

T = TypeVar("T")


class CamelModel(BaseModel):
    """A frozen value read from and written to the API in camelCase."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_api(self) -> dict[str, Any]:
        """The value as the API keeps it: camelCase keys, enums as their values, absent (None) fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _none_if_blank(value: Any) -> Any:
    return value or None


#: An optional field for which an empty value on the wire ("", {}) means absent, as a missing key does.
Blank = Annotated[T | None, BeforeValidator(_none_if_blank)]
