"""The omni360_* SQL functions (`sql_functions.py`) on a DuckDB connection, for dbt models and
the resolver. dbt's connections get them from the dbt-duckdb plugin in `dbt_plugin.py`
(`profiles.yml`), which this module does not import, so ingestion and the resolver never load
dbt.
"""

from __future__ import annotations

import contextlib

import duckdb

from orchestration.lib.identity.sql_functions import FUNCTIONS


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Create the omni360_* functions on a connection (idempotent)."""
    for name, (fn, arity) in FUNCTIONS.items():
        with contextlib.suppress(duckdb.InvalidInputException):
            con.remove_function(name)
        con.create_function(
            name,
            fn,
            ["VARCHAR"] * arity,
            "VARCHAR",
            type="arrow",
            null_handling="special",
            side_effects=False,
        )
