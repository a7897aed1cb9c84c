"""Row-count reconciliation raw → staging: every staging model of a source table keeps exactly one
row per distinct key of the raw table (its latest delivery). One suite per staging model."""

import great_expectations.expectations as gxe

from expectations._shared import critical
from orchestration.lib.contracts import Entity, raw_tables
from orchestration.lib.quality.expectations import Suite, raw_relation


def _suite(table: Entity, relation: str) -> Suite:
    source, name, model = table.source, table.name, table.staging_model
    columns = ", ".join(table.primary_key)
    return Suite(
        name=f"staging_{source}__{name}_reconciliation",
        asset=("staging", model),
        description=f"staging.{model} has one row per distinct key ({columns}) of raw "
        f"{source}.{name}.",
        query=f"""
            select
                (select count(*) from (select distinct {columns} from {relation})) as raw_keys,
                (select count(*) from staging.{model}) as staging_rows
        """,
        rules=(
            critical(
                "rows_match_raw_keys",
                gxe.ExpectColumnPairValuesToBeEqual(column_A="staging_rows", column_B="raw_keys"),
                "staging lost or duplicated records of the raw layer: the deduplication on the "
                "key is broken.",
                observe=("staging_rows", "raw_keys"),
            ),
        ),
    )


SUITES = tuple(_suite(table, raw_relation(table.source, table.name)) for table in raw_tables())
