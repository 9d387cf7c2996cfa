"""How much time, memory and how many connections one client may take from a node: the numbers, no I/O.

Every limit has a flag and a ``FERRY_*`` variable (`config`), and `docs/security.md` lists them:

- a request's headers must arrive within `header_timeout_s` of its first byte, and be at most
  `max_header_bytes` (431 beyond); a connection that opens and sends nothing is closed after
  `header_timeout_s` too;
- a request body may pause at most `body_timeout_s` between two pieces (408, the connection closed, a PUT's
  temp file removed);
- the JSON bodies of the admin and intra-cluster routes are at most `max_json_body` bytes (413), and their
  token is checked before a byte of the body is read;
- at most `max_connections` connections are open at once: one more closes the connection that has waited
  longest without a request in progress, or is refused when every one is busy;
- an idle kept-alive connection is closed after `keep_alive_s`;
- the rebalance bundle listener reads a hello of at most `max_hello_bytes` within `handshake_timeout_s`
  before it allocates a buffer, and holds at most `max_handshakes` connections that have not said hello.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one node (defaults for a node on a cluster network)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 1000
    max_json_body: int = 4 << 20
    max_header_bytes: int = 64 << 10
    keep_alive_s: float = 75.0  # idle connections stay open (the operator's are reused between its passes)
    handshake_timeout_s: float = 5.0
    max_hello_bytes: int = 4096
    max_handshakes: int = 16
