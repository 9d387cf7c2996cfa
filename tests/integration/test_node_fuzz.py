"""Random requests at every route of two real nodes: no 500, nothing written outside the roots, the nodes serve on.

Bounded: a fixed number of examples (Hypothesis, no example database), each request with a timeout, on loopback.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.harness import BUCKET, Cluster, NodeProc, admin_headers
from tests.integration.test_node_hostile_input import assert_victims_intact, formed, health, plant_victims, status_of

ROUTES = [
    ("GET", "/v1/objects/{b}/{n}"),
    ("HEAD", "/v1/objects/{b}/{n}"),
    ("PUT", "/v1/objects/{b}/{n}"),
    ("DELETE", "/v1/objects/{b}/{n}"),
    ("GET", "/v1/buckets/{b}"),
    ("PUT", "/v1/buckets/{b}"),
    ("DELETE", "/v1/buckets/{b}"),
    ("PUT", "/v1/admin/map"),
    ("GET", "/v1/admin/map"),
    ("GET", "/v1/admin/status"),
    ("GET", "/v1/admin/rebalance"),
    ("PUT", "/v1/admin/settings"),
    ("GET", "/v1/internal/objects/{b}/{n}"),
    ("HEAD", "/v1/internal/objects/{b}/{n}"),
    ("DELETE", "/v1/internal/objects/{b}/{n}"),
    ("GET", "/v1/internal/list/{b}"),
    ("GET", "/v1/internal/counters"),
    ("GET", "/v1/internal/settling"),
    ("POST", "/v1/internal/settling"),
    ("GET", "/v1/internal/buckets"),
    ("PUT", "/v1/internal/buckets"),
    ("GET", "/v1/internal/rebalance/endpoint"),
    ("POST", "/v1/internal/rebalance/recv"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
    ("GET", "/{n}"),
]
QUERY_KEYS = ["ferry_mv", "ferry_from", "ferry_hops", "ferry_sig", "limit", "prefix", "token", "after", "version",
              "settled", "wait", "mv", "from", "reb"]  # fmt: skip
TRICKY = ["..", ".", "", "%2e%2e", "%2F", "%00", "%FF", "²", "¹", "-1", "9" * 30, "../../victim", "a/../..", "\\"]

segments = st.one_of(st.sampled_from(TRICKY), st.text(max_size=40), st.text(alphabet="./%ab09", max_size=12))
numbers = st.one_of(st.integers(), st.integers(min_value=-(2**80), max_value=2**80), st.floats(allow_nan=False))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20), st.sampled_from(TRICKY)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=20), st.sampled_from(TRICKY)), inner, max_size=4),
    ),
    max_leaves=12,
)


def _encode(segment: str) -> str:
    """A path segment as a client might send it: percent-encoded, or raw when it is already escape-like."""
    return segment if segment in TRICKY else quote(segment, safe="")


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    method, template = draw(st.sampled_from(ROUTES))
    bucket = draw(st.one_of(st.just(BUCKET), segments))
    name = "/".join(draw(st.lists(segments, min_size=1, max_size=3)))
    path = template.replace("{b}", _encode(bucket)).replace("{n}", "/".join(_encode(p) for p in name.split("/")))
    query = draw(st.dictionaries(st.sampled_from(QUERY_KEYS), st.one_of(segments, numbers.map(str)), max_size=4))
    if query:
        path += "?" + "&".join(f"{k}={_encode(v)}" for k, v in query.items())
    headers: dict[str, str] = {}
    if draw(st.booleans()):
        headers.update(admin_headers())
    extra = ["x-ferry-checksum", "content-type", "authorization", "range"]
    for key in draw(st.lists(st.sampled_from(extra), max_size=2)):
        headers[key] = draw(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40))
    body = json.dumps(draw(json_values)).encode() if draw(st.booleans()) else draw(st.binary(max_size=64))
    return method, path, headers, body


def send(node: NodeProc, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
    """One raw HTTP/1.1 request (the path exactly as given); the status code."""
    head = f"{method} {path} HTTP/1.1\r\nhost: node\r\nconnection: close\r\ncontent-length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection((node.host, node.port), timeout=30) as s:
        s.sendall(head.encode("utf-8", "surrogateescape") + b"\r\n" + body)
        return status_of(s)


def _files_outside(root: Path, nodes: list[NodeProc]) -> set[Path]:
    inside = [Path(n.state_dir).parent for n in nodes]
    return {p for p in root.parent.rglob("*") if not any(p.is_relative_to(d) for d in inside) and p.suffix != ".log"}


def test_random_requests_at_every_route_get_no_500_and_write_nothing_outside_the_roots(cluster: Cluster) -> None:
    a, b = formed(cluster, "a", "b", args=("--peer-wait", "1"))
    with cluster.client(a) as c:
        c.put_object(BUCKET, "kept", b"kept")
    victims = plant_victims(cluster)
    outside = _files_outside(cluster.root, [a, b])
    statuses: dict[int, int] = {}

    @settings(
        max_examples=800,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(requests(), st.booleans())
    def one(request: tuple[str, str, dict[str, str], bytes], to_b: bool) -> None:
        method, path, headers, body = request
        status = send(b if to_b else a, method, path, headers, body)
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500 or status == 503, (method, path, headers, body[:100], status)

    one()
    assert sum(statuses.values()) >= 800
    assert_victims_intact(victims)
    assert _files_outside(cluster.root, [a, b]) == outside
    for node in (a, b):
        assert node.proc is not None and node.proc.poll() is None
        assert health(node) == 200
    for node in (a, b):
        assert "Traceback" not in node.log.read_text(), node.log.read_text()[-3000:]
