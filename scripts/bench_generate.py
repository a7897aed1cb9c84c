"""Benchmark the synthetic data generator: wall time, peak memory, files, rows, output size.

Runs the generator in a subprocess (so peak RSS is the generator's own) into a temporary folder
that is deleted afterwards; prints the figures and writes nothing else.

    .venv/bin/python scripts/bench_generate.py --persons 1000000 --days 365
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, sys
from pathlib import Path
from orchestration.lib.generator import GeneratorConfig, generate
persons, days, seed, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
summary = generate(GeneratorConfig(persons=persons, days=days, seed=seed), out)
print(json.dumps({"rows": summary.rows, "files": summary.files, "malformed": summary.malformed,
                  "redelivered": summary.redelivered, "seconds": summary.seconds}))
"""


def folder_size(root: Path) -> tuple[int, int]:
    """(bytes of the landing files, bytes of the answer key)."""
    landing = truth = 0
    for path in root.rglob("*"):
        if path.is_file():
            size = path.stat().st_size
            if path.relative_to(root).parts[0] == "_truth":
                truth += size
            else:
                landing += size
    return landing, truth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="omni360-bench-") as tmp:
        out = Path(tmp) / "landing"
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(args.persons),
                str(args.days),
                str(args.seed),
                str(out),
            ],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return done.returncode
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
        result = json.loads(done.stdout.strip().splitlines()[-1])
        landing, truth = folder_size(out)
    print(f"persons={args.persons:,} days={args.days} seed={args.seed}")
    print(f"wall time: {wall:.1f} s (generator: {result['seconds']:.1f} s)")
    print(f"peak RSS: {peak_kib / 1024 / 1024:.2f} GiB")
    print(f"files: {result['files']:,} ({result['redelivered']} re-delivered copies)")
    print(f"malformed records: {result['malformed']:,}")
    print(f"output: {landing / 2**30:.2f} GiB landing, {truth / 2**20:.0f} MiB answer key")
    total = 0
    for key, rows in result["rows"].items():
        print(f"  {key:<26} {rows:>12,}")
        total += 0 if key == "ecommerce.order_lines" else rows
    print(f"  {'total records':<26} {total:>12,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
