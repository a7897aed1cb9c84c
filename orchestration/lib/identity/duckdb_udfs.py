"""Normalisation and token functions as DuckDB SQL functions, for dbt models and the resolver.

dbt-duckdb loads `Plugin` from `profiles.yml` (`plugins:`), so every dbt connection has them;
`register(con)` does the same for a plain connection. SQL names are prefixed `omni360_`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import duckdb
import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin

from orchestration.lib.identity import normalise
from orchestration.lib.privacy.tokens import token


def _vectorised(fn: Callable[[str | None], str | None]) -> Callable[[pa.Array], pa.Array]:
    def apply(values: pa.Array) -> pa.Array:
        return pa.array([fn(value) for value in values.to_pylist()], type=pa.string())

    return apply


def _phone(values: pa.Array, regions: pa.Array) -> pa.Array:
    region_list = regions.to_pylist()
    return pa.array(
        [
            normalise.phone_e164(value, region or "CN")
            for value, region in zip(values.to_pylist(), region_list, strict=True)
        ],
        type=pa.string(),
    )


def _token(kinds: pa.Array, values: pa.Array) -> pa.Array:
    return pa.array(
        [
            token(kind, value)
            for kind, value in zip(kinds.to_pylist(), values.to_pylist(), strict=True)
        ],
        type=pa.string(),
    )


_FUNCTIONS: dict[str, tuple[Callable[..., pa.Array], list[str]]] = {
    "omni360_phone_e164": (_phone, ["VARCHAR", "VARCHAR"]),
    "omni360_person_name": (_vectorised(normalise.person_name), ["VARCHAR"]),
    "omni360_name_key": (_vectorised(normalise.name_key), ["VARCHAR"]),
    "omni360_national_id": (_vectorised(normalise.national_id), ["VARCHAR"]),
    "omni360_token": (_token, ["VARCHAR", "VARCHAR"]),
}


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Create the omni360_* functions on a connection (idempotent)."""
    for name, (fn, params) in _FUNCTIONS.items():
        with contextlib.suppress(duckdb.InvalidInputException):
            con.remove_function(name)
        con.create_function(
            name,
            fn,
            params,
            "VARCHAR",
            type="arrow",
            null_handling="special",
            side_effects=False,
        )


class Plugin(BasePlugin):
    """dbt-duckdb plugin: `plugins: [{module: orchestration.lib.identity.duckdb_udfs}]`."""

    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        register(conn)
