"""Vectorised text building with pyarrow: ids, times, money, concatenation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EPOCH = dt.datetime(1970, 1, 1)
DAY = 86_400


def seconds_of(day: dt.date) -> int:
    """Local (+08:00) midnight of a date as seconds since 1970-01-01 local."""
    return int((dt.datetime(day.year, day.month, day.day) - EPOCH).total_seconds())


def as_text(values: np.ndarray | pa.Array | list) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == pa.string() else pc.cast(values, pa.string())
    return pa.array(values, type=pa.string(), from_pandas=True)


def cat(*parts: pa.Array | np.ndarray | str) -> pa.Array:
    """Element-wise concatenation; a null part makes the result null."""
    arrays = [p if isinstance(p, str) else as_text(p) for p in parts]
    return pc.binary_join_element_wise(*arrays, "")


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """`prefix` + zero-padded number: ids("M", [12], 7) -> "M0000012"."""
    digits = pc.utf8_lpad(
        pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width, "0"
    )
    return cat(prefix, digits)


def timestamps(seconds: np.ndarray) -> pa.Array:
    """ISO 8601 with the +08:00 offset from local seconds since 1970."""
    ts = pa.array(np.asarray(seconds, dtype=np.int64), type=pa.timestamp("s"))
    return cat(pc.strftime(ts, format="%Y-%m-%dT%H:%M:%S"), "+08:00")


def dates(days: np.ndarray) -> pa.Array:
    """YYYY-MM-DD from local days since 1970."""
    return pc.strftime(
        pa.array(np.asarray(days, dtype=np.int32), type=pa.date32()), format="%Y-%m-%d"
    )


def money(cents: np.ndarray) -> pa.Array:
    """Amounts as `129.00` from integer cents (non-negative)."""
    cents = np.asarray(cents, dtype=np.int64)
    whole = pc.cast(pa.array(cents // 100), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0")
    return cat(whole, ".", frac)


def integers(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def with_nulls(values: pa.Array, null_mask: np.ndarray) -> pa.Array:
    """The values with the masked positions set to null."""
    if not null_mask.any():
        return values
    return pc.if_else(pa.array(null_mask), pa.nulls(len(values), pa.string()), values)


def take(values: np.ndarray | pa.Array, index: np.ndarray) -> pa.Array:
    if isinstance(values, np.ndarray):
        return as_text(values[index])
    return values.take(pa.array(index))


def random_ids(rng: np.random.Generator, prefix: str, n: int, length: int = 16) -> pa.Array:
    """Random base-62 ids (openid/unionid style), unique within the call."""
    alphabet = np.frombuffer(
        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8
    )
    while True:
        codes = np.ascontiguousarray(alphabet[rng.integers(0, 62, size=(n, length))])
        fixed = codes.view(f"S{length}").ravel()
        if len(np.unique(fixed)) == n:
            return cat(prefix, pc.cast(pa.array(fixed, type=pa.binary()), pa.string()))
