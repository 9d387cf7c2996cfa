"""The kubelet's container-log endpoint over HTTPS (client certificates from the cluster CA only).

``GET /containerLogs/{namespace}/{pod}/{container}?follow=&previous=&tailLines=&limitBytes=`` serves the
log file of the container's current (or previous) run; ``kubectl logs`` reaches it through the API server.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

# (namespace, pod, container, previous) -> (log file or None, is it running?, waiting reason or "")
Lookup = Callable[[str, str, str, bool], tuple[Path | None, bool, str]]


def _tail(data: bytes, lines: int) -> bytes:
    if lines < 0:
        return data
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:]) if lines else b""


def serve(address: str, port: int, cert: Path, key: Path, ca: Path, lookup: Lookup) -> ThreadingHTTPServer:
    """Start the HTTPS server in a daemon thread; returns it (call ``shutdown()`` to stop)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            if len(parts) != 4 or parts[0] != "containerLogs":
                self.send_error(404, "only /containerLogs is served by the localkube runner")
                return
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            previous = q.get("previous", "false") == "true"
            path, running, waiting = lookup(parts[1], parts[2], parts[3], previous)
            if path is None or not path.exists():
                if previous:
                    message = f'previous terminated container "{parts[3]}" in pod "{parts[2]}" not found'
                else:
                    message = f'container "{parts[3]}" in pod "{parts[2]}" is waiting to start: {waiting or "unknown"}'
                body = message.encode()
                self.send_response(400)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            data = _tail(path.read_bytes(), int(q.get("tailLines", "-1")))
            if "limitBytes" in q:
                data = data[: int(q["limitBytes"])]
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            follow = q.get("follow", "false") == "true" and running and not previous
            if not follow:
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.end_headers()
            self._follow(path, data, parts)

        def _follow(self, path: Path, data: bytes, parts: list[str]) -> None:
            offset = path.stat().st_size if data else 0
            self.wfile.write(data)
            self.wfile.flush()
            with path.open("rb") as f:
                f.seek(offset)
                while True:
                    chunk = f.read(65536)
                    if chunk:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        continue
                    if not lookup(parts[1], parts[2], parts[3], False)[1]:
                        return
                    time.sleep(0.2)

    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(str(ca))
    ctx.verify_mode = ssl.CERT_REQUIRED
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name="container-logs", daemon=True).start()
    return server
