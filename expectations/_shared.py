"""Shared by the suites: rule constructors and the raw-layer suite built from the contract."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import Expectation

from orchestration.lib.contracts import Entity, raw_table
from orchestration.lib.quality.expectations import (
    CRITICAL,
    WARNING,
    Rule,
    Suite,
    full_match,
    raw_relation,
)
from orchestration.lib.sql import identifier


def critical(name: str, expectation: Expectation, why: str, observe: Sequence[str] = ()) -> Rule:
    """A rule whose failure makes the data wrong: a blocking check (ERROR)."""
    return Rule(name, expectation, CRITICAL, why, tuple(observe))


def warning(name: str, expectation: Expectation, why: str, observe: Sequence[str] = ()) -> Rule:
    """A rule whose failure needs a look but does not stop anything (WARN)."""
    return Rule(name, expectation, WARNING, why, tuple(observe))


# One record never blocks everyone: a rule on values of single rows blocks only when more than
# this share of rows breaks it (a systemic fault, such as a wrong formula); every breaking row is
# a warning of its own.
SYSTEMIC_SHARE = 0.01


def per_row(
    name: str, expectation: Callable[..., Expectation], why: str, **kwargs
) -> tuple[Rule, Rule]:
    """A blocking rule for a systemic fault (more than SYSTEMIC_SHARE of rows) and a warning
    named `<name>_every_row` for any row; `expectation(**kwargs, mostly=…)` builds each."""
    return (
        critical(
            name,
            expectation(**kwargs, mostly=1 - SYSTEMIC_SHARE),
            f"{why} Blocks when more than {SYSTEMIC_SHARE:.0%} of rows break it (a systemic "
            "fault); fewer are a warning.",
        ),
        warning(f"{name}_every_row", expectation(**kwargs), f"{why} (rows to look at)"),
    )


def raw_suites(
    source: str,
    name: str,
    *,
    columns: Sequence[str] = (),
    derived: Sequence[str] = (),
    joins: str = "",
    rules: Sequence[Rule] = (),
) -> tuple[Suite, Suite]:
    """The raw table against its contract, plus table-specific `rules`; and its deliveries.

    Contract rules (critical; ingestion quarantines rows that break them, so a failure means the
    raw layer holds rows it should not): required columns not null, enum values, patterns, ranges,
    references. `columns` adds raw columns the extra rules read, `derived` adds SQL expressions
    (`<expr> as <name>`) over `raw` and the `joins`. The second suite (a one-row frame) warns when
    a key comes twice with different content in one delivery file; exact duplicate lines are
    allowed by the contract.
    """
    table = raw_table(source, name)
    ruled = [
        c.name
        for c in table.columns
        if c.required
        or c.enum
        or c.pattern
        or c.references
        or c.min_value is not None
        or c.max_value is not None
    ]
    selected = [
        f"raw.{identifier(c)}" for c in dict.fromkeys([*table.primary_key, *ruled, *columns])
    ]
    ref_joins = []
    for i, column in enumerate(c for c in table.columns if c.references):
        ref_source, ref_entity, ref_column = column.references.split(".")  # type: ignore[union-attr]
        alias = f"ref_{i}"
        ref_joins.append(
            f"left join (select distinct {identifier(ref_column)} as value "
            f"from {raw_relation(ref_source, ref_entity)}) as {alias} "
            f"on raw.{identifier(column.name)} = {alias}.value"
        )
        selected.append(f"{alias}.value as {column.name}_found")
    query = f"""
        select {", ".join([*selected, *derived])}
        from {raw_relation(table.source, table.name)} as raw
        {" ".join(ref_joins)}
        {joins}
        where {{loads}}
    """
    pii = {c.name for c in table.columns if c.pii}
    rows = Suite(
        name=f"raw_{source}_{name}",
        asset=(source, name),
        description=f"Raw {source}.{name} (Parquet lake) against its contract. {table.description}",
        rules=(*_contract_rules(table), *rules),
        query=query,
        pii=frozenset(pii | {f"{c.name}_found" for c in table.columns if c.references and c.pii}),
        reads_warehouse=False,
        per_load=True,
    )
    return rows, _deliveries_suite(table)


def _contract_rules(table: Entity) -> list[Rule]:
    rules: list[Rule] = []
    for column in table.columns:
        c = column.name
        if column.required:
            rules.append(
                critical(
                    f"{c}_not_null",
                    gxe.ExpectColumnValuesToNotBeNull(column=c),
                    f"{c} is required by the contract; ingestion should have quarantined the row.",
                )
            )
        if column.enum:
            rules.append(
                critical(
                    f"{c}_in_contract_values",
                    gxe.ExpectColumnValuesToBeInSet(column=c, value_set=list(column.enum)),
                    f"{c} takes only the contract's values.",
                )
            )
        if column.pattern:
            rules.append(
                critical(
                    f"{c}_matches_contract_pattern",
                    gxe.ExpectColumnValuesToMatchRegex(column=c, regex=full_match(column.pattern)),
                    f"{c} has the contract's format.",
                )
            )
        if column.min_value is not None or column.max_value is not None:
            rules.append(
                critical(
                    f"{c}_in_contract_range",
                    gxe.ExpectColumnValuesToBeBetween(
                        column=c, min_value=column.min_value, max_value=column.max_value
                    ),
                    f"{c} is within the contract's range.",
                )
            )
        if column.references:
            target = column.references.rsplit(".", 1)[0].replace(".", "_")
            rules.append(
                critical(
                    f"{c}_exists_in_{target}",
                    gxe.ExpectColumnPairValuesToBeEqual(column_A=c, column_B=f"{c}_found"),
                    f"every {c} exists in {column.references} (the contract's reference).",
                )
            )
    rules.append(
        warning(
            "rows_delivered",
            gxe.ExpectTableRowCountToBeBetween(min_value=1),
            "the table is empty: its source delivered nothing, or nothing valid.",
        )
    )
    return rules


def _deliveries_suite(table: Entity) -> Suite:
    key = list(table.primary_key)
    # a versioned entity (re-sent whenever it changes) may change twice between deliveries
    if "updated_at" in table.column_names:
        key.append("updated_at")
    columns = ", ".join(identifier(c) for c in key)
    content = ", ".join(identifier(c) for c in table.column_names)
    return Suite(
        name=f"raw_{table.source}_{table.name}_deliveries",
        asset=(table.source, table.name),
        description=f"Keys ({', '.join(key)}) of raw {table.source}.{table.name} per delivery "
        "file: one version each.",
        # min = max over the content hashes: one version (cheaper than a distinct count)
        query=f"""
            select
                count(*) filter (where first_version <> last_version) as keys_with_two_versions,
                count(*) as keys_per_file
            from (
                select {columns}, _source_file, min(hash({content})) as first_version,
                    max(hash({content})) as last_version
                from {raw_relation(table.source, table.name)}
                where {{loads}}
                group by all
            )
        """,
        rules=(
            warning(
                "one_version_per_delivery",
                gxe.ExpectColumnValuesToBeBetween(column="keys_with_two_versions", max_value=0),
                f"a key ({', '.join(key)}) came twice with different content in one delivery "
                "file; staging keeps the later line.",
                observe=("keys_with_two_versions", "keys_per_file"),
            ),
        ),
        reads_warehouse=False,
        per_load=True,
    )


def line_item_suites(source: str, name: str) -> tuple[Suite, Suite]:
    """A raw table of order or receipt lines: the contract, plus discounts within the line value
    (both channels' lines have the same shape)."""
    return raw_suites(
        source,
        name,
        derived=("cast(raw.quantity * raw.unit_price as double) as line_value",),
        rules=(
            warning(
                "discount_within_line_value",
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="line_value",
                    column_B="discount",
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",
                ),
                "a line's discount exceeds quantity × unit price: its net amount would be "
                "negative.",
            ),
        ),
    )
