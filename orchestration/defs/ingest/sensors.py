"""Picks up new landing files."""

import hashlib

import dagster as dg

from orchestration.defs.operations.jobs import main_job, main_run_request
from orchestration.lib.ingest.landing import scan_landing
from orchestration.resources import WarehouseResource


@dg.sensor(job=main_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def landing_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    """Starts the main job when files appear in (or change in) the landing zone. Off by default."""
    scan = scan_landing(warehouse.landing)
    digest = hashlib.sha256()
    for files in sorted(scan.files.values(), key=lambda fs: fs[0].rel_path):
        for f in files:
            stat = f.path.stat()
            digest.update(f"{f.rel_path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    cursor = digest.hexdigest()
    if cursor == context.cursor:
        return dg.SkipReason("no new or changed landing files")
    context.update_cursor(cursor)
    return main_run_request(context, warehouse, run_key=cursor)


defs = dg.Definitions(sensors=[landing_sensor])
