"""Benchmark ingestion of a generated landing zone: wall time, peak memory, rows, lake size.

Generates the landing zone first if `--landing` does not exist. Ingestion (every entity of the
contract, in order, into an empty lake under `--work`) runs in a subprocess, so peak RSS is the
ingestion's own (`getrusage(RUSAGE_CHILDREN)`); a second pass over the same lake must find every
file already loaded. The quarantine is then checked against the generator's answer key
(`<landing>/_truth/malformed.csv`): the script exits non-zero when the two differ, when a pass
does not account for every row, or when the second pass loads anything.

    .venv/bin/python scripts/bench_ingest.py --landing /tmp/omni360-landing-1m
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 180.0
TARGET_GIB = 6.0


def ingest(landing: Path, lake_dir: Path) -> dict:
    """Load every entity (child side); return the figures as a dict."""
    from orchestration.lib.contracts import ENTITIES
    from orchestration.lib.ingest.lake import Lake
    from orchestration.lib.ingest.landing import scan_landing
    from orchestration.lib.ingest.loader import load_entity, new_load_id

    started = time.perf_counter()
    scan = scan_landing(landing)
    scan_s = time.perf_counter() - started
    lake = Lake(lake_dir)
    load_id = new_load_id()
    entities = []
    for target in ENTITIES:
        result = load_entity(
            target, scan.files_for(target), lake, load_id, layout_problems=scan.problems_for(target)
        )
        entities.append(
            {
                "entity": target.key,
                "files": len(result.outcomes),
                "statuses": dict(Counter(o.status for o in result.outcomes)),
                "rows_read": result.rows_read,
                "rows_loaded": result.rows_loaded,
                "rows_quarantined": result.rows_quarantined,
                "child_rows_loaded": result.child_rows_loaded,
                "refusals": result.refusals,
                "recovered": len(result.recovered),
                "seconds": result.elapsed_s,
            }
        )
    return {
        "scan_seconds": scan_s,
        "seconds": time.perf_counter() - started,
        "self_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "entities": entities,
    }


def run_pass(landing: Path, lake_dir: Path) -> tuple[dict, float, float]:
    """One ingestion pass in a subprocess: (figures, wall seconds, peak RSS of children, GiB)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(landing), str(lake_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
        raise SystemExit(f"ingestion failed with exit code {done.returncode}")
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB on Linux
    return json.loads(done.stdout.strip().splitlines()[-1]), wall, peak_gib


def generate(landing: Path, persons: int, days: int, seed: int) -> None:
    print(f"generating {persons:,} persons x {days} days into {landing} …", flush=True)
    started = time.perf_counter()
    command = [str(Path(sys.executable).parent / "omni360"), "generate"]
    command += ["--persons", str(persons), "--days", str(days), "--seed", str(seed)]
    subprocess.run([*command, "--out", str(landing), "--force"], check=True, cwd=ROOT)
    print(f"generated in {time.perf_counter() - started:.1f} s", flush=True)


def folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def quarantined_set(lake_dir: Path) -> set[tuple[str, int, str]]:
    import duckdb

    glob = str(lake_dir / "quarantine" / "*" / "*" / "*.parquet")
    rows = duckdb.sql(f"select source_file, line_no, rule from read_parquet('{glob}')").fetchall()
    return {(f, int(n), r) for f, n, r in rows}


def truth_set(landing: Path) -> set[tuple[str, int, str]]:
    with open(landing / "_truth" / "malformed.csv", encoding="utf-8", newline="") as handle:
        return {(r["file"], int(r["line"]), r["rule"]) for r in csv.DictReader(handle)}


def print_pass(figures: dict, wall: float) -> tuple[int, int, int, int]:
    print(
        f"  {'entity':<24} {'files':>5} {'rows read':>12} {'loaded':>12} "
        f"{'quarantined':>11} {'seconds':>8}"
    )
    read = loaded = quarantined = children = 0
    for e in figures["entities"]:
        print(
            f"  {e['entity']:<24} {e['files']:>5} {e['rows_read']:>12,} {e['rows_loaded']:>12,} "
            f"{e['rows_quarantined']:>11,} {e['seconds']:>8.1f}"
        )
        if e["child_rows_loaded"]:
            print(f"  {'  + nested line items':<24} {'':>5} {'':>12} {e['child_rows_loaded']:>12,}")
        read += e["rows_read"]
        loaded += e["rows_loaded"]
        quarantined += e["rows_quarantined"]
        children += e["child_rows_loaded"]
    files = sum(e["files"] for e in figures["entities"])
    print(f"  {'total':<24} {files:>5} {read:>12,} {loaded:>12,} {quarantined:>11,}")
    statuses: Counter = Counter()
    for e in figures["entities"]:
        statuses.update(e["statuses"])
    print(f"  file outcomes: {dict(sorted(statuses.items()))}")
    print(
        f"  wall time {wall:.1f} s (in-process {figures['seconds']:.1f} s, "
        f"of which landing scan {figures['scan_seconds']:.1f} s)"
    )
    return read, loaded, quarantined, children


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, help="generated landing zone (required)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/omni360-bench"), help="lake parent")
    parser.add_argument("--persons", type=int, default=1_000_000, help="if generating")
    parser.add_argument("--days", type=int, default=365, help="if generating")
    parser.add_argument("--seed", type=int, default=42, help="if generating")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(ingest(*args.child)))
        return 0
    if args.landing is None:
        parser.error("--landing is required")
    landing = args.landing.resolve()
    if not (landing / "_truth" / "malformed.csv").is_file():
        generate(landing, args.persons, args.days, args.seed)
        # a fresh process, so that RUSAGE_CHILDREN holds the ingestion's peak, not the generator's
        return subprocess.call([sys.executable, __file__, *sys.argv[1:]], cwd=ROOT)
    lake_dir = args.work.resolve() / "lake"
    shutil.rmtree(lake_dir, ignore_errors=True)
    lake_dir.mkdir(parents=True)
    landing_gib = folder_bytes(landing) / 2**30
    print(f"landing {landing} ({landing_gib:.2f} GiB incl. _truth), lake {lake_dir}")

    print("pass 1 (empty lake):")
    first, wall, peak_gib = run_pass(landing, lake_dir)
    read, loaded, quarantined, children = print_pass(first, wall)
    lake_bytes = folder_bytes(lake_dir)
    print(f"  peak RSS {peak_gib:.2f} GiB (child's own: {first['self_maxrss_kib'] / 2**20:.2f})")
    print(
        f"  throughput {read / wall:,.0f} rows/s ({(read + children) / wall:,.0f} incl. nested "
        f"line items), {landing_gib * 1024 / wall:.1f} MiB/s"
    )
    parts = {name: folder_bytes(lake_dir / name) / 2**20 for name in ("raw", "quarantine", "_ops")}
    print(
        f"  lake size {lake_bytes / 2**30:.2f} GiB ("
        + ", ".join(f"{k} {v:,.0f} MiB" for k, v in parts.items())
        + ")"
    )
    refusals = [r for e in first["entities"] for r in e["refusals"]]
    for refusal in refusals:
        print(f"  refused: {refusal}")

    print("pass 2 (same lake):")
    second, wall2, _ = run_pass(landing, lake_dir)
    print_pass(second, wall2)
    not_skipped = sum(
        n for e in second["entities"] for s, n in e["statuses"].items() if s != "already_loaded"
    )

    print("quarantine vs answer key (_truth/malformed.csv):")
    got, expected = quarantined_set(lake_dir), truth_set(landing)
    missing, unexpected = expected - got, got - expected
    print(
        f"  expected {len(expected):,}, quarantined {len(got):,}: matches {len(got & expected):,}, "
        f"missing {len(missing):,}, unexpected {len(unexpected):,}"
    )
    for label, rows in (("missing", missing), ("unexpected", unexpected)):
        by_rule = Counter(r for _, _, r in rows)
        if rows:
            print(f"  {label} by rule: {dict(by_rule.most_common())}")
            for row in sorted(rows)[:5]:
                print(f"    {label}: {row}")

    print("targets:")
    time_ok, mem_ok = wall <= TARGET_SECONDS, peak_gib <= TARGET_GIB
    print(f"  wall time {wall:.1f} s <= {TARGET_SECONDS:.0f} s: {'PASS' if time_ok else 'FAIL'}")
    print(f"  peak RSS {peak_gib:.2f} GiB <= {TARGET_GIB:.0f} GiB: {'PASS' if mem_ok else 'FAIL'}")

    failures = []
    if read != loaded + quarantined:
        failures.append(f"rows read {read:,} != loaded {loaded:,} + quarantined {quarantined:,}")
    if len(got) != quarantined:
        failures.append(f"{quarantined:,} rows quarantined but {len(got):,} distinct in the lake")
    if missing or unexpected:
        failures.append("quarantine differs from the answer key")
    if not_skipped:
        failures.append(f"second pass: {not_skipped} files were not already_loaded")
    for failure in failures:
        print(f"ERROR: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
