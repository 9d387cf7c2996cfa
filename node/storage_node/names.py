"""Validation of bucket and object names: pure, no I/O."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import parse_qsl, unquote_to_bytes

from pydantic import AfterValidator

MAX_OBJECT_NAME_BYTES = 1024
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class InvalidName(ValueError):
    """A bucket or object name that is rejected (maps to HTTP 400)."""


def check_bucket(bucket: str) -> str:
    """Return `bucket` if valid: 1-63 chars of [A-Za-z0-9._-], starting alphanumeric, not '..'-like."""
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise InvalidName(f"invalid bucket name {bucket!r}")
    return bucket


def check_object(name: str) -> str:
    """Return `name` if valid: UTF-8, may contain '/', but never escapes (no '..', '.', absolute, NUL)."""
    if not name:
        raise InvalidName("empty object name")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidName("object name is not valid UTF-8") from exc
    if len(encoded) > MAX_OBJECT_NAME_BYTES:
        raise InvalidName(f"object name longer than {MAX_OBJECT_NAME_BYTES} bytes")
    if "\x00" in name or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise InvalidName("object name contains NUL or control characters")
    if name.startswith("/") or "\\" in name:
        raise InvalidName("object name must be relative and use '/' only")
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise InvalidName("object name has an empty, '.' or '..' path segment")
    return name


#: A bucket name in a pydantic model (intra-cluster records, gossip): the same rules as the public routes.
BucketName = Annotated[str, AfterValidator(check_bucket)]
#: An object name in a pydantic model.
ObjectName = Annotated[str, AfterValidator(check_object)]


def undecodable(raw_path: bytes, query: bytes) -> str | None:
    """Why a request's raw path or query is not valid UTF-8 once percent-decoded (None if both are).

    ``bad%FF`` and ``bad%FE`` would otherwise both become one object, ``bad`` and the replacement character.
    """
    if b"%" in raw_path or not raw_path.isascii():  # (plain ASCII, the usual request, is valid as it stands)
        try:
            unquote_to_bytes(raw_path).decode("utf-8")
        except UnicodeDecodeError:
            return "the path is not valid UTF-8 once percent-decoded"
    if b"%" in query or not query.isascii():
        try:
            parse_qsl(query.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict")
        except (UnicodeDecodeError, ValueError):
            return "the query is not valid UTF-8 once percent-decoded"
    return None
