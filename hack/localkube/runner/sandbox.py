"""Command lines that run a container's process in a private mount namespace with its volumes bind-mounted."""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path

from localkube.runner.volumes import Mount


def argv(command: Sequence[str], mounts: Sequence[Mount], working_dir: str | None) -> list[str]:
    """``unshare --mount --propagation private sh -c '<mount volumes>; exec "$@"' sh <command...>``.

    Missing mount points are created (empty) on the host first; mounts are invisible outside the process.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        raise RuntimeError("the unshare command (util-linux) is required by the localkube runner")
    lines = ["set -e"]
    for m in mounts:
        src, dst = shlex.quote(str(m.source)), shlex.quote(m.target)
        if Path(m.source).is_dir():
            lines.append(f"mkdir -p {dst}")
        else:
            lines.append(f"mkdir -p {shlex.quote(str(Path(m.target).parent))}; [ -e {dst} ] || : > {dst}")
        lines.append(f"mount --bind {src} {dst}")
        if m.read_only:
            lines.append(f"mount -o remount,bind,ro {dst}")
    if working_dir:
        lines.append(f"mkdir -p {shlex.quote(working_dir)}; cd {shlex.quote(working_dir)}")
    lines.append('exec "$@"')
    return [unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", "\n".join(lines), "sh", *command]
