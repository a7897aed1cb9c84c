"""Benchmark a full run and the next delivery's increment, as a user runs them: one command each.

1. generate N persons over D days, every delivery but the last (`omni360 generate --until`);
2. `omni360 run` into an empty warehouse (the full run);
3. add the last delivery (`omni360 generate --extend`), then `omni360 run` again (the increment);
4. with --compare: a copy of the warehouse as it was before the increment, run once with
   `--full-refresh` on the grown landing zone, must hold the same customers and marts
   (scripts/compare_warehouses.py's comparison).

Wall time and the peak resident memory of the command's whole process tree (itself, dbt, every
subprocess), sampled from /proc every 0.2 s. Prints a markdown table and where the time of each
run went (its own progress lines).

    .venv/bin/python scripts/bench_incremental.py --persons 1000000 --days 365 \\
        --delivery daily --out /tmp/bench-inc --compare
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.compare import compare_warehouses
from orchestration.lib.generator import GeneratorConfig
from orchestration.lib.generator.writer import delivery_dates

ROOT = Path(__file__).resolve().parent.parent
PATH_VARS = ("OMNI360_WAREHOUSE", "OMNI360_LAKE", "OMNI360_LANDING", "OMNI360_PUBLISHED")


@dataclass
class Measured:
    what: str
    seconds: float
    peak_gib: float
    returncode: int
    output: str


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(child) for child in children)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def measure(what: str, command: list[str], also: list[int] | None = None) -> Measured:
    """`command`'s wall time and the peak memory of its process tree, plus the trees of the
    processes `also` (a Spark cluster started before it)."""
    env = {k: v for k, v in os.environ.items() if k not in PATH_VARS}
    env.setdefault("OMNI360_DEMO_MODE", "1")
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, sum(_tree_rss(pid) for pid in [process.pid, *(also or [])]))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.communicate()[0]
    done.set()
    sampler.join()
    return Measured(what, time.perf_counter() - started, peak / 2**30, process.returncode, output)


def _omni360() -> str:
    local = ROOT / ".venv" / "bin" / "omni360"
    return str(local if local.exists() else Path(sys.executable).parent / "omni360")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--delivery", default="daily", choices=["daily", "weekly", "monthly"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, required=True, help="a scratch folder (replaced)")
    parser.add_argument("--compare", action="store_true", help="also check against a full refresh")
    args = parser.parse_args()

    config = GeneratorConfig(
        persons=args.persons, seed=args.seed, days=args.days, delivery=args.delivery
    )
    dates = delivery_dates(config)
    # the last delivery date that brings new days (the ones after only carry late records)
    last = max(d for d in dates if d <= config.end)
    before = max(d for d in dates if d < last)
    if args.out.exists():
        shutil.rmtree(args.out)
    landing, warehouse = args.out / "landing", args.out / "warehouse" / "omni360.duckdb"
    common = ["--persons", str(args.persons), "--days", str(args.days), "--seed", str(args.seed)]
    common += ["--delivery", args.delivery, "--out", str(landing)]
    omni360 = _omni360()
    steps: list[Measured] = []

    def step(what: str, command: list[str]) -> Measured:
        print(f"{dt.datetime.now():%H:%M:%S} {what} …", flush=True)
        measured = measure(what, command)
        steps.append(measured)
        if measured.returncode != 0:
            print(measured.output[-4000:])
            sys.exit(f"{what} failed (exit {measured.returncode})")
        return measured

    step(f"generate up to {before}", [omni360, "generate", *common, "--until", str(before)])
    full = step(
        "full run (empty warehouse)",
        [omni360, "run", "--landing", str(landing), "--warehouse", str(warehouse)],
    )
    snapshot = args.out / "before-increment"
    if args.compare:
        shutil.copytree(warehouse.parent, snapshot, symlinks=True)
    step(
        f"generate the delivery of {last}",
        [omni360, "generate", *common, "--until", str(last), "--extend"],
    )
    increment = step(
        "increment (next delivery)",
        [omni360, "run", "--landing", str(landing), "--warehouse", str(warehouse)],
    )
    if args.compare:
        refreshed = snapshot / "omni360.duckdb"
        step(
            "full refresh on the grown landing zone",
            [
                omni360,
                "run",
                "--full-refresh",
                "--landing",
                str(landing),
                "--warehouse",
                str(refreshed),
            ],
        )

    print(
        f"\n{args.persons:,} persons, {args.days} days, {args.delivery} deliveries; "
        f"the increment is the delivery of {last}\n"
    )
    print("| step | wall time | peak memory (process tree) |")
    print("|---|---:|---:|")
    for measured in steps:
        print(f"| {measured.what} | {measured.seconds:,.1f} s | {measured.peak_gib:.2f} GiB |")
    share = increment.seconds / full.seconds
    print(f"\nthe increment took {share:.1%} of the full run")
    for measured in (full, increment):
        print(f"\n{measured.what}: where the time went")
        for line in measured.output.splitlines():
            if line.startswith("[") and ("s]" in line[:12]):
                print(f"    {line}")
    if args.compare:
        report = compare_warehouses(warehouse, snapshot / "omni360.duckdb")
        print("\n" + "\n".join(report.lines))
        sys.exit(0 if report.identical else 1)


if __name__ == "__main__":
    main()
