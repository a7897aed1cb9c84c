"""Benchmark the Spark engine beside DuckDB on one landing zone, as a user runs them.

1. generate N persons over D days (or take --landing);
2. `omni360 run` into an empty DuckDB warehouse;
3. `omni360 spark start --workers W` (a standalone cluster: a master and W workers behind a
   Spark Connect server; W=0: Spark's local mode), then `omni360 run --engine spark` into another
   empty warehouse, then `omni360 spark stop`;
4. compare the two: the same customer for every record, precision and recall of each, every
   mart (rows, checksums, numeric totals; scripts/compare_warehouses.py's comparison).

Wall time, and peak resident memory of the command's process tree plus (on Spark) the cluster's
processes, sampled every 0.2 s. Prints a markdown table.

    .venv/bin/python scripts/bench_spark.py --persons 20000 --workers 2 --out /tmp/bench-spark
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench_incremental import Measured, _omni360
from bench_incremental import measure as measure_tree

from orchestration.lib.compare import compare_warehouses

ROOT = Path(__file__).resolve().parent.parent
ACCURACY = re.compile(r"identity accuracy: precision ([0-9.]+), recall ([0-9.]+)")


def measure(what: str, command: list[str], cluster_state: Path | None = None) -> Measured:
    """`command`'s wall time and the peak memory of its tree plus the cluster's processes."""
    cluster = (
        list(json.loads(cluster_state.read_text())["pids"].values())
        if cluster_state and cluster_state.exists()
        else []
    )
    return measure_tree(what, command, also=cluster)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--landing", type=Path, help="an existing landing zone (no generation)")
    parser.add_argument(
        "--duckdb",
        type=Path,
        help="the warehouse file of an earlier DuckDB run of the same landing zone (no DuckDB run)",
    )
    parser.add_argument("--workers", type=int, default=2, help="0: Spark's local mode")
    parser.add_argument("--worker-memory", default="4g")
    parser.add_argument("--port", type=int, default=15002, help="the Spark Connect port")
    parser.add_argument("--out", type=Path, required=True, help="a scratch folder (replaced)")
    args = parser.parse_args()

    if args.out.exists():
        shutil.rmtree(args.out)
    omni360 = _omni360()
    landing = args.landing or args.out / "landing"
    duck = args.duckdb or args.out / "duckdb" / "omni360.duckdb"
    spark = args.out / "spark" / "omni360.duckdb"
    steps: list[Measured] = []

    def step(what: str, command: list[str], cluster_state: Path | None = None) -> Measured:
        print(f"{time.strftime('%H:%M:%S')} {what} …", flush=True)
        measured = measure(what, command, cluster_state)
        steps.append(measured)
        if measured.returncode != 0:
            print(measured.output[-4000:])
            sys.exit(f"{what} failed (exit {measured.returncode})")
        return measured

    if args.landing is None:
        step(
            f"generate {args.persons:,} persons",
            [
                omni360,
                "generate",
                "--persons",
                str(args.persons),
                "--days",
                str(args.days),
                "--seed",
                str(args.seed),
                "--out",
                str(landing),
            ],
        )
    on_duckdb = (
        None
        if args.duckdb
        else step(
            "run on DuckDB", [omni360, "run", "--landing", str(landing), "--warehouse", str(duck)]
        )
    )
    where = ["--warehouse", str(spark)]
    os.environ["OMNI360_SPARK_REMOTE"] = f"sc://localhost:{args.port}"
    cluster = "local mode" if not args.workers else f"standalone, {args.workers} workers"
    step(
        f"start Spark ({cluster})",
        [
            omni360,
            "spark",
            "start",
            *where,
            "--workers",
            str(args.workers),
            "--worker-memory",
            args.worker_memory,
            "--port",
            str(args.port),
        ],
    )
    try:
        on_spark = step(
            f"run on Spark ({cluster})",
            [omni360, "run", "--engine", "spark", "--landing", str(landing), *where],
            spark.parent / "spark" / "cluster.json",
        )
    finally:
        subprocess.run([omni360, "spark", "stop", *where], check=False)

    zone = (
        f"landing zone {landing}" if args.landing else f"{args.persons:,} persons, {args.days} days"
    )
    print(f"\n{zone}; Spark: {cluster}\n")
    print("| step | wall time | peak memory (process tree, and the Spark processes) |")
    print("|---|---:|---:|")
    for measured in steps:
        print(f"| {measured.what} | {measured.seconds:,.1f} s | {measured.peak_gib:.2f} GiB |")
    print("\n| engine | precision | recall |")
    print("|---|---:|---:|")
    runs = [m for m in (on_duckdb, on_spark) if m is not None]
    for measured in runs:
        found = ACCURACY.search(measured.output)
        figures = found.groups() if found else ("n/a", "n/a")
        print(f"| {measured.what} | {figures[0]} | {figures[1]} |")
    for measured in runs:
        print(f"\n{measured.what}: where the time went")
        for line in measured.output.splitlines():
            if line.startswith("[") and ("s]" in line[:12]):
                print(f"    {line}")
    report = compare_warehouses(duck, spark)
    print("\n" + "\n".join(report.lines))
    sys.exit(0 if report.identical else 1)


if __name__ == "__main__":
    main()
