"""Benchmark the marts on an ingested and resolved warehouse: build time, memory, query latency.

Three steps, as the pipeline runs them, each in a subprocess (peak RSS from
`getrusage(RUSAGE_CHILDREN)`): dbt builds the marts up to fct_orders and everything not waiting
for the customer value; the `value/customer_clv` asset predicts CLV; dbt builds the rest
(dim_customer and what reads it), tests included. Then it times the main dashboard queries on the
warehouse, read-only: a customer lookup by id and KPIs by month and channel.

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


def materialize_value(warehouse: Path) -> None:
    """The customer-value asset on its own, as the pipeline runs it."""
    import dagster as dg

    from orchestration.defs.value.assets import customer_value
    from orchestration.resources import RunModeResource, WarehouseResource

    result = dg.materialize(
        [customer_value],
        resources={
            "warehouse": WarehouseResource(warehouse_path=str(warehouse)),
            "run_mode": RunModeResource(retrain=True),  # measure the fit, not a kept one
        },
        raise_on_error=False,
    )
    if not result.success:
        sys.exit("customer value failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path)
    parser.add_argument("--value", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.value:
        materialize_value(Path(args.value))
        return
    if args.warehouse is None:
        parser.error("--warehouse is required")
    warehouse = args.warehouse.resolve()
    env = {
        **os.environ,
        "OMNI360_WAREHOUSE": str(warehouse),
        "OMNI360_LAKE": str(warehouse.parent / "lake"),
        "OMNI360_DEMO_MODE": os.environ.get("OMNI360_DEMO_MODE", "1"),
    }
    after_value = ["source:value.customer_clv+", "source:value.clv_backtest+"]
    before_value = ["int_sales__order_lines", "source:identity.customer_xref+", "dim_date"]
    steps = [
        (
            "dbt: marts before the customer value",
            [
                DBT,
                "build",
                "--select",
                *before_value,
                "--exclude",
                "int_identity__golden_records",
                *after_value,
                "test_type:unit",
                "--quiet",
            ],
        ),
        ("value/customer_clv asset", [sys.executable, __file__, "--value", str(warehouse)]),
        (
            "dbt: dim_customer and what reads it",
            [DBT, "build", "--select", *after_value, "--quiet"],
        ),
    ]
    seconds = 0.0
    for name, command in steps:
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=ROOT / "dbt_project", env=env, capture_output=True, text=True
        )
        step_seconds = time.perf_counter() - started
        seconds += step_seconds
        if done.returncode != 0:
            sys.exit(f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        print(f"  {name}: {step_seconds:.1f} s")
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
