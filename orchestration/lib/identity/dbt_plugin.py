"""The dbt-duckdb plugin that gives every dbt connection the omni360_* SQL functions
(`profiles.yml`: `plugins: [{module: orchestration.lib.identity.dbt_plugin}]`)."""

from __future__ import annotations

import duckdb
from dbt.adapters.duckdb.plugins import BasePlugin

from orchestration.lib.identity.duckdb_udfs import register


class Plugin(BasePlugin):
    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        register(conn)
