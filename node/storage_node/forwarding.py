"""The query parameters a node adds when it redirects a request to another node: parsed strictly, signed.

A node that redirects a client (to the object's owner by its map) tells the next node its map version
(``ferry_mv``), who it is (``ferry_from``) and how many redirects the request has had (``ferry_hops``).
These make the next node fetch a newer map and wait for it, or serve a request it would otherwise redirect
again, so they must come from a node: with an auth secret, ``ferry_sig`` (an HMAC of the four values with
the secret) goes with them, and parameters without a valid signature have no effect. Pure, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from storage_node import strict

PARAMS = ("ferry_mv", "ferry_from", "ferry_hops", "ferry_sig")
MAX_HOPS = 64


@dataclass(frozen=True, slots=True)
class Forwarded:
    """What the redirecting node said: its map version, its id, the redirects so far."""

    map_version: int | None = None
    sender: str | None = None
    hops: int = 0


PLAIN = Forwarded()  # a request straight from a client (or with parameters nobody signed)


def _signature(secret: str, bucket: str, name: str, fwd: Forwarded) -> str:
    message = f"{bucket}\n{name}\n{fwd.map_version or 0}\n{fwd.sender or ''}\n{fwd.hops}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def parse(query: Iterable[tuple[str, str]], *, secret: str | None, bucket: str, name: str) -> Forwarded:
    """The forwarding of a request from its query; `PLAIN` if it has none, a malformed one or a bad signature."""
    given = {k: v for k, v in query if k in PARAMS}
    if not given:
        return PLAIN
    mv, hops = strict.count(given.get("ferry_mv")), strict.count(given.get("ferry_hops", "0"), MAX_HOPS)
    sender = strict.node_id(given.get("ferry_from"))
    if hops is None or ("ferry_mv" in given and mv is None) or ("ferry_from" in given and sender is None):
        return PLAIN
    fwd = Forwarded(mv if mv else None, sender, hops)
    if secret is not None:
        sig = given.get("ferry_sig", "")
        if not hmac.compare_digest(sig.encode(), _signature(secret, bucket, name, fwd).encode()):
            return PLAIN
    return fwd


def encode(fwd: Forwarded, *, secret: str | None, bucket: str, name: str) -> list[tuple[str, str]]:
    """The query parameters that carry `fwd` to the next node (signed when there is a secret)."""
    params = [("ferry_mv", str(fwd.map_version or 0)), ("ferry_from", fwd.sender or ""), ("ferry_hops", str(fwd.hops))]
    if secret is not None:
        params.append(("ferry_sig", _signature(secret, bucket, name, fwd)))
    return params
