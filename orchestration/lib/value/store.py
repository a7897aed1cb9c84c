"""The value schema in the warehouse: the orders the models read, the tables they write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from orchestration.lib.value.clv import CURRENCY, BacktestResult, ClvResult

SCHEMA = "value"
ORDERS_TABLE = "marts.fct_orders"
# what the dbt models read of the CLV step (dbt sources `value.*`)
OUTPUT_TABLES = (f"{SCHEMA}.customer_clv", f"{SCHEMA}.clv_backtest")


def read_orders(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Customers' orders that count towards their value: not cancelled, in the model currency."""
    return con.sql(
        f"""
        select customer_id, ordered_at, cast(net_amount as double) as net_amount
        from {ORDERS_TABLE}
        where customer_id is not null and not is_cancelled and currency = '{CURRENCY}'
        """
    ).df()


def order_counts(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, int], date | None]:
    """What the predictions leave out of marts.fct_orders, for the metadata; the latest order
    date (the default as-of date, as in the dbt var `as_of_date`)."""
    total, anonymous, cancelled, other_currency, latest = con.sql(
        f"""
        select
            count(*),
            count(*) filter (where customer_id is null),
            count(*) filter (where customer_id is not null and is_cancelled),
            count(*) filter (
                where customer_id is not null and not is_cancelled and currency <> '{CURRENCY}'
            ),
            cast(max(ordered_at) as date)
        from {ORDERS_TABLE}
        """
    ).fetchall()[0]
    counts = {
        "orders_in": total,
        "orders_anonymous": anonymous,
        "orders_cancelled": cancelled,
        "orders_other_currency": other_currency,
    }
    return counts, latest


def write(con: duckdb.DuckDBPyConnection, scored: ClvResult, tested: BacktestResult) -> None:
    """Both tables in one transaction; money as decimal, a non-finite prediction as null (the
    blocking check counts it)."""
    con.register("_customer_clv", scored.customers)
    con.register("_clv_backtest", tested.table)
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {SCHEMA}")
        con.execute(
            f"""
            create or replace table {SCHEMA}.customer_clv as
            select
                cast(customer_id as varchar) as customer_id,
                cast(frequency as integer) as frequency,
                cast(recency_days as integer) as recency_days,
                cast(tenure_days as integer) as tenure_days,
                {_decimal("monetary_value")},
                {_double("probability_alive")},
                {_double("predicted_purchases_365d")},
                {_decimal("expected_spend_per_purchase")},
                {_decimal("predicted_clv_365d")},
                '{CURRENCY}' as currency,
                cast(clv_method as varchar) as clv_method,
                date '{scored.observation_end}' as observation_end_date
            from _customer_clv
            order by customer_id
            """
        )
        con.execute(
            f"""
            create or replace table {SCHEMA}.clv_backtest as
            select
                cast(decile as integer) as decile,
                cast(is_total as boolean) as is_total,
                cast(customers as bigint) as customers,
                {_double("predicted_purchases")},
                cast(actual_purchases as bigint) as actual_purchases,
                {_decimal("predicted_spend")},
                {_decimal("actual_spend")},
                {_double("purchases_mae")},
                {_decimal("spend_mae")},
                {_double("purchases_error_pct")},
                {_double("spend_error_pct")},
                '{CURRENCY}' as currency,
                date '{tested.calibration_end}' as calibration_end_date,
                date '{tested.observation_end}' as observation_end_date
            from _clv_backtest
            order by is_total, decile
            """
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_customer_clv")
        con.unregister("_clv_backtest")


def _double(column: str) -> str:
    value = f"cast({column} as double)"
    return f"case when isfinite({value}) then {value} end as {column}"


def _decimal(column: str) -> str:
    value = f"cast({column} as double)"
    money = f"cast(round({value}, 2) as decimal(18, 2))"
    return f"case when isfinite({value}) then {money} end as {column}"


def invalid_predictions(con: duckdb.DuckDBPyConnection) -> int:
    return con.sql(
        f"""
        select count(*) from {SCHEMA}.customer_clv
        where probability_alive is null or probability_alive not between 0 and 1
            or predicted_purchases_365d is null or predicted_purchases_365d < 0
            or expected_spend_per_purchase is null or expected_spend_per_purchase < 0
            or predicted_clv_365d is null or predicted_clv_365d < 0
        """
    ).fetchall()[0][0]


@dataclass(frozen=True)
class Fit:
    """The CLV tables in the warehouse: as of when they were fitted, for how many customers."""

    observation_end: date
    customers: int
    purchases_error_pct: float | None
    spend_error_pct: float | None


def last_fit(con: duckdb.DuckDBPyConnection) -> Fit | None:
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? "
        "and table_name in ('customer_clv', 'clv_backtest')",
        [SCHEMA],
    ).fetchall()[0][0]
    if exists < 2:
        return None
    end, customers = con.execute(
        f"select max(observation_end_date), count(*) from {SCHEMA}.customer_clv"
    ).fetchall()[0]
    if end is None:
        return None
    errors = con.execute(
        f"select purchases_error_pct, spend_error_pct from {SCHEMA}.clv_backtest where is_total"
    ).fetchall()
    purchases, spend = errors[0] if errors else (None, None)
    return Fit(end, customers, purchases, spend)


def customers_with_orders(con: duckdb.DuckDBPyConnection) -> int:
    return con.sql(
        f"""
        select count(distinct customer_id) from {ORDERS_TABLE}
        where customer_id is not null and not is_cancelled and currency = '{CURRENCY}'
        """
    ).fetchall()[0][0]


def refit_reason(
    fit: Fit | None, as_of: date, customers: int, *, after_days: int, growth: float
) -> str | None:
    """Why the CLV model must be fitted again now, or None to keep the last fit: none yet, the
    as-of date moved `after_days` or more past it, or `growth` more customers have orders."""
    if fit is None:
        return "no fit yet"
    if (as_of - fit.observation_end).days >= after_days:
        return f"the as-of date moved {(as_of - fit.observation_end).days} days past the last fit"
    if customers > fit.customers * (1 + growth):
        return f"{customers:,} customers with orders, {growth:.0%} more than the last fit's"
    if as_of < fit.observation_end:
        return "the as-of date moved back before the last fit"
    return None
