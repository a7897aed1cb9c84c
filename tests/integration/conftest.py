"""Runs the real Dagster job on the committed sample into a temporary warehouse, twice.

During the second run, a BI-like reader in another process reads the published snapshot in a
loop while the pipeline rebuilds and republishes the marts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration import settings
from orchestration.resources import EngineResource


@dataclass
class SampleRun:
    landing: Path
    warehouse: Path
    lake: Path
    result: dg.ExecuteInProcessResult
    rerun: dg.ExecuteInProcessResult
    first_xref: dict[str, str]  # record_key → customer_id after the first run
    reader: dict  # what the reader saw during the rerun: reads, run ids, problems, errors
    reports: Path  # the auditor's reports written after each run
    audit_errors: list[str]  # why a run's history or report could not be written, if it could not


# Opens the published snapshot read-only, again and again, and checks every table against the
# snapshot's own manifest (row count and checksum).
READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from orchestration.lib.publish import read_manifest, verify_snapshot

    path, stop = Path(sys.argv[1]), Path(sys.argv[2])
    reads, runs, problems, errors = 0, set(), [], []
    while not stop.exists():
        try:
            problems += verify_snapshot(path)
            runs.add(read_manifest(path).run_id)
            reads += 1
        except Exception as error:
            errors.append(repr(error))
        time.sleep(0.02)
    print(json.dumps({"reads": reads, "runs": sorted(runs), "problems": problems[:10],
                      "errors": errors[:10]}))
    """
)


AUDIT_ERRORS: list[str] = []
# what a run's locations default to: left unset by the fixtures that pass their own
LOCATION_VARS = (
    "OMNI360_LANDING",
    "OMNI360_WAREHOUSE",
    "OMNI360_LAKE",
    "OMNI360_PUBLISHED",
    "OMNI360_REPORTS",
)


def run_main_job(
    where: settings.Locations, *, full_refresh: bool = False, engine: EngineResource | None = None
) -> dg.ExecuteInProcessResult:
    """The main job on one set of locations, and its audit, as `omni360 run` does."""
    from orchestration.definitions import build_defs, instance_for
    from orchestration.lib import run_state
    from orchestration.lib.quality.audit import finish_run
    from orchestration.resources import RunModeResource, WarehouseResource

    definitions = build_defs(
        WarehouseResource.at(where),
        run_mode=RunModeResource(full_refresh=full_refresh),
        engine=engine,
    )
    instance = instance_for(where)  # persistent, beside the warehouse, as `omni360 run` does
    # tagged with its inputs as `omni360 run` tags it, so its success is recorded as complete
    result = definitions.resolve_job_def("omni360_main").execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={run_state.INPUTS_TAG: run_state.inputs_fingerprint(where.landing)},
    )
    # recorded, not raised, so other tests still run
    try:
        finish_run(
            instance,
            result.run_id,
            asset_graph=definitions.resolve_asset_graph(),
            landing=where.landing,
            warehouse=where.warehouse,
            lake=where.lake,
            reports=where.reports,
        )
    except Exception as error:
        AUDIT_ERRORS.append(f"run {result.run_id}: {error!r}")
    return result


def run_sample_on_spark(warehouse: Path, remote: str) -> dg.ExecuteInProcessResult:
    """The main job on the committed sample on the Spark engine, with the sample's deployment
    (as sample_run's): no locations or locale left in the environment by other tests."""
    with pytest.MonkeyPatch.context() as patch:
        for var in (*LOCATION_VARS, "OMNI360_REGION", "OMNI360_NATIONAL_ID_SCHEME"):
            patch.delenv(var, raising=False)
        where = settings.locations(settings.SAMPLE_DIR, warehouse)
        return run_main_job(where, engine=EngineResource(engine="spark", spark_remote=remote))


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    warehouse = tmp_path_factory.mktemp("warehouse") / "omni360.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        for var in LOCATION_VARS:
            patch.delenv(var, raising=False)
        where = settings.locations(settings.SAMPLE_DIR, warehouse)
        result = run_main_job(where)
        first_xref = read_xref(warehouse)
        stop = warehouse.parent / "stop-reader"
        reader = subprocess.Popen(
            [
                sys.executable,
                "-c",
                READER,
                str(where.published / "omni360_marts.duckdb"),
                str(stop),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=settings.REPO_ROOT,
        )
        rerun = run_main_job(where)
        time.sleep(1)  # let the reader open the new snapshot too
        stop.touch()
        seen = json.loads(reader.communicate(timeout=120)[0].strip().splitlines()[-1])
    lake = warehouse.parent / "lake"
    reports, errors = warehouse.parent / "reports", [*AUDIT_ERRORS]  # of these two runs only
    return SampleRun(
        settings.SAMPLE_DIR, warehouse, lake, result, rerun, first_xref, seen, reports, errors
    )


def read_xref(warehouse: Path) -> dict[str, str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return dict(
            con.sql("select record_key, customer_id from identity.customer_xref").fetchall()
        )
