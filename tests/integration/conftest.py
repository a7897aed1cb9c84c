"""Runs the real Dagster job on the committed sample into a temporary warehouse, twice."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration import settings


@dataclass
class SampleRun:
    landing: Path
    warehouse: Path
    lake: Path
    result: dg.ExecuteInProcessResult
    rerun: dg.ExecuteInProcessResult
    first_xref: dict[str, str]  # record_key → customer_id after the first run


def run_main_job() -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs

    return (
        defs()
        .resolve_job_def("omni360_main")
        .execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    )


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    warehouse = tmp_path_factory.mktemp("warehouse") / "omni360.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        for var in ("OMNI360_LANDING", "OMNI360_WAREHOUSE", "OMNI360_LAKE", "OMNI360_PUBLISHED"):
            patch.delenv(var, raising=False)
        settings.export_env(settings.SAMPLE_DIR, warehouse)
        result = run_main_job()
        first_xref = read_xref(warehouse)
        rerun = run_main_job()
    lake = warehouse.parent / "lake"
    return SampleRun(settings.SAMPLE_DIR, warehouse, lake, result, rerun, first_xref)


def read_xref(warehouse: Path) -> dict[str, str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return dict(
            con.sql("select record_key, customer_id from identity.customer_xref").fetchall()
        )
