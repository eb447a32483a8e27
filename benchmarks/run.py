#!/usr/bin/env python3
"""Run every benchmark script (benchmarks/bench_*.py) in turn; each prints its own
timings and ratios against the peer tools it runs in the same process or shell.

    python benchmarks/run.py            # all
    python benchmarks/run.py tmb msi    # some
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in argv]
    status = 0
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        status |= subprocess.call([sys.executable, str(script)])
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
