"""wrk load runs for the data-path benchmarks: GET listed objects or PUT numbered ones, with the CPU each side used."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

_TICK = os.sysconf("SC_CLK_TCK")

# Shared by both scripts: a per-thread id (setup() runs in the main Lua state, once a thread) and one line
# of exact totals at the end, so nothing below depends on wrk's rounded, unit-suffixed summary.
_COMMON_LUA = r"""
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "FERRY-WRK duration_us=%d requests=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d " ..
    "p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""

# args: <file with one request path per line>. Each thread starts at its own offset and cycles the list.
GET_LUA = (
    _COMMON_LUA
    + r"""
local reqs, n, idx = {}, 0, 0

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then
      n = n + 1
      reqs[n] = wrk.format("GET", line)
    end
  end
  if n == 0 then error("no request paths in " .. args[1]) end
  idx = ((tid or 0) * 7919) % n
end

function request()
  idx = idx % n + 1
  return reqs[idx]
end
"""
)

# args: <body file> <path prefix> <query, may be empty> <wrap: 0 = a new name every request, else cycle that many>.
# Names are <prefix><thread>-<%08d>; with a wrap small enough the requests are formatted once, up front.
PUT_LUA = (
    _COMMON_LUA
    + r"""
local body, prefix, query, wrap
local count = 0
local pre = nil
local headers = {["Content-Type"] = "application/octet-stream"}

local function make(i)
  return wrk.format("PUT", string.format("%s%08d%s", prefix, i, query), headers, body)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  body = f:read("*a")
  f:close()
  prefix = args[2] .. (tid or 0) .. "-"
  query = (args[3] ~= "" and ("?" .. args[3])) or ""
  wrap = tonumber(args[4])
  if wrap > 0 and wrap * #body <= 64 * 1024 * 1024 then
    pre = {}
    for i = 0, wrap - 1 do pre[i] = make(i) end
  end
end

function request()
  local i = count
  count = count + 1
  if wrap > 0 then i = i % wrap end
  if pre then return pre[i] end
  return make(i)
end
"""
)

# args: <body file> <file with one request path per line> <query, may be empty> <wrk threads> <marker dir>.
# Uploads: thread t PUTs the paths whose line index is t modulo the thread count, each exactly once. Once a
# thread's share is issued, request() returns an empty request (the connection stays quiet); once its share is
# answered, the thread writes <marker dir>/<t> and stops, and the caller ends wrk with SIGINT when every thread
# has (wrk's main thread otherwise sleeps the whole duration). wrk 4.1 calls request() once in the first thread
# before the run, to check it parses (script_verify_request): that first call peeks without taking a path.
PUT_LIST_LUA = (
    _COMMON_LUA
    + r"""
local body, query, marker
local paths, n, sent, answered = {}, 0, 0, 0
local peek = false
local headers = {["Content-Type"] = "application/octet-stream"}

function init(args)
  local f = assert(io.open(args[1], "rb"))
  body = f:read("*a")
  f:close()
  query = (args[3] ~= "" and ("?" .. args[3])) or ""
  local nthreads = tonumber(args[4])
  marker = args[5] .. "/" .. (tid or 0)
  local i = 0
  for line in io.lines(args[2]) do
    if line ~= "" then
      if i % nthreads == (tid or 0) then
        n = n + 1
        paths[n] = line
      end
      i = i + 1
    end
  end
  if n == 0 then error("no request paths for thread " .. (tid or 0)) end
  peek = (tid or 0) == 0
end

function request()
  if peek then
    peek = false
    return wrk.format("PUT", paths[1] .. query, headers, body)
  end
  if sent == n then return "" end
  sent = sent + 1
  return wrk.format("PUT", paths[sent] .. query, headers, body)
end

function response(status, headers, body)
  answered = answered + 1
  if answered == n then
    local f = assert(io.open(marker, "w"))
    f:close()
    wrk.thread:stop()
  end
end
"""
)

_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: client-side figures, and the CPU the server pids and wrk itself used during it."""

    threads: int
    connections: int
    seconds: float  # measured by wrk
    requests: int
    bytes_read: int
    requests_per_s: float  # wrk's "Requests/sec"
    transfer_per_s: float  # wrk's "Transfer/sec", bytes/s
    errors: dict[str, int]  # connect, read, write, status (non-2xx/3xx), timeout
    latency_us: dict[str, int]  # p50, p90, p99, max
    server_cpu_s: float  # user+sys of the given pids and their descendants over the run
    client_cpu_s: float  # user+sys of the wrk process
    load1_before: float  # 1-minute load average just before the run
    output: str

    @property
    def error_count(self) -> int:
        """All failed requests (socket errors, timeouts, non-2xx/3xx answers)."""
        return sum(self.errors.values())

    @property
    def server_us_per_request(self) -> float:
        """Server CPU (user+sys) per request, µs."""
        return self.server_cpu_s * 1e6 / max(self.requests, 1)

    @property
    def client_us_per_request(self) -> float:
        """wrk's own CPU per request, µs."""
        return self.client_cpu_s * 1e6 / max(self.requests, 1)


def wrk_binary() -> str:
    """Path of `wrk` (Debian package `wrk`)."""
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    return path


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on; the name may hold spaces


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (None if it is gone): with the pid, one process."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])  # field 22, starttime


def descendants(pids: Iterable[int]) -> set[int]:
    """`pids` and every live process below them."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: Iterable[int], with_children: bool = True) -> float:
    """user+sys CPU seconds so far of `pids` (all threads), with their live descendants and reaped children.

    Take it before and after a run and subtract. A process gone between the two readings drops out of the sum.
    """
    total = 0
    for pid in descendants(pids) if with_children else set(pids):
        fields = _stat_fields(pid)
        if fields is None:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
        if with_children:
            total += int(fields[13]) + int(fields[14])  # cutime, cstime: children waited for
    return total / _TICK


def _size(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)([KMGT]?B)", text)
    if m is None:
        raise ValueError(f"not a wrk size: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse(output: str) -> dict[str, float]:
    """The totals of a run from wrk's output (requires the scripts' done() line)."""
    out: dict[str, float] = {}
    m = re.search(r"^FERRY-WRK (.*)$", output, re.MULTILINE)
    if m is None:
        raise RuntimeError(f"no totals line in wrk's output:\n{output}")
    for item in m.group(1).split():
        key, value = item.split("=")
        out[key] = float(value)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    tps = re.search(r"^Transfer/sec:\s+(\S+)", output, re.MULTILINE)
    out["requests_per_s"] = float(rps.group(1)) if rps else 0.0
    out["transfer_per_s"] = _size(tps.group(1)) if tps else 0.0
    return out


def run(
    url: str,
    script: str,
    script_args: list[str],
    *,
    threads: int = 2,
    connections: int = 16,
    seconds: float = 5,
    server_pids: Iterable[int] = (),
    timeout_s: float = 10,
    stop_when: Callable[[], bool] | None = None,
) -> WrkResult:
    """Run `wrk -t T -c C -d Ds --latency --timeout -s SCRIPT URL -- ARGS` and measure both sides' CPU.

    `stop_when`, polled while wrk runs, ends the run early (SIGINT: wrk still prints its totals) once it is true.
    """
    pids = list(server_pids)
    with tempfile.TemporaryDirectory(prefix="ferry-wrk-") as tmp:
        script_path = Path(tmp) / "run.lua"
        script_path.write_text(script)
        cmd = [
            wrk_binary(),
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds:g}s",
            "--latency",
            "--timeout",
            f"{timeout_s:g}s",
            "-s",
            str(script_path),
            url,
            "--",
            *script_args,
        ]
        log_path = Path(tmp) / "wrk.out"
        load1 = os.getloadavg()[0]
        cpu0 = cpu_seconds(pids)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + seconds + timeout_s + 30
        while True:
            # wait4 instead of Popen.wait: the child's own rusage is wrk's CPU time
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if stop_when is not None and stop_when():
                os.kill(proc.pid, signal.SIGINT)
                stop_when = None
            if time.monotonic() > deadline:
                os.kill(proc.pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)
        server_cpu = cpu_seconds(pids) - cpu0
        output = log_path.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited {proc.returncode}: {' '.join(cmd)}\n{output}")
    t = parse(output)
    return WrkResult(
        threads=threads,
        connections=connections,
        seconds=t["duration_us"] / 1e6,
        requests=int(t["requests"]),
        bytes_read=int(t["bytes"]),
        requests_per_s=t["requests_per_s"],
        transfer_per_s=t["transfer_per_s"],
        errors={k: int(t[k]) for k in ("connect", "read", "write", "status", "timeout")},
        latency_us={k: int(t[f"{k}_us"]) for k in ("p50", "p90", "p99", "max")},
        server_cpu_s=server_cpu,
        client_cpu_s=usage.ru_utime + usage.ru_stime,
        load1_before=load1,
        output=output,
    )


def _preflight(method: str, url: str, body: bytes | None = None) -> None:
    r = httpx.request(method, url, content=body, timeout=30)
    if r.status_code not in (200, 201, 204):
        raise RuntimeError(f"preflight {method} {url}: {r.status_code} {r.text[:300]}")


def run_get(
    base_url: str,
    paths: list[str],
    *,
    threads: int = 2,
    connections: int = 16,
    seconds: float = 5,
    server_pids: Iterable[int] = (),
    timeout_s: float = 10,
    preflight: bool = True,
) -> WrkResult:
    """GET `paths` (e.g. "/v1/objects/b/o000001") on `base_url` round-robin; the other arguments as for `run`.

    wrk does not follow redirects (a 3xx counts as success), so `base_url` must serve the object itself: for
    AIStore the target's public URL, not the proxy's (see aisprocs.AisCluster.get_url). `preflight` GETs the
    first path once and fails unless it answers 2xx.
    """
    if preflight:
        _preflight("GET", base_url + paths[0])
    with tempfile.NamedTemporaryFile("w", prefix="ferry-wrk-paths-", suffix=".txt") as f:
        f.write("\n".join(paths) + "\n")
        f.flush()
        return run(
            base_url,
            GET_LUA,
            [f.name],
            threads=threads,
            connections=connections,
            seconds=seconds,
            server_pids=server_pids,
            timeout_s=timeout_s,
        )


def run_put(
    base_url: str,
    path_prefix: str,
    body: bytes,
    *,
    query: str = "",
    wrap: int = 0,
    threads: int = 2,
    connections: int = 16,
    seconds: float = 5,
    server_pids: Iterable[int] = (),
    timeout_s: float = 10,
    preflight: bool = True,
) -> WrkResult:
    """PUT `body` to `<base_url><path_prefix><thread>-<n:08d>[?query]`; the other arguments as for `run`.

    `wrap` > 0 cycles that many names per thread (overwrites) instead of a new name every request. `preflight`
    PUTs one object `<path_prefix>preflight` first and fails unless it answers 2xx.
    """
    if preflight:
        _preflight("PUT", f"{base_url}{path_prefix}preflight" + (f"?{query}" if query else ""), body)
    with tempfile.NamedTemporaryFile("wb", prefix="ferry-wrk-body-") as f:
        f.write(body)
        f.flush()
        return run(
            base_url,
            PUT_LUA,
            [f.name, path_prefix, query, str(wrap)],
            threads=threads,
            connections=connections,
            seconds=seconds,
            server_pids=server_pids,
            timeout_s=timeout_s,
        )


def run_put_list(
    base_url: str,
    paths: list[str],
    body: bytes,
    *,
    query: str = "",
    threads: int = 2,
    connections: int = 16,
    max_seconds: float = 600,
) -> WrkResult:
    """PUT `body` once to each of `paths` on `base_url` (an upload); RuntimeError unless every PUT answered 2xx/3xx.

    Returns as soon as the last PUT is answered; `max_seconds` bounds the whole upload.
    """
    threads = max(1, min(threads, connections, len(paths)))
    with tempfile.TemporaryDirectory(prefix="ferry-wrk-upload-") as tmp:
        body_file, paths_file, markers = Path(tmp) / "body", Path(tmp) / "paths.txt", Path(tmp) / "done"
        body_file.write_bytes(body)
        paths_file.write_text("\n".join(paths) + "\n")
        markers.mkdir()
        result = run(
            base_url,
            PUT_LIST_LUA,
            [str(body_file), str(paths_file), query, str(threads), str(markers)],
            threads=threads,
            connections=connections,
            seconds=max_seconds,
            timeout_s=120,
            stop_when=lambda: sum(1 for _ in markers.iterdir()) == threads,
        )
    if result.requests != len(paths) or result.errors["status"]:
        raise RuntimeError(
            f"upload to {base_url}: {result.requests} of {len(paths)} PUTs answered, "
            f"{result.errors['status']} with a status >= 400\n{result.output}"
        )
    return result
