"""A container's process: started in its own process group, dies with the runner, stopped by group."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from localkube import processes

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: the child only calls prctl


def _die_with_runner() -> None:
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Process:
    """One run of a container's process."""

    def __init__(self, popen: subprocess.Popen[bytes], pid_file: Path, log: Path) -> None:
        self.popen = popen
        self.pid_file = pid_file
        self.log = log
        self.started_at = time.time()
        self.exit_code: int | None = None

    @classmethod
    def start(cls, argv: Sequence[str], env: Mapping[str, str], log: Path, pid_file: Path) -> Process:
        """Spawn ``argv`` (output to ``log``) in a new session; it gets SIGKILL if the runner dies."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                start_new_session=True,
                preexec_fn=_die_with_runner,
                cwd="/",
            )
        processes.write_pid_file(pid_file, processes.record_of(popen.pid))
        return cls(popen, pid_file, log)

    @property
    def pid(self) -> int:
        """The container's main pid."""
        return self.popen.pid

    def poll(self) -> int | None:
        """The exit code (128+signal for a signal) once the process ended, else None.

        When the main process ends, whatever it left in its process group is killed (like a cgroup).
        """
        if self.exit_code is not None:
            return self.exit_code
        rc = self.popen.poll()
        if rc is None:
            return None
        self._signal(signal.SIGKILL)
        self.exit_code = 128 - rc if rc < 0 else rc
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        return self.exit_code

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    async def terminate(self, grace: float) -> int:
        """SIGTERM the process group, wait up to ``grace`` seconds, then SIGKILL; returns the exit code."""
        if self.poll() is not None:
            assert self.exit_code is not None
            return self.exit_code
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + max(0.0, grace)
        while time.monotonic() < deadline:
            if self.poll() is not None:
                break
            await asyncio.sleep(0.05)
        else:
            self._signal(signal.SIGKILL)
        while self.poll() is None:
            await asyncio.sleep(0.05)
        assert self.exit_code is not None
        return self.exit_code
