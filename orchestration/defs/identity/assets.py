"""Identity resolution as an asset: the id map and its links, between the dbt identity models."""

import dagster as dg
import duckdb

from orchestration.lib import progress, run_state
from orchestration.lib.identity.duckdb_udfs import register
from orchestration.lib.identity.evaluate import evaluate, evaluate_golden, golden_shortfalls
from orchestration.lib.identity.locale import Locale
from orchestration.lib.identity.resolve import SCHEMA, ResolverConfig, ids_unaccounted, resolve
from orchestration.lib.owners import owners
from orchestration.lib.publish import attach_read_only
from orchestration.lib.sql import connect
from orchestration.resources import (
    EngineResource,
    LocaleResource,
    RunModeResource,
    WarehouseResource,
)

XREF = dg.AssetKey([SCHEMA, "customer_xref"])
GOLDEN = dg.AssetKey([SCHEMA, "int_identity__golden_records"])
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
    # the accuracy check warns below these (only when the landing zone has an answer key)
    min_precision: float = 0.99
    min_f1: float = 0.85


class GoldenAccuracyConfig(dg.Config):
    # the golden-record check warns below these (evaluate.golden_shortfalls)
    min_identifier_accuracy: float = 0.95
    max_name_gap: float = 0.05


@dg.multi_asset(
    name="identity_resolution",
    specs=[
        dg.AssetSpec(
            XREF,
            group_name="identity",
            owners=owners("identity"),
            deps=INPUTS,
            kinds={"duckdb", "splink", "python"},
            tags={"layer": "identity", "pii": ""},
            description="One row per resolved source record → stable customer id (the id map). "
            "Also writes customer_ids, customer_id_events, oversized_clusters, resolution_runs.",
        ),
        dg.AssetSpec(
            LINKS,
            group_name="identity",
            owners=owners("identity"),
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
            "probabilistic_model_trained",
            asset=XREF,
            description="The Splink model was built from the columns the profiles hold and "
            "trained (prior, u, and m by at least one EM session); the steps skipped and why. "
            "When it could not be trained, only deterministic links were made.",
        ),
        dg.AssetCheckSpec(
            "accuracy_against_answer_key",
            asset=XREF,
            description="Pairwise precision, recall and F1 over every identity-bearing record "
            "against the generator's answer key, when the landing zone has one (`_truth/`).",
        ),
    ],
)
def identity_resolution(
    context: dg.AssetExecutionContext,
    config: IdentityConfig,
    warehouse: WarehouseResource,
    locale: LocaleResource,
    run_mode: RunModeResource,
    engine: EngineResource,
):
    resolver = ResolverConfig(
        match_probability=config.match_probability,
        max_profiles_per_customer=config.max_profiles_per_customer,
        national_ids_prove=locale.locale.national_ids_prove,
    )
    run_state.start_build(warehouse.lake, context.run.run_id, reads_lake=False)
    con = connect(str(warehouse.warehouse))
    try:
        register(con)
        # on Spark: the id map and the links copied to Spark for the models that read them
        with engine.on_the_driver(
            con, warehouse, writes=[".".join(key.path) for key in (XREF, LINKS)]
        ):
            result = resolve(
                con,
                run_id=context.run.run_id,
                config=resolver,
                progress=lambda step: context.log.info(f"identity resolution: {step} done"),
                full_refresh=run_mode.rebuilds(warehouse),
                retrain=run_mode.retrain,
                links=engine.candidate_links(warehouse),
            )
        scope = result.scope
        resolved = (
            f"all {scope['records']:,} records ({scope['why']})"
            if scope["full"]
            else f"{scope['records']:,} records around {scope['seeds']:,} changed"
            + (f", {scope['removed']:,} removed" if scope["removed"] else "")
        )
        progress.report(
            f"identity: resolved {resolved}; {result.resolved_records:,} records → "
            f"{result.customers:,} customers; ids created {result.ids_created:,}, merged "
            f"{result.ids_merged:,}, split {result.ids_split:,} ({result.seconds['total']:.1f}s)"
        )
        training = result.training
        skipped = [
            f"{step} ({why.removeprefix('skipped: ')})"
            for step, why in training.get("steps", {}).items()
            if why != "done"
        ]
        if not training.get("trained"):
            progress.report(
                "identity: probabilistic model not trained "
                f"({training.get('reason') or 'no reason given'}); deterministic links only"
            )
        elif training.get("trained_because"):
            progress.report(
                f"identity: model trained ({training['trained_because']}) on "
                f"{', '.join(training.get('columns', []))}"
                + (f"; skipped: {'; '.join(skipped)}" if skipped else "")
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
                "scope": dg.MetadataValue.json(result.scope),
                "training": dg.MetadataValue.json(result.training),
            },
        )
        yield dg.MaterializeResult(
            asset_key=LINKS,
            metadata={
                "accepted_by_rule": dg.MetadataValue.json(result.accepted_by_rule),
                "refused_by_reason": dg.MetadataValue.json(result.refused_by_reason),
            },
        )
        yield _training_check(result.training)
        yield from _checks(con, config, warehouse, result.largest_customer_profiles, locale.locale)
    finally:
        con.close()


def _training_check(training: dict) -> dg.AssetCheckResult:
    steps = training.get("steps", {})
    skipped = [
        f"{step}: {why.removeprefix('skipped: ')}" for step, why in steps.items() if why != "done"
    ]
    trained = bool(training.get("trained"))
    return dg.AssetCheckResult(
        asset_key=XREF,
        check_name="probabilistic_model_trained",
        passed=trained,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"trained on {', '.join(training.get('columns', [])) or 'names only'}"
            + (f"; skipped: {'; '.join(skipped)}" if skipped else "")
            if trained
            else f"not trained ({training.get('reason')}): only deterministic links were made"
            + (f"; {'; '.join(skipped)}" if skipped else "")
        ),
        metadata={
            "training": dg.MetadataValue.json(training),
            "observed": "trained" if trained else "not trained",
            "threshold": "trained",
        },
    )


def _checks(
    con: duckdb.DuckDBPyConnection,
    config: IdentityConfig,
    warehouse: WarehouseResource,
    largest: int,
    locale: Locale,
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
    unaccounted, wrongly_merged = ids_unaccounted(con)
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
    # the golden records are built after the id map: golden_record_accuracy scores them
    figures = evaluate(con, truth, locale=locale, keep_normalised=True, golden=False)
    progress.report(
        f"identity accuracy: precision {figures.precision:.4f}, recall {figures.recall:.4f} "
        f"(all true pairs; {figures.reference_share:.4f} reachable by exact keys), "
        f"F1 {figures.f1:.4f}"
    )
    passed = figures.precision >= config.min_precision and figures.f1 >= config.min_f1
    yield dg.AssetCheckResult(
        asset_key=XREF,
        check_name="accuracy_against_answer_key",
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"precision {figures.precision:.4f}, recall {figures.recall:.4f} over all "
        f"{figures.true_pairs:,} true pairs, F1 {figures.f1:.4f}"
        + ("" if passed else f" (below precision {config.min_precision} or F1 {config.min_f1})"),
        metadata={
            "measured": True,
            **{k: v for k, v in figures.as_dict().items() if isinstance(v, int | float)},
            "missed_by_cause": dg.MetadataValue.json(figures.missed_by_cause),
            "observed": f"precision {figures.precision:.4f}, F1 {figures.f1:.4f}",
            "threshold": f"precision >= {config.min_precision}, F1 >= {config.min_f1}",
        },
    )


@dg.asset_check(
    asset=GOLDEN,
    name="golden_record_accuracy",
    description="Each golden attribute against the customer's majority person in the generator's "
    "answer key, when the landing zone has one (`_truth/`): run after the golden records are "
    "built, so it scores this run's.",
)
def golden_record_accuracy(
    config: GoldenAccuracyConfig, warehouse: WarehouseResource, locale: LocaleResource
) -> dg.AssetCheckResult:
    truth = warehouse.landing / "_truth"
    if not (truth / "records.parquet").is_file():
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"not measured: no answer key in {truth}",
            metadata={"measured": False},
        )
    con = connect()
    try:
        attach_read_only(con, warehouse.warehouse, "wh", timeout_s=120.0)
        con.execute("use wh")
        register(con)
        accuracy, compared, name_available, _ = evaluate_golden(
            con, truth, locale=locale.locale, keep_normalised=True
        )
    finally:
        con.close()
    low = golden_shortfalls(
        accuracy, name_available, config.min_identifier_accuracy, config.max_name_gap
    )
    shares = ", ".join(f"{attribute} {share:.4f}" for attribute, share in accuracy.items())
    progress.report(f"golden records against the answer key: {shares or 'nothing compared'}")
    return dg.AssetCheckResult(
        passed=not low,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"share of customers whose golden value is their true one: {shares}"
        + (f" (low: {'; '.join(low)})" if low else ""),
        metadata={
            "measured": True,
            **{f"golden_{attribute}": share for attribute, share in accuracy.items()},
            "golden_compared": dg.MetadataValue.json(compared),
            **({"name_available": name_available} if name_available is not None else {}),
            "observed": shares,
            "threshold": f"identifiers >= {config.min_identifier_accuracy}, name within "
            f"{config.max_name_gap} of what the records hold",
        },
    )
