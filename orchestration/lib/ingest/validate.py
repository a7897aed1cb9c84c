"""SQL, generated from the contract, that types each field and finds the first broken rule.

Rules are checked per record in this order: parse errors (bytes, size, fields, JSON), a field over
the size limit, then per column in contract order: required, type, accepted values, pattern,
range (dates and times: a plausible window around the file's delivery date), reference; for
nested entities the line items last. The first broken rule quarantines the record. An optional
column whose contract says `on_invalid="null"` is nulled instead and named in `_warnings`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from orchestration.lib.contracts import Column, Entity
from orchestration.lib.sql import identifier, literal

TIMESTAMP_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z")
ISO_FORMATS = (*TIMESTAMP_FORMATS, "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S.%f%z")
TYPE_HINTS = {
    "integer": "a whole number",
    "decimal": "a decimal number such as 129.00",
    "date": "a date YYYY-MM-DD",
    "timestamp": "an ISO 8601 time with offset such as 2026-03-14T10:05:31+08:00 or Z",
    "boolean": "true or false",
    "string": "text",
}


@dataclass(frozen=True)
class FileRules:
    """What the rules of one landing file depend on beyond the contract."""

    delivery_date: dt.date  # dates and times may not lie far after it
    max_field_bytes: int  # a longer field quarantines its record (`field_too_long`)


def ref_table_name(reference: str) -> str:
    return "ref__" + reference.replace(".", "__")


def typed_expr(col: Column, value: str) -> str:
    match col.type:
        case "string":
            return value
        case "integer":
            return f"try_cast({value} as bigint)"
        case "decimal":
            return f"try_cast({value} as decimal(12,2))"
        case "date":
            return f"try_strptime({value}, '%Y-%m-%d')::date"
        case "timestamp":
            # the usual format first: coalesce only tries the next one where the first failed;
            # then fractional seconds and `Z` for UTC (ISO 8601 allows both)
            zulu = f"regexp_replace({value}, '[Zz]$', '+00:00')"
            tries = [f"try_strptime({value}, {literal(fmt)})" for fmt in TIMESTAMP_FORMATS] + [
                f"try_strptime({zulu}, {literal(fmt)})" for fmt in ISO_FORMATS
            ]
            return f"timezone('UTC', coalesce({', '.join(tries)}))"
        case "boolean":
            return f"try_cast({value} as boolean)"
    raise ValueError(f"unknown type {col.type}")


def _shown(value: str) -> str:
    # the offending value in a reason, cut so one bad field cannot flood the quarantine table
    return f"'''' || left({value}, 60) || ''''"


def _latest(col: Column, rules: FileRules) -> str:
    days = col.latest_after_delivery or 0
    if col.type == "date":
        return f"date '{rules.delivery_date + dt.timedelta(days=days)}'"
    # times are stored in UTC: up to the end of the last allowed day
    return f"timestamp '{rules.delivery_date + dt.timedelta(days=days + 1)} 00:00:00'"


def column_checks(
    col: Column, value: str, typed: str, rules: FileRules
) -> list[tuple[str, str, str]]:
    """(condition, rule, reason expression) for each rule the column declares."""
    name = col.name
    checks: list[tuple[str, str, str]] = []
    if col.required:
        checks.append(
            (f"{value} is null", "required_missing", literal(f"{name} is required but empty"))
        )
    if col.type != "string":
        checks.append(
            (
                f"{value} is not null and {typed} is null",
                "invalid_type",
                f"{literal(name + ' ')} || {_shown(value)} || "
                + literal(" is not " + TYPE_HINTS[col.type]),
            )
        )
    if col.enum:
        allowed = ", ".join(literal(v) for v in col.enum)
        checks.append(
            (
                f"{typed} is not null and {typed} not in ({allowed})",
                "not_in_enum",
                f"{literal(name + ' ')} || {_shown(value)} || "
                f"{literal(' is not one of ' + ', '.join(col.enum))}",
            )
        )
    if col.pattern:
        checks.append(
            (
                f"{value} is not null and not regexp_full_match({value}, {literal(col.pattern)})",
                "pattern_mismatch",
                f"{literal(name + ' ')} || {_shown(value)} || "
                + literal(" does not match " + col.pattern),
            )
        )
    bounds = [(">=", col.min_value, "<"), ("<=", col.max_value, ">")]
    for word, bound, op in bounds:
        if bound is not None:
            checks.append(
                (
                    f"{typed} is not null and {typed} {op} {bound:g}",
                    "out_of_range",
                    f"{literal(name + ' ')} || {typed}::varchar || "
                    f"{literal(f' is out of range (must be {word} {bound:g})')}",
                )
            )
    if col.is_temporal:
        earliest = f"{col.type} {literal(col.earliest or '')}"
        latest = _latest(col, rules)
        after = f"the delivery date {rules.delivery_date} + {col.latest_after_delivery} d"
        checks.append(
            (
                f"{typed} is not null and ({typed} < {earliest} or {typed} >= {latest})"
                if col.type == "timestamp"
                else f"{typed} is not null and ({typed} < {earliest} or {typed} > {latest})",
                "out_of_range",
                f"{literal(name + ' ')} || {typed}::varchar || "
                f"{literal(f' is not plausible (must lie from {col.earliest} to {after})')}",
            )
        )
    if col.references:
        ref = ref_table_name(col.references)
        checks.append(
            (
                f"{typed} is not null and {typed} not in (select value from {ref})",
                "unknown_reference",
                f"{literal(name + ' ')} || {_shown(value)} || "
                f"{literal(' is not a known ' + col.references)}",
            )
        )
    return checks


def _problem(rule: str, column: str | None, reason: str) -> str:
    col = literal(column) if column else "null::varchar"
    return f"{{'rule': {literal(rule)}, 'column': {col}, 'reason': {reason}}}"


def value_exprs(entity: Entity) -> dict[str, str]:
    """How each column's text is read: CSV fields as they are, JSON fields by name."""
    if entity.format == "csv":
        return {c.name: f"nullif({identifier(c.name)}, '')" for c in entity.columns}
    # JSON fields come from `_fields`, extracted in one pass (see json_fields_expr)
    return {c.name: f"nullif(_fields[{i}], '')" for i, c in enumerate(entity.columns, start=1)}


def json_fields_expr(entity: Entity, document: str) -> str:
    """All of an entity's fields of a JSON document as a list of text, parsing it once."""
    paths = ", ".join(literal("$." + c.name) for c in entity.columns)
    return f"json_extract_string({document}, [{paths}])"


def checked_sql(
    entity: Entity,
    source_relation: str,
    values: dict[str, str],
    rules: FileRules,
    extra_problem: str | None = None,
) -> str:
    """Select every input row with `_problem` (struct or null), `_warnings` and typed columns."""
    typed_cols = []
    problem_branches = [
        "when _parse_error is not null then {'rule': _parse_error, 'column': _parse_column, "
        "'reason': _parse_detail}"
    ]
    # a field over the limit is refused before any rule reads it (and it is never typed)
    for col in entity.columns:
        problem_branches.append(
            f"when strlen(__v_{col.name}) > {rules.max_field_bytes} then "
            + _problem(
                "field_too_long",
                col.name,
                f"{literal(col.name + ' has ')} || strlen(__v_{col.name}) || "
                + literal(
                    f" bytes; the limit is {rules.max_field_bytes:,} (OMNI360_MAX_FIELD_BYTES)"
                ),
            )
        )
    warnings = []  # always text, also where no column can warn (one type in every lake file)
    for col in entity.columns:
        value = f"__v_{col.name}"
        typed = f"__t_{col.name}"
        typed_cols.append(f"{values[col.name]} as {value}")
        typed_cols.append(f"{typed_expr(col, values[col.name])} as {typed}")
        for cond, rule, reason in column_checks(col, value, typed, rules):
            if col.required or col.on_invalid == "quarantine" or rule == "required_missing":
                problem_branches.append(f"when {cond} then {_problem(rule, col.name, reason)}")
            else:
                warnings.append(f"case when {cond} then {literal(col.name + ': ')} || {reason} end")
    if extra_problem:
        problem_branches.append(f"when {extra_problem} is not null then {extra_problem}")
    warning_sql = (
        f"nullif(concat_ws('; ', {', '.join(warnings)}), '')" if warnings else "null::varchar"
    )
    return f"""
        with typed as (
            select *, {", ".join(typed_cols)}
            from {source_relation}
        )
        select
            *,
            case {" ".join(problem_branches)} end as _problem,
            {warning_sql} as _warnings
        from typed
    """


def output_columns(entity: Entity, rules: FileRules) -> list[str]:
    """Typed contract columns of a valid row; a nulled optional field is null."""
    cols = []
    for col in entity.columns:
        typed = f"__t_{col.name}"
        if not col.required and col.on_invalid == "null":
            bad = " or ".join(
                cond
                for cond, rule, _ in column_checks(col, f"__v_{col.name}", typed, rules)
                if rule != "required_missing"
            )
            expr = f"case when {bad} then null else {typed} end" if bad else typed
        else:
            expr = typed
        cols.append(f"({expr})::{col.duckdb_type} as {identifier(col.name)}")
    return cols


def record_key_expr(entity: Entity) -> str:
    parts = [f"coalesce(__v_{c}, '')" for c in entity.primary_key]
    return parts[0] if len(parts) == 1 else f"concat_ws(':', {', '.join(parts)})"
