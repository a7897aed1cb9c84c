"""Render a batch of records to CSV or JSON lines, vectorised with pyarrow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.lib.contracts import Entity
from orchestration.lib.generator.text import cat


@dataclass
class Batch:
    """Records of one entity, every contract column as text (null = empty / left out)."""

    entity: Entity
    columns: dict[str, pa.Array]
    record_id: pa.Array
    person: np.ndarray  # person index per record, -1 when the record has no person
    seconds: np.ndarray  # event / update time that decides the delivery
    # rows whose key is sent more than once on purpose (new versions): never made malformed
    resent: np.ndarray | None = None
    delivery: np.ndarray | None = None  # delivery index, when fixed by a parent record
    raw_json: dict[str, pa.Array] = field(default_factory=dict)  # jsonl: pre-rendered fields
    # jsonl: pre-rendered fields built only for the rows being written (bounds memory)
    raw_json_for: Callable[[np.ndarray], dict[str, pa.Array]] | None = None

    def __len__(self) -> int:
        return len(self.record_id)


def _csv_field(values: pa.Array) -> pa.Array:
    # RFC 4180: quote only fields holding a comma, a quote or a line break
    needs = pc.fill_null(pc.match_substring_regex(values, '[",\r\n]'), False)
    if not pc.any(needs).as_py():
        return values
    quoted = cat('"', pc.replace_substring(values, '"', '""'), '"')
    return pc.if_else(needs, quoted, values)


def csv_header(entity: Entity) -> bytes:
    return (",".join(entity.column_names) + "\n").encode("utf-8")


def csv_lines(batch: Batch) -> pa.Array:
    fields = [_csv_field(batch.columns[c]) for c in batch.entity.column_names]
    return pc.binary_join_element_wise(*fields, ",", null_handling="replace", null_replacement="")


def json_string(values: pa.Array) -> pa.Array:
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    return cat('"', escaped, '"')


def json_objects(
    entity: Entity, columns: dict[str, pa.Array], raw: dict[str, pa.Array] | None = None
) -> pa.Array:
    """One compact JSON object per row; null fields are left out."""
    parts = []
    for col in entity.columns:
        if col.name not in columns:
            continue
        values = columns[col.name]
        value = values if col.type == "integer" else json_string(values)
        parts.append(cat(f'"{col.name}":', value))
    for name, values in (raw or {}).items():
        parts.append(cat(f'"{name}":', values))
    body = pc.binary_join_element_wise(*parts, ",", null_handling="skip")
    return cat("{", body, "}")


def json_arrays(objects: pa.Array, offsets: np.ndarray) -> pa.Array:
    """Group consecutive objects into JSON arrays: row i holds objects[offsets[i]:offsets[i+1]]."""
    lists = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), objects)
    return cat("[", pc.binary_join(lists, ","), "]")


def jsonl_lines(batch: Batch) -> pa.Array:
    return json_objects(batch.entity, batch.columns, batch.raw_json)


def lines_of(batch: Batch) -> pa.Array:
    return csv_lines(batch) if batch.entity.format == "csv" else jsonl_lines(batch)
