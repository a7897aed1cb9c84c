"""Jobs and their schedule."""

import dagster as dg

from orchestration.lib import memory, run_state
from orchestration.resources import WarehouseResource


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
    return main_run_request(context, warehouse)


def main_run_request(
    context: dg.ScheduleEvaluationContext | dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    run_key: str | None = None,
) -> dg.RunRequest:
    """The main job's run as `omni360 run` would plan it (orchestration/lib/run_state.py)."""
    plan = run_state.plan_run(
        context.repository_def.asset_graph,
        landing=warehouse.landing,
        lake=warehouse.lake,
        warehouse=warehouse.warehouse,
        published=warehouse.published,
    )
    if plan.unchanged is not None:
        context.log.info(f"nothing new since run {plan.unchanged.run_id}: ingestion and its checks")
    return dg.RunRequest(run_key=run_key, asset_selection=plan.selection, tags=plan.tags)


defs = dg.Definitions(jobs=[main_job], schedules=[omni360_daily])
