"""`python3 -m bench`: every benchmark, one after another, each writing bench/results/*.json.

Run it under the shared lock on a shared machine (`flock /tmp/connscope-tests.lock python3
-m bench`): another process's load lands on one side of a ratio and not the other.
"""

from __future__ import annotations

import subprocess
import sys

from bench.common import ROOT

BENCHMARKS = [
    ["bench.generator"],
    ["bench.witness"],
    ["bench.scale"],
    ["bench.stream"],
    ["bench.sampler"],
    ["bench.render_fps", "2000", "10000"],
]


def main() -> int:
    failed = []
    for module in BENCHMARKS:
        print(f"\n=== python3 -m {' '.join(module)}", flush=True)
        if subprocess.run([sys.executable, "-m", *module], cwd=ROOT).returncode != 0:
            failed.append(module[0])
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
