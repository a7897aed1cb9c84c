"""The customer-360 marts on the committed sample: they reconcile with what was ingested."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.settings import DBT_PROJECT_DIR
from tests.integration.conftest import SampleRun


@pytest.fixture(scope="module")
def con(sample_run: SampleRun) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(sample_run.warehouse), read_only=True)


def _one(con: duckdb.DuckDBPyConnection, sql: str):
    return con.sql(sql).fetchall()[0]


def test_revenue_equals_the_valid_order_lines_ingested_minus_refunds(con):
    (marts,) = _one(con, "select sum(net_revenue) from marts.fct_orders")
    (ingested,) = _one(
        con,
        """
        with live_orders as (
            select order_id from staging.stg_ecommerce__orders where status <> 'cancelled'
            union all
            select transaction_id from staging.stg_pos__transactions
        ),
        lines as (
            select order_id, quantity * unit_price - coalesce(discount, 0) as amount
            from staging.stg_ecommerce__order_lines
            union all
            select transaction_id, quantity * unit_price - coalesce(discount, 0)
            from staging.stg_pos__transaction_lines
        ),
        refunds as (select order_id, amount from staging.stg_ecommerce__refunds)
        select
            (select sum(amount) from lines where order_id in (select order_id from live_orders))
            - (select sum(amount) from refunds where order_id in (select order_id from live_orders))
        """,
    )
    assert marts > 1_000_000
    assert marts == ingested


def test_every_order_and_every_receipt_is_in_fct_orders_once(con):
    counts = _one(
        con,
        """
        select
            (select count(*) from marts.fct_orders),
            (select count(distinct order_id) from marts.fct_orders),
            (select count(*) from staging.stg_ecommerce__orders)
                + (select count(*) from staging.stg_pos__transactions)
        """,
    )
    assert counts[0] == counts[1] == counts[2]


def test_every_order_customer_exists_and_only_unknown_accounts_have_none(con):
    orphans, unattributed_online, unknown_accounts = _one(
        con,
        """
        select
            count(*) filter (
                where orders.customer_id is not null and customers.customer_id is null
            ),
            count(*) filter (where orders.customer_id is null and orders.channel = 'online'),
            (select count(*) from staging.stg_ecommerce__orders
                where account_id not in (select account_id from staging.stg_ecommerce__customers))
        from marts.fct_orders as orders
        left join marts.dim_customer as customers using (customer_id)
        """,
    )
    # an online order has no customer only when its account never arrived (e.g. quarantined)
    assert orphans == 0 and unattributed_online == unknown_accounts


def test_every_customer_has_exactly_one_current_stage(con):
    customers, distinct, staged, current_spells = _one(
        con,
        """
        select
            (select count(*) from marts.dim_customer),
            (select count(distinct customer_id) from identity.customer_xref),
            (select count(lifecycle_stage) from marts.dim_customer),
            (select count(*) from marts.fct_customer_lifecycle_history where is_current)
        """,
    )
    assert customers == distinct == staged == current_spells


def test_stage_history_has_no_gaps_or_overlaps(con):
    problems = _one(
        con,
        """
        with spells as (
            select *,
                lead(valid_from) over (partition by customer_id order by valid_from) as next_from,
                lag(lifecycle_stage) over (partition by customer_id order by valid_from) as before
            from marts.fct_customer_lifecycle_history
        ),
        firsts as (
            select customer_id, min(snapshot_date) as first_snapshot
            from marts.fct_customer_lifecycle_snapshots group by customer_id
        )
        select
            count(*) filter (where valid_to is distinct from next_from),
            count(*) filter (where valid_to <= valid_from),
            count(*) filter (where lifecycle_stage = before),
            (select count(*) from (
                select customer_id, min(valid_from) as first_from
                from marts.fct_customer_lifecycle_history group by customer_id
            ) as starts inner join firsts using (customer_id) where first_from <> first_snapshot)
        from spells
        """,
    )
    assert problems == (0, 0, 0, 0)


def test_the_customer_360_carries_no_raw_phone_or_email(con):
    columns = [
        row[0]
        for row in con.sql(
            "select column_name from information_schema.columns where table_schema = 'marts'"
            " and table_name = 'dim_customer' and data_type = 'VARCHAR'"
            " and column_name not like '%_token'"
        ).fetchall()
    ]
    clear = " or ".join(
        f"regexp_matches({c}, '1[3-9][0-9]{{9}}') or regexp_matches({c}, '[^*]@')" for c in columns
    )
    (found,) = _one(con, f"select count(*) from marts.dim_customer where {clear}")
    (masked,) = _one(con, "select count(phone_masked) from marts.dim_customer")
    # tokens are keyed hashes: 64 hex characters, never a value in clear
    (not_tokens,) = _one(
        con,
        "select count(*) from marts.dim_customer"
        " where not regexp_full_match(phone_token, '[0-9a-f]{64}')",
    )
    assert masked > 1000 and found == 0 and not_tokens == 0


def test_monthly_kpis_add_up_over_channels(con):
    mismatches = _one(
        con,
        """
        select count(*) from (
            select order_month, sum(orders) filter (where channel <> 'all') as by_channel,
                sum(orders) filter (where channel = 'all') as total
            from marts.rpt_kpi_monthly group by order_month
        ) where by_channel <> total
        """,
    )
    assert mismatches == (0,)


def test_metricflow_answers_the_metrics_by_name_as_the_kpi_mart_does(
    sample_run: SampleRun, con, tmp_path
):
    out = tmp_path / "mf.csv"
    # what analysts query: the published snapshot, read-only (the dbt target `snapshot`)
    snapshot = sample_run.warehouse.parent / "published" / "omni360_marts.duckdb"
    before = (snapshot.stat().st_mtime_ns, hashlib.sha256(snapshot.read_bytes()).hexdigest())
    env = {
        **os.environ,
        "OMNI360_DBT_TARGET": "snapshot",
        "OMNI360_SNAPSHOT": str(snapshot),
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
    }
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "mf"),
            "query",
            "--metrics",
            "net_revenue,orders",
            "--group-by",
            "metric_time__month,order__channel",
            "--csv",
            str(out),
        ],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with open(out, encoding="utf-8") as handle:
        metricflow = {
            (row["metric_time__month"][:10], row["order__channel"]): (
                round(float(row["net_revenue"]), 2),
                int(row["orders"]),
            )
            for row in csv.DictReader(handle)
        }
    mart = {
        (str(month), channel): (float(revenue), orders)
        for month, channel, revenue, orders in con.sql(
            "select order_month, channel, net_revenue, orders from marts.rpt_kpi_monthly"
            " where channel <> 'all'"
        ).fetchall()
    }
    assert len(mart) >= 8 and metricflow == mart
    after = (snapshot.stat().st_mtime_ns, hashlib.sha256(snapshot.read_bytes()).hexdigest())
    assert after == before


def test_sqlalchemy_reflects_the_published_snapshot_as_bi_tools_browse_it(sample_run: SampleRun):
    """What Superset and pandas.read_sql call through duckdb-engine (docs/bi.md): schemas,
    tables, columns with their comments, and a query."""
    import sqlalchemy as sa

    snapshot = sample_run.warehouse.parent / "published" / "omni360_marts.duckdb"
    engine = sa.create_engine(
        f"duckdb:///{snapshot}?access_mode=read_only", poolclass=sa.pool.NullPool
    )
    try:
        inspector = sa.inspect(engine)
        assert any(name.endswith("marts") for name in inspector.get_schema_names())
        tables = inspector.get_table_names(schema="marts")
        assert {"dim_customer", "fct_orders", "rpt_kpi_monthly"} <= set(tables)
        columns = {c["name"]: c for c in inspector.get_columns("fct_orders", schema="marts")}
        assert columns["customer_id"]["comment"]
        assert inspector.get_table_comment("dim_customer", schema="marts")["text"]
        inspector.get_pk_constraint("fct_orders", schema="marts")
        metadata = sa.MetaData()
        metadata.reflect(engine, schema="marts")
        assert len(metadata.tables) == len(tables)
        with engine.connect() as con:
            orders = con.execute(sa.text("select count(*) from marts.fct_orders")).scalar()
        assert orders > 0
    finally:
        engine.dispose()


def test_a_reader_never_sees_a_half_built_run_while_the_pipeline_rebuilds(sample_run: SampleRun):
    seen = sample_run.reader
    assert seen["errors"] == [] and seen["problems"] == []
    # it read the first run's snapshot during the whole rebuild, then the rerun's
    assert seen["reads"] >= 10 and len(seen["runs"]) == 2
