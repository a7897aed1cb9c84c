"""Publishing the marts: snapshot contents, the atomic swap, Parquet versions, and failures that
must leave the previous snapshot exactly as it was."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration import settings
from orchestration.lib import publish
from orchestration.lib.publish import PublishError, publish_snapshot, read_manifest, verify_snapshot


def build_warehouse(path: Path, customers: int, orders: int) -> Path:
    """A warehouse with marts (two tables and a view), plus schemas that are not published."""
    with duckdb.connect(str(path)) as con:
        for schema in ("marts", "identity", "staging"):
            con.execute(f"create schema if not exists {schema}")
        con.execute(
            "create or replace table marts.dim_customer as select range as customer_id, "
            "'customer ' || range as customer_name, "
            f"date '2026-01-01' + range::int as first_order_date from range({customers})"
        )
        con.execute(
            "create or replace table marts.fct_orders as select range as order_id, "
            f"range % {customers} as customer_id, (range % 97)::decimal(12, 2) as amount "
            f"from range({orders})"
        )
        con.execute(
            "create or replace view marts.rpt_revenue_by_customer as select customer_id, "
            "sum(amount) as revenue from marts.fct_orders group by customer_id"
        )
        con.execute("comment on table marts.dim_customer is 'One row per resolved customer'")
        con.execute("create or replace table identity.customer_xref as select 1 as record_key")
        con.execute("create or replace table marts.fct_orders__dbt_tmp as select 1 as leftover")
    return path


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(published: Path) -> list[str]:
    return sorted(p.name for p in published.rglob("*.tmp*"))


def counts(snapshot: Path) -> dict[str, int]:
    with duckdb.connect(str(snapshot), read_only=True) as con:
        return {
            name: con.execute(f"select count(*) from marts.{name}").fetchall()[0][0]
            for name in ("dim_customer", "fct_orders", "rpt_revenue_by_customer")
        }


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return build_warehouse(tmp_path / "omni360.duckdb", customers=30, orders=200)


@pytest.fixture
def published(tmp_path: Path) -> Path:
    return tmp_path / "published"


def test_every_marts_table_and_view_is_published_as_a_table_with_a_manifest(warehouse, published):
    result = publish_snapshot(warehouse, published, run_id="run-1")

    assert result.path == published / "omni360_marts.duckdb"
    assert counts(result.path) == {
        "dim_customer": 30,
        "fct_orders": 200,
        "rpt_revenue_by_customer": 30,
    }
    manifest = read_manifest(result.path)
    assert manifest == result.manifest
    assert manifest.run_id == "run-1"
    assert {(t.qualified, t.source_type, t.rows) for t in manifest.tables} == {
        ("marts.dim_customer", "table", 30),
        ("marts.fct_orders", "table", 200),
        ("marts.rpt_revenue_by_customer", "view", 30),
    }
    with duckdb.connect(str(result.path), read_only=True) as con:
        types = con.execute(
            "select table_name, table_type from information_schema.tables "
            "where table_schema = 'marts' order by 1"
        ).fetchall()
        comment = con.execute(
            "select comment from duckdb_tables() where table_name = 'dim_customer'"
        ).fetchall()
    assert {table_type for _, table_type in types} == {"BASE TABLE"}
    assert comment == [("One row per resolved customer",)]
    assert verify_snapshot(result.path, warehouse) == []


def test_other_schemas_and_dbt_leftover_tables_are_not_published(warehouse, published):
    result = publish_snapshot(warehouse, published, run_id="run-1")

    with duckdb.connect(str(result.path), read_only=True) as con:
        schemas = {
            row[0] for row in con.execute("select schema_name from duckdb_tables()").fetchall()
        }
        tables = {
            row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()
        }
    assert schemas == {"marts", "_snapshot"}
    assert "fct_orders__dbt_tmp" not in tables


def test_the_snapshot_is_written_in_a_storage_format_older_bi_drivers_can_open(
    warehouse, published
):
    result = publish_snapshot(warehouse, published, run_id="run-1")

    with duckdb.connect() as con:
        con.execute(f"attach '{result.path}' as snap (read_only)")
        tags = con.execute(
            "select tags from duckdb_databases() where database_name = 'snap'"
        ).fetchall()[0][0]
    assert tags["storage_version"].startswith("v1.0.0")


def test_republishing_swaps_the_file_while_an_open_reader_keeps_reading_the_old_snapshot(
    warehouse, published
):
    first = publish_snapshot(warehouse, published, run_id="run-1")
    inode = first.path.stat().st_ino
    reader = duckdb.connect(str(first.path), read_only=True)
    try:
        build_warehouse(warehouse, customers=50, orders=80)
        second = publish_snapshot(warehouse, published, run_id="run-2")

        assert second.path == first.path
        assert second.path.stat().st_ino != inode  # a new file renamed over, not a rewrite
        assert reader.execute("select count(*) from marts.fct_orders").fetchall() == [(200,)]
        # a fresh ATTACH opens the file as it is now (connect() would reuse the open instance)
        assert read_manifest(second.path).run_id == "run-2"
    finally:
        reader.close()
    assert counts(second.path) == {
        "dim_customer": 50,
        "fct_orders": 80,
        "rpt_revenue_by_customer": 50,
    }
    assert verify_snapshot(second.path, warehouse) == []
    assert leftovers(published) == []


def test_parquet_exports_keep_the_two_newest_versions_and_current_points_to_the_newest(
    warehouse, published
):
    results = [
        publish_snapshot(build_warehouse(warehouse, 10 + i, 20 + i), published, run_id=f"run-{i}")
        for i in range(3)
    ]

    parquet = published / "parquet"
    versions = sorted(p.name for p in parquet.iterdir() if p.is_dir() and not p.is_symlink())
    assert versions == [results[1].parquet_dir.name, results[2].parquet_dir.name]
    assert results[2].removed_versions == (results[0].parquet_dir.name,)
    assert (parquet / "current").resolve() == results[2].parquet_dir.resolve()
    assert (parquet / "CURRENT").read_text().strip() == results[2].parquet_dir.name
    with duckdb.connect() as con:
        rows = con.execute(
            f"select count(*) from read_parquet('{parquet}/current/marts/fct_orders.parquet')"
        ).fetchall()
        manifest = con.execute(
            "select distinct run_id from "
            f"read_parquet('{parquet}/current/_snapshot/manifest.parquet')"
        ).fetchall()
    assert rows == [(22,)]
    assert manifest == [("run-2",)]


def test_a_failure_while_copying_keeps_the_previous_snapshot_and_leaves_no_temporary_files(
    warehouse, published, monkeypatch
):
    first = publish_snapshot(warehouse, published, run_id="run-1")
    digest, inode = file_digest(first.path), first.path.stat().st_ino
    build_warehouse(warehouse, customers=50, orders=80)
    copy = publish._copy_table
    copied: list[str] = []

    def copy_then_fail(con, schema, name):
        if copied:
            raise duckdb.IOException("disk full (simulated)")
        copy(con, schema, name)
        copied.append(name)

    monkeypatch.setattr(publish, "_copy_table", copy_then_fail)

    with pytest.raises(duckdb.IOException, match="simulated"):
        publish_snapshot(warehouse, published, run_id="run-2")

    assert copied == ["dim_customer"]
    assert file_digest(first.path) == digest
    assert first.path.stat().st_ino == inode
    assert read_manifest(first.path).run_id == "run-1"
    assert leftovers(published) == []
    assert (published / "parquet" / "current").resolve() == first.parquet_dir.resolve()
    assert sorted(p.name for p in (published / "parquet").iterdir() if p.is_dir()) == sorted(
        [first.parquet_dir.name, "current"]
    )


def test_a_failure_while_exporting_parquet_keeps_the_previous_snapshot(
    warehouse, published, monkeypatch
):
    first = publish_snapshot(warehouse, published, run_id="run-1")
    digest = file_digest(first.path)
    export = publish._export_parquet

    def export_then_fail(con, tables, folder):
        export(con, tables[:1], folder)
        raise OSError("no space left on device (simulated)")

    monkeypatch.setattr(publish, "_export_parquet", export_then_fail)

    with pytest.raises(OSError, match="simulated"):
        publish_snapshot(warehouse, published, run_id="run-2")

    assert file_digest(first.path) == digest
    assert leftovers(published) == []
    assert (published / "parquet" / "CURRENT").read_text().strip() == first.parquet_dir.name


def test_a_copy_that_does_not_match_the_warehouse_is_never_published(
    warehouse, published, monkeypatch
):
    first = publish_snapshot(warehouse, published, run_id="run-1")
    digest = file_digest(first.path)

    def copy_half(con, schema, name):
        relation = f"{schema}.{name}"
        con.execute(f"create table snap.{relation} as select * from wh.{relation} limit 5")

    monkeypatch.setattr(publish, "_copy_table", copy_half)

    with pytest.raises(PublishError, match="does not match the warehouse"):
        publish_snapshot(warehouse, published, run_id="run-2")
    assert file_digest(first.path) == digest
    assert leftovers(published) == []


def test_a_warehouse_without_marts_is_refused_and_nothing_is_published(tmp_path, published):
    warehouse = tmp_path / "empty.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema staging")
        con.execute("create table staging.stg_x as select 1 as x")

    with pytest.raises(PublishError, match="nothing to publish"):
        publish_snapshot(warehouse, published, run_id="run-1")
    assert not (published / "omni360_marts.duckdb").exists()
    assert leftovers(published) == []


def test_a_warehouse_held_by_a_writer_is_waited_for_then_refused_with_the_reason(
    warehouse, published
):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(60)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(PublishError, match="being written by another process"):
            publish_snapshot(warehouse, published, run_id="run-1", lock_timeout_s=0.5)
    finally:
        holder.kill()
        holder.wait()
    assert leftovers(published) == []
    assert publish_snapshot(warehouse, published, run_id="run-1").manifest.run_id == "run-1"


def test_leftovers_of_a_crashed_publisher_are_removed_by_the_next_publication(warehouse, published):
    (published / "parquet" / ".20260101T000000000000Z-dead.tmp" / "marts").mkdir(parents=True)
    (published / ".omni360_marts.dead.duckdb.tmp").write_bytes(b"half a file")

    publish_snapshot(warehouse, published, run_id="run-1")

    assert leftovers(published) == []


def test_verification_names_a_table_that_changed_in_the_warehouse_since_publication(
    warehouse, published
):
    result = publish_snapshot(warehouse, published, run_id="run-1")
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from marts.fct_orders where order_id < 3")

    problems = verify_snapshot(result.path, warehouse)

    assert any(problem.startswith("marts.fct_orders: warehouse") for problem in problems)
    assert any(problem.startswith("marts.rpt_revenue_by_customer") for problem in problems)
    assert not any("dim_customer" in problem for problem in problems)


def test_the_published_folder_defaults_to_published_next_to_the_warehouse(tmp_path, monkeypatch):
    monkeypatch.delenv("OMNI360_PUBLISHED", raising=False)
    monkeypatch.setenv("OMNI360_WAREHOUSE", str(tmp_path / "wh" / "omni360.duckdb"))
    assert settings.published_dir() == (tmp_path / "wh" / "published").resolve()

    monkeypatch.setenv("OMNI360_PUBLISHED", str(tmp_path / "bi"))
    assert settings.published_dir() == (tmp_path / "bi").resolve()
