"""Tables between the Spark warehouse and the driver's DuckDB working store.

On the Spark engine the dbt models live in Spark; the steps that run on the driver (the guarded
clustering of identity resolution, the CLV fit) keep working on a DuckDB file, as on the
embedded engine. What they read is copied from Spark before they run, and what dbt reads from
them is copied back after. The copies go through Parquet files in a hand-off folder both sides
can reach (on a cluster: shared storage), never through the driver's Python memory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import TimestampNTZType, TimestampType

from orchestration.lib import sql


def _folder(handoff: Path, table: str) -> Path:
    return handoff / table.replace(".", "/")


def to_duckdb(
    spark: SparkSession, con: duckdb.DuckDBPyConnection, tables: list[str], handoff: Path
) -> dict[str, int]:
    """Copy Spark tables (`schema.table`) into the DuckDB file under the same names; rows per
    table."""
    rows = {}
    for table in tables:
        folder = _folder(handoff, table)
        shutil.rmtree(folder, ignore_errors=True)
        frame = spark.table(table)
        # Spark's session timestamps are instants; DuckDB's tables hold naive UTC timestamps
        frame = frame.select(
            *(
                F.col(field.name).cast("timestamp_ntz").alias(field.name)
                if isinstance(field.dataType, TimestampType)
                else F.col(field.name)
                for field in frame.schema.fields
            )
        )
        frame.write.mode("overwrite").parquet(str(folder))
        schema = table.split(".")[0]
        con.execute(f"create schema if not exists {schema}")
        con.execute(
            f"create or replace table {table} as select * from read_parquet("
            f"{sql.literal(str(folder / '*.parquet'))})"
        )
        rows[table] = con.execute(f"select count(*) from {table}").fetchall()[0][0]
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def to_spark(
    con: duckdb.DuckDBPyConnection, spark: SparkSession, tables: list[str], handoff: Path
) -> dict[str, int]:
    """Copy DuckDB tables into Spark tables (Parquet) of the same names; rows per table."""
    rows = {}
    for table in tables:
        folder = _folder(handoff, table)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        con.execute(f"copy {table} to {sql.literal(str(folder / 'data.parquet'))} (format parquet)")
        schema = table.split(".")[0]
        spark.sql(f"create database if not exists {schema}")
        spark.sql(f"drop table if exists {table}")
        # DuckDB's naive UTC timestamps become Spark's `timestamp`, as in the lake's tables
        written = spark.read.parquet(str(folder))
        columns = ", ".join(
            f"cast(`{field.name}` as timestamp) as `{field.name}`"
            if isinstance(field.dataType, TimestampNTZType)
            else f"`{field.name}`"
            for field in written.schema.fields
        )
        spark.sql(f"create table {table} using parquet as select {columns} from parquet.`{folder}`")
        rows[table] = spark.table(table).count()
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def session(remote: str, lake: Path) -> SparkSession:
    from orchestration.lib.spark.session import connect, prepare

    return prepare(connect(remote), lake)
