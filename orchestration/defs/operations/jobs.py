"""Jobs and their schedule."""

from collections.abc import Iterable

import dagster as dg

from orchestration.lib import memory, run_state
from orchestration.lib.contracts import ENTITIES
from orchestration.lib.ingest.landing import scan_landing
from orchestration.resources import WarehouseResource

# the ingestion assets are keyed [<source>, <entity>] plus ingest/*
INGESTION_PREFIXES = frozenset({target.source for target in ENTITIES} | {"ingest"})


def ingestion_keys(keys: Iterable[dg.AssetKey]) -> list[dg.AssetKey]:
    """The ingestion assets among `keys`: what a run with nothing new to build runs."""
    return sorted((k for k in keys if k.path[0] in INGESTION_PREFIXES), key=str)


# `omni360 run` runs every step in one process: what one leaves behind would add to the dbt
# builds after it (orchestration/lib/memory.py)
@dg.success_hook(name="release_memory")
def release_memory(_context: dg.HookContext) -> None:
    memory.release()


@dg.failure_hook(name="release_memory_after_failure")
def release_memory_after_failure(_context: dg.HookContext) -> None:
    memory.release()


main_job = dg.define_asset_job(
    "omni360_main",
    selection=dg.AssetSelection.all(),
    description="Ingest new landing files, then build every dbt model and run every check.",
    hooks={release_memory, release_memory_after_failure},
)


# a daily run after the sources' nightly exports (incremental: it processes what arrived);
# the landing sensor does the same as files arrive. Both off until switched on in the UI.
@dg.schedule(
    job=main_job,
    cron_schedule="0 6 * * *",
    execution_timezone="Asia/Shanghai",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Runs the main job every morning at 06:00 (Asia/Shanghai), after the nightly "
    "deliveries; with nothing new since the last complete run, only ingestion and its delivery "
    "checks (docs/operations.md#a-run-with-nothing-new). Switch it on in the UI (Automation) "
    "with the Dagster daemon running.",
)
def omni360_daily(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource):
    unchanged = run_state.unchanged_since(
        scan_landing(warehouse.landing), warehouse.lake, warehouse.landing
    )
    if unchanged is None:
        return dg.RunRequest()
    context.log.info(f"nothing new since run {unchanged.run_id}: ingestion and its checks only")
    return dg.RunRequest(
        asset_selection=ingestion_keys(
            context.repository_def.asset_graph.materializable_asset_keys
        ),
        tags={"omni360/unchanged_since": unchanged.run_id},
    )


defs = dg.Definitions(jobs=[main_job], schedules=[omni360_daily])
