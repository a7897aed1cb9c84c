"""The omni360_* SQL functions (phone, name, national-ID and postcode normalisation, keyed
tokens) as vectorised functions of Arrow arrays, whichever engine calls them: DuckDB registers
them in `duckdb_udfs.py`, Spark in `orchestration/lib/spark/session.py`, under the same names.
Every argument and every result is a string."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from orchestration.lib.identity import normalise
from orchestration.lib.memory import lru_cache
from orchestration.lib.privacy.tokens import token

# Names, phones and IDs repeat across records (a person in several systems, a household, common
# names): each distinct value is normalised once per batch, and remembered across batches
CACHE_SIZE = 1 << 20


def _on_distinct(
    fn: Callable[[str | None], str | None], values: pa.Array | pa.ChunkedArray
) -> pa.Array:
    """`fn` of each value, called once per distinct value."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = values.dictionary_encode()
    results = [fn(value) for value in encoded.dictionary.to_pylist()]
    return pa.array(results, type=pa.string()).take(encoded.indices)


def _vectorised(fn: Callable[[str | None], str | None]) -> Callable[[pa.Array], pa.Array]:
    cached = lru_cache(maxsize=CACHE_SIZE)(fn)

    def apply(values: pa.Array) -> pa.Array:
        return _on_distinct(cached, values)

    return apply


def _with_setting(
    fn: Callable[[str | None, str], str | None], default: str
) -> Callable[[pa.Array, pa.Array], pa.Array]:
    """A function of (value, setting) such as a phone and its region, vectorised."""
    cached = lru_cache(maxsize=CACHE_SIZE)(fn)

    def apply(values: pa.Array, settings: pa.Array) -> pa.Array:
        distinct_settings = pc.unique(settings).to_pylist()
        if len(distinct_settings) == 1:  # one region for the whole batch: the usual case
            setting = distinct_settings[0] or default
            return _on_distinct(lambda value: cached(value, setting), values)
        return pa.array(
            [
                cached(value, setting or default)
                for value, setting in zip(values.to_pylist(), settings.to_pylist(), strict=True)
            ],
            type=pa.string(),
        )

    return apply


def _token(kinds: pa.Array, values: pa.Array) -> pa.Array:
    return keyed_token(None, kinds, values)


def keyed_token(key: bytes | None, kinds: pa.Array, values: pa.Array) -> pa.Array:
    """omni360_token with the secret given (a Spark worker does not share the environment)."""
    return pa.array(
        [
            token(kind, value, key)
            for kind, value in zip(kinds.to_pylist(), values.to_pylist(), strict=True)
        ],
        type=pa.string(),
    )


FUNCTIONS: dict[str, tuple[Callable[..., pa.Array], int]] = {
    "omni360_phone_e164": (_with_setting(normalise.phone_e164, "CN"), 2),
    "omni360_person_name": (_vectorised(normalise.person_name), 1),
    "omni360_standard_name": (_vectorised(normalise.standard_name), 1),
    "omni360_name_key": (_vectorised(normalise.name_key), 1),
    "omni360_surname_key": (_vectorised(normalise.surname_key), 1),
    "omni360_given_key": (_vectorised(normalise.given_key), 1),
    "omni360_national_id": (_with_setting(normalise.national_id, "cn_ric"), 2),
    "omni360_postcode": (_with_setting(normalise.postcode, "CN"), 2),
    "omni360_token": (_token, 2),
}


def call(name: str, *arrays: pa.Array) -> pa.Array:
    """The function `name` of its argument arrays (how a Spark worker, which imports this
    module, finds it)."""
    return FUNCTIONS[name][0](*arrays)
