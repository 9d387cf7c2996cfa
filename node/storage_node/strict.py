"""Strict parsing of what arrives from outside (queries, headers, peers' answers, files): pure, no I/O.

Python's own parsers are too kind for input nobody vouches for: ``str.isdigit`` accepts ``²`` and ``int``
then refuses it, ``int`` takes 4,300 digits and a sign, and a JSON number can be any size. Everything a
node reads from a request, a peer or its own files passes here first.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StrictBool, StrictInt

#: The largest version (and counter) a node takes: versions are wall-clock nanoseconds (2**62 is in the year
#: 2116), kept in signed 64-bit integers with room above for the clock to go on counting.
MAX_VERSION = 1 << 62
_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)
_NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)


def count(text: str | None, maximum: int = MAX_VERSION) -> int | None:
    """The number `text` spells in ASCII digits (no sign, no spaces), if it is one and at most `maximum`."""
    if text is None or _DIGITS.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= maximum else None


def node_id(text: str | None) -> str | None:
    """`text` if it can be a node id (1-128 of ``[A-Za-z0-9._-]``, starting alphanumeric), else None."""
    return text if text is not None and _NODE_ID.fullmatch(text) else None


def check_node_id(text: str) -> str:
    """`text` if it can be a node id; ValueError (a pydantic validation error in a model) otherwise."""
    if node_id(text) is None:
        raise ValueError("a node id is 1-128 characters of [A-Za-z0-9._-], starting with a letter or digit")
    return text


def is_version(value: object) -> bool:
    """Whether `value` is a version a node can keep (an int, not a bool, 1..`MAX_VERSION`)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_VERSION


def is_count(value: object) -> bool:
    """Whether `value` is a size or counter a node can keep (an int, not a bool, 0..`MAX_VERSION`)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_VERSION


#: A version in a pydantic model: an integer (not a float, bool or string) in 1..MAX_VERSION.
Version = Annotated[StrictInt, Field(ge=1, le=MAX_VERSION)]
#: A size or counter in a pydantic model: 0..MAX_VERSION.
Count = Annotated[StrictInt, Field(ge=0, le=MAX_VERSION)]
#: A node id in a pydantic model.
NodeId = Annotated[str, AfterValidator(check_node_id)]
Flag = StrictBool
