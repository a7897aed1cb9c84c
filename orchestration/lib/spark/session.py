"""A Spark session for omni360, reached through Spark Connect (`settings.spark_remote()`).

Every session gets what the dbt models expect of their engine: the lake's raw Parquet as
external tables named like the dbt sources (`<source>.<table>`, `ingest.*`), and the omni360_*
normalisation functions as Arrow UDFs under the same names as on DuckDB. The UDFs run in the
cluster's Python workers, which must have omni360 installed (the scripts' local cluster uses this
environment's interpreter).
"""

from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path

import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql.functions import ArrowUDFType, arrow_udf
from pyspark.sql.pandas.types import from_arrow_schema

from orchestration.lib.contracts import raw_tables
from orchestration.lib.identity.sql_functions import FUNCTIONS, call, keyed_token
from orchestration.lib.ingest.lake import QUARANTINE_COLUMNS, raw_schema
from orchestration.lib.privacy.tokens import secret


def connect(remote: str) -> SparkSession:
    """The Spark Connect session at `remote` (sc://host:port), with the lake's tables and the
    omni360_* functions registered by `prepare`."""
    return SparkSession.builder.remote(remote).getOrCreate()


def register_functions(spark: SparkSession) -> None:
    """The omni360_* functions in this session (each call runs in the workers)."""
    for name in FUNCTIONS:
        # the token secret travels with the function: workers do not share this environment
        fn = partial(keyed_token, secret()) if name == "omni360_token" else partial(call, name)
        with warnings.catch_warnings():
            # a partial has no type hints to infer the UDF's kind from: it is given instead
            warnings.filterwarnings("ignore", "It is preferred to specify type hints")
            udf = arrow_udf(fn, "string", ArrowUDFType.SCALAR)
        spark.udf.register(name, udf)


_ARROW = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "TIMESTAMP": pa.timestamp("us")}


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _columns(schema: pa.Schema) -> str:
    """An Arrow schema as Spark column definitions. The lake's naive UTC timestamps are read as
    Spark's `timestamp` (an instant; the server's session time zone is UTC), the type the
    models' contracts declare."""
    fields = from_arrow_schema(schema, prefer_timestamp_ntz=False).fields
    return ", ".join(f"`{field.name}` {field.dataType.simpleString()}" for field in fields)


def lake_tables(lake: Path) -> dict[str, str]:
    """`<schema>.<table>` → the Spark DDL of each lake table the dbt sources name. The columns
    are declared (the contract's), so a table exists before its first delivery."""
    tables: dict[str, str] = {}
    for table in raw_tables():
        where = _sql_string(str(lake / "raw" / table.source / table.name))
        tables[f"{table.source}.{table.name}"] = (
            f"({_columns(raw_schema(table))}) using parquet location {where}"
        )
    quarantine = pa.schema([(name, _ARROW[kind]) for name, kind, _ in QUARANTINE_COLUMNS])
    tables["ingest.quarantine"] = (
        f"({_columns(quarantine)}) using parquet options (recursiveFileLookup 'true') "
        f"location {_sql_string(str(lake / 'quarantine'))}"
    )
    ops = lake / "_ops"
    tables["ingest.load_audit"] = (
        "(load_id string, audited_at string, source string, entity string, "
        "source_file string, status string, rows_read bigint, rows_loaded bigint, "
        "rows_quarantined bigint, child_rows_loaded bigint, rows_suppressed bigint, "
        "rule string, message string, duplicate_of string) "
        "using json options (recursiveFileLookup 'true') "
        f"location {_sql_string(str(ops / 'audit'))}"
    )
    tables["ingest.loaded_files"] = (
        "(file_id string, source_file string, source string, entity string, delivery_date date, "
        "status string, load_id string, loaded_at timestamp, rows_read bigint, "
        "rows_loaded bigint, rows_quarantined bigint, rows_suppressed bigint, "
        "rows_erased bigint, withdrawn_at timestamp) "
        # one indented JSON document per file
        "using json options (recursiveFileLookup 'true', multiLine 'true', "
        "timestampFormat 'yyyy-MM-dd HH:mm:ss[.SSSSSS]') "
        f"location {_sql_string(str(ops / 'manifest'))}"
    )
    return tables


def register_lake(spark: SparkSession, lake: Path) -> None:
    """The lake's tables as external tables over its files, listed afresh (new deliveries)."""
    for name, ddl in lake_tables(lake).items():
        schema = name.split(".")[0]
        spark.sql(f"create database if not exists {schema}")
        # external: dropping the definition never touches the lake's files
        spark.sql(f"drop table if exists {name}")
        spark.sql(f"create table {name} {ddl}")


def refresh_raw_tables(spark: SparkSession, lake: Path) -> SparkSession:
    """The lake's raw tables with their files listed afresh, dropped and created only when
    missing or declared otherwise (columns, types, location: the metastore outlives runs): a
    step that only reads them (the checks) leaves the tables in place for the steps beside it."""
    ddl = lake_tables(lake)
    for table in raw_tables():
        name = f"{table.source}.{table.name}"
        if _declared(spark, name, raw_schema(table), lake / "raw" / table.source / table.name):
            spark.sql(f"refresh table {name}")
            continue
        spark.sql(f"create database if not exists {table.source}")
        spark.sql(f"drop table if exists {name}")
        spark.sql(f"create table {name} {ddl[name]}")
    return spark


def _declared(spark: SparkSession, name: str, schema: pa.Schema, location: Path) -> bool:
    """Whether the table `name` exists with the columns, types and location declared."""
    if not spark.catalog.tableExists(name):
        return False
    declared = from_arrow_schema(schema, prefer_timestamp_ntz=False).fields
    found = spark.table(name).schema.fields
    if [(f.name, f.dataType) for f in found] != [(f.name, f.dataType) for f in declared]:
        return False
    details = {row[0]: row[1] for row in spark.sql(f"describe table extended {name}").collect()}
    where = str(details.get("Location") or "").removeprefix("file:")
    return Path(where) == location


def prepare(spark: SparkSession, lake: Path) -> SparkSession:
    register_functions(spark)
    register_lake(spark, lake)
    return spark


def to_arrow(spark: SparkSession, table: str) -> pa.Table:
    """A whole table at the driver, as Arrow."""
    return spark.table(table).toArrow()
