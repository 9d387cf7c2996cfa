"""Run every bench/*_bench.py in turn (each writes docs/benchmarks/<name>.md), then assemble docs/benchmarks.md."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import hostinfo

ROOT = Path(__file__).resolve().parents[1]
PARTS = ROOT / "docs" / "benchmarks"
ORDER = ("node", "datapath", "clients", "kube", "operator", "departures")


def assemble() -> Path:
    """Write docs/benchmarks.md: the machine, then every component's report (demoted one heading level)."""
    parts = sorted(PARTS.glob("*.md"), key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else 99, p.stem))
    out = [
        "# Ferry benchmarks",
        "",
        f"Assembled by `make bench` (`bench/run.py`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from the reports in",
        "`docs/benchmarks/`; each report and its baselines come from one run of its script. Machine: "
        f"{os.cpu_count()} vCPU ({hostinfo.cpu_model()}), {hostinfo.memory_gib():.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}. The machine is shared and noisy: every",
        "figure that has a goal is a ratio to a baseline measured in the same run.",
        "",
    ]
    for part in parts:
        text = part.read_text().strip().splitlines()
        out += ["#" + line if line.startswith("#") else line for line in text] + [""]
    target = ROOT / "docs" / "benchmarks.md"
    target.write_text("\n".join(out))
    return target


def main() -> int:
    """Run the benchmarks (unless --assemble-only); non-zero if any failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assemble-only", action="store_true", help="only rebuild docs/benchmarks.md")
    args = parser.parse_args()
    failed = []
    if not args.assemble_only:
        for script in sorted(Path(__file__).resolve().parent.glob("*_bench.py")):
            print(f"== {script.name}", flush=True)
            if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
                failed.append(script.name)
    print(f"wrote {assemble()}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
