"""The dbt project as Dagster assets; dbt tests run as asset checks."""

import json
import sys
import time
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from orchestration.lib import progress, run_state
from orchestration.lib.dbt_state import keep_partial_parse
from orchestration.lib.dbt_translator import Omni360DbtTranslator, model_keys
from orchestration.lib.publish import PUBLISHED_SCHEMAS
from orchestration.resources import (
    EngineResource,
    LocaleResource,
    RunModeResource,
    WarehouseResource,
)
from orchestration.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()
# the published marts: the publication waits for them, the PII scan checks each
MARTS = model_keys(dbt_project, PUBLISHED_SCHEMAS)
PROGRESS_SECONDS = 10


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=Omni360DbtTranslator(),
)
def omni360_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    locale: LocaleResource,
    run_mode: RunModeResource,
    engine: EngineResource,
):
    models, tests = len(context.selected_asset_keys), len(context.selected_asset_check_keys)
    progress.report(f"dbt build: {models} models and seeds, {tests} tests")
    # until this run succeeds, the warehouse is no longer the last complete run's; the build of
    # the code-only roots (seeds, calendar) may start before the run's own ingestion, so only a
    # build of models with parents notes the lake the run builds from
    reads_lake = run_state.reads_lake(context.assets_def.asset_deps, context.selected_asset_keys)
    run_state.start_build(warehouse.lake, context.run_id, reads_lake=reads_lake)
    # the run's locations and the deployment's locale reach dbt as vars (profiles.yml, sources)
    dbt_vars = json.dumps({**warehouse.dbt_vars(), **locale.locale.dbt_vars(), **engine.dbt_vars()})
    refresh = ["--full-refresh"] if run_mode.rebuilds(warehouse) else []
    built = tested = 0
    said = time.monotonic()
    invocation = dbt.cli(
        ["build", "--vars", dbt_vars, *engine.dbt_args(), *refresh], context=context
    )
    for event in invocation.stream():
        built += isinstance(event, dg.Output | dg.AssetMaterialization)
        tested += isinstance(event, dg.AssetCheckResult)
        # a long build says how far it got, without a line per model
        if time.monotonic() - said >= PROGRESS_SECONDS:
            progress.report(f"dbt build: {built} of {models} built, {tested} of {tests} tested")
            said = time.monotonic()
        yield event
    progress.report(f"dbt build: done, {built} built, {tested} tested")
    if engine.is_spark:
        # the Python steps downstream read the driver's replica (docs/spark.md)
        copied = engine.replicate(
            warehouse, [".".join(key.path) for key in context.selected_asset_keys]
        )
        progress.report(
            f"spark: {len(copied)} tables, {sum(copied.values()):,} rows copied to the "
            "driver's replica"
        )
    # the run's next build (same vars) parses only what changed
    keep_partial_parse(invocation.target_path, dbt_project.project_dir)


defs = dg.Definitions(
    assets=[omni360_dbt_models],
    resources={
        "dbt": DbtCliResource(
            project_dir=dbt_project,
            # dbt of this interpreter's environment, whether or not it is activated, through
            # omni360-dbt: on Spark it registers the lake and the omni360_* functions first
            dbt_executable=str(Path(sys.executable).parent / "omni360-dbt"),
        )
    },
)
