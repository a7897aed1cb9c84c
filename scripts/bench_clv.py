"""Benchmark the customer-value asset (value/customer_clv, value/clv_backtest): time, memory.

The orders come from `marts.fct_orders` of `--warehouse` when it has that table (copied into a
scratch warehouse, so the source is only read), otherwise they are generated: `--customers`
customers shaped like fct_orders, with behaviour that is deliberately not BG/NBD (customers
already active before the window, dropout in continuous time, 6.18 and 11.11 peaks, weekends,
several orders on one day, anonymous receipts, cancellations, refunds).

The asset runs in a subprocess (`dg.materialize`, the real definitions and checks), so the peak
RSS (`getrusage(RUSAGE_CHILDREN)`) is the asset's alone.

    .venv/bin/python scripts/bench_clv.py                      # /tmp/w1m if it has fct_orders
    .venv/bin/python scripts/bench_clv.py --customers 700000 --warehouse none
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WAREHOUSE = Path("/tmp/w1m/omni360.duckdb")
END = date(2026, 12, 31)
PLATFORMS = np.array(["tmall", "jd", "app", "wechat_mini", "douyin"])


def _has_orders(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return bool(
                con.sql(
                    "select count(*) from information_schema.tables "
                    "where table_schema = 'marts' and table_name = 'fct_orders'"
                ).fetchall()[0][0]
            )
    except duckdb.Error as error:  # e.g. locked by a writer
        print(f"cannot read {path}: {error}; generating orders instead")
        return False


def copy_orders(source: Path, target: Path) -> str:
    with duckdb.connect(str(target)) as con:
        con.execute(f"attach '{source}' as source (read_only)")
        con.execute("create schema marts")
        con.execute(
            """
            create table marts.fct_orders as
            select customer_id, ordered_at, net_amount, currency, is_cancelled
            from source.marts.fct_orders
            """
        )
    return f"marts.fct_orders of {source}"


def _intensity(day_of_year: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """Relative order rate over the year: 6.18 and 11.11 festivals, busier weekends."""
    return (
        1.0
        + 0.8 * np.exp(-(((day_of_year - 169) / 5.0) ** 2))
        + 1.5 * np.exp(-(((day_of_year - 315) / 6.0) ** 2))
        + 0.3 * (weekday >= 5)
    )


def generate_orders(customers: int, target: Path, seed: int, days: int = 365) -> str:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(END) - pd.Timedelta(days=days - 1)
    # 35 % were customers before the window; the others arrive uniformly within it
    arrival = np.where(rng.random(customers) < 0.35, 0.0, rng.uniform(0, days, customers))
    leave = arrival + rng.exponential(400.0, customers)
    rate = rng.gamma(0.9, 8.0 / 0.9, customers) / 365.0  # orders a day, mean 8 a year
    mean_spend = rng.gamma(3.0, 90.0, customers)
    peak = 2.8  # above the highest intensity
    window = np.clip(np.minimum(leave, days) - arrival, 0, None)
    counts = rng.poisson(rate * peak * window)
    owner = np.repeat(np.arange(customers), counts)
    at = arrival[owner] + rng.random(len(owner)) * window[owner]
    stamps = start + pd.to_timedelta(at, unit="D")
    keep = rng.random(len(owner)) * peak < _intensity(
        stamps.day_of_year.to_numpy(), stamps.day_of_week.to_numpy()
    )
    # newcomers' first order is the day they arrive
    newcomers = np.flatnonzero(arrival > 0)
    owner = np.concatenate([owner[keep], newcomers])
    at = np.concatenate([at[keep], arrival[newcomers]])
    # one purchase in ten has a second order the same day
    again = rng.random(len(owner)) < 0.1
    owner = np.concatenate([owner, owner[again]])
    at = np.concatenate([at, np.floor(at[again]) + rng.random(again.sum()) * 0.99])
    anonymous = int(len(owner) * 0.2)
    frame = pd.DataFrame(
        {
            "customer": np.concatenate([owner, np.full(anonymous, -1)]),
            "at_days": np.concatenate([at, rng.uniform(0, days, anonymous)]),
            "gross": np.round(
                rng.gamma(3.0, np.concatenate([mean_spend[owner], np.full(anonymous, 90.0)]) / 3),
                2,
            ),
            "online": np.concatenate([rng.random(len(owner)) < 0.5, np.zeros(anonymous, bool)]),
            "platform": rng.integers(0, len(PLATFORMS), len(owner) + anonymous),
            "store": rng.integers(1, 201, len(owner) + anonymous),
            "draw": rng.random(len(owner) + anonymous),
        }
    )
    platforms = "[" + ", ".join(f"'{name}'" for name in PLATFORMS) + "]"
    with duckdb.connect(str(target)) as con:
        con.execute("create schema marts")
        con.register("generated", frame)
        con.execute(
            f"""
            create table marts.fct_orders as
            with orders as (
                select
                    *,
                    timestamp '{start:%Y-%m-%d}' + to_microseconds(
                        cast(at_days * 86400e6 as bigint)) as ordered_at,
                    round(gross * (draw % 0.1) * 1.5, 2) as discount,
                    case when online and draw > 0.97 then round(gross * 0.8, 2) else 0 end
                        as refund
                from generated
            )
            select
                'O' || lpad(cast(row_number() over () as varchar), 10, '0') as order_id,
                case when online then 'ecommerce' else 'pos' end as source_system,
                case when online then 'online' else 'store' end as channel,
                case when online then {platforms}[platform + 1] else 'store' end
                    as platform,
                case when not online then 'S' || lpad(cast(store as varchar), 3, '0') end
                    as store_id,
                case when customer >= 0
                    then 'C' || lpad(cast(customer + 1 as varchar), 9, '0') end as customer_id,
                ordered_at,
                cast(ordered_at as date) as order_date,
                case when draw < 0.02 then 'cancelled' else 'completed' end as status,
                case when online then 'delivery' else 'in_store' end as fulfilment_mode,
                1 + cast(draw * 4 as integer) as item_count,
                cast(gross as decimal(18, 2)) as gross_amount,
                cast(discount as decimal(18, 2)) as discount_amount,
                cast(refund as decimal(18, 2)) as refund_amount,
                cast(gross - discount - refund as decimal(18, 2)) as net_amount,
                'CNY' as currency,
                draw < 0.02 as is_cancelled,
                cast(null as varchar) as coupon_code
            from orders
            where ordered_at <= timestamp '{END} 23:59:59'
            order by ordered_at
            """
        )
    return f"{customers:,} generated customers"


def child_run(warehouse: str) -> None:
    import dagster as dg

    from orchestration.defs.value.assets import customer_value
    from orchestration.lib import progress
    from orchestration.resources import RunModeResource, WarehouseResource

    progress.listen(lambda line: print(line, file=sys.stderr))
    result = dg.materialize(
        [customer_value],
        resources={
            "warehouse": WarehouseResource(
                warehouse_path=warehouse, landing_dir=str(ROOT), lake_dir=str(ROOT)
            ),
            "run_mode": RunModeResource(retrain=True),  # measure the fit, not a kept one
        },
    )
    figures = {
        str(event.asset_key.to_user_string()): {
            name: value.value for name, value in event.metadata.items() if name != "table"
        }
        for event in result.asset_materializations_for_node("customer_value")
    }
    figures["checks"] = {
        check.check_name: check.passed for check in result.get_asset_check_evaluations()
    }
    print(json.dumps(figures, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=700_000)
    parser.add_argument("--warehouse", default=str(DEFAULT_WAREHOUSE), help="or 'none'")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--child-run")
    args = parser.parse_args()
    if args.child_run:
        child_run(args.child_run)
        return

    with tempfile.TemporaryDirectory(prefix="omni360-bench-clv-") as scratch:
        target = Path(scratch) / "omni360.duckdb"
        started = time.perf_counter()
        source = Path(args.warehouse)
        if args.warehouse != "none" and _has_orders(source):
            origin = copy_orders(source, target)
        else:
            origin = generate_orders(args.customers, target, args.seed)
        with duckdb.connect(str(target), read_only=True) as con:
            orders, known = con.sql(
                "select count(*), count(distinct customer_id) from marts.fct_orders"
            ).fetchall()[0]
        print(
            f"orders: {origin}: {orders:,} orders, {known:,} customers "
            f"({time.perf_counter() - started:.1f} s to prepare)"
        )

        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--child-run", str(target)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"asset failed:\n{done.stderr[-5000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024
        with duckdb.connect(str(target), read_only=True) as con:
            table = con.sql(
                "select * exclude (currency, calibration_end_date, observation_end_date) "
                "from value.clv_backtest"
            ).df()
    progress_lines = [line for line in done.stderr.splitlines() if line.startswith("value: ")]
    print("\n".join(progress_lines))
    print(json.dumps(figures, indent=1))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(2).to_string(index=False))
    print(f"customer value asset: wall time {seconds:.1f} s, peak RSS {peak:.2f} GiB")


if __name__ == "__main__":
    main()
