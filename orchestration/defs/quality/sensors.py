"""After each run of the main job under a daemon: its check results into the quality history
and its auditor's report written (`omni360 run` does the same itself, in-process).

Sensors, not an asset of the job: a failed blocking check skips everything downstream of it,
and those are the runs an auditor most needs to see.
"""

import dagster as dg

from orchestration.defs.operations.jobs import main_job
from orchestration.lib.quality.audit import finish_run
from orchestration.resources import WarehouseResource


def record_and_report(context: dg.RunStatusSensorContext, warehouse: WarehouseResource) -> None:
    run_id = context.dagster_run.run_id
    path = finish_run(
        context.instance,
        run_id,
        asset_graph=context.repository_def.asset_graph,
        landing=warehouse.landing,
        warehouse=warehouse.warehouse,
        lake=warehouse.lake,
        reports=warehouse.reports,
    )
    context.log.info(f"quality history recorded; audit report of run {run_id}: {path}")


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[main_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records the check results of each successful run of omni360_main in "
    "audit.check_results and writes its auditor's report.",
)
def audit_after_success(context: dg.RunStatusSensorContext, warehouse: WarehouseResource):
    record_and_report(context, warehouse)


@dg.run_failure_sensor(
    monitored_jobs=[main_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records the check results of each failed run of omni360_main in "
    "audit.check_results and writes its auditor's report (checks not run are listed).",
)
def audit_after_failure(context: dg.RunFailureSensorContext, warehouse: WarehouseResource):
    record_and_report(context, warehouse)


defs = dg.Definitions(sensors=[audit_after_success, audit_after_failure])
