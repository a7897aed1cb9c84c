"""Benchmark the Great Expectations suites on a built warehouse: seconds per suite, total, memory.

Runs every suite of expectations/ as the asset checks do (read the frame from DuckDB or the lake,
validate with GE's pandas datasource, scrub), one after the other in this process, then writes
the check pages of all of them. The warehouse is opened read-only and nothing is written to it.

    .venv/bin/python scripts/bench_quality.py --warehouse /tmp/w1m/omni360.duckdb
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 120.0  # the issue: all checks on 1M persons add at most 2 minutes


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--lake", type=Path, help="default: lake/ next to the warehouse")
    parser.add_argument("--only", default="", help="run the suites whose name contains this")
    parser.add_argument("--no-pages", action="store_true", help="skip writing the check pages")
    args = parser.parse_args()
    warehouse = args.warehouse.resolve()
    lake = (args.lake or warehouse.parent / "lake").resolve()

    started = time.perf_counter()
    from expectations import all_suites
    from orchestration.lib.quality.expectations import run_suite
    from orchestration.lib.quality.pages import CheckPages

    imported = time.perf_counter() - started
    suites = [s for s in all_suites() if args.only in s.name]
    print(f"warehouse {warehouse}\nlake {lake}\n{len(suites)} suites, imports {imported:.1f}s\n")
    print(
        f"{'suite':46} {'rows':>11} {'read s':>7} {'check s':>7} {'rules':>5} {'failed':>6} "
        f"{'peak GiB':>8}"
    )
    results = []
    for suite in suites:
        result = run_suite(suite, lake=lake, warehouse=warehouse)
        results.append(result)
        failed = [r for r in result.results if not r.passed]
        print(
            f"{suite.name:46} {result.rows:>11,} {result.read_seconds:>7.2f} "
            f"{result.validate_seconds:>7.2f} {len(result.results):>5} {len(failed):>6} "
            f"{_peak_gib():>8.2f}" + (f"  {result.error}" if result.error else "")
        )
        for item in failed:
            print(f"    {item.severity:8} {item.name}: {item.observed}")
    checks = time.perf_counter() - started
    pages_seconds = 0.0
    if not args.no_pages:
        with tempfile.TemporaryDirectory() as folder:
            pages_started = time.perf_counter()
            pages = CheckPages(Path(folder) / "checks", "bench")
            for result in results:  # one suite at a time, as the check steps add them
                pages.add([result])
            pages_seconds = time.perf_counter() - pages_started
    total = time.perf_counter() - started
    read = sum(r.read_seconds for r in results)
    validate = sum(r.validate_seconds for r in results)
    peak_gib = _peak_gib()
    rules = sum(len(r.results) for r in results)
    failed = sum(not x.passed for r in results for x in r.results)
    print(
        f"\n{len(results)} suites, {rules} rules ({failed} failed), "
        f"{sum(r.rows for r in results):,} rows validated"
    )
    print(f"read {read:.1f}s + validate {validate:.1f}s; suites incl. imports {checks:.1f}s")
    print(f"check pages {pages_seconds:.1f}s; total {total:.1f}s (target {TARGET_SECONDS:.0f}s)")
    print(f"peak RSS {peak_gib:.2f} GiB")


if __name__ == "__main__":
    main()
