"""Starts and stops background processes by recorded pid and process group; never by name.

A pid file holds ``<pid> <start-time>`` (the start time from ``/proc/<pid>/stat``) so a recycled pid
is never mistaken for ours. Every process gets the environment marker ``LOCALKUBE_CLUSTER=<state dir>``,
which lets :func:`sweep` find anything of this cluster left behind (its descendants inherit it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MARKER = "LOCALKUBE_CLUSTER"


@dataclass(frozen=True)
class Record:
    """A process we started: its pid and kernel start time."""

    pid: int
    start_time: int

    def line(self) -> str:
        """Serialise for a pid file."""
        return f"{self.pid} {self.start_time}\n"

    @classmethod
    def parse(cls, text: str) -> Record | None:
        """Parse a pid file's content; None when malformed."""
        try:
            pid, start = text.split()
            return cls(int(pid), int(start))
        except ValueError:
            return None


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2]


def alive(rec: Record) -> bool:
    """Whether the recorded process still runs (a zombie counts as gone)."""
    _reap(rec.pid)
    return start_time(rec.pid) == rec.start_time and _state(rec.pid) not in (None, "Z", "X")


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def record_of(pid: int) -> Record:
    """Record a process just started."""
    st = start_time(pid)
    return Record(pid, st if st is not None else -1)


def spawn(
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str],
    pid_file: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session (process group), output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    if pid_file is not None:
        write_pid_file(pid_file, record_of(proc.pid))
    return proc


def write_pid_file(path: Path, rec: Record) -> None:
    """Atomically write ``rec`` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(rec.line())
    tmp.replace(path)


def read_pid_file(path: Path) -> Record | None:
    """The record in ``path``, or None."""
    try:
        return Record.parse(path.read_text())
    except OSError:
        return None


def stop(rec: Record, *, grace: float = 10.0) -> None:
    """SIGTERM the process group of ``rec``, wait up to ``grace`` seconds, then SIGKILL it."""
    if not alive(rec):
        return
    _signal_group(rec, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and alive(rec):
        time.sleep(0.05)
    _signal_group(rec, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and alive(rec):
        time.sleep(0.05)


def _signal_group(rec: Record, sig: signal.Signals) -> None:
    if not alive(rec):
        return
    try:
        os.killpg(rec.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(rec.pid, sig)
    # A process that is not a group leader (or left its group) still gets the signal itself.
    with contextlib.suppress(ProcessLookupError):
        os.kill(rec.pid, sig)


def stop_pid_file(path: Path, *, grace: float = 10.0) -> None:
    """Stop the process recorded in ``path`` (if any) and remove the file; idempotent."""
    rec = read_pid_file(path)
    if rec is not None:
        stop(rec, grace=grace)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def marked(marker_value: str) -> Iterator[int]:
    """Pids of live processes whose environment carries ``LOCALKUBE_CLUSTER=<marker_value>``."""
    needle = f"{MARKER}={marker_value}".encode()
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0") and _state(int(entry.name)) not in (None, "Z", "X"):
            yield int(entry.name)


def sweep(marker_value: str) -> list[int]:
    """SIGKILL every live process marked with ``marker_value``; returns the pids that were killed."""
    killed = []
    for pid in marked(marker_value):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    deadline = time.monotonic() + 5.0
    while killed and time.monotonic() < deadline and any(True for _ in marked(marker_value)):
        for pid in killed:
            _reap(pid)
        time.sleep(0.05)
    return killed
