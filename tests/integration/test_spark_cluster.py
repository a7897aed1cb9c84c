"""The Spark engine on a real standalone cluster (docs/spark.md): a master and two workers
started from the pyspark distribution behind the Spark Connect server, as
`omni360 spark start --workers 2` does. The committed sample gives what DuckDB gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration import settings
from orchestration.lib.compare import compare_warehouses
from orchestration.lib.spark import server
from tests.integration.conftest import SampleRun, run_sample_on_spark
from tests.integration.test_spark_engine import free_port

pytestmark = pytest.mark.slow


def test_a_two_worker_cluster_gives_what_duckdb_gives(tmp_path: Path, sample_run: SampleRun):
    warehouse = tmp_path / "omni360.duckdb"
    folder = settings.spark_dir(warehouse)
    cluster = server.start(
        folder,
        workers=2,
        port=free_port(),
        master_port=free_port(),
        driver_memory="2g",
        worker_memory="1g",
    )
    try:
        assert cluster.master.startswith("spark://")
        assert {"master", "worker-1", "worker-2", "connect-server"} <= set(cluster.pids)
        result = run_sample_on_spark(warehouse, cluster.remote)
        assert result.success
        comparison = compare_warehouses(sample_run.warehouse, warehouse)
        assert comparison.identical, "\n".join(comparison.lines)
        # the work ran on the workers: each has an application folder of this run
        work = sorted((folder / "work").glob("app-*/*"))
        assert {path.name for path in work} >= {"0", "1"}
    finally:
        stopped = server.stop(folder)
    assert set(stopped) == {"master", "worker-1", "worker-2", "connect-server"}
    assert server.running(folder) is None
