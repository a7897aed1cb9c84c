"""Deliberately malformed records: each breaks exactly one rule of the contract."""

from __future__ import annotations

import csv
import io
import json
from typing import NamedTuple

import numpy as np

from orchestration.lib.contracts import Entity

RULES = (
    "invalid_type",
    "out_of_range",
    "invalid_json",
    "column_count",
    "unknown_reference",
    "invalid_utf8",
)
BAD_TIMESTAMPS = ("2026-02-30T25:61:00+08:00", "31/02/2026", "2026-13-45 10:00", "yesterday 10:00")


class Malformed(NamedTuple):
    line: bytes
    rule: str
    column: str  # "" when the problem is the whole line
    detail: str


def rules_for(entity: Entity) -> tuple[str, ...]:
    """The rules a record of this entity can be made to break."""
    if entity.key == "pos.stores":
        return ()  # master data that other records reference: kept clean
    rules: list[str] = []
    if _required_timestamp(entity) is not None:
        rules.append("invalid_type")
    if entity.key in ("pos.transaction_lines", "ecommerce.orders"):
        rules.append("out_of_range")
    if entity.format == "jsonl":
        rules.append("invalid_json")
    else:
        rules.append("column_count")
    if entity.key == "pos.transactions":
        rules.append("unknown_reference")
    if entity.key in ("crm.members", "ecommerce.customers"):
        rules.append("invalid_utf8")
    return tuple(rules)


def _required_timestamp(entity: Entity) -> str | None:
    return next((c.name for c in entity.columns if c.required and c.type == "timestamp"), None)


def _csv_fields(line: str) -> list[str]:
    return next(csv.reader([line]))


def _csv_line(fields: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()[:-1]


def _json_line(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def malformed_line(entity: Entity, line: str, rule: str, rng: np.random.Generator) -> Malformed:
    """Break `line` (a valid rendered record) by exactly `rule`."""
    names = entity.column_names
    if rule == "invalid_type":
        column = _required_timestamp(entity)
        assert column is not None
        bad = BAD_TIMESTAMPS[int(rng.integers(len(BAD_TIMESTAMPS)))]
        if entity.format == "csv":
            fields = _csv_fields(line)
            fields[names.index(column)] = bad
            new = _csv_line(fields)
        else:
            obj = json.loads(line)
            obj[column] = bad
            new = _json_line(obj)
        return Malformed(new.encode(), rule, column, f"{column} {bad!r} is not a timestamp")
    if rule == "out_of_range":
        if entity.format == "csv":
            fields = _csv_fields(line)
            pos = names.index("quantity")
            fields[pos] = f"-{fields[pos]}"
            return Malformed(
                _csv_line(fields).encode(), rule, "quantity", f"negative quantity {fields[pos]}"
            )
        obj = json.loads(line)
        item = obj["lines"][int(rng.integers(len(obj["lines"])))]
        item["quantity"] = -item["quantity"]
        return Malformed(
            _json_line(obj).encode(),
            rule,
            "lines.quantity",
            f"line item {item['line_no']} has negative quantity {item['quantity']}",
        )
    if rule == "invalid_json":
        cut = max(2, int(len(line) * rng.uniform(0.3, 0.8)))
        return Malformed(line[:cut].encode(), rule, "", f"JSON line cut after {cut} characters")
    if rule == "column_count":
        fields = _csv_fields(line)
        # one field too many or one too few
        fields = [*fields, fields[-1]] if rng.random() < 0.5 else fields[:-1]
        return Malformed(
            _csv_line(fields).encode(),
            rule,
            "",
            f"{len(fields)} fields where the header has {len(names)}",
        )
    if rule == "unknown_reference":
        fields = _csv_fields(line)
        store = f"S9{int(rng.integers(100, 1000))}"
        fields[names.index("store_id")] = store
        return Malformed(
            _csv_line(fields).encode(), rule, "store_id", f"store_id {store} is not in pos.stores"
        )
    if rule == "invalid_utf8":
        return _invalid_utf8(entity, line)
    raise ValueError(f"unknown rule {rule}")


def _invalid_utf8(entity: Entity, line: str) -> Malformed:
    # the name as an old Windows export writes it: GBK for Chinese, cp1252 for Latin names
    fields = _csv_fields(line)
    pos = entity.column_names.index("name")
    name = fields[pos]
    marker = "\x00"
    fields[pos] = marker
    text = _csv_line(fields)
    if any(ord(c) > 127 for c in name):
        encoded, how = name.encode("gbk", errors="replace"), "GBK"
    else:
        encoded, how = (name + "é").encode("cp1252"), "cp1252"
    try:
        encoded.decode("utf-8")
        encoded += b"\xff"
    except UnicodeDecodeError:
        pass
    head, tail = text.split(marker)
    return Malformed(
        head.encode() + encoded + tail.encode(),
        "invalid_utf8",
        "",
        f"name written in {how}, not UTF-8",
    )
