"""Normalisation and token functions as DuckDB SQL functions, for dbt models and the resolver.

`register(con)` creates them on a connection; SQL names are prefixed `omni360_`. dbt's
connections get them from the dbt-duckdb plugin in `dbt_plugin.py` (`profiles.yml`), which this
module does not import, so ingestion and the resolver never load dbt.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import duckdb
import pyarrow as pa

from orchestration.lib.identity import normalise
from orchestration.lib.privacy.tokens import token


def _vectorised(fn: Callable[[str | None], str | None]) -> Callable[[pa.Array], pa.Array]:
    def apply(values: pa.Array) -> pa.Array:
        return pa.array([fn(value) for value in values.to_pylist()], type=pa.string())

    return apply


def _with_setting(
    fn: Callable[[str | None, str], str | None], default: str
) -> Callable[[pa.Array, pa.Array], pa.Array]:
    """A function of (value, setting) such as a phone and its region, vectorised."""

    def apply(values: pa.Array, settings: pa.Array) -> pa.Array:
        return pa.array(
            [
                fn(value, setting or default)
                for value, setting in zip(values.to_pylist(), settings.to_pylist(), strict=True)
            ],
            type=pa.string(),
        )

    return apply


def _token(kinds: pa.Array, values: pa.Array) -> pa.Array:
    return pa.array(
        [
            token(kind, value)
            for kind, value in zip(kinds.to_pylist(), values.to_pylist(), strict=True)
        ],
        type=pa.string(),
    )


_FUNCTIONS: dict[str, tuple[Callable[..., pa.Array], list[str]]] = {
    "omni360_phone_e164": (_with_setting(normalise.phone_e164, "CN"), ["VARCHAR", "VARCHAR"]),
    "omni360_person_name": (_vectorised(normalise.person_name), ["VARCHAR"]),
    "omni360_standard_name": (_vectorised(normalise.standard_name), ["VARCHAR"]),
    "omni360_name_key": (_vectorised(normalise.name_key), ["VARCHAR"]),
    "omni360_surname_key": (_vectorised(normalise.surname_key), ["VARCHAR"]),
    "omni360_given_key": (_vectorised(normalise.given_key), ["VARCHAR"]),
    "omni360_national_id": (
        _with_setting(normalise.national_id, "cn_ric"),
        ["VARCHAR", "VARCHAR"],
    ),
    "omni360_postcode": (_with_setting(normalise.postcode, "CN"), ["VARCHAR", "VARCHAR"]),
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
