"""Identity resolution as an asset: the id map and its links, between the dbt identity models."""

import dagster as dg
import duckdb

from orchestration.lib import progress
from orchestration.lib.identity.duckdb_udfs import register
from orchestration.lib.identity.evaluate import evaluate
from orchestration.lib.identity.resolve import SCHEMA, ResolverConfig, resolve
from orchestration.resources import WarehouseResource

XREF = dg.AssetKey([SCHEMA, "customer_xref"])
LINKS = dg.AssetKey([SCHEMA, "identity_links"])
INPUTS = [
    dg.AssetKey([SCHEMA, name])
    for name in (
        "int_identity__source_records",
        "int_identity__identifiers",
        "int_identity__excluded_identifiers",
        "identity_force_links",
        "identity_never_links",
    )
]


class IdentityConfig(dg.Config):
    match_probability: float = ResolverConfig.match_probability
    max_profiles_per_customer: int = ResolverConfig.max_profiles_per_customer
    # the accuracy check fails below these (only when the landing zone has an answer key)
    min_precision: float = 0.99
    min_reachable_recall: float = 0.98


@dg.multi_asset(
    name="identity_resolution",
    specs=[
        dg.AssetSpec(
            XREF,
            group_name="identity",
            deps=INPUTS,
            kinds={"duckdb", "splink", "python"},
            tags={"layer": "identity", "pii": ""},
            description="One row per resolved source record → stable customer id (the id map). "
            "Also writes customer_ids, customer_id_events, oversized_clusters, resolution_runs.",
        ),
        dg.AssetSpec(
            LINKS,
            group_name="identity",
            deps=INPUTS,
            kinds={"duckdb", "python"},
            tags={"layer": "identity"},
            description="Every candidate link: rule or Splink match weight and levels, and whether "
            "it was accepted, redundant or refused (with the guard that refused it).",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "customer_size_within_limit",
            asset=XREF,
            blocking=True,
            description="No customer holds more profile records than max_profiles_per_customer.",
        ),
        dg.AssetCheckSpec(
            "ids_accounted",
            asset=XREF,
            blocking=True,
            description="Every id ever minted is either in use or recorded as merged; "
            "no id in use is recorded as merged.",
        ),
        dg.AssetCheckSpec(
            "accuracy_against_answer_key",
            asset=XREF,
            description="Pairwise precision and reachable recall against the generator's answer "
            "key, when the landing zone has one (`_truth/`).",
        ),
    ],
)
def identity_resolution(
    context: dg.AssetExecutionContext, config: IdentityConfig, warehouse: WarehouseResource
):
    resolver = ResolverConfig(
        match_probability=config.match_probability,
        max_profiles_per_customer=config.max_profiles_per_customer,
    )
    con = duckdb.connect(str(warehouse.warehouse))
    try:
        register(con)
        result = resolve(
            con,
            run_id=context.run.run_id,
            config=resolver,
            progress=lambda step: context.log.info(f"identity resolution: {step} done"),
        )
        progress.report(
            f"identity: {result.resolved_records:,} records → {result.customers:,} customers; "
            f"ids created {result.ids_created:,}, merged {result.ids_merged:,}, "
            f"split {result.ids_split:,} ({result.seconds['total']:.1f}s)"
        )
        for key in result.unknown_override_keys:
            context.log.warning(f"override names an unknown record: {key}")
        yield dg.MaterializeResult(
            asset_key=XREF,
            metadata={
                "records": result.records,
                "resolved_records": result.resolved_records,
                "customers": result.customers,
                "ids_created": result.ids_created,
                "ids_merged": result.ids_merged,
                "ids_split": result.ids_split,
                "largest_customer_profiles": result.largest_customer_profiles,
                "largest_customer_records": result.largest_customer_records,
                "seconds": dg.MetadataValue.json(result.seconds),
            },
        )
        yield dg.MaterializeResult(
            asset_key=LINKS,
            metadata={
                "accepted_by_rule": dg.MetadataValue.json(result.accepted_by_rule),
                "refused_by_reason": dg.MetadataValue.json(result.refused_by_reason),
            },
        )
        yield from _checks(con, config, warehouse, result.largest_customer_profiles)
    finally:
        con.close()


def _checks(
    con: duckdb.DuckDBPyConnection,
    config: IdentityConfig,
    warehouse: WarehouseResource,
    largest: int,
):
    yield dg.AssetCheckResult(
        asset_key=XREF,
        check_name="customer_size_within_limit",
        passed=largest <= config.max_profiles_per_customer,
        metadata={
            "largest_customer_profiles": largest,
            "limit": config.max_profiles_per_customer,
            # observed/threshold: the figures the quality history keeps (audit.check_results)
            "observed": largest,
            "threshold": config.max_profiles_per_customer,
        },
    )
    unaccounted, wrongly_merged = con.sql(
        f"""
        select
            count(*) filter (where status = 'active' and customer_id not in (
                select customer_id from {SCHEMA}.customer_xref)),
            count(*) filter (where status = 'merged' and customer_id in (
                select customer_id from {SCHEMA}.customer_xref))
        from {SCHEMA}.customer_ids
        """
    ).fetchall()[0]
    yield dg.AssetCheckResult(
        asset_key=XREF,
        check_name="ids_accounted",
        passed=unaccounted == 0 and wrongly_merged == 0,
        metadata={
            "active_ids_without_records": unaccounted,
            "merged_ids_in_use": wrongly_merged,
            "observed": unaccounted + wrongly_merged,
            "threshold": 0,
        },
    )
    truth = warehouse.landing / "_truth"
    if not (truth / "records.parquet").is_file():
        yield dg.AssetCheckResult(
            asset_key=XREF,
            check_name="accuracy_against_answer_key",
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"not measured: no answer key in {truth}",
            metadata={"measured": False},
        )
        return
    figures = evaluate(con, truth)
    progress.report(
        f"identity accuracy: precision {figures.precision:.4f}, recall {figures.recall:.4f}, "
        f"reachable recall {figures.reachable_recall:.4f}"
    )
    yield dg.AssetCheckResult(
        asset_key=XREF,
        check_name="accuracy_against_answer_key",
        passed=figures.precision >= config.min_precision
        and figures.reachable_recall >= config.min_reachable_recall,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "measured": True,
            **figures.as_dict(),
            "observed": f"precision {figures.precision:.4f}, "
            f"reachable recall {figures.reachable_recall:.4f}",
            "threshold": f"precision >= {config.min_precision}, "
            f"reachable recall >= {config.min_reachable_recall}",
        },
    )
