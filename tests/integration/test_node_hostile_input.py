"""Hostile input against real node processes: nothing outside the roots, no work before the token, bounded time,
memory and connections, and a clear 4xx (never a 500) for anything malformed."""

from __future__ import annotations

import json
import resource
import signal
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
import pytest
from storage_node import auth, maps
from storage_node.schemas import ClusterMap, NodeEntry
from storage_node.store import read_header

from tests.integration.harness import BUCKET, SECRET, Cluster, NodeProc, admin_headers, wait_for

_TOKEN = admin_headers()["Authorization"].encode()


def formed(cluster: Cluster, *ids: str, args: tuple[str, ...] = ()) -> list[NodeProc]:
    """Nodes started with `args`, the first map installed, BUCKET created."""
    nodes = [cluster.add_node(i, 1, *args) for i in ids]
    cluster.push_map(cluster.make_map(1, 1))
    with cluster.client(nodes[0]) as c:
        c.create_bucket(BUCKET)
    return nodes


def plant_victims(cluster: Cluster) -> dict[Path, bytes]:
    """Files outside every node's roots, where '../' chains from mountpaths and state dirs lead."""
    victims: dict[Path, bytes] = {}
    for d in (cluster.root, *(cluster.root / n for n in cluster.nodes), cluster.root.parent):
        f = d / "victim" / "precious.txt"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"keep me " + str(d).encode())
        victims[f] = f.read_bytes()
    return victims


def assert_victims_intact(victims: dict[Path, bytes]) -> None:
    for f, content in victims.items():
        assert f.read_bytes() == content, f


def rss_bytes(node: NodeProc) -> int:
    assert node.proc is not None
    for line in Path(f"/proc/{node.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def open_files(node: NodeProc) -> int:
    assert node.proc is not None
    return len(list(Path(f"/proc/{node.proc.pid}/fd").iterdir()))


def connect(node: NodeProc, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection((node.host, node.port), timeout=timeout)


def status_of(sock: socket.socket) -> int:
    """The status of the response on a raw connection (reads its head)."""
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed before a status line: {head!r}"
        head += chunk
    return int(head.split(b" ", 2)[1])


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the peer closes the connection within `seconds` (what it sends meanwhile is read and dropped)."""
    sock.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return False


def health(node: NodeProc) -> int:
    return httpx.get(node.url + "/health/live", timeout=10.0).status_code


def temp_files(node: NodeProc) -> list[Path]:
    return [p for mp in node.mountpaths for p in (mp / "ferry" / "tmp").glob("*")]


@pytest.fixture
def hostile_peer() -> Iterator[tuple[str, dict[str, bytes]]]:
    """An HTTP server that says it is node "evil" and answers whatever the test puts in its table (path -> body)."""
    answers: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = answers.get(self.path.split("?")[0], b"{}")
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("x-ferry-node", "evil")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_HEAD = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answers
    finally:
        server.shutdown()
        server.server_close()


def test_a_bucket_record_naming_a_path_outside_the_roots_is_refused_and_touches_nothing(
    cluster: Cluster, hostile_peer: tuple[str, dict[str, bytes]]
) -> None:
    a, b = formed(cluster, "a", "b")
    with cluster.client(a) as c:
        c.put_object(BUCKET, "kept", b"still here")
    victims = plant_victims(cluster)
    bad_bodies: list[object] = [
        {"../../../victim": [9999999999999999999, False]},
        {"../../victim": [2, False]},
        {"victim/../..": [2, False]},
        {"ok-name": [2**70, True]},
        {"ok-name": [0, True]},
        {"ok-name": ["1", True]},
        {"ok-name": [1.5, True]},
        {"ok-name": [5, "no"]},
        {"a": 1},
        [],
        None,
        "text",
    ]
    with httpx.Client(timeout=10.0) as http:
        for body in bad_bodies:
            r = http.put(f"{a.url}/v1/internal/buckets", json=body, headers=admin_headers())
            assert r.status_code == 422, (body, r.status_code, r.text)
        for raw in ("[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000, "{", "\x80"):
            headers = {**admin_headers(), "content-type": "application/json"}
            r = http.put(f"{a.url}/v1/internal/buckets", content=raw.encode(), headers=headers)
            assert r.status_code in (400, 422), (raw[:10], r.status_code, r.text)
        # a peer that gossips such a record: an unauthenticated GET of an unknown bucket makes a node pull it
        evil_url, answers = hostile_peer
        answers["/v1/internal/buckets"] = json.dumps({"../../../victim": [9999999999999999999, False]}).encode()
        cmap = cluster.make_map(2, 1)
        cmap = ClusterMap(
            version=2, rebalance_id="g1", nodes={**cmap.nodes, "evil": NodeEntry(id="evil", url=evil_url, flags=[])}
        )
        for node in (a, b):
            assert http.put(f"{node.url}/v1/admin/map", json=cmap.model_dump(mode="json"), headers=admin_headers())
        for node in (a, b):
            assert http.get(f"{node.url}/v1/buckets/victim").status_code == 404
            assert http.get(f"{node.url}/v1/objects/unknown/x").status_code in (404, 503)
            assert health(node) == 200
        assert http.get(f"{a.url}/v1/internal/buckets", headers=admin_headers()).json() == http.get(
            f"{b.url}/v1/internal/buckets", headers=admin_headers()
        ).json()
    assert_victims_intact(victims)
    with cluster.client(b) as c:
        assert c.get_object(BUCKET, "kept").data == b"still here"


def test_the_token_is_checked_before_an_oversized_body_is_read(cluster: Cluster) -> None:
    a = cluster.add_node("a")
    cluster.push_map(cluster.make_map(1, 1))
    before = rss_bytes(a)
    megabyte = b"[" * (1 << 20)
    for path, token, expected in (
        (b"/v1/admin/map", None, 401),
        (b"/v1/admin/settings", None, 401),
        (b"/v1/internal/settling", None, 401),
        (b"/v1/admin/cleanup", None, 401),
        (b"/v1/admin/map", _TOKEN, 413),
    ):
        with connect(a) as s:
            head = b"PUT " + path + b" HTTP/1.1\r\nhost: a\r\ncontent-type: application/json\r\n"
            head += b"content-length: 152043520\r\n" + (b"authorization: " + token + b"\r\n" if token else b"")
            s.sendall(head + b"\r\n" + megabyte)
            assert status_of(s) == expected, path
            sent = 0
            try:  # the node closes: it reads no more of the 145 MiB
                while sent < 145 << 20:
                    s.sendall(megabyte)
                    sent += len(megabyte)
            except OSError:
                pass
            assert sent < 145 << 20, f"{path!r}: the node read the whole body"
    # a body without a length (chunked) is counted as it comes
    with connect(a) as s:
        s.sendall(b"PUT /v1/admin/map HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\nauthorization: " + _TOKEN)
        s.sendall(b"\r\ncontent-type: application/json\r\n\r\n")
        try:
            for _ in range(8):
                s.sendall(b"100000\r\n" + megabyte + b"\r\n")
        except OSError:
            pass
        assert status_of(s) == 413
    assert rss_bytes(a) - before < 64 << 20
    assert health(a) == 200
    assert httpx.get(a.url + "/v1/admin/map", headers=admin_headers()).json()["version"] == 1


def test_a_stalled_request_is_closed_in_time_and_its_temp_file_removed(cluster: Cluster) -> None:
    (a,) = formed(cluster, "a", args=("--header-timeout", "1", "--body-timeout", "1"))
    with connect(a) as bare, connect(a) as partial, connect(a) as stalled:
        partial.sendall(b"GET /v1/objects/data/x HTTP/1.1\r\nhost: a\r\n")
        stalled.sendall(b"PUT /v1/objects/data/stalled HTTP/1.1\r\nhost: a\r\ncontent-length: 1000000\r\n\r\n")
        stalled.sendall(b"x" * 200_000)
        wait_for("the stalled upload's temp file", lambda: bool(temp_files(a)), timeout=5)
        assert closed_within(bare, 10)
        assert closed_within(partial, 10)
        assert status_of(stalled) == 408
        assert closed_within(stalled, 10)
    assert temp_files(a) == []
    assert httpx.get(f"{a.url}/v1/objects/{BUCKET}/stalled").status_code == 404
    assert health(a) == 200


def test_ten_thousand_idle_connections_leave_the_node_serving_with_bounded_files_and_memory(cluster: Cluster) -> None:
    a = cluster.add_node("a", 1, "--max-connections", "500")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    count = min(10_000, hard - 200)
    assert count >= 5000, f"this test needs an open-file limit over 5,200 (hard limit {hard})"
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    before = rss_bytes(a)
    socks: list[socket.socket] = []
    answered = 0
    try:
        for i in range(count):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((a.host, a.port))
            socks.append(s)
            if i % 1000 == 999:
                assert health(a) == 200
                answered += 1
        assert health(a) == 200
        assert open_files(a) < 500 + 100
        assert rss_bytes(a) - before < 100 << 20
    finally:
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert answered == count // 1000


def test_a_map_member_with_a_malformed_url_is_refused_and_a_bad_kept_map_does_not_stop_the_node(
    cluster: Cluster, hostile_peer: tuple[str, dict[str, bytes]]
) -> None:
    a = cluster.add_node("a")
    good = cluster.make_map(1, 1).model_dump(mode="json")
    with httpx.Client(timeout=10.0) as http:
        for url in ("http://[::1", "ftp://a:1", "http://a", "http://a:1/path", "http://u@a:1", "a:1", "http://a:99999"):
            bad = {**good, "nodes": {"a": {"id": "a", "url": url, "flags": []}}}
            r = http.put(f"{a.url}/v1/admin/map", json=bad, headers=admin_headers())
            assert r.status_code == 422, (url, r.status_code)
        # a member whose address answers 200 with something that is not a map (a reused pod address)
        evil_url, answers = hostile_peer
        answers["/v1/admin/map"] = b'{"version": "soon", "nodes": 5}'
        cmap = cluster.make_map(1, 1).model_dump(mode="json")
        cmap["nodes"]["evil"] = {"id": "evil", "url": evil_url, "flags": []}
        assert http.put(f"{a.url}/v1/admin/map", json=cmap, headers=admin_headers()).status_code == 200
        assert http.get(f"{a.url}/v1/admin/map", headers=admin_headers()).json()["version"] == 1
        assert health(a) == 200
    cluster.terminate(a)
    cluster.start(a)  # the restart asks "evil" for a newer map: its answer is no map, not a crash
    (a.state_dir / "map.json").write_text('{"version": 7, "nodes": {"a": {"id": "a", "url": "http://[::1"}}}')
    cluster.terminate(a)
    cluster.start(a)  # a kept map that is not valid is reported, not fatal
    assert "is not a valid ClusterMap" in a.log.read_text()
    cluster.push_map(cluster.make_map(1, 1))
    assert httpx.get(a.url + "/v1/admin/map", headers=admin_headers()).json()["version"] == 1


def test_unsigned_redirect_parameters_and_superscript_digits_are_plain_requests(cluster: Cluster) -> None:
    a, _ = formed(cluster, "a", "b")
    with cluster.client(a) as c:
        c.put_object(BUCKET, "obj", b"value")
    with httpx.Client(timeout=30.0, follow_redirects=True) as http:
        for query in (
            "ferry_hops=²",
            "ferry_mv=²",
            "ferry_mv=" + "9" * 5000,
            "ferry_hops=-1",
            "ferry_mv=999999&ferry_from=b",
            "ferry_mv=999999&ferry_from=b&ferry_hops=1&ferry_sig=00",
        ):
            r = http.get(f"{a.url}/v1/objects/{BUCKET}/obj?{query}")
            assert (r.status_code, r.content) == (200, b"value"), (query, r.status_code, r.text)
        for path in (f"/v1/buckets/{BUCKET}?limit=²", f"/v1/buckets/{BUCKET}?limit=" + "9" * 5000):
            assert http.get(a.url + path).status_code in (400, 422), path
        internal = (("GET", "/v1/internal/list/data?limit=²"), ("DELETE", "/v1/internal/objects/data/o?version=¹"))
        for method, path in internal:
            assert http.request(method, a.url + path, headers=admin_headers()).status_code == 422, path


def test_object_names_must_be_valid_utf8(cluster: Cluster) -> None:
    (a,) = formed(cluster, "a")
    with httpx.Client(timeout=10.0) as http:
        for name in ("bad%FF", "bad%FE", "bad%C3%28", "%ED%A0%80"):
            url = f"{a.url}/v1/objects/{BUCKET}/{name}"
            assert http.put(url, content=b"x").status_code == 400, name
            assert http.get(url).status_code == 400, name
        assert http.get(f"{a.url}/v1/buckets/{BUCKET}?prefix=%FF").status_code == 400
        assert http.put(f"{a.url}/v1/objects/{BUCKET}/good-%C3%BC", content=b"y").status_code == 200
        assert http.get(f"{a.url}/v1/objects/{BUCKET}/good-ü").content == b"y"
        listed = http.get(f"{a.url}/v1/buckets/{BUCKET}").json()["objects"]
    assert [o["name"] for o in listed] == ["good-ü"]


def test_tokens_must_expire_and_the_schema_is_not_served(cluster: Cluster) -> None:
    a = cluster.add_node("a")
    now = int(time.time())
    forever = jwt.encode({"sub": "x", "aud": auth.AUDIENCE}, SECRET, algorithm="HS256")
    no_iat = jwt.encode({"sub": "x", "aud": auth.AUDIENCE, "exp": now + 60}, SECRET, algorithm="HS256")
    decade = jwt.encode({"sub": "x", "aud": auth.AUDIENCE, "iat": now, "exp": now + 10 * 365 * 86400}, SECRET)
    with httpx.Client(base_url=a.url, timeout=10.0) as http:
        for token in (forever, no_iat, decade):
            r = http.get("/v1/admin/status", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, r.text
        assert http.get("/v1/admin/status", headers=admin_headers()).status_code == 200
        for path in ("/openapi.json", "/docs", "/redoc"):
            assert http.get(path).status_code == 404, path
            assert http.get(path, headers=admin_headers()).status_code == 404, path


def test_idle_bundle_connections_do_not_keep_a_sender_out(cluster: Cluster) -> None:
    a = cluster.add_node("a")
    cluster.push_map(cluster.make_map(1, 1))
    port = httpx.get(a.url + "/v1/internal/rebalance/endpoint", headers=admin_headers()).json()["port"]
    idle = [socket.create_connection((a.host, port), timeout=10) for _ in range(100)]
    try:
        hello = json.dumps({"token": auth.issue_token(SECRET), "to": "a", "from": "x", "reb": "g1", "mv": 1}).encode()
        with socket.create_connection((a.host, port), timeout=10) as s:
            s.sendall(len(hello).to_bytes(4, "big") + hello)
            length = int.from_bytes(s.recv(4), "big")
            assert json.loads(s.recv(length)) == {"ok": True}
        # an oversized hello is refused before anything is allocated for it
        with socket.create_connection((a.host, port), timeout=10) as s:
            s.sendall((1 << 30).to_bytes(4, "big") + b"{" * 65536)
            assert closed_within(s, 10)
        assert all(closed_within(s, 15) for s in idle[-16:])  # the handshake timeout ends the rest
    finally:
        for s in idle:
            s.close()
    assert health(a) == 200


def test_files_on_disk_with_names_that_escape_are_not_loaded(cluster: Cluster) -> None:
    (a,) = formed(cluster, "a")
    with cluster.client(a) as c:
        c.put_object(BUCKET, "fine", b"fine")
    victims = plant_victims(cluster)
    cluster.terminate(a)
    tombs = a.state_dir / "tombs" / "..evil"
    tombs.mkdir(parents=True)
    (tombs / "t").write_text(json.dumps({"n": "../x", "v": 2**80}))
    (a.state_dir / "buckets.json").write_text(
        json.dumps({BUCKET: json.loads((a.state_dir / "buckets.json").read_text())[BUCKET], "../../victim": [5, False]})
    )
    cluster.start(a)
    with cluster.client(a) as c:
        assert c.get_object(BUCKET, "fine").data == b"fine"
        assert [o.name for o in c.list_all(BUCKET)] == ["fine"]
        assert c.put_object(BUCKET, "new", b"new").version < 1 << 63  # the tombstone's 2**80 was not taken in
    assert_victims_intact(victims)
    files = [p for p in (a.mountpaths[0] / "ferry" / "objs").rglob("*") if p.is_file()]
    assert len(files) == 2  # "fine" and "new"
    for f in files:
        with open(f, "rb") as fh:
            assert read_header(fh) is not None


def test_when_every_connection_is_busy_one_more_gets_a_503_and_the_busy_ones_are_answered(cluster: Cluster) -> None:
    (a,) = formed(cluster, "a", args=("--max-connections", "16"))
    token = admin_headers()["Authorization"]
    polls = [connect(a, timeout=30) for _ in range(16)]
    try:
        poll = f"GET /v1/admin/rebalance?settled=g9&wait=5 HTTP/1.1\r\nhost: a\r\nauthorization: {token}\r\n\r\n"
        for s in polls:  # long polls: each connection busy with a request for up to 5 s
            s.sendall(poll.encode())
        time.sleep(1.0)  # (not a timing assertion: lets the node take the 16 requests in)
        with connect(a) as extra:
            assert status_of(extra) == 503
        assert [status_of(s) for s in polls] == [200] * 16
    finally:
        for s in polls:
            s.close()
    assert health(a) == 200


def test_a_request_still_waiting_when_its_node_stops_gets_a_503_with_retry_after_not_a_500(cluster: Cluster) -> None:
    a, b = formed(cluster, "a", "b")
    assert cluster.map is not None
    placement = maps.Placement(cluster.map)
    name = next(n for n in (f"absent-{i}" for i in range(1000)) if placement.owner(BUCKET, n).id == "a")
    assert b.proc is not None and a.proc is not None
    b.proc.send_signal(signal.SIGSTOP)  # b may hold it and answers nothing: a waits for it (peer_wait_seconds)
    try:
        answers: list[httpx.Response] = []
        asker = threading.Thread(
            target=lambda: answers.append(httpx.get(f"{a.url}/v1/objects/{BUCKET}/{name}", timeout=60.0))
        )
        asker.start()
        time.sleep(1.0)  # (not a timing assertion: the GET is waiting for b now)
        assert not answers, "the GET should be waiting for the silent node"
        a.proc.send_signal(signal.SIGTERM)  # a pod deleted: the server's grace (5 s) ends before the wait (20 s)
        asker.join(timeout=30)
        assert len(answers) == 1
        assert answers[0].status_code == 503, answers[0].text
        assert answers[0].headers["retry-after"] == "1"
        assert a.proc.wait(30) == 0
    finally:
        b.proc.send_signal(signal.SIGCONT)
