"""Great Expectations suites (expectations/) as asset checks: one check `ge_<rule>` per rule.

One op per checked asset runs the suites of that asset, so each op waits only for its own asset
(and what a suite additionally reads) and no op sits between two layers. Critical rules are
blocking checks: a failure stops everything downstream of the asset in the run, the publication
of the marts included (publish/marts_snapshot also refuses marts whose latest blocking check
failed). Warnings never block. The scrubbed results of each suite become a static page of the run,
`<reports>/<run id>/checks/<suite>.html`, listed in `<reports>/<run id>/checks/index.html`; the
metadata of every check result links its suite's page (`page`).
"""

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from expectations import all_suites
from expectations.ingest_landing_scan import PARAMETERS
from orchestration.lib import progress
from orchestration.lib.contracts import raw_tables
from orchestration.lib.ingest.lake import Lake
from orchestration.lib.quality.expectations import (
    CRITICAL,
    WITHHELD,
    ExpectationResult,
    Suite,
    SuiteResult,
    run_suite,
    threshold_text,
)
from orchestration.lib.quality.pages import CheckPages
from orchestration.resources import EngineResource, RunModeResource, WarehouseResource

PREFIX = "ge_"
MAX_DESCRIPTION = 2000


class DeliveryThresholds(dg.Config):
    """Thresholds of the freshness and volume checks (expectations/ingest_landing_scan.py)."""

    max_lag_days: float = PARAMETERS["max_lag_days"]
    max_age_days: float = PARAMETERS["max_age_days"]
    volume_window: float = PARAMETERS["volume_window"]
    volume_min_history: float = PARAMETERS["volume_min_history"]
    volume_min_ratio: float = PARAMETERS["volume_min_ratio"]
    volume_max_ratio: float = PARAMETERS["volume_max_ratio"]


def check_key(suite: Suite, rule_name: str) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(dg.AssetKey(list(suite.asset)), PREFIX + rule_name)


def build_asset_checks(suites: Sequence[Suite]) -> list[dg.AssetChecksDefinition]:
    by_asset: dict[tuple[str, ...], list[Suite]] = defaultdict(list)
    for suite in suites:
        by_asset[suite.asset].append(suite)
    return [_asset_checks(asset, by_asset[asset]) for asset in sorted(by_asset)]


def _asset_checks(asset: tuple[str, ...], suites: list[Suite]) -> dg.AssetChecksDefinition:
    key = dg.AssetKey(list(asset))
    specs = []
    for suite in suites:
        deps = [dg.AssetKey(list(dep)) for dep in suite.reads if tuple(dep) != asset]
        for rule in suite.rules:
            kwargs = rule.expectation.configuration.kwargs
            specs.append(
                dg.AssetCheckSpec(
                    PREFIX + rule.name,
                    asset=key,
                    blocking=rule.severity == CRITICAL,
                    additional_deps=deps or None,
                    description=f"{threshold_text(rule.expectation.expectation_type, kwargs)}"
                    f" ({rule.severity}): {rule.why} GE suite `{suite.name}`.",
                    metadata={"suite": suite.name, "severity": rule.severity},
                )
            )
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"{key.to_user_string()}: rule names repeat across its suites: {names}")
    name = PREFIX + "__".join(asset)
    description = "Great Expectations: " + "; ".join(s.description for s in suites)

    if any(suite.parameters for suite in suites):

        @dg.multi_asset_check(
            name=name, specs=specs, can_subset=True, description=description, compute_kind="ge"
        )
        def _configured(
            context: dg.AssetCheckExecutionContext,
            config: DeliveryThresholds,
            warehouse: WarehouseResource,
            run_mode: RunModeResource,
            engine: EngineResource,
        ):
            yield from _run(context, warehouse, run_mode, engine, suites, config.model_dump())

        return _configured

    @dg.multi_asset_check(
        name=name, specs=specs, can_subset=True, description=description, compute_kind="ge"
    )
    def _checks(
        context: dg.AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        run_mode: RunModeResource,
        engine: EngineResource,
    ):
        yield from _run(context, warehouse, run_mode, engine, suites, {})

    return _checks


def _run(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    run_mode: RunModeResource,
    engine: EngineResource,
    suites: Sequence[Suite],
    parameters: Mapping[str, float],
) -> Iterator[dg.AssetCheckResult]:
    selected = set(context.selected_asset_check_keys)
    wanted = [s for s in suites if any(check_key(s, r.name) in selected for r in s.rules)]
    run_id = context.run.run_id
    # raw rows are checked once, in the run that loads them (the raw layer is append-only), and
    # so are the rows of incremental models that a load changed; a run that loaded none into the
    # table (into any, for a model), or that rebuilds everything, checks the whole table
    lake = Lake(warehouse.lake)
    whole = run_mode.rebuilds(warehouse)
    raw = {(table.source, table.name): table for table in raw_tables()}

    def load_suffix(suite: Suite) -> str | None:
        if not suite.per_load or whole:
            return None
        read = [raw[suite.asset]] if suite.asset in raw else raw.values()
        loaded = any(lake.rows_loaded_by_run(table, run_id) for table in read)
        return run_id[:8] if loaded else None

    # on Spark the suites' queries run there, and GE validates the Spark dataframes
    spark = engine.session(warehouse)
    results = [
        run_suite(
            suite,
            lake=warehouse.lake,
            warehouse=warehouse.warehouse,
            parameters={k: v for k, v in parameters.items() if k in suite.parameters},
            load_suffix=load_suffix(suite),
            spark=spark,
        )
        for suite in wanted
    ]
    try:
        pages = CheckPages(warehouse.reports / run_id / "checks", run_id).add(results)
    except Exception as error:  # the checks stand without their HTML pages
        context.log.warning(f"GE check pages not written: {type(error).__name__}: {error}")
        pages = {}
    for result in results:
        failed = [r.name for r in result.results if not r.passed]
        message = (
            f"GE {result.suite.name}: {result.rows:,} "
            f"{'new rows' if result.new_rows_only else 'rows'}, "
            f"{len(result.results) - len(failed)}/{len(result.results)} passed "
            f"({result.read_seconds + result.validate_seconds:.1f}s)"
        )
        context.log.info(message + (f"; failed: {', '.join(failed)}" if failed else ""))
        progress.report(message)
        for item in result.results:
            if check_key(result.suite, item.name) not in selected:
                continue
            yield dg.AssetCheckResult(
                asset_key=dg.AssetKey(list(result.suite.asset)),
                check_name=PREFIX + item.name,
                passed=item.passed,
                severity=(
                    dg.AssetCheckSeverity.ERROR
                    if item.severity == CRITICAL
                    else dg.AssetCheckSeverity.WARN
                ),
                description=item.description[:MAX_DESCRIPTION],
                metadata=check_metadata(item, result, pages.get(result.suite.name)),
            )


def check_metadata(
    item: ExpectationResult, result: SuiteResult, page: Path | None
) -> dict[str, Any]:
    """What the quality history and the auditor's report read: observed, threshold, severity."""
    metadata: dict[str, Any] = {
        "observed": item.observed,
        "threshold": item.threshold,
        "severity": item.severity,
        "suite": result.suite.name,
        "expectation": item.expectation,
        "columns": ", ".join(item.columns),
        "pii": item.pii,
        "seconds": round(result.read_seconds + result.validate_seconds, 3),
        "read_on": result.read_on,
        "validated_on": result.validated_on,
    }
    if item.rows is not None:
        metadata["rows"] = item.rows
    if result.suite.per_load:
        metadata["rows_checked"] = "loaded by this run" if result.new_rows_only else "every row"
    if item.unexpected_count is not None:
        metadata["unexpected_count"] = item.unexpected_count
        metadata["unexpected_percent"] = item.unexpected_percent
    if item.samples:
        metadata["unexpected_samples"] = dg.MetadataValue.json(list(item.samples))
    elif item.pii and item.unexpected_count:
        metadata["unexpected_samples"] = WITHHELD
    if item.error:
        metadata["error"] = item.error[:500]
    if page is not None:
        metadata["page"] = dg.MetadataValue.path(str(page))
    return metadata


SUITES = all_suites()
ge_checks = build_asset_checks(SUITES)

defs = dg.Definitions(asset_checks=ge_checks)
