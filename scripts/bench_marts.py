"""Benchmark the marts on an ingested and resolved warehouse: build time, memory, query latency.

Builds every model downstream of the id map (the marts, their intermediates and tests) with dbt
in a subprocess (peak RSS from `getrusage(RUSAGE_CHILDREN)`), then times the main dashboard
queries on the warehouse, read-only: a customer lookup by id and KPIs by month and channel.

    .venv/bin/python scripts/bench_marts.py --warehouse /tmp/w1m/omni360.duckdb
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
DBT = str(Path(sys.executable).parent / "dbt")
TARGET_SECONDS, TARGET_GIB, TARGET_QUERY_SECONDS = 300.0, 8.0, 1.0

QUERIES = {
    "customer lookup by id": "select * from marts.dim_customer where customer_id = ?",
    "KPIs by month and channel": (
        "select * from marts.rpt_kpi_monthly order by order_month, channel"
    ),
    "net revenue by month and channel (from fct_orders)": (
        "select date_trunc('month', order_date), channel, sum(net_revenue), count(*)"
        " from marts.fct_orders where not is_cancelled group by all order by all"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    args = parser.parse_args()
    warehouse = args.warehouse.resolve()
    env = {
        **os.environ,
        "OMNI360_WAREHOUSE": str(warehouse),
        "OMNI360_LAKE": str(warehouse.parent / "lake"),
        "OMNI360_DEMO_MODE": os.environ.get("OMNI360_DEMO_MODE", "1"),
    }
    started = time.perf_counter()
    done = subprocess.run(
        [
            DBT,
            "build",
            "--select",
            "int_sales__order_lines",
            "stg_identity__customer_xref+",
            "dim_date",
            "--exclude",
            "int_identity__golden_records",
            "--quiet",
        ],
        cwd=ROOT / "dbt_project",
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"dbt failed:\n{done.stdout[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024
    print(
        f"marts build: {seconds:.1f} s (target {TARGET_SECONDS:.0f}); "
        f"peak RSS {peak:.2f} GiB (target {TARGET_GIB:.0f})"
    )
    slow = []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        counts = con.sql(
            "select table_name, estimated_size from duckdb_tables() where schema_name = 'marts'"
            " order by 1"
        ).fetchall()
        for table, rows in counts:
            print(f"  marts.{table}: ~{rows:,} rows")
        (customer,) = con.sql(
            "select customer_id from marts.dim_customer order by hash(customer_id) limit 1"
        ).fetchall()[0]
        for name, sql in QUERIES.items():
            timings = []
            for _ in range(5):
                begun = time.perf_counter()
                con.execute(sql, [customer] if "?" in sql else []).fetchall()
                timings.append(time.perf_counter() - begun)
            best, worst = min(timings), max(timings)
            print(f"query {name}: best {best * 1000:.0f} ms, worst {worst * 1000:.0f} ms")
            if worst > TARGET_QUERY_SECONDS:
                slow.append(name)
    if seconds > TARGET_SECONDS or peak > TARGET_GIB or slow:
        sys.exit("over target")


if __name__ == "__main__":
    main()
