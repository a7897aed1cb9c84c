"""Jobs and their schedule."""

import dagster as dg

from orchestration.lib import memory


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
daily_schedule = dg.ScheduleDefinition(
    name="omni360_daily",
    job=main_job,
    cron_schedule="0 6 * * *",
    execution_timezone="Asia/Shanghai",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Runs the main job every morning at 06:00 (Asia/Shanghai), after the nightly "
    "deliveries; switch it on in the UI (Automation) with the Dagster daemon running.",
)

defs = dg.Definitions(jobs=[main_job], schedules=[daily_schedule])
