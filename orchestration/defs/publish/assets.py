"""The marts published for BI: a read-only DuckDB snapshot swapped in atomically, plus Parquet.

Downstream of every mart, so a failed blocking check on a mart (a dbt test of severity error, or
a Python check) stops the publication in the same run; the previous snapshot stays published.
"""

from collections.abc import Sequence

import dagster as dg

from orchestration.defs.quality.checks import ge_checks
from orchestration.defs.quality.pii_scan import pii_scan
from orchestration.defs.transform import assets as transform
from orchestration.lib import progress
from orchestration.lib.owners import owners
from orchestration.lib.publish import (
    PUBLISHED_SCHEMAS,
    publish_snapshot,
    read_manifest,
    verify_snapshot,
)
from orchestration.resources import WarehouseResource

SNAPSHOT = dg.AssetKey(["publish", "marts_snapshot"])


def blocking_checks_on(
    marts: Sequence[dg.AssetKey],
    definitions: Sequence[dg.AssetsDefinition | dg.AssetChecksDefinition],
) -> list[dg.AssetCheckKey]:
    """The blocking checks that `definitions` define on the marts."""
    return sorted(
        {
            spec.key
            for definition in definitions
            for spec in definition.check_specs
            if spec.blocking and spec.asset_key in set(marts)
        },
        key=lambda key: key.to_user_string(),
    )


def failed_blocking_checks(
    context: dg.AssetExecutionContext,
    marts: Sequence[dg.AssetKey],
    known: Sequence[dg.AssetCheckKey],
) -> list[str]:
    """Blocking checks on the marts whose latest evaluation failed.

    Within one run Dagster already skips this asset after such a failure; this also refuses a run
    that selects only the publication while the warehouse holds marts that failed a check. A run
    of a subset does not see checks outside it, hence the `known` ones.
    """
    graph = context.job_def.asset_layer.asset_graph
    in_job = {
        key
        for key in graph.get_check_keys_for_assets(set(marts))
        if graph.get_check_spec(key).blocking
    }
    latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(
        sorted(set(known) | in_job, key=lambda key: key.to_user_string())
    )
    failed = []
    for key, record in latest.items():
        # a check that was planned but never ran (its run failed first) has no evaluation
        event = record.event.dagster_event if record.event else None
        evaluation = event.event_specific_data if event else None
        if (
            isinstance(evaluation, dg.AssetCheckEvaluation)
            and not evaluation.passed
            and evaluation.severity == dg.AssetCheckSeverity.ERROR
        ):
            failed.append(key.to_user_string())
    return sorted(failed)


def build_publish_asset(
    marts: Sequence[dg.AssetKey], blocking_checks: Sequence[dg.AssetCheckKey] = ()
) -> dg.AssetsDefinition:
    @dg.asset(
        key=SNAPSHOT,
        group_name="publish",
        owners=owners("publish"),
        deps=list(marts),
        kinds={"duckdb", "parquet", "python"},
        tags={"layer": "publish"},
        description="A consistent read-only copy of every table of the marts schema for BI tools "
        "and notebooks: `<published>/omni360_marts.duckdb` (swapped in atomically) and "
        "`<published>/parquet/current/<schema>/<table>.parquet`. See docs/bi.md.",
        check_specs=[
            dg.AssetCheckSpec(
                "snapshot_matches_warehouse",
                asset=SNAPSHOT,
                blocking=True,
                description="The published file, reopened read-only, holds this run's "
                "snapshot, and every table's row count, checksum and columns match its "
                "manifest, which the publication compared with the warehouse before the swap.",
            )
        ],
    )
    def marts_snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        failed = failed_blocking_checks(context, marts, blocking_checks)
        if failed:
            raise dg.Failure(
                description=f"not published: blocking checks on the marts failed ({len(failed)}); "
                "fix the marts and run them with their checks again. The previous snapshot "
                "stays published.",
                metadata={"failed_checks": dg.MetadataValue.json(failed)},
            )
        result = publish_snapshot(
            warehouse.warehouse,
            warehouse.published,
            run_id=context.run.run_id,
            schemas=PUBLISHED_SCHEMAS,
        )
        tables = result.manifest.tables
        progress.report(
            f"published {len(tables)} tables, {sum(t.rows for t in tables):,} rows "
            f"→ {result.path} ({result.file_bytes / 1e6:.1f} MB, {result.seconds:.1f}s)"
        )
        yield dg.MaterializeResult(
            asset_key=SNAPSHOT,
            metadata={
                "path": dg.MetadataValue.path(str(result.path)),
                "parquet_dir": dg.MetadataValue.path(str(result.parquet_dir)),
                "tables": len(tables),
                "rows_by_table": dg.MetadataValue.json({t.qualified: t.rows for t in tables}),
                "file_bytes": result.file_bytes,
                "seconds": result.seconds,
                "parquet_versions_removed": len(result.removed_versions),
            },
        )
        # the copy was compared with the warehouse, table by table, before the swap: reading
        # the warehouse again (its views computed again) cost 2.4 s at 1M persons
        problems = verify_snapshot(result.path, schemas=PUBLISHED_SCHEMAS)
        published = read_manifest(result.path).run_id
        if published != context.run.run_id:
            problems.append(f"the published snapshot is from run {published}")
        yield dg.AssetCheckResult(
            asset_key=SNAPSHOT,
            check_name="snapshot_matches_warehouse",
            passed=not problems,
            metadata={
                "tables_compared": len(tables),
                "problems": dg.MetadataValue.json(problems[:20]),
            },
        )

    return marts_snapshot


# every blocking check on the marts: dbt tests of severity error, GE critical rules, the PII scan
marts_snapshot = build_publish_asset(
    transform.MARTS,
    blocking_checks_on(transform.MARTS, [transform.omni360_dbt_models, *ge_checks, pii_scan]),
)
