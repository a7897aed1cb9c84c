"""The Spark engine's plain parts, without Spark: the setting, the lake's table definitions,
the dbt wrapper's arguments, the server's reachability check (docs/spark.md)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from orchestration import settings
from orchestration.lib.contracts import raw_tables
from orchestration.lib.spark import dbt_cli, server
from orchestration.lib.spark.session import lake_tables


def test_the_engine_is_duckdb_unless_set(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OMNI360_ENGINE", raising=False)
    assert settings.engine() == "duckdb"
    monkeypatch.setenv("OMNI360_ENGINE", " Spark ")
    assert settings.engine() == "spark"
    monkeypatch.setenv("OMNI360_ENGINE", "snowflake")
    with pytest.raises(ValueError, match="duckdb, spark"):
        settings.engine()


def test_every_raw_table_is_declared_with_the_contracts_columns(tmp_path: Path):
    tables = lake_tables(tmp_path / "lake")
    for table in raw_tables():
        ddl = tables[f"{table.source}.{table.name}"]
        for column in table.column_names:
            assert f"`{column}` " in ddl
        assert f"location '{tmp_path}/lake/raw/{table.source}/{table.name}'" in ddl
    # the lake's naive UTC timestamps read as Spark's timestamp, as the contracts declare
    assert "`_loaded_at` timestamp," in tables["crm.members"]
    assert "TIMESTAMP_NTZ" not in "".join(tables.values()).upper()
    assert {"ingest.quarantine", "ingest.load_audit", "ingest.loaded_files"} <= set(tables)


def test_a_lake_path_with_a_quote_stays_one_literal(tmp_path: Path):
    ddl = lake_tables(tmp_path / "o'lake")["crm.members"]
    assert "o\\'lake" in ddl


def test_the_dbt_wrapper_reads_its_target_and_vars():
    argv = [
        "build",
        "--vars",
        '{"lake_dir": "/l", "spark_remote": "sc://h:1"}',
        "--target",
        "spark",
    ]
    assert dbt_cli._option(argv, "--target") == "spark"
    assert dbt_cli._var(argv, "spark_remote") == "sc://h:1"
    assert dbt_cli._var(argv, "warehouse_path") is None
    assert dbt_cli._option(["build", "--target"], "--target") is None


def test_a_remote_is_reachable_only_while_something_listens():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert server.reachable(f"sc://localhost:{port}")
    assert not server.reachable(f"sc://127.0.0.1:{port}")


def test_nothing_runs_from_a_folder_spark_was_never_started_in(tmp_path: Path):
    assert server.running(tmp_path) is None
    assert server.stop(tmp_path) == []
